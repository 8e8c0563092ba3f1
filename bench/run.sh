#!/usr/bin/env bash
# The benchmark suite: every scenario at every concurrency, on PostgreSQL and on
# SQLite; on PostgreSQL, right after each service run, pgbench of the seed's own
# SQL for the same work (bench/ceiling/: the floor any implementation stands on)
# and of the service's own statements (bench/pgbench/); plus start-up time and idle
# memory. Prints one Markdown table per part.
#
#   bench/run.sh
#
# Settings (environment):
#   BENCH_DURATION=20                 seconds per run
#   BENCH_REPEAT=3                    runs per cell; the median is reported
#   BENCH_CONCURRENCY="1 16 64"       connections (wrk) and clients (pgbench)
#   BENCH_SCENARIOS="send verify_wrong flow activation mixed"
#   BENCH_BACKENDS="postgres sqlite"
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
#                                     a server where databases may be created
#   BENCH_RAW=bench/raw.csv           where every run's figures go (optional)
#
# It builds the service with the `deterministic-codes` feature (so that the load
# generator knows every code) into target/bench/, drives it with wrk and
# bench/scenario.lua over loopback, sends its mail to a local SMTP listener
# (bench/slow_smtp.py, no delay), and runs bench/pgbench/*.sql with pgbench.
# Every database is created fresh for its run and dropped after it. With the
# defaults it takes about 50 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${BENCH_DURATION:-20}
REPEAT=${BENCH_REPEAT:-3}
CONCURRENCY=${BENCH_CONCURRENCY:-"1 16 64"}
SCENARIOS=${BENCH_SCENARIOS:-"send verify_wrong flow activation mixed"}
BACKENDS=${BENCH_BACKENDS:-"postgres sqlite"}
export BENCH_DATABASE_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
SEEDED=2000          # addresses with a live code, for wrong guesses
FLOWS_PER_SECOND=3000 # an upper bound, to seed enough inactive accounts

WORK=$(mktemp -d)
RAW=${BENCH_RAW:-$WORK/raw.csv}
BIN=target/bench/signup-otp
SMTP_PID=""
cleanup() {
    stop_service
    [ -n "$SMTP_PID" ] && kill "$SMTP_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

need_wrk
# pgbench and psql come with Debian's PostgreSQL packages (our machines run the server).
command -v pgbench >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-15 >/dev/null; }
command -v psql >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null; }

echo "building the benchmark binary (deterministic codes) ..." >&2
cargo build --release --locked --quiet --features deterministic-codes
mkdir -p target/bench
cp target/release/signup-otp "$BIN"
# Put the normal build back in target/release (a re-link: both are cached).
cargo build --release --locked --quiet

smtp_port=$(free_port)
python3 bench/slow_smtp.py "$smtp_port" 0 > "$WORK/smtp.out" &
SMTP_PID=$!

# What every service run is configured with: the production defaults, but limits
# that a load generator sending from one address would trip are raised.
SERVICE_ENV=(
    RUST_LOG=info
    MAIL_TRANSPORT=smtp "SMTP_URL=smtp://127.0.0.1:$smtp_port"
    OTP_MAX_ATTEMPTS=1000 OTP_LOCKOUT_THRESHOLD=10000 OTP_RESEND_COOLDOWN_SECS=0
    OTP_MAX_SENDS_PER_HOUR=10000 OTP_MAX_SENDS_PER_DAY=100000 OTP_MAX_SENDS_PER_MAILBOX_PER_DAY=100000
)

per_thread() { # concurrency → inactive accounts to seed per wrk thread
    echo $(( FLOWS_PER_SECOND * (DURATION + 2) / $1 + 100 ))
}

