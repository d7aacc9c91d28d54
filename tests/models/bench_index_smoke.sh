#!/usr/bin/env bash
# Smoke test of tools/bench/bench_index.sh (the 1M benchmark) at 5,000 songs: the script runs end to
# end for both index types, recall@10 is high, and the 1 % update keeps the unchanged songs.
# Exit 77 (skipped) without the default word vectors.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${I2S_CACHE:-$HOME/.cache/image2song}"
[ -f "$CACHE/models/default/glove100.i2sv" ] || { echo "no word vectors: skipped"; exit 77; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
OUT="$("$REPO/tools/bench/bench_index.sh" --songs=5000 --types="hnsw ivfpq" --work="$WORK" 2>&1)"
echo "$OUT"
fail() { echo "FAILED: $*" >&2; exit 1; }
[ "$(grep -c '^| recall@10 vs exact' <<<"$OUT")" = 2 ] || fail "two recall lines expected"
grep '^| recall@10 vs exact' <<<"$OUT" | awk -F'|' '{ if ($3 + 0 < 0.9) exit 1 }' \
  || fail "recall@10 below 0.9"
[ "$(grep -c '(4963 kept without re-embedding, 25 updated, 12 added, 12 deleted' <<<"$OUT")" = 2 ] \
  || fail "update counts"
grep -q 'short results) | .* (0) |' <<<"$OUT" || fail "a 1 % filter returned short results"
echo "bench_index smoke: ok"
