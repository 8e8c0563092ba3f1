#!/usr/bin/env bash
# Memory under a flood of distinct client networks through a trusted proxy: the
# per-IP quotas keep an entry per client network, and idle entries are pruned
# (every 60 s), so RSS stays flat however many networks come by.
#
#   bench/ip_flood.sh            # three floods of 100,000 networks, about 3.5 minutes
#
# Prints one table: RSS when idle, after each flood, and after each pruning.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
need_wrk
WORK=$(mktemp -d)
trap 'stop_service; rm -rf "$WORK"' EXIT
REQUESTS=${FLOOD_REQUESTS:-100000}
build_release

start_service "sqlite://$WORK/flood.db" IP_RATE_LIMITS=on TRUSTED_PROXIES=127.0.0.1 \
    VERIFY_OTP_PER_IP_PER_5_MINUTES=30
rows=("idle|0|$(rss_kib "$API_PID")")
for flood in 1 2 3; do
    FLOOD_REQUESTS=$REQUESTS FLOOD_THREADS=2 FLOOD_OFFSET=$(( flood * 10000000 )) \
        wrk -t2 -c32 -d120s -s bench/ip_flood.lua "$API_URL" > "$WORK/wrk-$flood.txt"
    done_requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$WORK/wrk-$flood.txt")
    rows+=("after flood $flood|$done_requests|$(rss_kib "$API_PID")")
    # An entry is whole again 10 s after its one request (30 per 5 minutes);
    # the service prunes every 60 s.
    sleep 75
    rows+=("flood $flood pruned|0|$(rss_kib "$API_PID")")
done

echo
echo "| moment | requests from distinct /64s | RSS (MiB) |"
echo "| --- | --- | --- |"
for row in "${rows[@]}"; do
    IFS='|' read -r moment requests kib <<< "$row"
    printf '| %s | %s | %.1f |\n' "$moment" "$requests" "$(echo "$kib / 1024" | bc -l)"
done
