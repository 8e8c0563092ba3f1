# Shared by the bench scripts: build, start and stop the service, fresh databases.
# Loopback only; every run is bounded by its duration.

BIN=${BIN:-target/release/signup-otp}
API_PID=""

need_wrk() {
    command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
}

build_release() {
    cargo build --release --quiet
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# fresh_database BACKEND NAME → prints a DATABASE_URL (PostgreSQL needs BENCH_DATABASE_URL,
# an admin URL such as postgres://postgres@127.0.0.1:5432/postgres).
fresh_database() {
    local backend=$1 name=$2
    if [ "$backend" = sqlite ]; then
        echo "sqlite://$WORK/$name.db"
    else
        psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $name" >/dev/null
        psql "$BENCH_DATABASE_URL" -qc "CREATE DATABASE $name" >/dev/null
        python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' \
            "$BENCH_DATABASE_URL" "$name"
    fi
}

drop_database() {
    local backend=$1 name=$2
    if [ "$backend" = postgres ]; then
        psql "$BENCH_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
    fi
}

# start_service DATABASE_URL [VAR=value ...] → sets API_PID and API_URL
start_service() {
    local db_url=$1; shift
    local port; port=$(free_port)
    env DATABASE_URL="$db_url" BIND_ADDR="127.0.0.1:$port" METRICS_ADDR=127.0.0.1:0 IP_RATE_LIMITS=off MAX_CONNECTIONS_PER_CLIENT=100000 \
        OTP_SECRET=Zk3pR8vQ1mW6tY0cN4xB7hJ2sD9fL5gA3eU8iO1rT6w= RUST_LOG=warn \
        MAIL_TRANSPORT=file MAIL_DIR="$WORK/mail" "$@" "$BIN" serve > "$WORK/api.log" 2>&1 &
    API_PID=$!
    API_URL="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do curl -sf "$API_URL/health" >/dev/null && return 0; sleep 0.1; done
    echo "the service did not start:" >&2; cat "$WORK/api.log" >&2; return 1
}

stop_service() {
    kill "$API_PID" 2>/dev/null || true
    wait "$API_PID" 2>/dev/null || true
}

# rss_kib PID
rss_kib() {
    ps -o rss= -p "$1" | tr -d ' '
}
