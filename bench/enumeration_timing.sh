#!/usr/bin/env bash
# Does the timing of send-otp, or of verify-otp with a wrong code, tell a new
# address from an inactive or an active account? Median latency of each case,
# one connection, on each backend. (Register without a token hashes the password
# in every case: its time is the hash's.)
#
#   bench/enumeration_timing.sh [SECONDS_PER_ROUND] [ROUNDS]   (default 5 s, 5 rounds)
#
# Target: the three medians within 10% of each other.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION="${1:-5}"
ROUNDS="${2:-5}"
ACCOUNTS=200
need_wrk
build_release
WORK=$(mktemp -d)
trap 'stop_service; rm -rf "$WORK"' EXIT

# seed BACKEND DATABASE_URL: ACCOUNTS inactive and ACCOUNTS active live accounts.
seed() {
    local backend=$1 url=$2 sql
    sql=$(python3 - "$ACCOUNTS" <<'PY'
import sys
n = int(sys.argv[1])
rows = [f"('inactive-{i}@example.com', 'live', FALSE)" for i in range(n)]
rows += [f"('active-{i}@example.com', 'live', TRUE)" for i in range(n)]
print("INSERT INTO users (email, user_type, is_active) VALUES " + ", ".join(rows) + ";")
PY
)
    if [ "$backend" = sqlite ]; then
        python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2].replace("FALSE", "0").replace("TRUE", "1")); c.commit()' \
            "${url#sqlite://}" "$sql"
    else
        psql "$url" -qc "$sql"
    fi
}

echo "Median latency by case, 1 connection, $ROUNDS interleaved rounds of ${DURATION}s per case, $(nproc) cores, $(date -u +%F)"
echo
echo '| backend  | endpoint | case     | requests | p50 ms | p99 ms | p50 / new |'
echo '|----------|----------|----------|---------:|-------:|-------:|----------:|'
for backend in sqlite ${BENCH_DATABASE_URL:+postgres}; do
    db_name="signup_otp_enum_$$"
    url=$(fresh_database "$backend" "$db_name")
    # Limits off for the measurement: the same addresses are sent to, and guessed
    # at, again and again (so the wrong-code path is measured, not the spent one).
    start_service "$url" OTP_RESEND_COOLDOWN_SECS=0 OTP_MAX_SENDS_PER_HOUR=10000 \
        OTP_MAX_SENDS_PER_DAY=100000 OTP_MAX_SENDS_PER_MAILBOX_PER_DAY=100000 \
        OTP_MAX_ATTEMPTS=1000 OTP_LOCKOUT_THRESHOLD=10000 MAIL_TRANSPORT=stdout
    seed "$backend" "$url"
    median() { python3 -c 'import statistics, sys; print(statistics.median(map(float, sys.argv[1:])))' $1; }
    for endpoint in send verify; do
        # Rounds interleave the cases, so that whatever drifts during the run
        # (table growth, the courier's backlog) weighs on each case alike; each
        # case's figure is the median of its rounds.
        declare -A p50s=() p99s=() counts=()
        for round in $(seq 1 "$ROUNDS"); do
            for case in new inactive active; do
                line=$(ENDPOINT="$endpoint" CASE="$case" ACCOUNTS="$ACCOUNTS" wrk -t1 -c1 -d"${DURATION}s" \
                    -s bench/send_otp_case.lua "$API_URL" | grep '^RESULT' | cut -d' ' -f2)
                IFS=, read -r requests errors p50 p99 _ _ <<< "$line"
                p50s[$case]+="$p50 "; p99s[$case]+="$p99 "
                counts[$case]=$(( ${counts[$case]:-0} + requests ))
            done
        done
        new_p50=$(median "${p50s[new]}")
        for case in new inactive active; do
            p50=$(median "${p50s[$case]}"); p99=$(median "${p99s[$case]}")
            printf '| %-8s | %-8s | %-8s | %8s | %6.3f | %6.3f | %9.3f |\n' "$backend" "$endpoint" "$case" \
                "${counts[$case]}" "$p50" "$p99" "$(python3 -c "print($p50 / $new_p50)")"
        done
    done
    stop_service
    drop_database "$backend" "$db_name"
done
