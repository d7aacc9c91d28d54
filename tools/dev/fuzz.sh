#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan + UBSan (tests/fuzz) and
# fuzzes each for a bounded time, starting from the seed corpus that
# tests/fuzz/make_seeds.py writes (deterministic) into the work directory. Exit 1 with the
# crashing input's path when a target crashes, leaks or times out.
#
#   tools/dev/fuzz.sh [--seconds=30] [--work=/tmp/i2s-fuzz]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SECONDS_EACH=30
WORK=/tmp/i2s-fuzz
for a in "$@"; do
  case "$a" in
    --seconds=*) SECONDS_EACH="${a#*=}" ;;
    --work=*) WORK="${a#*=}" ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown option: $a" >&2; exit 2 ;;
  esac
done
BUILD="${I2S_FUZZ_BUILD_DIR:-$REPO/build-fuzz}"
command -v clang++-14 >/dev/null || { echo "fuzz: clang++-14 missing (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }
if [ ! -f "$BUILD/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S "$REPO" -B "$BUILD" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DI2S_FUZZ=ON >/dev/null
fi
cmake --build "$BUILD" -j "${I2S_JOBS:-$(nproc)}" --target fuzz_decode fuzz_request fuzz_http
# Seeds: the tiny test assets, then the seed files built from them.
/usr/bin/python3 "$REPO/tests/testdata/make_test_assets.py" "$WORK/assets" >/dev/null
/usr/bin/python3 "$REPO/tests/fuzz/make_seeds.py" "$WORK/assets" "$WORK/seeds"
status=0
for target in decode request http; do
  corpus="$WORK/corpus-$target"
  crashes="$WORK/crashes-$target"
  mkdir -p "$corpus" "$crashes"
  log="$WORK/$target.log"
  echo "==> fuzz_$target for ${SECONDS_EACH}s (seeds: $WORK/seeds/$target)"
  # fuzz_decode tags every decoded image with the tiny models (whole path).
  if I2S_FUZZ_MODELS="$WORK/assets/models_full.json" \
     UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "$BUILD/tests/fuzz/fuzz_$target" -max_total_time="$SECONDS_EACH" -timeout=10 \
       -rss_limit_mb=2048 -max_len=262144 -artifact_prefix="$crashes/" -print_final_stats=1 \
       "$corpus" "$WORK/seeds/$target" >"$log" 2>&1; then
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo "?")
    echo "    ok: $runs inputs, coverage $cov edges, corpus $(ls "$corpus" | wc -l) files"
  else
    status=1
    echo "    FAILED: see $log"; grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5
  fi
done
exit $status
