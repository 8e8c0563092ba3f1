#!/usr/bin/env python3
"""Writes the pgbench scripts of bench/run.sh: for each scenario, the SQL statements
the service issues, as PostgreSQL's statement log shows them (log_statement = 'all'),
in the same transactions and order, with literals where the service binds values.
Regenerate after a change to the service's queries: python3 bench/pgbench/gen.py"""

import os

HASH = "'\\x" + "ab" * 32 + "'::bytea"
PAYLOAD = "'\\x01" + "cd" * 96 + "'::bytea"  # a sealed outbox payload is ~97 bytes
NOW = "(now() AT TIME ZONE 'UTC')"
LATER = "((now() AT TIME ZONE 'UTC') + interval '10 minutes')"
FRESH = "('pgb-' || :client_id::text || '-' || :n::text || '@example.com')"
SEED = "('seed-' || :s::text || '@example.com')"
# Each pgbench client walks its own accounts, as each wrk thread does: i counts up
# from -D i=0 (client variables persist from one transaction to the next).
INACTIVE = "('inactive-' || :client_id::text || '-' || :i::text || '@example.com')"


def send(E, account_exists):
    lines = [
        "BEGIN;",
        f'SELECT "otp_send_limits"."email", "otp_send_limits"."user_type", "otp_send_limits"."last_sent_at", "otp_send_limits"."window_started_at", "otp_send_limits"."sends_in_window", "otp_send_limits"."day_started_at", "otp_send_limits"."sends_in_day" FROM "otp_send_limits" WHERE (("otp_send_limits"."email" = {E}) AND ("otp_send_limits"."user_type" = \'live\')) LIMIT 1;',
        f'INSERT INTO "otp_send_limits" ("email", "user_type", "last_sent_at", "window_started_at", "sends_in_window", "day_started_at", "sends_in_day") VALUES ({E}, \'live\', {NOW}, {NOW}, 1, {NOW}, 1) ON CONFLICT DO NOTHING;',
    ]
    if not account_exists:
        lines += [
            f'SELECT "users"."id", "users"."is_active" FROM "users" WHERE ("users"."email" = {E}) LIMIT 1;',
            f"INSERT INTO signup_otps (email, user_type, otp_hash, attempts, created_at, expires_at, is_verified, verified_at) VALUES ({E}, 'live', {HASH}, 0, {NOW}, {LATER}, false, NULL) ON CONFLICT (email, user_type) DO UPDATE SET otp_hash = excluded.otp_hash, attempts = excluded.attempts, created_at = excluded.created_at, expires_at = excluded.expires_at, is_verified = excluded.is_verified, verified_at = excluded.verified_at;",
        ]
        kind = "signup_code"
    else:
        lines += [
            f'SELECT "users"."id" AS uid, "users"."is_active" FROM "users" WHERE ("users"."email" = {E}) LIMIT 1 \\gset',
            f'DELETE FROM "signup_otps" WHERE (((("signup_otps"."email" = {E}) AND ("signup_otps"."user_type" = \'live\')) AND ("signup_otps"."user_id" IS NULL)) AND ("signup_otps"."demo_user_id" IS NULL));',
            f"INSERT INTO otps (user_id, otp_hash, attempts, created_at, expires_at) VALUES (:uid, {HASH}, 0, {NOW}, {LATER}) ON CONFLICT (user_id) DO UPDATE SET otp_hash = excluded.otp_hash, attempts = excluded.attempts, created_at = excluded.created_at, expires_at = excluded.expires_at;",
        ]
        kind = "activation_code"
    lines += [
        f'DELETE FROM "email_outbox" WHERE (("email_outbox"."recipient" = {E}) AND ("email_outbox"."user_type" = \'live\'));',
        f'INSERT INTO "email_outbox" ("kind", "recipient", "user_type", "payload", "created_at", "expires_at", "next_attempt_at") VALUES (\'{kind}\', {E}, \'live\', {PAYLOAD}, {NOW}, {LATER}, {NOW});',
        "COMMIT;",
    ]
    return lines


def verify_head(E):
    return [
        "BEGIN;",
        f'SELECT "verify_lockouts"."email", "verify_lockouts"."user_type", "verify_lockouts"."consecutive_failures", "verify_lockouts"."locked_until", "verify_lockouts"."last_failure_at" FROM "verify_lockouts" WHERE (("verify_lockouts"."email" = {E}) AND ("verify_lockouts"."user_type" = \'live\')) LIMIT 1;',
    ]


