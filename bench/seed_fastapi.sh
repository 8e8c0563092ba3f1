#!/usr/bin/env bash
# The service against the seed's own stack (bench/seed_fastapi/app.py: FastAPI on
# uvicorn, SQLAlchemy's async ORM on asyncpg, the code emailed by aiosmtplib),
# the same wrk scenarios (bench/scenario.lua) on the same PostgreSQL, alternating
# runs, each on a fresh database. Prints one Markdown table.
#
#   bench/seed_fastapi.sh
#
# Settings (environment):
#   BENCH_DURATION=10               seconds per run
#   BENCH_REPEAT=2                  runs per cell; the median is reported
#   BENCH_CONCURRENCY="16 64"
#   BENCH_SCENARIOS="send verify_wrong flow"
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
#   FASTAPI_WORKERS=$(nproc)        uvicorn worker processes
#   FASTAPI_EMAIL=1                 0: the seed's stack sends no email (the service
#                                   still does): its best case
#   BENCH_RAW=...                   keep every run's figures as CSV (optional)
#
# The seed's stack is installed from PyPI into target/bench/seed-fastapi (pinned
# in bench/seed_fastapi/requirements.txt). Each run gets its own local SMTP
# listener (bench/slow_smtp.py, no delay), stopped the moment wrk ends: "emails"
# counts what it received during the run. The seed's stack sends each email
# right after its answer; the service's courier delivers from the outbox, and
# what it had not delivered when the run ended is not counted. Both log each OTP
# event and each request. The scenarios are send, verify_wrong and flow (the
# seed's stack has no /health/ready and no seeded inactive accounts).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${BENCH_DURATION:-10}
REPEAT=${BENCH_REPEAT:-2}
CONCURRENCY=${BENCH_CONCURRENCY:-"16 64"}
SCENARIOS=${BENCH_SCENARIOS:-"send verify_wrong flow"}
for scenario in $SCENARIOS; do
    case $scenario in send | verify_wrong | flow) ;; *) echo "unknown scenario: $scenario" >&2; exit 2 ;; esac
done
export BENCH_DATABASE_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
WORKERS=${FASTAPI_WORKERS:-$(nproc)}
EMAIL=${FASTAPI_EMAIL:-1}
SEEDED=2000
VENV=target/bench/seed-fastapi
BIN=target/bench/signup-otp
WORK=$(mktemp -d)
RAW=${BENCH_RAW:-$WORK/raw.csv}
: > "$RAW"
SMTP_PID="" APP_PID="" DATABASE=""
cleanup() {
    stop_service
    [ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null || true
    [ -n "$SMTP_PID" ] && kill "$SMTP_PID" 2>/dev/null || true
    [ -n "$DATABASE" ] && drop_database postgres "$DATABASE"
    rm -rf "$WORK"
}
trap cleanup EXIT
need_wrk

if [ ! -x "$VENV/bin/uvicorn" ]; then
    echo "installing the seed's stack into $VENV ..." >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r bench/seed_fastapi/requirements.txt
fi
echo "building the benchmark binary (deterministic codes) ..." >&2
cargo build --release --locked --quiet --features deterministic-codes
mkdir -p target/bench
cp target/release/signup-otp "$BIN"
cargo build --release --locked --quiet

start_listener() { # → sets smtp_port and SMTP_PID
    smtp_port=$(free_port)
    python3 bench/slow_smtp.py "$smtp_port" 0 > "$WORK/smtp.out" &
    SMTP_PID=$!
    for _ in $(seq 1 50); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $smtp_port), 1)" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "the SMTP listener did not start" >&2; return 1
}

stop_listener() { # → sets EMAILS: what it received
    kill -INT "$SMTP_PID"; wait "$SMTP_PID" 2>/dev/null || true
    SMTP_PID=""
    EMAILS=$(cat "$WORK/smtp.out")
}

# Live codes for wrong guesses: seed-1..seed-N@example.com.
seed_codes() { # URL COLUMNS VALUES
    psql -q "$1" -c "INSERT INTO signup_otps (email, user_type, expires_at, $2)
        SELECT 'seed-' || i || '@example.com', 'live', (now() AT TIME ZONE 'UTC') + interval '1 day', $3
        FROM generate_series(1, $SEEDED) i"
}

