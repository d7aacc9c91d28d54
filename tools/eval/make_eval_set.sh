#!/usr/bin/env bash
# Build the relevance evaluation set for i2s-eval (idempotent: a second run checks a stamp and
# returns in well under a second).
#
#   tools/eval/make_eval_set.sh [--force]
#
# Needs tools/assets/setup_assets.sh to have run (word vectors, sample photos and the Debian packages
# they come from in the cache), npm (to fetch the pinned emoji packages, tools/eval/eval.lock),
# apt-get (the pinned Debian packages with photos, eval.lock "deb" rows: ~274 MB, fetched once
# into $I2S_CACHE/downloads/debs), rsvg-convert (Debian librsvg2-bin) and python3-opencv;
# missing packages are installed when root. Pictures, lexicons and the relevance definition:
# tools/eval/make_eval_set.py, tools/eval/photo_lexicons.tsv and tools/eval/relevance.py.
#
# Environment:
#   I2S_CACHE      cache root (default ~/.cache/image2song)
#   I2S_SHARED     shared data root (default <repo>/../shared): data/catalog/pd-songs.jsonl
#   I2S_CATALOGUE  catalogue whose lyrics decide which pictures are kept (default: the demo one)
#   I2S_PYTHON     Python 3 (default /usr/bin/python3)
#
# Result: $I2S_CACHE/eval/{eval.jsonl, openmoji/*.png, fluent3d/*.png, photos/*, summary.json,
#         ATTRIBUTION.txt}, and mood_photos/* (tools/eval/mood_photos.tsv: for the mood labels
#         only, not in eval.jsonl)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${I2S_CACHE:-$HOME/.cache/image2song}"
SHARED="${I2S_SHARED:-$REPO/../shared}"
CATALOGUE="${I2S_CATALOGUE:-$SHARED/data/catalog/pd-songs.jsonl}"
PY="${I2S_PYTHON:-/usr/bin/python3}"
LOCK="$HERE/eval.lock"
DL="$CACHE/downloads"
OUT="$CACHE/eval"
VECTORS="$CACHE/models/default/glove100.i2sv"
SAMPLES="$CACHE/samples"

FORCE=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown option: $a" >&2; exit 2 ;;
  esac
done

