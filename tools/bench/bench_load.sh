#!/usr/bin/env bash
# Headline latency and throughput of i2s-server on this machine: starts a
# server with the given flags, measures p50/p99 at concurrency 1 (closed
# loop), then raises the open-loop rate until p99 exceeds the budget and
# reports the largest rate that kept p99 <= budget with no errors.
#
#   tools/bench/bench_load.sh [--bundle=DIR] [--images=DIR] [--budget_ms=150]
#                       [--duration=20] [--qps="4 6 8 ..."] [-- i2s-server flags]
#
# Prints one line per step and a final summary line
#   RESULT c1_p50_ms=.. c1_p99_ms=.. max_qps=.. (p99 .. ms) flags=..
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${I2S_BUILD_DIR:-$REPO/build}"
CACHE="${I2S_CACHE:-$HOME/.cache/image2song}"
BUNDLE="$CACHE/bundles/demo"; IMAGES="$CACHE/samples"; BUDGET=150; DURATION=20
QPS_STEPS="3 4 5 6 7 8 9 10 11 12 13 14 15 16 18 20"
SERVER_FLAGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle=*) BUNDLE="${1#*=}" ;;
    --images=*) IMAGES="${1#*=}" ;;
    --budget_ms=*) BUDGET="${1#*=}" ;;
    --duration=*) DURATION="${1#*=}" ;;
    --qps=*) QPS_STEPS="${1#*=}" ;;
    --) shift; SERVER_FLAGS=("$@"); break ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done
. "$REPO/tools/lib_server.sh"
start_server "$BUNDLE" "${SERVER_FLAGS[@]}"
grep -E "batch|using|threads" "$RUN/server.log" | sed 's/^/  server: /' || true
LOADGEN=("$BUILD/client/i2s-loadgen" --server="127.0.0.1:$PORT" --images="$IMAGES"
         --duration="$DURATION" --warmup=3 --json)
field() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

OUT=$("${LOADGEN[@]}" --concurrency=1)
C1_P50=$(echo "$OUT" | field 'round(d["latency_ms"]["p50"],1)')
C1_P99=$(echo "$OUT" | field 'round(d["latency_ms"]["p99"],1)')
C1_QPS=$(echo "$OUT" | field 'round(d["achieved_qps"],2)')
echo "closed loop c=1: $C1_QPS QPS, p50 $C1_P50 ms, p99 $C1_P99 ms"
BEST=0; BEST_P99=-
for q in $QPS_STEPS; do
  OUT=$("${LOADGEN[@]}" --qps="$q")
  P50=$(echo "$OUT" | field 'round(d["latency_ms"]["p50"],1)')
  P99=$(echo "$OUT" | field 'round(d["latency_ms"]["p99"],1)')
  GOT=$(echo "$OUT" | field 'round(d["achieved_qps"],2)')
  ERR=$(echo "$OUT" | field 'sum(v for k,v in d["codes"].items() if k!="OK")')
  echo "open loop $q QPS: achieved $GOT, p50 $P50 ms, p99 $P99 ms, errors $ERR"
  if [ "$ERR" = 0 ] && /usr/bin/python3 -c "import sys; sys.exit(0 if $P99 <= $BUDGET else 1)"; then
    BEST=$q; BEST_P99=$P99
  else
    break
  fi
done
echo "RESULT c1_p50_ms=$C1_P50 c1_p99_ms=$C1_P99 max_qps=$BEST (p99 $BEST_P99 ms <= $BUDGET) flags=${SERVER_FLAGS[*]:-default}"
