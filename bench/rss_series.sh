#!/usr/bin/env bash
# The service's resident memory over a long mixed workload on SQLite, sampled
# after each of ROUNDS 30-second rounds: does it level off?
#
#   bench/rss_series.sh [ROUNDS]      (default 8: four minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS="${1:-8}"
need_wrk
build_release
WORK=$(mktemp -d)
trap 'stop_service; rm -rf "$WORK"' EXIT
start_service "sqlite://$WORK/series.db" MAIL_TRANSPORT=file
echo '| after | requests | 5xx | p99 ms | RSS MiB | data on disk MiB |'
echo '|------:|---------:|----:|-------:|--------:|-----------------:|'
for round in $(seq 1 "$ROUNDS"); do
    line=$(wrk -t2 -c16 -d30s -s bench/mixed.lua "$API_URL" | grep '^RESULT' | cut -d' ' -f2)
    IFS=, read -r requests _ _ p99 _ _ server_errors <<< "$line"
    printf '| %4ss | %8s | %3s | %6s | %7.1f | %16s |\n' "$((round * 30))" "$requests" "$server_errors" "$p99" \
        "$(python3 -c "print($(rss_kib "$API_PID") / 1024)")" "$(du -sm "$WORK" | cut -f1)"
done
