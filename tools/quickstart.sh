#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, prepares the
# default models and the demo index, starts i2s-server and prints
# recommendations for a few sample photos, then stops the server.
#
#   tools/quickstart.sh [IMAGE...]     # default: the sample photos
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${I2S_BUILD_DIR:-$REPO/build}"
CACHE="${I2S_CACHE:-$HOME/.cache/image2song}"
SHARED="${I2S_SHARED:-$REPO/../shared}"
CATALOGUE="${I2S_CATALOGUE:-$SHARED/data/catalog/pd-songs.jsonl}"
export OPENBLAS_NUM_THREADS=1

echo "==> packages"; "$REPO/tools/install_deps.sh"
echo "==> build"; "$REPO/tools/build.sh"
echo "==> models"; "$REPO/tools/assets/setup_assets.sh"
echo "==> demo index bundle from $CATALOGUE"
"$REPO/tools/assets/demo_bundle.sh"

echo "==> start i2s-server"
source "$REPO/tools/lib_server.sh"
start_server "$CACHE/bundles/demo" --metrics_listen=127.0.0.1:0 --http_listen=127.0.0.1:0
cat "$RUN/server.log"
CLIENT=("$BUILD/client/i2s-client" --server="127.0.0.1:$PORT")
"${CLIENT[@]}" health
"${CLIENT[@]}" info
IMAGES=("$@")
if [ ${#IMAGES[@]} -eq 0 ]; then
  for f in chelsea.png china.jpg coffee.png rocket.jpg; do
    [ -f "$CACHE/samples/$f" ] && IMAGES+=("$CACHE/samples/$f")
  done
fi
echo "==> recommendations"
"${CLIENT[@]}" --top_k=3 recommend "${IMAGES[@]}"
