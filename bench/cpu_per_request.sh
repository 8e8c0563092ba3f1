#!/usr/bin/env bash
# CPU time per request, of the service and of PostgreSQL, for one scenario: the
# figure to compare two builds by (it drifts far less than requests per second on
# a shared 2-core machine). Uses the benchmark build that bench/run.sh makes.
#
#   bench/cpu_per_request.sh SCENARIO CONNECTIONS SECONDS [VAR=value ...]
#   BIN=/path/to/other/build bench/cpu_per_request.sh send 16 8
#
# Extra VAR=value arguments go to the service (e.g. RUST_LOG=warn, or a
# DATABASE_URL with ?sslmode=disable). Needs BENCH_DATABASE_URL (default: the
# local server) and an SMTP listener, which it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
scenario=$1 connections=$2 seconds=$3; shift 3
BIN=${BIN:-target/bench/signup-otp}
export BENCH_DATABASE_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
WORK=$(mktemp -d)
smtp_port=$(free_port)
python3 bench/slow_smtp.py "$smtp_port" 0 > /dev/null &
smtp_pid=$!
trap 'stop_service; kill $smtp_pid 2>/dev/null || true; drop_database postgres bench_cpu; rm -rf "$WORK"' EXIT
need_wrk

url=$(fresh_database postgres bench_cpu)
start_service "$url" RUST_LOG=info MAIL_TRANSPORT=smtp "SMTP_URL=smtp://127.0.0.1:$smtp_port" \
    OTP_MAX_ATTEMPTS=1000 OTP_LOCKOUT_THRESHOLD=10000 OTP_RESEND_COOLDOWN_SECS=0 \
    OTP_MAX_SENDS_PER_HOUR=10000 OTP_MAX_SENDS_PER_DAY=100000 OTP_MAX_SENDS_PER_MAILBOX_PER_DAY=100000 "$@"
psql -q "$url" -c "INSERT INTO signup_otps (email, user_type, otp_hash, expires_at)
    SELECT 'seed-' || i || '@example.com', 'live', decode(repeat('00', 32), 'hex'),
    (now() AT TIME ZONE 'UTC') + interval '1 day' FROM generate_series(1, 2000) i"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
postgres_ticks() {
    local total=0
    for pid in $(pgrep -x postgres); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
service_before=$(ticks "$API_PID"); postgres_before=$(postgres_ticks)
result=$(wrk -t "$connections" -c "$connections" -d "${seconds}s" -s bench/scenario.lua "$API_URL" \
    -- "$scenario" cpu 2000 | grep '^RESULT ' | cut -d' ' -f2)
service_after=$(ticks "$API_PID"); postgres_after=$(postgres_ticks)
requests=${result%%,*}
hz=$(getconf CLK_TCK)
python3 - "$requests" "$seconds" "$hz" "$service_before" "$service_after" "$postgres_before" "$postgres_after" "$result" <<'PY'
import sys
requests, seconds, hz = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
service = (int(sys.argv[5]) - int(sys.argv[4])) / hz * 1e6 / requests
postgres = (int(sys.argv[7]) - int(sys.argv[6])) / hz * 1e6 / requests
_, errors, p50, p99, *_ = sys.argv[8].split(",")
print(f"| {requests / seconds:,.0f} req/s | service {service:,.0f} µs/req | PostgreSQL {postgres:,.0f} µs/req "
      f"| p50 {p50} ms | p99 {p99} ms | errors {errors} |")
PY
