-- pgbench script: the SQL statements the service issues for one send-otp to a seeded inactive account, then verify-otp (activation),
-- as PostgreSQL's statement log shows them (log_statement = 'all'), in the same
-- transactions and order, with literals where the service binds values.
-- Written by gen.py.
\set i :i + 1
BEGIN;
SELECT "otp_send_limits"."email", "otp_send_limits"."user_type", "otp_send_limits"."last_sent_at", "otp_send_limits"."window_started_at", "otp_send_limits"."sends_in_window", "otp_send_limits"."day_started_at", "otp_send_limits"."sends_in_day" FROM "otp_send_limits" WHERE (("otp_send_limits"."email" = ('inactive-' || :client_id::text || '-' || :i::text || '@example.com')) AND ("otp_send_limits"."user_type" = 'live')) LIMIT 1;
INSERT INTO "otp_send_limits" ("email", "user_type", "last_sent_at", "window_started_at", "sends_in_window", "day_started_at", "sends_in_day") VALUES (('inactive-' || :client_id::text || '-' || :i::text || '@example.com'), 'live', (now() AT TIME ZONE 'UTC'), (now() AT TIME ZONE 'UTC'), 1, (now() AT TIME ZONE 'UTC'), 1) ON CONFLICT DO NOTHING;
SELECT "users"."id" AS uid, "users"."is_active" FROM "users" WHERE ("users"."email" = ('inactive-' || :client_id::text || '-' || :i::text || '@example.com')) LIMIT 1 \gset
DELETE FROM "signup_otps" WHERE (((("signup_otps"."email" = ('inactive-' || :client_id::text || '-' || :i::text || '@example.com')) AND ("signup_otps"."user_type" = 'live')) AND ("signup_otps"."user_id" IS NULL)) AND ("signup_otps"."demo_user_id" IS NULL));
INSERT INTO otps (user_id, otp_hash, attempts, created_at, expires_at) VALUES (:uid, '\xabababababababababababababababababababababababababababababababab'::bytea, 0, (now() AT TIME ZONE 'UTC'), ((now() AT TIME ZONE 'UTC') + interval '10 minutes')) ON CONFLICT (user_id) DO UPDATE SET otp_hash = excluded.otp_hash, attempts = excluded.attempts, created_at = excluded.created_at, expires_at = excluded.expires_at;
DELETE FROM "email_outbox" WHERE (("email_outbox"."recipient" = ('inactive-' || :client_id::text || '-' || :i::text || '@example.com')) AND ("email_outbox"."user_type" = 'live'));
INSERT INTO "email_outbox" ("kind", "recipient", "user_type", "payload", "created_at", "expires_at", "next_attempt_at") VALUES ('activation_code', ('inactive-' || :client_id::text || '-' || :i::text || '@example.com'), 'live', '\x01cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd'::bytea, (now() AT TIME ZONE 'UTC'), ((now() AT TIME ZONE 'UTC') + interval '10 minutes'), (now() AT TIME ZONE 'UTC'));
COMMIT;
BEGIN;
SELECT "verify_lockouts"."email", "verify_lockouts"."user_type", "verify_lockouts"."consecutive_failures", "verify_lockouts"."locked_until", "verify_lockouts"."last_failure_at" FROM "verify_lockouts" WHERE (("verify_lockouts"."email" = ('inactive-' || :client_id::text || '-' || :i::text || '@example.com')) AND ("verify_lockouts"."user_type" = 'live')) LIMIT 1;
SELECT "signup_otps"."id", "signup_otps"."email", "signup_otps"."user_type", "signup_otps"."otp_hash", "signup_otps"."attempts", "signup_otps"."created_at", "signup_otps"."expires_at", "signup_otps"."is_verified", "signup_otps"."verified_at", "signup_otps"."user_id", "signup_otps"."demo_user_id" FROM "signup_otps" WHERE (("signup_otps"."email" = ('inactive-' || :client_id::text || '-' || :i::text || '@example.com')) AND ("signup_otps"."user_type" = 'live')) LIMIT 1;
SELECT "users"."id" AS uid, "users"."is_active" FROM "users" WHERE ("users"."email" = ('inactive-' || :client_id::text || '-' || :i::text || '@example.com')) LIMIT 1 \gset
SELECT "otps"."id" AS otp_id, "otps"."user_id", "otps"."demo_user_id", "otps"."otp_hash", "otps"."attempts", "otps"."created_at", "otps"."expires_at" FROM "otps" WHERE ("otps"."user_id" = :uid) LIMIT 1 \gset
DELETE FROM "otps" WHERE ((("otps"."id" = :otp_id) AND ("otps"."attempts" < 1000)) AND ("otps"."expires_at" > (now() AT TIME ZONE 'UTC')));
UPDATE "users" SET "is_active" = true WHERE (("users"."id" = :uid) AND ("users"."is_active" = false));
DELETE FROM "verify_lockouts" WHERE (("verify_lockouts"."email" = ('inactive-' || :client_id::text || '-' || :i::text || '@example.com')) AND ("verify_lockouts"."user_type" = 'live'));
COMMIT;
