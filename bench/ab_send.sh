#!/usr/bin/env bash
# Two builds side by side: send-otp to fresh addresses on a fresh SQLite file,
# ROUNDS interleaved rounds of SECONDS each, CONNECTIONS connections; prints the
# median requests/s and p99 of each. For a setting compiled in (or anything else
# two binaries differ in) whose cost is the question.
#
#   bench/ab_send.sh BIN_A BIN_B [SECONDS] [CONNECTIONS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
A=$1 B=$2 SECONDS_EACH=${3:-10} CONNECTIONS=${4:-16} ROUNDS=${5:-5}
need_wrk
WORK=$(mktemp -d)
trap 'stop_service; rm -rf "$WORK"' EXIT

declare -A rps p99s
for round in $(seq 1 "$ROUNDS"); do
    for which in A B; do
        BIN=${!which}
        start_service "sqlite://$WORK/ab-$which-$round.db" OTP_RESEND_COOLDOWN_SECS=0
        line=$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_EACH}s" -s bench/send_otp.lua "$API_URL" \
            | grep '^RESULT' | cut -d' ' -f2)
        stop_service
        IFS=, read -r requests errors _ p99 _ secs <<< "$line"
        rps[$which]+="$(python3 -c "print($requests / $secs)") "
        p99s[$which]+="$p99 "
    done
done
median() { python3 -c 'import statistics, sys; print(round(statistics.median(map(float, sys.argv[1:])), 2))' $1; }
echo "| build | req/s (median of $ROUNDS) | p99 ms |"
echo "| --- | ---: | ---: |"
echo "| A: $A | $(median "${rps[A]}") | $(median "${p99s[A]}") |"
echo "| B: $B | $(median "${rps[B]}") | $(median "${p99s[B]}") |"
