#!/usr/bin/env bash
# The 1M-song index benchmark (docs/indexing.md, "Catalogues at scale"): generates a synthetic catalogue,
# indexes it, measures the bundle with i2s-index-bench, then times an incremental update with
# 1 % changes. Prints one table per index type.
#
#   tools/bench/bench_index.sh [--songs=1000000] [--types="hnsw ivfpq"] [--work=/tmp/i2s-bench-index]
#
# Needs a build (tools/build.sh) and the default word vectors (tools/assets/setup_assets.sh).
# Takes ~10 minutes for 1M songs and both types on 2 cores; needs ~8 GB of disk in --work.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${I2S_BUILD_DIR:-$REPO/build}"
SONGS=1000000
TYPES="hnsw ivfpq"
WORK=/tmp/i2s-bench-index
for a in "$@"; do
  case "$a" in
    --songs=*) SONGS="${a#*=}" ;;
    --types=*) TYPES="${a#*=}" ;;
    --work=*) WORK="${a#*=}" ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option: $a" >&2; exit 2 ;;
  esac
done
export OPENBLAS_NUM_THREADS=1
mkdir -p "$WORK"
CAT="$WORK/syn-$SONGS.jsonl"
if [ ! -s "$CAT" ]; then
  echo "==> generating $SONGS songs -> $CAT"
  /usr/bin/python3 "$REPO/tools/assets/gen_catalogue.py" --songs "$SONGS" --out "$CAT"
fi
# 1 % changes: 0.5 % updated (same ids, new lyrics from a different seed), 0.25 % added,
# 0.25 % deleted.
CHANGES="$WORK/changes-$SONGS.jsonl"
if [ ! -s "$CHANGES" ]; then
  echo "==> change file (1 % of $SONGS) -> $CHANGES"
  /usr/bin/python3 "$REPO/tools/assets/gen_catalogue.py" --songs $((SONGS / 100 * 3 / 4)) --seed 7 \
    --out "$WORK/changes-src.jsonl" --quiet
  /usr/bin/python3 - "$WORK/changes-src.jsonl" "$CHANGES" "$SONGS" <<'PY'
import json, sys
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
upd, add, dele = n // 200, n // 400, n // 400
with open(src) as f, open(out, "w") as o:
    for i, line in enumerate(f):
        r = json.loads(line)
        if i < upd:
            r["id"] = "syn-%07d" % (1 + i * 97 % n)          # existing ids
        else:
            r["id"] = "new-%07d" % i
        o.write(json.dumps(r) + "\n")
    for j in range(dele):
        o.write(json.dumps({"id": "syn-%07d" % (n - j * 89 % n), "deleted": True}) + "\n")
PY
fi
for TYPE in $TYPES; do
  OUT="$WORK/bundle-$TYPE"
  echo "==> i2s-index --index_type=$TYPE ($SONGS songs)"
  /usr/bin/time -f '%e s wall, %M KiB peak RSS' -o "$WORK/time-$TYPE.txt" \
    "$BUILD/index/i2s-index" --catalogue="$CAT" --output="$OUT" --bundle_version="syn-$TYPE" \
    --index_type="$TYPE" 2>&1 | grep -vE '^embedded' | tail -n 4
  echo "    build: $(cat "$WORK/time-$TYPE.txt")"
  "$BUILD/bench/i2s-index-bench" --bundle="$OUT" 2>/dev/null
  echo "==> incremental update, 1 % changes ($TYPE)"
  /usr/bin/time -f '%e s wall, %M KiB peak RSS' -o "$WORK/time-update-$TYPE.txt" \
    "$BUILD/index/i2s-index" --changes="$CHANGES" --base="$OUT" --output="$OUT-updated" \
    --bundle_version="syn-$TYPE-u1" 2>&1 | tail -n 1
  echo "    update: $(cat "$WORK/time-update-$TYPE.txt")"
  rm -rf "$OUT-updated"
done
