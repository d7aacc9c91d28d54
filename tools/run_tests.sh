#!/usr/bin/env bash
# Runs every test: installs missing packages, builds, prepares the default
# models when they can be fetched (for the `models` label), then CTest.
#
#   tools/run_tests.sh [extra ctest args]
#
# Labels: unit (module tests), e2e (real i2s-server over gRPC with tiny
# generated models), models (the downloaded default models; skipped when the
# asset cache cannot be prepared). Then tools/dev/fuzz.sh fuzzes each libFuzzer
# target for I2S_FUZZ_SECONDS (default 30).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${I2S_BUILD_DIR:-$REPO/build}"
export OPENBLAS_NUM_THREADS=1

"$REPO/tools/install_deps.sh"
"$REPO/tools/build.sh"
if "$REPO/tools/assets/setup_assets.sh"; then
  "$REPO/tools/assets/demo_bundle.sh" || echo "run_tests: demo bundle not refreshed (no catalogue)" >&2
  "$REPO/tools/eval/make_eval_set.sh" || echo "run_tests: evaluation set unavailable; test_relevance_models will be skipped" >&2
else
  echo "run_tests: default model assets unavailable; 'models' tests will be skipped" >&2
fi
(cd "$BUILD" && ctest --output-on-failure -j "${I2S_TEST_JOBS:-2}" --timeout 600 "$@")
# Bounded fuzzing of the image decoder and the request checks (clang, ASan +
# UBSan); I2S_FUZZ_SECONDS=0 skips it.
if [ "${I2S_FUZZ_SECONDS:-30}" != 0 ]; then
  "$REPO/tools/dev/fuzz.sh" --seconds="${I2S_FUZZ_SECONDS:-30}"
fi
