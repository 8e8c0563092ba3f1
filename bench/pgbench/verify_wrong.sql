-- pgbench script: the statement the service sends PostgreSQL for one verify-otp with a wrong code for a seeded address, with
-- literals where the service binds values (the limits as bench/run.sh sets them,
-- a code hash under key id 01020304, sealed emails of a typical size). The
-- function itself is in migrations/postgres/2026-12-07-000010_one_statement_flows.
\set s random(1, :seeded)
SELECT verdict, locked_until, new_lock_until, recent_locks, account_id, account_email, account_full_name, account_created_at FROM signup_otp_verify(('seed-' || :s::text || '@example.com'), 'live', '127.0.0.1', (now() AT TIME ZONE 'UTC'), '\x01020304'::bytea, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea, '\x1111111111111111111111111111111111111111111111111111111111111111'::bytea, NULL, false, 1000, 10000, ((now() AT TIME ZONE 'UTC') + interval '10 minutes'), NULL, decode(md5(random()::text) || md5(random()::text), 'hex'), ((now() AT TIME ZONE 'UTC') + interval '10 minutes'), ((now() AT TIME ZONE 'UTC') + interval '1 day'));
