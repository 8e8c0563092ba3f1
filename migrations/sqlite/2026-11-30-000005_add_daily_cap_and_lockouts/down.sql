DROP TABLE verify_lockouts;
ALTER TABLE otp_send_limits DROP COLUMN sends_in_day;
ALTER TABLE otp_send_limits DROP COLUMN day_started_at;
