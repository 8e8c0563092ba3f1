#!/usr/bin/env bash
# send-otp latency while the SMTP relay is fast and while it takes 200 ms per
# message: with the outbox, the API's latency must not follow the relay's.
#
#   bench/send_otp_slow_smtp.sh [DURATION_SECS] [CONNECTIONS]
#
# Builds the release binary, runs it on a fresh SQLite file (and on a fresh
# PostgreSQL database, created and dropped on the server BENCH_DATABASE_URL points
# at, if set), drives it with wrk on loopback, prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-20}"
CONNECTIONS="${2:-16}"

. bench/lib.sh
need_wrk
build_release
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

run() { # backend smtp_delay_ms
    local backend=$1 delay=$2 smtp_port api_port db_url smtp_pid api_pid line
    smtp_port=$(free_port); api_port=$(free_port)
    python3 bench/slow_smtp.py "$smtp_port" "$delay" > "$WORK/smtp.out" &
    smtp_pid=$!
    if [ "$backend" = sqlite ]; then
        db_url="sqlite://$WORK/bench-$delay.db"
    else
        local name="signup_otp_bench_$$_$delay"
        psql "$BENCH_DATABASE_URL" -qc "CREATE DATABASE $name" >/dev/null
        db_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' "$BENCH_DATABASE_URL" "$name")
    fi
    DATABASE_URL="$db_url" BIND_ADDR="127.0.0.1:$api_port" METRICS_ADDR=127.0.0.1:0 MAX_CONNECTIONS_PER_CLIENT=100000 MAIL_TRANSPORT=smtp \
        SMTP_URL="smtp://127.0.0.1:$smtp_port" OTP_SECRET=Zk3pR8vQ1mW6tY0cN4xB7hJ2sD9fL5gA3eU8iO1rT6w= \
        IP_RATE_LIMITS=off RUST_LOG=warn "$BIN" serve > "$WORK/api.log" 2>&1 &
    api_pid=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$api_port/health" >/dev/null && break; sleep 0.1; done
    line=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s bench/send_otp.lua "http://127.0.0.1:$api_port" | grep '^RESULT' | cut -d' ' -f2)
    local backlog
    backlog=$(curl -s "http://127.0.0.1:$api_port/health/ready" | python3 -c 'import json,sys; print(json.load(sys.stdin)["outbox"]["backlog"])')
    kill "$api_pid"; wait "$api_pid" 2>/dev/null || true
    kill "$smtp_pid"; wait "$smtp_pid" 2>/dev/null || true
    if [ "$backend" = postgres ]; then
        psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE signup_otp_bench_$$_$delay WITH (FORCE)" >/dev/null
    fi
    IFS=, read -r requests errors p50 p99 p999 secs <<< "$line"
    printf '| %-8s | %7s ms | %5s | %10.0f | %6s | %6s | %8s | %6s | %11s | %14s |\n' \
        "$backend" "$delay" "$CONNECTIONS" "$(python3 -c "print($requests / $secs)")" "$p50" "$p99" "$p999" "$errors" "$(cat "$WORK/smtp.out")" "$backlog"
}

echo "send-otp, fresh address per request, ${DURATION}s per row, $(nproc) cores, $(date -u +%F)"
echo
echo '| backend  | SMTP delay | conns | requests/s | p50 ms | p99 ms | p99.9 ms | errors | emails sent | backlog at end |'
echo '|----------|-----------:|------:|-----------:|-------:|-------:|---------:|-------:|------------:|---------------:|'
for backend in sqlite ${BENCH_DATABASE_URL:+postgres}; do
    for delay in 0 200; do
        run "$backend" "$delay"
    done
done