info() { echo "    $*"; }
die() { echo "make_eval_set: ERROR: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
need_pkgs() {  # need_pkgs "why" pkg...
  local why="$1"; shift
  [ "$(id -u)" = 0 ] || die "$why needs: $* (not root: run 'sudo apt-get install $*' first)"
  info "installing Debian packages for $why: $*"
  if ! apt-get install -y --no-install-recommends "$@" >/dev/null; then
    apt-get update >/dev/null || die "apt-get update failed"
    apt-get install -y --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
  fi
}

echo "==> relevance evaluation set: $OUT"
[ -f "$VECTORS" ] || die "$VECTORS missing (run tools/assets/setup_assets.sh first)"
[ -f "$SAMPLES/expected.tsv" ] || die "$SAMPLES missing (run tools/assets/setup_assets.sh first)"
[ -f "$CATALOGUE" ] || die "catalogue $CATALOGUE missing (set I2S_SHARED or I2S_CATALOGUE)"
[ -x "$PY" ] || die "$PY not found (set I2S_PYTHON)"

# Debian packages with photos (eval.lock "deb" rows), fetched before the stamp so that it
# covers them; a cached file of the right size was verified when it was fetched.
mkdir -p "$DL/debs"
while IFS=$'\t' read -r _ name want spec pool _; do
  deb="$DL/debs/$name"
  [ -f "$deb" ] && [ "$(stat -c %s "$deb")" -gt 0 ] && continue
  info "apt-get download $spec (https://deb.debian.org/debian/$pool)"
  tmpd="$(mktemp -d "$DL/debs/apt.XXXXXX")"
  (cd "$tmpd" && apt-get download -q "$spec" >/dev/null 2>"$tmpd/apt.log") \
    || { cat "$tmpd/apt.log" >&2; rm -rf "$tmpd"; die "apt-get download $spec failed"; }
  got="$(sha "$tmpd/$name" 2>/dev/null || true)"
  [ "$got" = "$want" ] || { rm -rf "$tmpd"; die "$name: sha256 $got, want $want ($LOCK)"; }
  mv "$tmpd/$name" "$deb"; rm -rf "$tmpd"
  info "$name: sha256 ok ($(stat -c %s "$deb") bytes)"
done < <(awk -F'\t' '$0 !~ /^#/ && NF >= 5 && $1 == "deb"' "$LOCK")

# Up to date? The stamp covers every input: recipe, lock, lexicons, catalogue, vectors, photos.
stamp_of() {
  {
    sha "$LOCK"; sha "$HERE/make_eval_set.py"; sha "$HERE/relevance.py"
    sha "$HERE/photo_lexicons.tsv"; sha "$HERE/mood_photos.tsv"; sha "$CATALOGUE"
    stat -c '%s %Y' "$VECTORS"
    for f in "$SAMPLES"/*.png "$SAMPLES"/*.jpg; do if [ -e "$f" ]; then sha "$f"; fi; done
    for f in "$DL"/debs/*.deb; do if [ -e "$f" ]; then stat -c '%n %s %Y' "$f"; fi; done
  } | sha256sum | cut -d' ' -f1
}
STAMP="$(stamp_of)"
if [ "$FORCE" = 0 ] && [ -f "$OUT/eval.jsonl" ] && [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$STAMP" ]; then
  info "up to date: $(grep -c . "$OUT/eval.jsonl") pictures (--force rebuilds)"
  exit 0
fi

command -v rsvg-convert >/dev/null || need_pkgs "rendering the OpenMoji SVGs" librsvg2-bin
"$PY" -c 'import cv2, numpy' 2>/dev/null || need_pkgs "rendering the Fluent emoji" python3-opencv python3-numpy
mkdir -p "$DL"
fetch_npm() {  # fetch_npm NAME SHA256 SPEC SHA1 -> $DL/NAME, verified
  local name="$1" want="$2" spec="$3" sha1="$4" tgz="$DL/$1" tmpd got got1
  if [ -f "$tgz" ] && [ "$(sha "$tgz")" = "$want" ]; then
    info "$name: cached, sha256 ok"; return
  fi
  command -v npm >/dev/null || need_pkgs "fetching $spec (npm pack)" npm
  info "npm pack $spec"
  tmpd="$(mktemp -d "$DL/npm.XXXXXX")"
  (cd "$tmpd" && npm pack "$spec" --silent --pack-destination "$tmpd" >/dev/null 2>"$tmpd/npm.log") \
    || { cat "$tmpd/npm.log" >&2; rm -rf "$tmpd"; die "npm pack $spec failed"; }
  [ -f "$tmpd/$name" ] || { rm -rf "$tmpd"; die "npm pack did not produce $name"; }
  got="$(sha "$tmpd/$name")"
  got1="$(sha1sum "$tmpd/$name" | cut -d' ' -f1)"
  if [ "$got" != "$want" ] || [ "$got1" != "$sha1" ]; then
    rm -rf "$tmpd"; die "$name: sha256 $got / sha1 $got1, want $want / $sha1 ($LOCK)"
  fi
  mv "$tmpd/$name" "$tgz"; rm -rf "$tmpd"
  info "$name: sha256 + npm sha1 ok ($(stat -c %s "$tgz") bytes)"
}
declare -A TGZ SPEC
while IFS=$'\t' read -r _ name want spec sha1 _; do
  fetch_npm "$name" "$want" "$spec" "$sha1"
  key="${spec%@*}"; TGZ[$key]="$DL/$name"; SPEC[$key]="$spec"
done < <(awk -F'\t' '$0 !~ /^#/ && NF >= 5 && $1 == "npm"' "$LOCK")
for key in openmoji @lobehub/fluent-emoji-3d; do
  [ -n "${TGZ[$key]:-}" ] || die "no npm row for $key in $LOCK"
done

# Build into a sibling directory, then replace $OUT.
TMP="$(mktemp -d "$CACHE/eval.tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
"$PY" "$HERE/make_eval_set.py" \
  --openmoji "${TGZ[openmoji]}" --openmoji_spec "${SPEC[openmoji]}" \
  --fluent "${TGZ[@lobehub/fluent-emoji-3d]}" --fluent_spec "${SPEC[@lobehub/fluent-emoji-3d]}" \
  --vectors "$VECTORS" --catalogue "$CATALOGUE" --samples "$SAMPLES" --debs "$DL/debs" \
  --photo_lexicons "$HERE/photo_lexicons.tsv" --mood_photos "$HERE/mood_photos.tsv" \
  --out "$TMP" | sed 's/^/    /'
echo "$STAMP" >"$TMP/.stamp"
rm -rf "$OUT.old"
[ -d "$OUT" ] && mv "$OUT" "$OUT.old"
mv "$TMP" "$OUT"
rm -rf "$OUT.old"
trap - EXIT
info "written: $OUT/eval.jsonl"