# drive STACK SCENARIO C RUN URL → appends "stack,scenario,c,run,req/s,p99,errors,emails/s"
drive() {
    local out
    out=$(wrk -t "$3" -c "$3" -d "${DURATION}s" --timeout 10s -s bench/scenario.lua "$5" \
        -- "$2" "$4" "$SEEDED" | grep '^RESULT ' | cut -d' ' -f2)
    stop_listener
    IFS=, read -r requests errors p50 p99 p999 seconds <<< "$out"
    if [ -z "$requests" ] || [ "$requests" = 0 ]; then
        echo "$1 $2 c=$3: no request was answered" >&2; return 1
    fi
    local rps; rps=$(python3 -c "print(round($requests / $seconds, 1))")
    local eps; eps=$(python3 -c "print(round(${EMAILS:-0} / $seconds, 1))")
    echo "$1,$2,$3,$4,$rps,$p99,$errors,$eps" >> "$RAW"
    echo "  $1 $2 c=$3 run $4: $rps req/s p99 $p99 ms errors $errors, $eps emails/s" >&2
}

fastapi_run() {
    local scenario=$1 c=$2 run=$3 name="bench_fastapi_$1_$2_$3"
    local url; url=$(fresh_database postgres "$name")
    DATABASE=$name
    local asyncpg_url="postgresql+asyncpg://${url#*://}"
    DATABASE_URL="$asyncpg_url" "$VENV/bin/python" bench/seed_fastapi/app.py
    seed_codes "$url" "otp_code, is_verified" "'123456', false"
    start_listener
    local port; port=$(free_port)
    (cd bench/seed_fastapi && exec env DATABASE_URL="$asyncpg_url" SMTP_HOST=127.0.0.1 SMTP_PORT="$smtp_port" \
        FIXED_CODE=123456 SEND_EMAIL="$EMAIL" "../../$VENV/bin/uvicorn" app:app --host 127.0.0.1 --port "$port" \
        --workers "$WORKERS" > "$WORK/fastapi.log" 2>&1) &
    APP_PID=$!
    local up=""
    for _ in $(seq 1 300); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/docs" && up=1 && break
        sleep 0.1
    done
    [ -n "$up" ] || { echo "the seed's stack did not start:" >&2; cat "$WORK/fastapi.log" >&2; return 1; }
    drive fastapi "$scenario" "$c" "$run" "http://127.0.0.1:$port"
    kill "$APP_PID" 2>/dev/null || true
    wait "$APP_PID" 2>/dev/null || true
    APP_PID=""
    drop_database postgres "$name"
    DATABASE=""
}

service_run() {
    local scenario=$1 c=$2 run=$3 name="bench_service_$1_$2_$3"
    local url; url=$(fresh_database postgres "$name")
    DATABASE=$name
    start_listener
    start_service "$url" RUST_LOG=info MAIL_TRANSPORT=smtp "SMTP_URL=smtp://127.0.0.1:$smtp_port" \
        OTP_MAX_ATTEMPTS=1000 OTP_LOCKOUT_THRESHOLD=10000 OTP_RESEND_COOLDOWN_SECS=0 \
        OTP_MAX_SENDS_PER_HOUR=10000 OTP_MAX_SENDS_PER_DAY=100000 OTP_MAX_SENDS_PER_MAILBOX_PER_DAY=100000
    seed_codes "$url" otp_hash "decode(repeat('00', 32), 'hex')"
    drive service "$scenario" "$c" "$run" "$API_URL"
    stop_service
    drop_database postgres "$name"
    DATABASE=""
}

for scenario in $SCENARIOS; do
    for c in $CONCURRENCY; do
        for run in $(seq 1 "$REPEAT"); do
            fastapi_run "$scenario" "$c" "$run"
            service_run "$scenario" "$c" "$run"
        done
    done
done

python3 - "$RAW" "$WORKERS" "$EMAIL" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    stack, scenario, c, run, rps, p99, errors, eps = line.strip().split(",")
    runs[(scenario, int(c), stack)].append((float(rps), float(p99), int(errors), float(eps)))
def median(cell, i):
    return statistics.median(r[i] for r in runs[cell])
email = "with its email" if sys.argv[3] != "0" else "no email"
print(f"| scenario | clients | seed's FastAPI stack ({sys.argv[2]} workers, {email}) req/s | p99 ms | errors | emails/s "
      "| the service req/s | p99 ms | errors | emails/s | service / FastAPI |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for scenario, c in sorted({(s, c) for s, c, _ in runs}, key=lambda k: (k[0], k[1])):
    fa, sv = (scenario, c, "fastapi"), (scenario, c, "service")
    if fa not in runs or sv not in runs:
        continue
    errors = lambda cell: sum(r[2] for r in runs[cell])
    print(f"| {scenario} | {c} | {median(fa, 0):,.0f} | {median(fa, 1):.1f} | {errors(fa)} | {median(fa, 3):,.0f} "
          f"| {median(sv, 0):,.0f} | {median(sv, 1):.1f} | {errors(sv)} | {median(sv, 3):,.0f} "
          f"| **{median(sv, 0) / median(fa, 0):.1f}×** |")
PY
