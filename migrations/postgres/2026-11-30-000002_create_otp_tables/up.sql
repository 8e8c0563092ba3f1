-- One-time codes. No code is ever stored: `otp_hash` is an HMAC-SHA256 of
-- (user_type, email, code) under the service's OTP_SECRET.

-- Codes for addresses that have no account yet: one per (email, user_type);
-- a re-send replaces the row's code.
CREATE TABLE signup_otps (
    id SERIAL PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    otp_hash BYTEA NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT (NOW() AT TIME ZONE 'UTC'),
    expires_at TIMESTAMP NOT NULL,
    is_verified BOOLEAN NOT NULL DEFAULT FALSE,
    verified_at TIMESTAMP,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    demo_user_id INTEGER REFERENCES demo_users (id) ON DELETE SET NULL,
    CONSTRAINT _signup_otp_email_user_type_uc UNIQUE (email, user_type),
    CONSTRAINT signup_otps_user_type_check CHECK (user_type IN ('live', 'demo')),
    CONSTRAINT signup_otps_attempts_check CHECK (attempts >= 0)
);
CREATE INDEX ix_signup_otps_expires_at ON signup_otps (expires_at);
CREATE INDEX ix_signup_otps_user_id ON signup_otps (user_id);
CREATE INDEX ix_signup_otps_demo_user_id ON signup_otps (demo_user_id);

-- Activation codes for existing, inactive accounts: one live code per account.
CREATE TABLE otps (
    id SERIAL PRIMARY KEY,
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    demo_user_id INTEGER REFERENCES demo_users (id) ON DELETE CASCADE,
    otp_hash BYTEA NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT (NOW() AT TIME ZONE 'UTC'),
    expires_at TIMESTAMP NOT NULL,
    CONSTRAINT otps_user_id_key UNIQUE (user_id),
    CONSTRAINT otps_demo_user_id_key UNIQUE (demo_user_id),
    CONSTRAINT otps_one_account_check CHECK ((user_id IS NULL) <> (demo_user_id IS NULL)),
    CONSTRAINT otps_attempts_check CHECK (attempts >= 0)
);
CREATE INDEX ix_otps_expires_at ON otps (expires_at);

-- Send limits per (email, user_type), kept apart from the codes so that new,
-- inactive and active addresses are throttled alike.
CREATE TABLE otp_send_limits (
    email VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    last_sent_at TIMESTAMP NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    sends_in_window INTEGER NOT NULL,
    PRIMARY KEY (email, user_type),
    CONSTRAINT otp_send_limits_user_type_check CHECK (user_type IN ('live', 'demo'))
);
CREATE INDEX ix_otp_send_limits_window_started_at ON otp_send_limits (window_started_at);
