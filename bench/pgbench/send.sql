-- pgbench script: the SQL statements the service issues for one send-otp to a new address,
-- as PostgreSQL's statement log shows them (log_statement = 'all'), in the same
-- transactions and order, with literals where the service binds values.
-- Written by gen.py.
\set n random(1, 2000000000)
BEGIN;
SELECT "otp_send_limits"."email", "otp_send_limits"."user_type", "otp_send_limits"."last_sent_at", "otp_send_limits"."window_started_at", "otp_send_limits"."sends_in_window", "otp_send_limits"."day_started_at", "otp_send_limits"."sends_in_day" FROM "otp_send_limits" WHERE (("otp_send_limits"."email" = ('pgb-' || :client_id::text || '-' || :n::text || '@example.com')) AND ("otp_send_limits"."user_type" = 'live')) LIMIT 1;
INSERT INTO "otp_send_limits" ("email", "user_type", "last_sent_at", "window_started_at", "sends_in_window", "day_started_at", "sends_in_day") VALUES (('pgb-' || :client_id::text || '-' || :n::text || '@example.com'), 'live', (now() AT TIME ZONE 'UTC'), (now() AT TIME ZONE 'UTC'), 1, (now() AT TIME ZONE 'UTC'), 1) ON CONFLICT DO NOTHING;
SELECT "users"."id", "users"."is_active" FROM "users" WHERE ("users"."email" = ('pgb-' || :client_id::text || '-' || :n::text || '@example.com')) LIMIT 1;
INSERT INTO signup_otps (email, user_type, otp_hash, attempts, created_at, expires_at, is_verified, verified_at) VALUES (('pgb-' || :client_id::text || '-' || :n::text || '@example.com'), 'live', '\xabababababababababababababababababababababababababababababababab'::bytea, 0, (now() AT TIME ZONE 'UTC'), ((now() AT TIME ZONE 'UTC') + interval '10 minutes'), false, NULL) ON CONFLICT (email, user_type) DO UPDATE SET otp_hash = excluded.otp_hash, attempts = excluded.attempts, created_at = excluded.created_at, expires_at = excluded.expires_at, is_verified = excluded.is_verified, verified_at = excluded.verified_at;
DELETE FROM "email_outbox" WHERE (("email_outbox"."recipient" = ('pgb-' || :client_id::text || '-' || :n::text || '@example.com')) AND ("email_outbox"."user_type" = 'live'));
INSERT INTO "email_outbox" ("kind", "recipient", "user_type", "payload", "created_at", "expires_at", "next_attempt_at") VALUES ('signup_code', ('pgb-' || :client_id::text || '-' || :n::text || '@example.com'), 'live', '\x01cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd'::bytea, (now() AT TIME ZONE 'UTC'), ((now() AT TIME ZONE 'UTC') + interval '10 minutes'), (now() AT TIME ZONE 'UTC'));
COMMIT;
