-- Emails waiting to be delivered, written in the transaction that creates their
-- code. `payload` is sealed (XChaCha20-Poly1305 under a key derived from
-- OTP_SECRET, a fresh nonce per row): a dump of this table shows no usable code.
-- A row is deleted once its email is sent, or abandoned when its code expires.
CREATE TABLE email_outbox (
    id BIGSERIAL PRIMARY KEY,
    kind VARCHAR(32) NOT NULL,
    recipient VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    payload BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error VARCHAR(500),
    CONSTRAINT email_outbox_kind_check
        CHECK (kind IN ('signup_code', 'activation_code', 'account_exists')),
    CONSTRAINT email_outbox_user_type_check CHECK (user_type IN ('live', 'demo'))
);
CREATE INDEX ix_email_outbox_next_attempt_at ON email_outbox (next_attempt_at);
CREATE INDEX ix_email_outbox_recipient_user_type ON email_outbox (recipient, user_type);
