#!/usr/bin/env bash
# CPU time per request, of the service, of PostgreSQL, of the SMTP listener and of
# the load generator, for one scenario: the figure to compare two builds by (it
# drifts far less than requests per second on a shared 2-core machine), and what
# each process costs the others on a machine they share. Uses the benchmark build
# that bench/run.sh makes.
#
#   bench/cpu_per_request.sh SCENARIO CONNECTIONS SECONDS [VAR=value ...]
#   BIN=/path/to/other/build bench/cpu_per_request.sh send 16 8
#
# Extra VAR=value arguments go to the service (e.g. RUST_LOG=warn, or a
# DATABASE_URL with ?sslmode=disable). BENCH_SMTP_DELAY_MS holds the listener's
# answer to each message that long (600000: the courier's first batch waits for
# the whole run and it starts no other, so the request path is measured nearly
# alone; keep the run under SMTP_TIMEOUT_SECS, 10 s by default). Needs BENCH_DATABASE_URL (default: the
# local server) and an SMTP listener, which it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
scenario=$1 connections=$2 seconds=$3; shift 3
BIN=${BIN:-target/bench/signup-otp}
export BENCH_DATABASE_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
WORK=$(mktemp -d)
smtp_port=$(free_port)
python3 bench/slow_smtp.py "$smtp_port" "${BENCH_SMTP_DELAY_MS:-0}" > /dev/null &
smtp_pid=$!
trap 'stop_service; kill $smtp_pid 2>/dev/null || true; drop_database postgres bench_cpu; rm -rf "$WORK"' EXIT
need_wrk
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

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
service_before=$(ticks "$API_PID"); postgres_before=$(postgres_ticks); smtp_before=$(ticks "$smtp_pid")
result=$(/usr/bin/time -f "%U %S" -o "$WORK/wrk.cpu" \
    wrk -t "$connections" -c "$connections" -d "${seconds}s" -s bench/scenario.lua "$API_URL" \
    -- "$scenario" cpu 2000 | grep '^RESULT ' | cut -d' ' -f2)
service_after=$(ticks "$API_PID"); postgres_after=$(postgres_ticks); smtp_after=$(ticks "$smtp_pid")
requests=${result%%,*}
[ -n "$requests" ] && [ "$requests" != 0 ] || { echo "no request was answered" >&2; exit 1; }
hz=$(getconf CLK_TCK)
python3 - "$requests" "$seconds" "$hz" "$service_before" "$service_after" "$postgres_before" "$postgres_after" \
    "$smtp_before" "$smtp_after" "$(cat "$WORK/wrk.cpu")" "$result" <<'PY'
import sys
requests, seconds, hz = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
per = lambda before, after: (int(after) - int(before)) / hz * 1e6 / requests
service, postgres, smtp = per(*sys.argv[4:6]), per(*sys.argv[6:8]), per(*sys.argv[8:10])
wrk = sum(map(float, sys.argv[10].split())) * 1e6 / requests
_, errors, p50, p99, *_ = sys.argv[11].split(",")
print(f"| {requests / seconds:,.0f} req/s | service {service:,.0f} µs/req | PostgreSQL {postgres:,.0f} µs/req "
      f"| SMTP listener {smtp:,.0f} µs/req | wrk {wrk:,.0f} µs/req | p50 {p50} ms | p99 {p99} ms | errors {errors} |")
PY
