#!/usr/bin/env bash
# Soak run: starts i2s-server and drives it open loop at a fixed rate for a
# long time in windows, printing per window the achieved QPS, p50/p99, errors
# and the server's RSS, then the RSS and p99 trend (least-squares slope per
# minute over the second half, after warm-up).
#
#   tools/bench/soak.sh [--bundle=DIR] [--images=DIR] [--qps=8] [--minutes=10]
#                 [--window=30] [-- i2s-server flags]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${I2S_BUILD_DIR:-$REPO/build}"
CACHE="${I2S_CACHE:-$HOME/.cache/image2song}"
BUNDLE="$CACHE/bundles/demo"; IMAGES="$CACHE/samples"; QPS=8; MINUTES=10; WINDOW=30
SERVER_FLAGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle=*) BUNDLE="${1#*=}" ;;
    --images=*) IMAGES="${1#*=}" ;;
    --qps=*) QPS="${1#*=}" ;;
    --minutes=*) MINUTES="${1#*=}" ;;
    --window=*) WINDOW="${1#*=}" ;;
    --) shift; SERVER_FLAGS=("$@"); break ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "unknown flag $1" >&2; exit 2 ;;
  esac
  shift
done
. "$REPO/tools/lib_server.sh"
start_server "$BUNDLE" "${SERVER_FLAGS[@]}"
rss() { awk '/^VmRSS/ {print $2/1024}' "/proc/$SERVER/status"; }
echo "soak: $QPS QPS for $MINUTES min in ${WINDOW}s windows, server pid $SERVER, RSS at start $(rss) MiB"
echo "window  minute  qps    p50_ms  p99_ms  errors  rss_mib"
WINDOWS=$(( MINUTES * 60 / WINDOW ))
: > "$RUN/series"
for w in $(seq 1 "$WINDOWS"); do
  OUT=$("$BUILD/client/i2s-loadgen" --server="127.0.0.1:$PORT" --images="$IMAGES" \
        --qps="$QPS" --duration="$WINDOW" --warmup=0 --json)
  R=$(rss)
  echo "$OUT" | /usr/bin/python3 -c "
import json, sys
d = json.load(sys.stdin); w = $w; win = $WINDOW; rss = $R
err = sum(v for k, v in d['codes'].items() if k != 'OK')
print('%6d  %6.1f  %5.2f  %6.1f  %6.1f  %6d  %7.1f' % (w, w * win / 60, d['achieved_qps'],
      d['latency_ms']['p50'], d['latency_ms']['p99'], err, rss))
with open('$RUN/series', 'a') as f:
    f.write('%f %f %f %d\n' % (w * win / 60, rss, d['latency_ms']['p99'], err))
"
done
/usr/bin/python3 - "$RUN/series" <<'PY'
import sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1])]
half = rows[len(rows) // 2:]
def slope(xs, ys):
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0
t = [r[0] for r in half]
print("RESULT windows=%d errors=%d rss_mib first=%.1f last=%.1f max=%.1f "
      "second-half slope %.2f MiB/min, p99 slope %.2f ms/min"
      % (len(rows), sum(r[3] for r in rows), rows[0][1], rows[-1][1], max(r[1] for r in rows),
         slope(t, [r[1] for r in half]), slope(t, [r[2] for r in half])))
PY
