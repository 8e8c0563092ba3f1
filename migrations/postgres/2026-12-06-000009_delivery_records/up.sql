-- Delivery records: a message's row stays after its last attempt, with the
-- outcome, so that support can tell what happened to an email. The sealed
-- payload is dropped when a message is finished: a record keeps no code.
--   queued     waiting for its first attempt
--   retrying   attempts failed; tried again at next_attempt_at (last_error says why)
--   delivered  the relay accepted it at finished_at (relay_reply: its answer, e.g. a queue id)
--   abandoned  its code expired before it could be delivered (or it could not be opened)
--   rejected   the relay refused it for good (a 5xx: relay_reply); not retried
--   replaced   a newer message to the same identity came first; never sent
ALTER TABLE email_outbox ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE email_outbox ADD COLUMN status VARCHAR(16) NOT NULL DEFAULT 'queued';
ALTER TABLE email_outbox ADD COLUMN finished_at TIMESTAMP;
ALTER TABLE email_outbox ADD COLUMN relay_reply VARCHAR(500);
UPDATE email_outbox SET status = 'retrying' WHERE attempts > 0;
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_status_check
    CHECK (status IN ('queued', 'retrying', 'delivered', 'abandoned', 'rejected', 'replaced'));
ALTER TABLE email_outbox ADD CONSTRAINT email_outbox_finished_keeps_no_payload_check
    CHECK (status IN ('queued', 'retrying') OR payload IS NULL);
DROP INDEX ix_email_outbox_next_attempt_at;
CREATE INDEX ix_email_outbox_due ON email_outbox (next_attempt_at)
    WHERE status IN ('queued', 'retrying');
CREATE INDEX ix_email_outbox_finished_at ON email_outbox (finished_at)
    WHERE finished_at IS NOT NULL;
