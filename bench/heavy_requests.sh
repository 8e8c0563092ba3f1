#!/usr/bin/env bash
# Memory under requests built to be heavy: compressed bodies that would inflate
# far past the 16 KiB limit, and a crowd of registers each asking for an argon2
# hash (19 MiB apiece). Peak RSS of the service while they run, sampled every
# 50 ms, and what the clients were answered.
#
#   bench/heavy_requests.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
WORK=$(mktemp -d)
trap 'stop_service; rm -rf "$WORK"' EXIT
build_release
start_service "sqlite://$WORK/heavy.db"
idle=$(rss_kib "$API_PID")

# peak_during COMMAND... → runs it while sampling the service's RSS; prints the peak (KiB)
peak_during() {
    local peak=0 rss
    "$@" &
    local job=$!
    while kill -0 "$job" 2>/dev/null; do
        rss=$(rss_kib "$API_PID"); [ "$rss" -gt "$peak" ] && peak=$rss
        sleep 0.05
    done
    wait "$job"
    echo "$peak"
}

# A gzip body of 64 KiB that inflates to 64 MiB of JSON.
python3 - "$WORK/bomb.gz" <<'PY'
import gzip, sys
body = b'{"email":"' + b"a" * (64 << 20) + b'@example.com","user_type":"live"}'
open(sys.argv[1], "wb").write(gzip.compress(body, 9))
PY
bomb_size=$(stat -c %s "$WORK/bomb.gz")
gzip_round() {
    for i in $(seq 1 10); do
        curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
            -H 'Content-Encoding: gzip' --data-binary "@$WORK/bomb.gz" \
            "$API_URL/api/v1/users/signup/send-otp" >> "$WORK/gzip.codes" &
    done
    wait
}
gzip_rounds() { for _ in 1 2 3 4 5; do gzip_round; done; }
gzip_peak=$(peak_during gzip_rounds)
gzip_answers=$(sort "$WORK/gzip.codes" | uniq -c | awk '{printf "%s×%s ", $1, $2}')

registers() {
    for i in $(seq 1 100); do
        curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
            -d "{\"email\":\"crowd$i@example.com\",\"user_type\":\"live\",\"password\":\"a long password $i\"}" \
            "$API_URL/api/v1/users/register" >> "$WORK/register.codes" &
    done
    wait
}
register_peak=$(peak_during registers)
register_answers=$(sort "$WORK/register.codes" | uniq -c | awk '{printf "%s×%s ", $1, $2}')
after=$(rss_kib "$API_PID")

mib() { python3 -c "print(round($1 / 1024, 1))"; }
echo
echo "| load | answers | peak RSS (MiB) |"
echo "| --- | --- | --- |"
echo "| idle | | $(mib "$idle") |"
echo "| 5 rounds of 10 parallel gzip bodies ($(( bomb_size / 1024 )) KiB, inflating to 64 MiB) | $gzip_answers| $(mib "$gzip_peak") |"
echo "| 100 concurrent registers without a token | $register_answers| $(mib "$register_peak") |"
echo "| after | | $(mib "$after") |"
