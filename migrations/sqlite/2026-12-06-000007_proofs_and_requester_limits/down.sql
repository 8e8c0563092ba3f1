DROP TABLE redis_imports;

DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    route VARCHAR(64) NOT NULL,
    idempotency_key VARCHAR(255) NOT NULL,
    fingerprint BLOB NOT NULL,
    status_code INTEGER,
    response BLOB,
    locked_until TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (route, idempotency_key)
);
CREATE INDEX ix_idempotency_keys_expires_at ON idempotency_keys (expires_at);

CREATE TABLE verify_lockouts_old (
    email VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    last_failure_at TIMESTAMP NOT NULL,
    PRIMARY KEY (email, user_type),
    CONSTRAINT verify_lockouts_user_type_check CHECK (user_type IN ('live', 'demo'))
);
INSERT INTO verify_lockouts_old (email, user_type, consecutive_failures, locked_until, last_failure_at)
SELECT email, user_type, consecutive_failures, locked_until, last_failure_at
FROM verify_lockouts WHERE requester = '';
DROP TABLE verify_lockouts;
ALTER TABLE verify_lockouts_old RENAME TO verify_lockouts;
CREATE INDEX ix_verify_lockouts_last_failure_at ON verify_lockouts (last_failure_at);

CREATE TABLE otp_send_limits_old (
    email VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    last_sent_at TIMESTAMP NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    sends_in_window INTEGER NOT NULL,
    day_started_at TIMESTAMP,
    sends_in_day INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (email, user_type),
    CONSTRAINT otp_send_limits_user_type_check CHECK (user_type IN ('live', 'demo'))
);
INSERT INTO otp_send_limits_old (email, user_type, last_sent_at, window_started_at,
    sends_in_window, day_started_at, sends_in_day)
SELECT email, user_type, last_sent_at, window_started_at, sends_in_window,
    day_started_at, sends_in_day FROM otp_send_limits WHERE requester = '';
DROP TABLE otp_send_limits;
ALTER TABLE otp_send_limits_old RENAME TO otp_send_limits;
CREATE INDEX ix_otp_send_limits_window_started_at ON otp_send_limits (window_started_at);

DROP TABLE pending_registrations;
DROP TABLE signup_tokens;
