#!/usr/bin/env bash
# Does the courier keep up? A send-otp flood (a fresh address per request) for
# DURATION seconds against PostgreSQL, with emails going to a local SMTP relay
# (bench/slow_smtp.py) that answers at once or after DELAY ms per message; then
# how long after the flood the outbox is empty, and the delivery rate over the
# whole run (emails the relay received / (flood + drain)).
#
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/courier.sh [DURATION] [CONNECTIONS]
#
# BENCH_COURIER_CASES lists "delay_ms:in_flight" pairs (MAIL_MAX_IN_FLIGHT);
# the default measures 16, 32 (the default setting) and 64 in flight against a
# relay that answers at once and against one that takes 200 ms per message.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-20}"
CONNECTIONS="${2:-16}"
CASES="${BENCH_COURIER_CASES:-0:16 0:32 0:64 200:16 200:32 200:64}"
: "${BENCH_DATABASE_URL:?set BENCH_DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres}"

BIN_GIVEN=${BIN:-}
. bench/lib.sh
need_wrk
# BIN=/path/to/a/build measures that build instead of building this checkout.
[ -n "${BIN_GIVEN:-}" ] || build_release
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

backlog() {
    curl -s "$API_URL/health/ready" | python3 -c 'import json,sys; print(json.load(sys.stdin)["outbox"]["backlog"])'
}

run() { # delay_ms in_flight
    local delay=$1 in_flight=$2 smtp_port smtp_pid db_url line start drained waiting sent at_end
    smtp_port=$(free_port)
    python3 bench/slow_smtp.py "$smtp_port" "$delay" > "$WORK/smtp.out" 2>/dev/null &
    smtp_pid=$!
    db_url=$(fresh_database postgres "signup_otp_courier_$$")
    start_service "$db_url" MAIL_TRANSPORT=smtp SMTP_URL="smtp://127.0.0.1:$smtp_port" \
        MAIL_MAX_IN_FLIGHT="$in_flight"
    line=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s bench/send_otp.lua "$API_URL" | grep '^RESULT' | cut -d' ' -f2)
    start=$(date +%s.%N)
    waiting=$(backlog)
    at_end=$waiting
    # Polls the outbox until it is empty (or two minutes have passed).
    while [ "$waiting" != 0 ] && python3 -c "import sys,time; sys.exit(time.time() - $start > 120)"; do
        sleep 0.2
        waiting=$(backlog)
    done
    drained=$(python3 -c "import time; print(f'{time.time() - $start:.1f}')")
    stop_service
    kill -INT "$smtp_pid"; wait "$smtp_pid" 2>/dev/null || true
    sent=$(cat "$WORK/smtp.out")
    drop_database postgres "signup_otp_courier_$$"
    IFS=, read -r requests errors p50 p99 p999 secs <<< "$line"
    python3 - "$delay" "$in_flight" "$requests" "$secs" "$errors" "$sent" "$drained" "$waiting" "$at_end" <<'PY'
import sys
delay, in_flight, requests, secs, errors, sent, drained, waiting, at_end = sys.argv[1:]
requests, secs, sent, drained, at_end = int(requests), float(secs), int(sent or 0), float(drained), int(at_end)
during = requests - at_end
drain_rate = (at_end - int(waiting)) / drained if drained > 0 else 0
print(f"| {delay:>6} ms | {in_flight:>9} | {requests / secs:>8.0f} | {errors:>6} | {requests:>8} | {sent:>8} "
      f"| {during / secs:>8.0f} | {at_end:>8} "
      f"| {drained if waiting == '0' else f'>{drained} ({waiting} left)':>12} | {drain_rate:>8.0f} | {sent / (secs + drained):>10.0f} |")
PY
}

echo "courier: ${DURATION}s send-otp flood, ${CONNECTIONS} connections, PostgreSQL, $(nproc) cores, $(date -u +%F)"
echo
echo '| relay delay | in flight | API req/s | errors | accepted | emails | emails/s during the flood | waiting at its end | drained after (s) | emails/s draining | emails/s overall |'
echo '|------------:|----------:|----------:|-------:|---------:|-------:|---------:|---------:|------------------:|---------:|---------:|'
for case in $CASES; do
    run "${case%%:*}" "${case##*:}"
done
