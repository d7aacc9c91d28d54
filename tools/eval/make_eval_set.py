#!/usr/bin/python3
"""Build the image2song relevance evaluation set (called by make_eval_set.sh).

Writes into OUT (a fresh directory):
  eval.jsonl       one picture a line, in a fixed shuffled order:
                   {"image": "openmoji/1F30A.png", "lexicon": ["water", "wave", ...],
                    "source": "openmoji@17.0.0:1F30A water wave", "relevant_songs": 12}
  openmoji/*.png   OpenMoji colour SVGs (flat line art) rendered at 224x224 on white
  fluent3d/*.png   the same emoji as Microsoft Fluent Emoji 3D renders, 224x224 on white
  photos/*         the photos listed in tools/eval/photo_lexicons.tsv
  ATTRIBUTION.txt  licences of the pictures
  summary.json     counts (kept, excluded and why)
The first path component of "image" (openmoji, fluent3d, photos) is the picture's subset.

Emoji concepts: openmoji.json entries of GROUPS, minus SKIP_SUBGROUPS and skin-tone variants.
Lexicon of an emoji: the words of its Unicode annotation and CLDR keywords (`annotation` and
`tags` in openmoji.json; OpenMoji's own looser `openmoji_tags` are not used), tokenised like
core/words/word_vectors.cc Tokenize(); a word is kept when it is in the word vectors at frequency
rank >= MIN_RANK, not in STOPWORDS (category words, colours, function words), in at most
MAX_SONG_SHARE of the catalogue's songs, and not a plural of a word already kept. Photo
lexicons are hand-written (photo_lexicons.tsv) and filtered the same way. A picture is kept
when at least one catalogue song is relevant to it (relevance.py).
"""

import argparse
import glob
import io
import json
import os
import random
import struct
import subprocess
import sys
import tarfile

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import relevance  # noqa: E402

GROUPS = ("animals-nature", "food-drink", "travel-places", "objects", "activities")
SKIP_SUBGROUPS = {
    "time", "hotel", "award-medal", "game", "arts-crafts", "lock", "money", "mail",
    "computer", "phone", "sound", "writing", "office", "music", "light-video", "book-paper",
    "place-map",
}
MIN_RANK = 150
# Emoji concepts kept (a deterministic spread over openmoji.json's order); each is drawn in
# both styles, so the set has up to 2 * MAX_CONCEPTS emoji pictures plus the photos.
MAX_CONCEPTS = 150
SHUFFLE_SEED = 20261122
# Words in more than this share of the catalogue's songs ("love", "sweet", "night") say little
# about a picture; they are left out of lexicons.
MAX_SONG_SHARE = 0.10
# Words that name the emoji category, a colour or a relation rather than the thing shown.
STOPWORDS = {
    "animal", "animals", "face", "nature", "food", "drink", "drinks", "object", "place",
    "symbol", "sign", "emoji", "thing", "things", "mammal", "ornithology", "zodiac",
    "halloween", "vehicle", "small", "big", "large", "red", "blue", "green", "yellow",
    "white", "black", "brown", "orange", "purple", "grey", "gray", "pink", "dark", "light",
    "new", "old", "top", "open", "closed", "full", "left", "right", "up", "down", "cut",
    "move", "mad", "upset", "ugly", "unlucky", "wild", "arrived", "oncoming", "without",
    "behind", "within", "among", "upon", "across", "toward", "towards", "empty", "simple",
}
SIZE = 224


def load_vocabulary(path):
    """Word -> frequency rank from an I2SWVEC1 file (header and word list only)."""
    with open(path, "rb") as f:
        magic, version, _dim, count, words_bytes = struct.unpack("<8sIIII", f.read(24))
        if magic != b"I2SWVEC1" or version != 1:
            raise SystemExit(f"{path}: not an I2SWVEC1 v1 file")
        words = f.read(words_bytes).decode("utf-8").split("\n")[:count]
    if len(words) != count:
        raise SystemExit(f"{path}: {len(words)} words, header says {count}")
    return {w: i for i, w in enumerate(words)}


class CommonWords:
    """Membership test: is a word in more than MAX_SONG_SHARE of the songs?"""

    def __init__(self, songs):
        self.songs = songs
        self.cache = {}

    def __contains__(self, word):
        if word not in self.cache:
            n = sum(1 for s in self.songs if s.has(word))
            self.cache[word] = n > MAX_SONG_SHARE * len(self.songs)
        return self.cache[word]

    def dropped(self):
        return sorted(w for w, common in self.cache.items() if common)


def keep_word(tok, vocab, too_common):
    rank = vocab.get(tok)
    return (tok.isalpha() and rank is not None and rank >= MIN_RANK
            and tok not in STOPWORDS and tok not in too_common)


