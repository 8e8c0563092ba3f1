#!/usr/bin/env bash
# The container image, built and run for real under podman, as users run it:
#
#   - built from the Dockerfile, with the runtime stage users get; the base image
#     and the binary come from this machine (.ci/container/base.sh builds a
#     stand-in for distroless from Debian's packages; BINARY_FROM=prebuilt takes
#     the release binary just built), since no registry is reachable here;
#   - no shell inside; the service runs as uid 65532;
#   - on the SQLite default under /data: the journey, send-otp → the code from a
#     real SMTP listener on the host → verify → register;
#   - against the local PostgreSQL, configured by environment variables only:
#     the same journey; HEALTHCHECK healthy, then unhealthy once the database is
#     gone; `podman stop` (SIGTERM to PID 1) lets a request in flight finish and
#     exits 0;
#   - prints the image size and the cold start-up time.
#
#   cargo build --release --locked && .ci/container/run.sh
#
# Needs podman and runc (Debian: apt-get install podman runc), run as root, and
# PostgreSQL on 127.0.0.1:5432 (user postgres, trust).
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=localhost/signup-otp:ci
SECRET="Cq0N8xP3vJ6mZ1rT9kW4sY7bL2dF5gH8aE3uI6oR1tU="
PG=postgres://postgres@127.0.0.1:5432
# crun (podman's default) refuses these machines' hybrid cgroups, and the
# default rlimits are refused too: runc, and explicit limits. Health checks are
# run by hand below (podman's timers need systemd).
RUN=(podman run --runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --network host
     --health-interval=disable)
