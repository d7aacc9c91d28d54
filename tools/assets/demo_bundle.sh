#!/usr/bin/env bash
# Builds (or refreshes) the demo index bundle $I2S_CACHE/bundles/demo from the demo catalogue
# when it is missing, or older than the catalogue or than the i2s-index binary (a new build may
# write a new bundle format). Used by tools/quickstart.sh and tools/run_tests.sh.
#
#   tools/assets/demo_bundle.sh      # exit 0: bundle ready; 3: catalogue missing
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${I2S_BUILD_DIR:-$REPO/build}"
CACHE="${I2S_CACHE:-$HOME/.cache/image2song}"
SHARED="${I2S_SHARED:-$REPO/../shared}"
CATALOGUE="${I2S_CATALOGUE:-$SHARED/data/catalog/pd-songs.jsonl}"
OUT="$CACHE/bundles/demo"
INDEX="$BUILD/index/i2s-index"

[ -f "$CATALOGUE" ] || { echo "demo_bundle: catalogue $CATALOGUE not found (set I2S_CATALOGUE or I2S_SHARED)" >&2; exit 3; }
if [ ! -f "$OUT/manifest.json" ] || [ "$CATALOGUE" -nt "$OUT/manifest.json" ] || \
   [ "$INDEX" -nt "$OUT/manifest.json" ]; then
  mkdir -p "$CACHE/bundles"
  OPENBLAS_NUM_THREADS=1 "$INDEX" --catalogue="$CATALOGUE" --output="$OUT" --bundle_version=demo-1
else
  echo "    up to date: $OUT"
fi
