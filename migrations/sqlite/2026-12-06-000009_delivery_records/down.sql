DELETE FROM email_outbox WHERE status NOT IN ('queued', 'retrying');
CREATE TABLE email_outbox_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind VARCHAR(32) NOT NULL,
    recipient VARCHAR(255) NOT NULL,
    user_type VARCHAR(20) NOT NULL,
    payload BLOB NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error VARCHAR(500),
    CONSTRAINT email_outbox_kind_check
        CHECK (kind IN ('signup_code', 'activation_code', 'account_exists')),
    CONSTRAINT email_outbox_user_type_check CHECK (user_type IN ('live', 'demo'))
);
INSERT INTO email_outbox_queue (id, kind, recipient, user_type, payload, created_at,
        expires_at, next_attempt_at, attempts, last_error)
    SELECT id, kind, recipient, user_type, payload, created_at, expires_at, next_attempt_at,
        attempts, last_error
    FROM email_outbox;
-- Ids go on from the old table's counter (its rows were deleted as they were sent).
DELETE FROM sqlite_sequence WHERE name = 'email_outbox_queue';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'email_outbox_queue', seq FROM sqlite_sequence WHERE name = 'email_outbox';
DROP TABLE email_outbox;
ALTER TABLE email_outbox_queue RENAME TO email_outbox;
CREATE INDEX ix_email_outbox_next_attempt_at ON email_outbox (next_attempt_at);
CREATE INDEX ix_email_outbox_recipient_user_type ON email_outbox (recipient, user_type);