def signup_row(E, gset):
    alias = " AS otp_id" if gset else ""
    end = " \\gset" if gset else ";"
    return f'SELECT "signup_otps"."id"{alias}, "signup_otps"."email", "signup_otps"."user_type", "signup_otps"."otp_hash", "signup_otps"."attempts", "signup_otps"."created_at", "signup_otps"."expires_at", "signup_otps"."is_verified", "signup_otps"."verified_at", "signup_otps"."user_id", "signup_otps"."demo_user_id" FROM "signup_otps" WHERE (("signup_otps"."email" = {E}) AND ("signup_otps"."user_type" = \'live\')) LIMIT 1{end}'


def verify_wrong(E):
    return verify_head(E) + [
        signup_row(E, True),
        'UPDATE "signup_otps" SET "attempts" = ("signup_otps"."attempts" + 1) WHERE (("signup_otps"."id" = :otp_id) AND ("signup_otps"."attempts" < 1000));',
        f"INSERT INTO verify_lockouts (email, user_type, consecutive_failures, last_failure_at) VALUES ({E}, 'live', 1, {NOW}) ON CONFLICT (email, user_type) DO UPDATE SET consecutive_failures = verify_lockouts.consecutive_failures + 1, last_failure_at = excluded.last_failure_at;",
        f'UPDATE "verify_lockouts" SET "consecutive_failures" = 0, "locked_until" = {LATER} WHERE ((("verify_lockouts"."email" = {E}) AND ("verify_lockouts"."user_type" = \'live\')) AND ("verify_lockouts"."consecutive_failures" >= 10000));',
        "COMMIT;",
    ]


def verify_signup(E):
    return verify_head(E) + [
        signup_row(E, True),
        f'UPDATE "signup_otps" SET "is_verified" = true, "verified_at" = {NOW}, "expires_at" = {LATER} WHERE (((("signup_otps"."id" = :otp_id) AND ("signup_otps"."is_verified" = false)) AND ("signup_otps"."attempts" < 1000)) AND ("signup_otps"."expires_at" > {NOW}));',
        f'DELETE FROM "verify_lockouts" WHERE (("verify_lockouts"."email" = {E}) AND ("verify_lockouts"."user_type" = \'live\'));',
        "COMMIT;",
    ]


def verify_activation(E):
    return verify_head(E) + [
        signup_row(E, False),
        f'SELECT "users"."id" AS uid, "users"."is_active" FROM "users" WHERE ("users"."email" = {E}) LIMIT 1 \\gset',
        'SELECT "otps"."id" AS otp_id, "otps"."user_id", "otps"."demo_user_id", "otps"."otp_hash", "otps"."attempts", "otps"."created_at", "otps"."expires_at" FROM "otps" WHERE ("otps"."user_id" = :uid) LIMIT 1 \\gset',
        f'DELETE FROM "otps" WHERE ((("otps"."id" = :otp_id) AND ("otps"."attempts" < 1000)) AND ("otps"."expires_at" > {NOW}));',
        'UPDATE "users" SET "is_active" = true WHERE (("users"."id" = :uid) AND ("users"."is_active" = false));',
        f'DELETE FROM "verify_lockouts" WHERE (("verify_lockouts"."email" = {E}) AND ("verify_lockouts"."user_type" = \'live\'));',
        "COMMIT;",
    ]


HEADER = """-- pgbench script: the SQL statements the service issues for one {what},
-- as PostgreSQL's statement log shows them (log_statement = 'all'), in the same
-- transactions and order, with literals where the service binds values.
-- Written by gen.py.
"""

SCRIPTS = {
    "send.sql": ("send-otp to a new address", ["\\set n random(1, 2000000000)"] + send(FRESH, False)),
    "verify_wrong.sql": ("verify-otp with a wrong code for a seeded address", ["\\set s random(1, :seeded)"] + verify_wrong(SEED)),
    "flow.sql": ("send-otp to a new address, then verify-otp with the right code", ["\\set n random(1, 2000000000)"] + send(FRESH, False) + verify_signup(FRESH)),
    "activation.sql": ("send-otp to a seeded inactive account, then verify-otp (activation)", ["\\set i :i + 1"] + send(INACTIVE, True) + verify_activation(INACTIVE)),
}

if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    for name, (what, lines) in SCRIPTS.items():
        with open(os.path.join(here, name), "w") as out:
            out.write(HEADER.format(what=what) + "\n".join(lines) + "\n")
