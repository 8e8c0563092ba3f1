-- A daily send cap per identity, beside the hourly one.
ALTER TABLE otp_send_limits ADD COLUMN day_started_at TIMESTAMP;
ALTER TABLE otp_send_limits ADD COLUMN sends_in_day INTEGER NOT NULL DEFAULT 0;

-- Consecutive wrong codes per identity, across re-sent codes; enough of them
-- lock verification for the identity until `locked_until`.
CREATE TABLE verify_lockouts (
    email VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    last_failure_at TIMESTAMP NOT NULL,
    PRIMARY KEY (email, user_type),
    CONSTRAINT verify_lockouts_user_type_check CHECK (user_type IN ('live', 'demo'))
);
CREATE INDEX ix_verify_lockouts_last_failure_at ON verify_lockouts (last_failure_at);