# seed BACKEND DATABASE_URL CONCURRENCY: live codes for guesses, inactive accounts.
seed() {
    local backend=$1 url=$2 threads=$3 per; per=$(per_thread "$3")
    if [ "$backend" = postgres ]; then
        psql -q "$url" <<SQL
INSERT INTO signup_otps (email, user_type, otp_hash, expires_at)
SELECT 'seed-' || i || '@example.com', 'live', decode(repeat('00', 32), 'hex'),
       (now() AT TIME ZONE 'UTC') + interval '1 day'
FROM generate_series(1, $SEEDED) i;
INSERT INTO users (email, is_active)
SELECT 'inactive-' || t || '-' || i || '@example.com', false
FROM generate_series(0, $threads - 1) t, generate_series(1, $per) i;
SQL
    else
        python3 - "${url#sqlite://}" "$SEEDED" "$threads" "$per" <<'PY'
import datetime, sqlite3, sys
path, seeded, threads, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
db = sqlite3.connect(path)
now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
stamp = lambda t: t.strftime("%Y-%m-%d %H:%M:%S.%f")
db.executemany(
    "INSERT INTO signup_otps (email, user_type, otp_hash, attempts, created_at, expires_at, is_verified)"
    " VALUES (?, 'live', zeroblob(32), 0, ?, ?, 0)",
    [(f"seed-{i}@example.com", stamp(now), stamp(now + datetime.timedelta(days=1)))
     for i in range(1, seeded + 1)])
db.executemany(
    "INSERT INTO users (email, user_type, is_active, created_at) VALUES (?, 'live', 0, ?)",
    [(f"inactive-{t}-{i}@example.com", stamp(now)) for t in range(threads) for i in range(1, per + 1)])
db.commit()
PY
    fi
}

# sample_peak_rss PID FILE: the highest RSS (KiB) seen while PID lives, every 0.2 s.
sample_peak_rss() {
    local pid=$1 file=$2 peak=0 now
    while kill -0 "$pid" 2>/dev/null; do
        now=$(rss_kib "$pid" 2>/dev/null || echo 0)
        [ -n "$now" ] && [ "$now" -gt "$peak" ] && peak=$now && echo "$peak" > "$file"
        sleep 0.2
    done
}

echo "backend,scenario,concurrency,run,requests_per_s,p50_ms,p99_ms,p999_ms,errors,peak_rss_mib,pgbench_tps,pgbench_latency_ms,seed_tps,seed_p99_ms" > "$RAW"

# The seed's script for the same work as a scenario (bench/ceiling/).
declare -A SEED_SCRIPT=([send]=send_otp [verify_wrong]=verify_wrong_attempts [flow]=send_then_verify)

# One service run: fresh database, seeds, wrk for DURATION seconds.
service_run() {
    local backend=$1 scenario=$2 c=$3 run=$4 name="bench_${scenario}_${c}_${run}"
    local url; url=$(fresh_database "$backend" "$name")
    start_service "$url" "${SERVICE_ENV[@]}"
    seed "$backend" "$url" "$c"
    sample_peak_rss "$API_PID" "$WORK/peak" & local sampler=$!
    local out
    out=$(wrk -t "$c" -c "$c" -d "${DURATION}s" --timeout 10s -s bench/scenario.lua "$API_URL" \
        -- "$scenario" "$run" "$SEEDED" | grep '^RESULT ' | cut -d' ' -f2)
    local peak; peak=$(cat "$WORK/peak" 2>/dev/null || echo 0)
    stop_service
    wait "$sampler" 2>/dev/null || true
    rm -f "$WORK/peak"
    drop_database "$backend" "$name"
    [ "$backend" = sqlite ] && rm -f "$WORK/$name".db*
    IFS=, read -r requests errors p50 p99 p999 seconds <<< "$out"
    local rps; rps=$(python3 -c "print(round($requests / $seconds, 1))")
    local mib; mib=$(python3 -c "print(round($peak / 1024, 1))")
    echo "$backend,$scenario,$c,$run,$rps,$p50,$p99,$p999,$errors,$mib,,,," >> "$RAW"
    echo "  $backend $scenario c=$c run $run: $rps req/s p99 ${p99} ms errors $errors rss ${mib} MiB" >&2
}

# One pgbench run of the seed's SQL for the scenario's work (its own database,
# re-seeded by the script).
seed_sql_run() {
    local scenario=$1 c=$2 run=$3 script=${SEED_SCRIPT[$1]}
    local out
    out=$(PGURL="$BENCH_DATABASE_URL" THREADS=$(( c < 4 ? c : 4 )) \
        bench/ceiling/ceiling.sh "$script" "$c" "$DURATION") || {
        echo "the seed's $script c=$c failed" >&2; return 0
    }
    local tps p99
    tps=$(echo "$out" | sed -n 's/.* tps=\([0-9.]*\) .*/\1/p')
    p99=$(echo "$out" | sed -n 's/.* p99_ms=\([0-9.]*\) .*/\1/p')
    echo "postgres,$scenario,$c,$run,,,,,,,,,$tps,$p99" >> "$RAW"
    echo "  seed SQL $script c=$c run $run: $tps tps, p99 $p99 ms" >&2
}

