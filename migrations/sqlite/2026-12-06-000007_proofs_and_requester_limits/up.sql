-- Proof of an address, and who may set a password on it; see the PostgreSQL
-- migration of the same name. SQLite cannot change a primary key in place, so
-- the two limit tables are rebuilt.

CREATE TABLE signup_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    email VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    verified_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    CONSTRAINT signup_tokens_user_type_check CHECK (user_type IN ('live', 'demo'))
);
CREATE INDEX ix_signup_tokens_identity ON signup_tokens (email, user_type);
CREATE INDEX ix_signup_tokens_expires_at ON signup_tokens (expires_at);

CREATE TABLE pending_registrations (
    registration_hash BLOB PRIMARY KEY NOT NULL,
    email VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    hashed_password VARCHAR(255) NOT NULL,
    full_name VARCHAR(255),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    CONSTRAINT pending_registrations_user_type_check CHECK (user_type IN ('live', 'demo'))
);
CREATE INDEX ix_pending_registrations_identity ON pending_registrations (email, user_type);
CREATE INDEX ix_pending_registrations_expires_at ON pending_registrations (expires_at);

CREATE TABLE otp_send_limits_new (
    email VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    last_sent_at TIMESTAMP NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    sends_in_window INTEGER NOT NULL,
    day_started_at TIMESTAMP,
    sends_in_day INTEGER NOT NULL DEFAULT 0,
    requester VARCHAR(64) NOT NULL DEFAULT '',
    PRIMARY KEY (email, user_type, requester),
    CONSTRAINT otp_send_limits_user_type_check CHECK (user_type IN ('live', 'demo'))
);
INSERT INTO otp_send_limits_new (email, user_type, last_sent_at, window_started_at,
    sends_in_window, day_started_at, sends_in_day, requester)
SELECT email, user_type, last_sent_at, window_started_at, sends_in_window,
    day_started_at, sends_in_day, '' FROM otp_send_limits;
DROP TABLE otp_send_limits;
ALTER TABLE otp_send_limits_new RENAME TO otp_send_limits;
CREATE INDEX ix_otp_send_limits_window_started_at ON otp_send_limits (window_started_at);

CREATE TABLE verify_lockouts_new (
    email VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    last_failure_at TIMESTAMP NOT NULL,
    requester VARCHAR(64) NOT NULL DEFAULT '',
    lockouts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (email, user_type, requester),
    CONSTRAINT verify_lockouts_user_type_check CHECK (user_type IN ('live', 'demo'))
);
INSERT INTO verify_lockouts_new (email, user_type, consecutive_failures, locked_until,
    last_failure_at, requester, lockouts)
SELECT email, user_type, consecutive_failures, locked_until, last_failure_at, '', 0
FROM verify_lockouts;
DROP TABLE verify_lockouts;
ALTER TABLE verify_lockouts_new RENAME TO verify_lockouts;
CREATE INDEX ix_verify_lockouts_last_failure_at ON verify_lockouts (last_failure_at);

DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    route VARCHAR(64) NOT NULL,
    scope BLOB NOT NULL,
    idempotency_key VARCHAR(255) NOT NULL,
    fingerprint BLOB NOT NULL,
    status_code INTEGER,
    response BLOB,
    locked_until TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (route, scope, idempotency_key)
);
CREATE INDEX ix_idempotency_keys_expires_at ON idempotency_keys (expires_at);

CREATE TABLE redis_imports (
    fingerprint BLOB PRIMARY KEY NOT NULL,
    imported_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX ix_redis_imports_expires_at ON redis_imports (expires_at);
