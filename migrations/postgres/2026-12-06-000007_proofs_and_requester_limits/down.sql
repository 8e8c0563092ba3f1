DROP TABLE redis_imports;

DROP TABLE idempotency_keys;
CREATE TABLE idempotency_keys (
    route VARCHAR(64) NOT NULL,
    idempotency_key VARCHAR(255) NOT NULL,
    fingerprint BYTEA NOT NULL,
    status_code INTEGER,
    response BYTEA,
    locked_until TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (route, idempotency_key)
);
CREATE INDEX ix_idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- Per-requester rows have no place in the older layout.
DELETE FROM verify_lockouts WHERE requester <> '';
ALTER TABLE verify_lockouts DROP CONSTRAINT verify_lockouts_pkey;
ALTER TABLE verify_lockouts DROP COLUMN lockouts;
ALTER TABLE verify_lockouts DROP COLUMN requester;
ALTER TABLE verify_lockouts ADD PRIMARY KEY (email, user_type);

DELETE FROM otp_send_limits WHERE requester <> '';
ALTER TABLE otp_send_limits DROP CONSTRAINT otp_send_limits_pkey;
ALTER TABLE otp_send_limits DROP COLUMN requester;
ALTER TABLE otp_send_limits ADD PRIMARY KEY (email, user_type);

DROP TABLE pending_registrations;
DROP TABLE signup_tokens;
