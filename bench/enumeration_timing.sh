#!/usr/bin/env bash
# Does send-otp's timing tell a new address from an inactive or an active
# account? Median latency of each case, one connection, on each backend.
#
#   bench/enumeration_timing.sh [SECONDS_PER_CASE]
#
# Target: the three medians within 10% of each other.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION="${1:-15}"
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

echo "send-otp median latency by case, 1 connection, ${DURATION}s per case, $(nproc) cores, $(date -u +%F)"
echo
echo '| backend  | case     | requests | p50 ms | p99 ms | p50 / new |'
echo '|----------|----------|---------:|-------:|-------:|----------:|'
for backend in sqlite ${BENCH_DATABASE_URL:+postgres}; do
    db_name="signup_otp_enum_$$"
    url=$(fresh_database "$backend" "$db_name")
    # Limits off for the measurement: the same addresses are sent to again and again.
    start_service "$url" OTP_RESEND_COOLDOWN_SECS=0 OTP_MAX_SENDS_PER_HOUR=10000000 \
        OTP_MAX_SENDS_PER_DAY=10000000 MAIL_TRANSPORT=stdout
    seed "$backend" "$url"
    new_p50=""
    for case in new inactive active; do
        line=$(CASE="$case" ACCOUNTS="$ACCOUNTS" wrk -t1 -c1 -d"${DURATION}s" \
            -s bench/send_otp_case.lua "$API_URL" | grep '^RESULT' | cut -d' ' -f2)
        IFS=, read -r requests errors p50 p99 _ _ <<< "$line"
        [ -z "$new_p50" ] && new_p50=$p50
        printf '| %-8s | %-8s | %8s | %6s | %6s | %9.3f |\n' "$backend" "$case" "$requests" "$p50" "$p99" \
            "$(python3 -c "print($p50 / $new_p50)")"
    done
    stop_service
    drop_database "$backend" "$db_name"
done
