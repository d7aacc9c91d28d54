#!/usr/bin/env bash
# Load-tests Recommend with an independent HTTP/2 client: h2load (Debian nghttp2-client) sends a
# pre-encoded gRPC request body. h2load counts a call as a success whenever HTTP says 200, even
# when grpc-status is not 0, so the real outcome is read from the server's Prometheus counters
# (i2s_requests_total by code) before and after.
#
#   tools/bench/h2load_recommend.sh IMAGE [--server=127.0.0.1:50051] [--metrics=127.0.0.1:9464]
#                             [--top_k=10] [h2load flags, default: -n 200 -c 2 -m 1]
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,8p' "$0"; exit 2; }
IMAGE="$1"; shift
SERVER=127.0.0.1:50051; METRICS=127.0.0.1:9464; TOP_K=10; H2=()
for a in "$@"; do
  case "$a" in
    --server=*) SERVER="${a#*=}" ;;
    --metrics=*) METRICS="${a#*=}" ;;
    --top_k=*) TOP_K="${a#*=}" ;;
    *) H2+=("$a") ;;
  esac
done
[ ${#H2[@]} -gt 0 ] || H2=(-n 200 -c 2 -m 1)
command -v h2load >/dev/null || { echo "h2load missing: apt-get install nghttp2-client" >&2; exit 1; }
[ -f "$IMAGE" ] || { echo "no image $IMAGE" >&2; exit 2; }
BODY="$(mktemp)"; trap 'rm -f "$BODY"' EXIT
# gRPC frame: 0 (not compressed), u32 big-endian length, RecommendRequest{1: image, 2: top_k}.
/usr/bin/python3 - "$IMAGE" "$TOP_K" "$BODY" <<'PY'
import struct, sys
def varint(n):
    out = b""
    while True:
        b = n & 0x7F; n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n: return out
img = open(sys.argv[1], "rb").read()
msg = b"\x0a" + varint(len(img)) + img + b"\x10" + varint(int(sys.argv[2]))
open(sys.argv[3], "wb").write(b"\x00" + struct.pack(">I", len(msg)) + msg)
PY
codes() {
  curl -s "http://$METRICS/metrics" | grep '^i2s_requests_total{' | grep 'method="Recommend"' || true
}
BEFORE="$(codes)"
h2load "${H2[@]}" -d "$BODY" -H 'content-type: application/grpc' -H 'te: trailers' \
  "http://$SERVER/image2song.v1.SongRecommender/Recommend"
AFTER="$(codes)"
echo "grpc status codes of these calls (server metrics, after - before):"
/usr/bin/python3 - "$BEFORE" "$AFTER" <<'PY'
import re, sys
def parse(t):
    return {m.group(1): float(m.group(2)) for m in re.finditer(r'code="([A-Z_]+)"[^}]*} ([0-9.e+]+)', t)}
b, a = parse(sys.argv[1]), parse(sys.argv[2])
for code in sorted(a):
    d = a[code] - b.get(code, 0)
    if d: print(f"  {code}: {int(d)}")
if not a: print("  (no metrics: is --metrics right?)")
PY