# One pgbench run of a scenario's statements on a fresh, migrated, seeded database.
pgbench_run() {
    local scenario=$1 c=$2 run=$3 name="pgbench_${scenario}_${c}_${run}"
    local url; url=$(fresh_database postgres "$name")
    DATABASE_URL="$url" OTP_SECRET=Zk3pR8vQ1mW6tY0cN4xB7hJ2sD9fL5gA3eU8iO1rT6w= RUST_LOG=warn \
        "$BIN" migrate > /dev/null
    seed postgres "$url" "$c"
    local jobs=$(( c < 4 ? c : 4 ))
    local out
    out=$(pgbench -n -M prepared -c "$c" -j "$jobs" -T "$DURATION" -D seeded="$SEEDED" -D i=0 \
        -f "bench/pgbench/$scenario.sql" "$url" 2>&1) || {
        echo "pgbench $scenario c=$c failed:" >&2; echo "$out" | tail -5 >&2
    }
    drop_database postgres "$name"
    local tps latency
    tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
    latency=$(echo "$out" | sed -n 's/^latency average = \([0-9.]*\) ms/\1/p')
    if echo "$out" | grep -q "number of failed transactions: [1-9]"; then
        echo "pgbench $scenario c=$c: failed transactions" >&2; echo "$out" >&2
    fi
    echo "postgres,$scenario,$c,$run,,,,,,,$tps,$latency,," >> "$RAW"
    echo "  pgbench $scenario c=$c run $run: $tps tps, $latency ms" >&2
}

for backend in $BACKENDS; do
    for scenario in $SCENARIOS; do
        for c in $CONCURRENCY; do
            for run in $(seq 1 "$REPEAT"); do
                service_run "$backend" "$scenario" "$c" "$run"
                if [ "$backend" = postgres ] && [ -n "${SEED_SCRIPT[$scenario]:-}" ]; then
                    seed_sql_run "$scenario" "$c" "$run"
                fi
                if [ "$backend" = postgres ] && [ -f "bench/pgbench/$scenario.sql" ]; then
                    pgbench_run "$scenario" "$c" "$run"
                fi
            done
        done
    done
done

# Start-up to ready on an already-migrated database, and RSS when idle.
echo "backend,run,startup_ms,idle_rss_mib" > "$WORK/startup.csv"
for backend in $BACKENDS; do
    url=$(fresh_database "$backend" bench_startup)
    DATABASE_URL="$url" OTP_SECRET=Zk3pR8vQ1mW6tY0cN4xB7hJ2sD9fL5gA3eU8iO1rT6w= RUST_LOG=warn \
        "$BIN" migrate > /dev/null
    for run in $(seq 1 5); do
        port=$(free_port)
        python3 - "$BIN" "$url" "$port" "$smtp_port" <<'PY' | sed "s/^/$backend,$run,/" >> "$WORK/startup.csv"
import os, subprocess, sys, time, urllib.request
binary, url, port, smtp = sys.argv[1:]
env = dict(os.environ, DATABASE_URL=url, BIND_ADDR=f"127.0.0.1:{port}", METRICS_ADDR="127.0.0.1:0", RUST_LOG="warn",
           OTP_SECRET="Zk3pR8vQ1mW6tY0cN4xB7hJ2sD9fL5gA3eU8iO1rT6w=", MAIL_TRANSPORT="smtp",
           SMTP_URL=f"smtp://127.0.0.1:{smtp}")
start = time.monotonic()
proc = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1) as r:
            if r.status == 200:
                break
    except Exception:
        time.sleep(0.001)
ready_ms = (time.monotonic() - start) * 1000
time.sleep(3)
with open(f"/proc/{proc.pid}/status") as status:
    rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
proc.terminate(); proc.wait()
print(f"{ready_ms:.1f},{rss_kib / 1024:.1f}")
PY
    done
    drop_database "$backend" bench_startup
    rm -f "$WORK"/bench_startup.db*
done

PGURL="$BENCH_DATABASE_URL" psql -q "$BENCH_DATABASE_URL" \
    -c "DROP DATABASE IF EXISTS seed_ceiling WITH (FORCE)" 2>/dev/null || true
python3 bench/report.py "$RAW" "$WORK/startup.csv"
