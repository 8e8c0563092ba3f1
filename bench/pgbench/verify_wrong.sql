-- pgbench script: the SQL statements the service issues for one verify-otp with a wrong code for a seeded address,
-- as PostgreSQL's statement log shows them (log_statement = 'all'), in the same
-- transactions and order, with literals where the service binds values.
-- Written by gen.py.
\set s random(1, :seeded)
BEGIN;
SELECT "verify_lockouts"."email", "verify_lockouts"."user_type", "verify_lockouts"."consecutive_failures", "verify_lockouts"."locked_until", "verify_lockouts"."last_failure_at" FROM "verify_lockouts" WHERE (("verify_lockouts"."email" = ('seed-' || :s::text || '@example.com')) AND ("verify_lockouts"."user_type" = 'live')) LIMIT 1;
SELECT "signup_otps"."id" AS otp_id, "signup_otps"."email", "signup_otps"."user_type", "signup_otps"."otp_hash", "signup_otps"."attempts", "signup_otps"."created_at", "signup_otps"."expires_at", "signup_otps"."is_verified", "signup_otps"."verified_at", "signup_otps"."user_id", "signup_otps"."demo_user_id" FROM "signup_otps" WHERE (("signup_otps"."email" = ('seed-' || :s::text || '@example.com')) AND ("signup_otps"."user_type" = 'live')) LIMIT 1 \gset
UPDATE "signup_otps" SET "attempts" = ("signup_otps"."attempts" + 1) WHERE (("signup_otps"."id" = :otp_id) AND ("signup_otps"."attempts" < 1000));
INSERT INTO verify_lockouts (email, user_type, consecutive_failures, last_failure_at) VALUES (('seed-' || :s::text || '@example.com'), 'live', 1, (now() AT TIME ZONE 'UTC')) ON CONFLICT (email, user_type) DO UPDATE SET consecutive_failures = verify_lockouts.consecutive_failures + 1, last_failure_at = excluded.last_failure_at;
UPDATE "verify_lockouts" SET "consecutive_failures" = 0, "locked_until" = ((now() AT TIME ZONE 'UTC') + interval '10 minutes') WHERE ((("verify_lockouts"."email" = ('seed-' || :s::text || '@example.com')) AND ("verify_lockouts"."user_type" = 'live')) AND ("verify_lockouts"."consecutive_failures" >= 10000));
COMMIT;