work=$(mktemp -d)
containers=()
databases=()
cleanup() {
    for c in "${containers[@]}"; do podman rm -f "$c" >/dev/null 2>&1 || true; done
    for d in "${databases[@]}"; do psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true; done
    [ -n "${sink_pid:-}" ] && kill "$sink_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
step() { echo; echo "-- $*"; }
fail() { echo "FAILED: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
millis() { date +%s%3N; }
post() { # url body → prints "status body"
    curl -s -o "$work/body" -w '%{http_code}' -H 'Content-Type: application/json' -d "$2" "$1"
    echo " $(cat "$work/body")"
}
# wait_ready URL → milliseconds from now until /health/ready answers 200
wait_ready() {
    local start; start=$(millis)
    for _ in $(seq 1 300); do
        if curl -sf -o /dev/null "$1/health/ready"; then echo $(( $(millis) - start )); return 0; fi
        sleep 0.02
    done
    return 1
}
json() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

binary=${CARGO_TARGET_DIR:-target}/release/signup-otp
[ -x "$binary" ] || fail "build the release binary first: cargo build --release --locked"
if [ "$binary" != target/release/signup-otp ]; then
    mkdir -p target/release
    cp "$binary" target/release/signup-otp
fi

step "build the image (runtime stage on a local stand-in for distroless)"
base=$(.ci/container/base.sh)
podman build --quiet --format docker --pull=never \
    --build-arg BINARY_FROM=prebuilt --build-arg RUNTIME_IMAGE="$base" -t "$IMAGE" . >/dev/null
size=$(podman image inspect "$IMAGE" --format '{{.Size}}')
echo "image $IMAGE: $(( size / 1024 / 1024 )) MiB"
probe=$(podman create "$IMAGE")
containers+=("$probe")
# Listed to a file first: `grep -q` ending a pipeline early would fail it.
podman export "$probe" | tar -t > "$work/files"
[ "$(wc -l < "$work/files")" -gt 100 ] || fail "the image's file list is short: $(wc -l < "$work/files") files"
grep -qE '^(\./)?usr/local/bin/signup-otp$' "$work/files" || fail "the binary is not in the image"
if grep -qE '^(\./)?(usr/)?s?bin/(ba|da|a)?sh$' "$work/files"; then
    fail "the image has a shell"
fi
echo "no shell in the image ($(wc -l < "$work/files") files)"
[ "$(podman image inspect "$IMAGE" --format '{{.Config.User}}')" = "65532:65532" ] || fail "the image's user"
podman image inspect "$IMAGE" --format '{{json .Config.Healthcheck}}' > "$work/healthcheck"
grep -q healthcheck "$work/healthcheck" || fail "the image has no HEALTHCHECK (build with --format docker)"

smtp=$(free_port)
python3 .ci/container/smtp_sink.py "$smtp" "$work/mail" &
sink_pid=$!

# start NAME [ENV...] → starts a container; sets API and READY_MS (from
# `podman run` to /health/ready answering 200)
start() {
    local name=$1; shift
    local api metrics
    api=$(free_port); metrics=$(free_port)
    API="http://127.0.0.1:$api"
    containers+=("$name")
    local started; started=$(millis)
    # (podman's complaints about systemd timers go to a file: they are noise here.)
    "${RUN[@]}" -d --name "$name" \
        -e BIND_ADDR="127.0.0.1:$api" -e METRICS_ADDR="127.0.0.1:$metrics" \
        -e OTP_SECRET="$SECRET" -e MAIL_TRANSPORT=smtp -e SMTP_URL="smtp://127.0.0.1:$smtp" \
        -e IP_RATE_LIMITS=off "$@" "$IMAGE" >/dev/null 2>>"$work/podman.log"
    wait_ready "$API" >/dev/null || { podman logs "$name" >&2; fail "$name did not become ready"; }
    READY_MS=$(( $(millis) - started ))
}

# journey EMAIL → send, read the code from the SMTP listener, verify, register
journey() {
    local email=$1 sent code verified token registered
    sent=$(post "$API/api/v1/users/signup/send-otp" "{\"email\":\"$email\",\"user_type\":\"live\"}")
    [ "${sent%% *}" = 200 ] || fail "send-otp: $sent"
    code=$(python3 .ci/container/code.py "$work/mail" "$email" 0)
    verified=$(post "$API/api/v1/users/signup/verify-otp" \
        "{\"email\":\"$email\",\"user_type\":\"live\",\"otp_code\":\"$code\",\"verification_id\":$(echo "${sent#* }" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["verification_id"]))')}")
    [ "${verified%% *}" = 200 ] || fail "verify-otp: $verified"
    token=$(echo "${verified#* }" | json signup_token)
    registered=$(post "$API/api/v1/users/register" \
        "{\"email\":\"$email\",\"user_type\":\"live\",\"password\":\"a long enough password\",\"signup_token\":\"$token\"}")
    [ "${registered%% *}" = 201 ] || fail "register: $registered"
    echo "journey for $email: send 200, the code from the SMTP listener, verify 200, register 201"
}

step "SQLite, the default, under /data"
start otp-sqlite
sqlite_ms=$READY_MS
echo "ready in $sqlite_ms ms (podman run to /health/ready)"
huser=$(podman top otp-sqlite huser | tail -n +2 | head -1 | tr -d ' ')
[ "$huser" = 65532 ] || fail "the service runs as $huser, not 65532"
echo "the service runs as uid $huser"
journey sqlite@example.com
mountpoint=$(podman mount otp-sqlite)
owner=$(stat -c %u "$mountpoint/data/signup-otp.db")
podman umount otp-sqlite >/dev/null
[ "$owner" = 65532 ] || fail "/data/signup-otp.db belongs to $owner"
echo "/data/signup-otp.db written by uid $owner"
podman healthcheck run otp-sqlite >/dev/null || fail "HEALTHCHECK on SQLite"
echo "HEALTHCHECK: healthy"
podman stop -t 30 otp-sqlite >/dev/null 2>>"$work/podman.log"
[ "$(podman inspect otp-sqlite --format '{{.State.ExitCode}}')" = 0 ] || fail "SQLite container exit code"

step "PostgreSQL, configured by the environment only"
db1="signup_otp_container_$$_1"; db2="signup_otp_container_$$_2"
databases+=("$db1" "$db2")
psql -q "$PG/postgres" -c "CREATE DATABASE $db1" -c "CREATE DATABASE $db2"
start otp-pg -e DATABASE_URL="$PG/$db1" -e DB_POOL_TIMEOUT_SECS=30
pg_ms=$READY_MS
echo "ready in $pg_ms ms (podman run to /health/ready, migrations included)"
journey postgres@example.com
podman healthcheck run otp-pg >/dev/null || fail "HEALTHCHECK on PostgreSQL"
echo "HEALTHCHECK: healthy"

step "SIGTERM to PID 1 drains the request in flight"
mkfifo "$work/lock"
psql -q "$PG/$db1" < "$work/lock" > /dev/null &
psql_pid=$!
exec 3> "$work/lock"
# Holds the send limits, so that the next send waits inside its transaction.
echo "BEGIN; LOCK TABLE otp_send_limits IN SHARE ROW EXCLUSIVE MODE;" >&3
for _ in $(seq 1 500); do
    held=$(psql -tA "$PG/$db1" -c "SELECT count(*) FROM pg_locks WHERE mode = 'ShareRowExclusiveLock' AND granted")
    [ "$held" -gt 0 ] && break
    sleep 0.02
done
post "$API/api/v1/users/signup/send-otp" '{"email":"inflight@example.com","user_type":"live"}' > "$work/inflight" &
inflight_pid=$!
for _ in $(seq 1 500); do
    waiting=$(psql -tA "$PG/$db1" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
    [ "$waiting" -gt 0 ] && break
    sleep 0.02
done
[ "$waiting" -gt 0 ] || { cat "$work/inflight" >&2; podman logs --tail 20 otp-pg >&2; fail "the request never reached the lock"; }
stop_started=$(millis)
podman stop -t 30 otp-pg >/dev/null 2>>"$work/podman.log" &
stop_pid=$!
saw_sigterm() { podman logs otp-pg > "$work/pg.log" 2>&1; grep -q SIGTERM "$work/pg.log"; }
for _ in $(seq 1 500); do saw_sigterm && break; sleep 0.02; done
saw_sigterm || fail "the service never saw SIGTERM"
echo "COMMIT;" >&3
exec 3>&-
wait "$psql_pid"
wait "$inflight_pid"
wait "$stop_pid"
stopped_ms=$(( $(millis) - stop_started ))
inflight=$(cat "$work/inflight")
[ "${inflight%% *}" = 200 ] || fail "the request in flight: $inflight"
exit_code=$(podman inspect otp-pg --format '{{.State.ExitCode}}')
[ "$exit_code" = 0 ] || fail "exit code $exit_code after SIGTERM"
echo "in-flight send-otp answered 200 after SIGTERM; exit code 0; stopped in $stopped_ms ms"

step "HEALTHCHECK once the database is gone"
start otp-pg-gone -e DATABASE_URL="$PG/$db2"
podman healthcheck run otp-pg-gone >/dev/null || fail "HEALTHCHECK before"
psql -q "$PG/postgres" -c "DROP DATABASE $db2 WITH (FORCE)"
if podman healthcheck run otp-pg-gone >/dev/null 2>&1; then
    fail "HEALTHCHECK still healthy without its database"
fi
echo "HEALTHCHECK: unhealthy"

echo
echo "| image | size | cold start, SQLite | cold start, PostgreSQL | SIGTERM to exit with a request in flight |"
echo "| --- | --- | --- | --- | --- |"
echo "| $IMAGE | $(( size / 1024 / 1024 )) MiB | $sqlite_ms ms | $pg_ms ms | $stopped_ms ms |"
