#!/usr/bin/env bash
# Configures (once) and builds image2song with CMake + Ninja (+ ccache).
#
#   tools/build.sh            # build dir: $I2S_BUILD_DIR or <repo>/build
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${I2S_BUILD_DIR:-$REPO/build}"
JOBS="${I2S_JOBS:-$(nproc)}"
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$BUILD" -j "$JOBS"
