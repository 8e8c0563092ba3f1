-- Responses kept for Idempotency-Key retries, per route. A row with no
-- status_code is a request still running (until locked_until); a finished one
-- holds the response's status and its sealed body until expires_at.
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
