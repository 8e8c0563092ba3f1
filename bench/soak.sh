#!/usr/bin/env bash
# A mixed workload for a set time; reports errors, latency percentiles and the
# service's resident memory at the start and the end (flat memory: no leak).
#
#   bench/soak.sh [SECONDS] [CONNECTIONS]     (default 300 s, 16 connections)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
DURATION="${1:-300}"
CONNECTIONS="${2:-16}"
need_wrk
build_release
WORK=$(mktemp -d)
trap 'stop_service; rm -rf "$WORK"' EXIT

echo "soak: mixed workload, ${DURATION}s, $CONNECTIONS connections, $(nproc) cores, $(date -u +%F)"
echo
echo '| backend  | requests | req/s | transport errors | 5xx | p50 ms | p99 ms | p99.9 ms | RSS start MiB | RSS end MiB |'
echo '|----------|---------:|------:|-----------------:|----:|-------:|-------:|---------:|--------------:|------------:|'
for backend in sqlite ${BENCH_DATABASE_URL:+postgres}; do
    db_name="signup_otp_soak_$$"
    url=$(fresh_database "$backend" "$db_name")
    start_service "$url" MAIL_TRANSPORT=file
    # Warm up so the start figure is the working set, not the empty process.
    wrk -t2 -c"$CONNECTIONS" -d5s -s bench/mixed.lua "$API_URL" >/dev/null
    rss_start=$(rss_kib "$API_PID")
    line=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s bench/mixed.lua "$API_URL" | grep '^RESULT' | cut -d' ' -f2)
    rss_end=$(rss_kib "$API_PID")
    IFS=, read -r requests errors p50 p99 p999 secs server_errors <<< "$line"
    printf '| %-8s | %8s | %5.0f | %16s | %3s | %6s | %6s | %8s | %13.1f | %11.1f |\n' \
        "$backend" "$requests" "$(python3 -c "print($requests / $secs)")" "$errors" "$server_errors" \
        "$p50" "$p99" "$p999" "$(python3 -c "print($rss_start / 1024)")" "$(python3 -c "print($rss_end / 1024)")"
    stop_service
    rm -rf "$WORK/mail"
    drop_database "$backend" "$db_name"
done