def make_lexicon(texts, vocab, too_common):
    out = []
    for text in texts:
        # Keywords with non-ASCII letters ("yuèbǐng") would tokenise into fragments.
        ascii_words = " ".join(w for w in text.replace(",", " ").split() if w.isascii())
        for tok in relevance.tokenize(ascii_words):
            if keep_word(tok, vocab, too_common) and not any(
                    relevance.same_word(tok, w) for w in out):
                out.append(tok)
    return out


def load_songs(path):
    songs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                songs.append(relevance.SongWords(json.loads(line).get("lyrics", "")))
    return songs


def count_relevant(lexicon, songs):
    return sum(1 for s in songs if s.gain(lexicon) > 0)


def render_svg(svg_bytes, dest):
    subprocess.run(["rsvg-convert", "-w", str(SIZE), "-h", str(SIZE), "-b", "white",
                    "-f", "png", "-o", dest], input=svg_bytes, check=True)


def render_rgba(data, dest):
    """An RGBA image (WebP/PNG bytes) composited on white, area-resized to SIZE x SIZE."""
    im = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if im is None or im.ndim != 3 or im.shape[2] != 4:
        raise SystemExit(f"{dest}: expected an RGBA image")
    alpha = im[:, :, 3:4].astype(np.float32) / 255.0
    rgb = im[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    rgb = cv2.resize(np.clip(rgb + 0.5, 0, 255).astype(np.uint8), (SIZE, SIZE),
                     interpolation=cv2.INTER_AREA)
    if not cv2.imwrite(dest, rgb):
        raise SystemExit(f"{dest}: cannot write")


def fluent_member(names, hexcode):
    """The Fluent 3D asset for an openmoji hexcode ("1F408-200D-2B1B"), or None."""
    h = hexcode.lower()
    for cand in (h, h + "-fe0f", h.replace("-fe0f", "")):
        name = f"package/assets/{cand}.webp"
        if name in names:
            return name
    return None


class DebFiles:
    """Files out of the Debian packages cached by tools/assets/setup_assets.sh."""

    def __init__(self, deb_dir):
        self.deb_dir = deb_dir
        self.tars = {}

    def read(self, package, path):
        if package not in self.tars:
            debs = sorted(glob.glob(os.path.join(self.deb_dir, f"{package}_*.deb")))
            if not debs:
                raise SystemExit(f"no {package}_*.deb in {self.deb_dir} "
                                 "(run tools/assets/setup_assets.sh)")
            data = subprocess.run(["dpkg-deb", "--fsys-tarfile", debs[-1]], check=True,
                                  stdout=subprocess.PIPE).stdout
            self.tars[package] = tarfile.open(fileobj=io.BytesIO(data))
        return self.tars[package].extractfile("./" + path.lstrip("/")).read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--openmoji", required=True, help="openmoji-<version>.tgz (npm pack)")
    ap.add_argument("--openmoji_spec", required=True, help="its npm spec")
    ap.add_argument("--fluent", required=True, help="lobehub-fluent-emoji-3d-<v>.tgz")
    ap.add_argument("--fluent_spec", required=True, help="its npm spec")
    ap.add_argument("--vectors", required=True, help="glove100.i2sv")
    ap.add_argument("--catalogue", required=True, help="catalogue JSONL (lyrics)")
    ap.add_argument("--samples", required=True, help="$I2S_CACHE/samples")
    ap.add_argument("--debs", required=True, help="$I2S_CACHE/downloads/debs")
    ap.add_argument("--photo_lexicons", required=True, help="tools/eval/photo_lexicons.tsv")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    vocab = load_vocabulary(a.vectors)
    songs = load_songs(a.catalogue)
    too_common = CommonWords(songs)
    for d in ("openmoji", "fluent3d", "photos"):
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
    rows = []
    summary = {"catalogue_songs": len(songs), "emoji_candidates": 0, "emoji_empty_lexicon": 0,
               "emoji_no_relevant_song": 0, "emoji_over_cap": 0, "fluent3d_missing": 0,
               "photo_words_dropped": {}, "photos_no_relevant_song": 0}

    # (a) Emoji concepts, drawn in two styles.
    with tarfile.open(a.openmoji, "r:gz") as om, tarfile.open(a.fluent, "r:gz") as fl:
        fluent_names = set(fl.getnames())
        data = json.load(om.extractfile("package/data/openmoji.json"))
        concepts = []
        for e in data:
            if (e["group"] not in GROUPS or e["subgroups"] in SKIP_SUBGROUPS
                    or e.get("skintone")):
                continue
            summary["emoji_candidates"] += 1
            lexicon = make_lexicon([e["annotation"], e["tags"]], vocab, too_common)
            if not lexicon:
                summary["emoji_empty_lexicon"] += 1
                continue
            n = count_relevant(lexicon, songs)
            if n == 0:
                summary["emoji_no_relevant_song"] += 1
                continue
            concepts.append((e, lexicon, n))
        if len(concepts) > MAX_CONCEPTS:
            step = len(concepts) / MAX_CONCEPTS
            picked = [concepts[int(i * step)] for i in range(MAX_CONCEPTS)]
            summary["emoji_over_cap"] = len(concepts) - len(picked)
            concepts = picked
        for e, lexicon, n in concepts:
            hexcode = e["hexcode"]
            rel = f"openmoji/{hexcode}.png"
            render_svg(om.extractfile(f"package/color/svg/{hexcode}.svg").read(),
                       os.path.join(a.out, rel))
            rows.append({"image": rel, "lexicon": lexicon,
                         "source": f"{a.openmoji_spec}:{hexcode} {e['annotation']}",
                         "relevant_songs": n})
            member = fluent_member(fluent_names, hexcode)
            if member is None:
                summary["fluent3d_missing"] += 1
                continue
            rel = f"fluent3d/{hexcode}.png"
            render_rgba(fl.extractfile(member).read(), os.path.join(a.out, rel))
            rows.append({"image": rel, "lexicon": lexicon,
                         "source": f"{a.fluent_spec}:{os.path.basename(member)} "
                                   f"{e['annotation']}",
                         "relevant_songs": n})

    # (b) Photos with hand-written lexicons: from $I2S_CACHE/samples when there, else from
    # the cached Debian package named in the file.
    debs = DebFiles(a.debs)
    with open(a.photo_lexicons, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 4:
                raise SystemExit(f"{a.photo_lexicons}:{line_no}: want 4 TAB-separated columns")
            name, words, description, origin = cols
            lexicon = []
            for w in words.split(","):
                if relevance.tokenize(w) != [w] or w not in vocab:
                    raise SystemExit(f"{a.photo_lexicons}:{line_no}: '{w}' is not a plain "
                                     "lowercase word of the word vectors")
                if keep_word(w, vocab, too_common):
                    lexicon.append(w)
                else:
                    summary["photo_words_dropped"].setdefault(name, []).append(w)
            package, path = origin.split(":", 1)
            sample = os.path.join(a.samples, name)
            if os.path.exists(sample):
                with open(sample, "rb") as i:
                    image = i.read()
            else:
                image = debs.read(package, path)
            n = count_relevant(lexicon, songs)
            if n == 0:
                summary["photos_no_relevant_song"] += 1
                continue
            rel = f"photos/{name}"
            with open(os.path.join(a.out, rel), "wb") as o:
                o.write(image)
            rows.append({"image": rel, "lexicon": lexicon,
                         "source": f"{package}:{name} ({description})", "relevant_songs": n})

    # A fixed shuffle, so that the first N lines (i2s-eval --limit) are a fair sample.
    random.Random(SHUFFLE_SEED).shuffle(rows)
    with open(os.path.join(a.out, "eval.jsonl"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=True) + "\n")
    for subset in ("openmoji", "fluent3d", "photos"):
        summary[subset] = sum(1 for r in rows if r["image"].startswith(subset + "/"))
    summary["pictures"] = len(rows)
    summary["too_common_words"] = too_common.dropped()
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    with open(os.path.join(a.out, "ATTRIBUTION.txt"), "w") as f:
        f.write(
            f"openmoji/*.png: rendered from OpenMoji ({a.openmoji_spec}), https://openmoji.org/"
            " - All emojis designed by OpenMoji, the open-source emoji and icon project. "
            "License: CC BY-SA 4.0.\n"
            f"fluent3d/*.png: Microsoft Fluent Emoji 3D ({a.fluent_spec}), MIT License, "
            "https://github.com/microsoft/fluentui-emoji.\n"
            "Both rendered at 224x224 on white; keywords from openmoji.json (Unicode CLDR).\n"
            "photos/*: scikit-image data (CC0 / public domain), scikit-learn china.jpg and "
            "flower.jpg (CC BY 2.0, see their README.txt), matplotlib grace_hopper.jpg "
            "(public domain), OpenCV sample images (Debian opencv-doc; licences in its "
            "/usr/share/doc/opencv-doc/copyright), from Debian packages.\n")
    print(f"eval set: {len(rows)} pictures ({summary['openmoji']} openmoji, "
          f"{summary['fluent3d']} fluent3d, {summary['photos']} photos); emoji concepts "
          f"excluded: {summary['emoji_empty_lexicon']} empty lexicon, "
          f"{summary['emoji_no_relevant_song']} without a relevant song, "
          f"{summary['emoji_over_cap']} over the cap of {MAX_CONCEPTS}; photos excluded: "
          f"{summary['photos_no_relevant_song']}")


if __name__ == "__main__":
    main()
