-- Delivery records; see the PostgreSQL migration of the same name. SQLite cannot
-- drop a NOT NULL, so the table is rebuilt.
CREATE TABLE email_outbox_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind VARCHAR(32) NOT NULL,
    recipient VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    payload BLOB,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error VARCHAR(500),
    status VARCHAR(16) NOT NULL DEFAULT 'queued',
    finished_at TIMESTAMP,
    relay_reply VARCHAR(500),
    CONSTRAINT email_outbox_kind_check
        CHECK (kind IN ('signup_code', 'activation_code', 'account_exists')),
    CONSTRAINT email_outbox_user_type_check CHECK (user_type IN ('live', 'demo')),
    CONSTRAINT email_outbox_status_check
        CHECK (status IN ('queued', 'retrying', 'delivered', 'abandoned', 'rejected', 'replaced')),
    CONSTRAINT email_outbox_finished_keeps_no_payload_check
        CHECK (status IN ('queued', 'retrying') OR payload IS NULL)
);
INSERT INTO email_outbox_records (id, kind, recipient, user_type, payload, created_at,
        expires_at, next_attempt_at, attempts, last_error, status)
    SELECT id, kind, recipient, user_type, payload, created_at, expires_at, next_attempt_at,
        attempts, last_error, CASE WHEN attempts > 0 THEN 'retrying' ELSE 'queued' END
    FROM email_outbox;
-- Ids go on from the old table's counter (its rows were deleted as they were sent).
DELETE FROM sqlite_sequence WHERE name = 'email_outbox_records';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'email_outbox_records', seq FROM sqlite_sequence WHERE name = 'email_outbox';
DROP TABLE email_outbox;
ALTER TABLE email_outbox_records RENAME TO email_outbox;
CREATE INDEX ix_email_outbox_recipient_user_type ON email_outbox (recipient, user_type);
CREATE INDEX ix_email_outbox_due ON email_outbox (next_attempt_at)
    WHERE status IN ('queued', 'retrying');
CREATE INDEX ix_email_outbox_finished_at ON email_outbox (finished_at)
    WHERE finished_at IS NOT NULL;
