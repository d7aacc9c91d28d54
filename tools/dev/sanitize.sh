#!/usr/bin/env bash
# Builds the project with AddressSanitizer + UndefinedBehaviorSanitizer (gcc)
# in build-asan/ and runs the unit and e2e tests under them (the tiny
# generated models; the `models` label is left out: it needs the downloads
# and is slow under ASan).
#
#   tools/dev/sanitize.sh [extra ctest args]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD="${I2S_ASAN_BUILD_DIR:-$REPO/build-asan}"
export OPENBLAS_NUM_THREADS=1
FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$REPO" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="$FLAGS" -DCMAKE_C_FLAGS="$FLAGS" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
fi
cmake --build "$BUILD" -j "${I2S_JOBS:-$(nproc)}"
# Leaks: LibTorch and gRPC keep process-lifetime singletons; suppress those
# libraries' allocations, not ours.
SUPP="$REPO/tools/dev/lsan.supp"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_init_order=1"
export LSAN_OPTIONS="suppressions=$SUPP:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$REPO/tools/dev/ubsan.supp"
cd "$BUILD"
# test_deploy_files compares the binaries' libraries with the release image's
# packages; an ASan build also links libasan and libubsan, so it is left out.
ctest --output-on-failure -j "${I2S_TEST_JOBS:-2}" --timeout 900 -L "unit|e2e" \
  -E test_deploy_files "$@"
