#!/usr/bin/python3
"""Build the image2song relevance evaluation set (called by make_eval_set.sh).

Writes into OUT (a fresh directory):
  eval.jsonl       one picture a line, in a fixed shuffled order:
                   {"image": "openmoji/1F30A.png", "lexicon": ["water", "wave", ...],
                    "source": "openmoji@17.0.0:1F30A water wave", "relevant_songs": 12}
  openmoji/*.png   OpenMoji colour SVGs (flat line art) rendered at 224x224 on white
  fluent3d/*.png   the same emoji as Microsoft Fluent Emoji 3D renders, 224x224 on white
  photos/*         the photos listed in tools/eval/photo_lexicons.tsv: copied as they are when
                   already a JPEG/PNG (as named) of at most MAX_PHOTO_SIDE pixels, else decoded,
                   flattened on white and area-resized to fit MAX_PHOTO_SIDE, written as JPEG
  mood_photos/*    extra photos for the mood labels only (tools/eval/mood_photos.tsv, --mood_photos;
                   written like photos/, never in eval.jsonl: the relevance set is unchanged)
  ATTRIBUTION.txt  licences of the pictures, and the source and licence of each photo
  summary.json     counts (kept, excluded and why; photos per Debian package)
The first path component of "image" (openmoji, fluent3d, photos) is the picture's subset.

Emoji concepts: openmoji.json entries of GROUPS, minus SKIP_SUBGROUPS and skin-tone variants.
Lexicon of an emoji: the words of its Unicode annotation and CLDR keywords (`annotation` and
`tags` in openmoji.json; OpenMoji's own looser `openmoji_tags` are not used), tokenised like
core/words/word_vectors.cc Tokenize(); a word is kept when it is in the word vectors at frequency
rank >= MIN_RANK, not in STOPWORDS (category words, colours, function words), in at most
MAX_SONG_SHARE of the catalogue's songs, and not a plural of a word already kept. Photo
lexicons are hand-written (photo_lexicons.tsv) and filtered the same way. A picture is kept
when at least one catalogue song is relevant to it (relevance.py).

A photo's origin is "package:path" of a file in a cached Debian package, or
"package:path.rcc!member" for a member of a Qt resource file in it (GCompris ships its
activities' pictures that way).
"""

import argparse
import fnmatch
import glob
import io
import json
import os
import random
import struct
import subprocess
import sys
import tarfile
import zlib

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
# Photos larger than this (longest side, pixels) or in another format than their name says are
# re-encoded as JPEG at this size; smaller JPEG/PNG files are copied byte for byte.
MAX_PHOTO_SIDE = 1280
PHOTO_JPEG_QUALITY = 90
# Licence of the photos of each Debian package, as its copyright file states it (per-file
# credits, where the package has them, are added to ATTRIBUTION.txt).
PHOTO_LICENCES = {
    "python3-skimage": "CC0 / public domain (scikit-image data)",
    "python3-sklearn": "CC BY 2.0 (see sklearn/datasets/images/README.txt)",
    "python-matplotlib-data": "public domain (grace_hopper.jpg)",
    "opencv-doc": "OpenCV sample images, Apache-2.0 / BSD (/usr/share/doc/opencv-doc/copyright)",
    "scratch": "CC BY-SA 3.0 (Scratch 1.4 media, (c) MIT; /usr/share/doc/scratch/copyright)",
    "gcompris-qt-data": "CC0 / public domain / CC BY / CC BY-SA, per file (Wikimedia Commons "
                        "photos credited in each activity's resource README)",
    "lomiri-wallpapers-16.04": "CC BY 4.0 / CC BY-SA 4.0 / CC0, per file "
                               "(/usr/share/doc/lomiri-wallpapers-16.04/copyright)",
    "lxqt-themes": "LGPL-2.1+ (/usr/share/doc/lxqt-themes/copyright, Files: *)",
    "mate-backgrounds": "GPL-2+ (/usr/share/doc/mate-backgrounds/copyright)",
    "palapeli-data": "GPL-2+ (/usr/share/doc/palapeli-data/copyright); the puzzles' .desktop "
                     "files say public domain (bridge, bee, citrus) or GFDL (castle, chameleon)",
    "scribus-template": "public domain (templates by Riku Leino, "
                        "/usr/share/doc/scribus-template/copyright)",
    "plasma-workspace-wallpapers": "GPL-2+ (/usr/share/doc/plasma-workspace-wallpapers/"
                                   "copyright); each wallpaper's metadata.json says LGPLv3",
    "tuxpaint-data": "GPL-2+ (/usr/share/doc/tuxpaint-data/copyright, Files: *); the template "
                     "photos are credited to Bill Kendrick in its AUTHORS.txt",
    "tuxtype-data": "GPL-2 (/usr/share/doc/tuxtype-data/copyright); its images/README_IMAGES.TXT "
                    "says the background photos are featured images from Wikimedia Commons",
}


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


def qt_resources(data):
    """Files of a Qt resource (.rcc) file: {path: bytes}. Format versions 1-3, zlib or none."""
    magic, version, tree, blobs, names = struct.unpack(">4sIIII", data[:20])
    if magic != b"qres" or not 1 <= version <= 3:
        raise SystemExit("not a Qt resource file (version 1-3)")
    node_size = 14 if version == 1 else 22

    def name(offset):
        length, = struct.unpack(">H", data[names + offset:names + offset + 2])
        return data[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

    files = {}
    pending = [(0, "")]
    while pending:
        index, prefix = pending.pop()
        at = tree + index * node_size
        name_offset, flags = struct.unpack(">IH", data[at:at + 6])
        path = prefix + name(name_offset) if index else ""
        if flags & 2:  # directory
            count, first = struct.unpack(">II", data[at + 6:at + 14])
            pending.extend((first + i, path + "/" if index else "") for i in range(count))
            continue
        offset, = struct.unpack(">I", data[at + 10:at + 14])
        size, = struct.unpack(">I", data[blobs + offset:blobs + offset + 4])
        blob = data[blobs + offset + 4:blobs + offset + 4 + size]
        if flags & 4:
            raise SystemExit(f"{path}: zstd-compressed Qt resource, not supported")
        files[path] = zlib.decompress(blob[4:]) if flags & 1 else blob
    return files


class DebFiles:
    """Files out of the cached Debian packages (tools/assets/setup_assets.sh, eval.lock)."""

    def __init__(self, deb_dir):
        self.deb_dir = deb_dir
        self.tars = {}
        self.versions = {}
        self.resources = {}

    def _tar(self, package):
        if package not in self.tars:
            debs = sorted(glob.glob(os.path.join(self.deb_dir, f"{package}_*.deb")))
            if not debs:
                raise SystemExit(f"no {package}_*.deb in {self.deb_dir} "
                                 "(run tools/assets/setup_assets.sh and make_eval_set.sh)")
            data = subprocess.run(["dpkg-deb", "--fsys-tarfile", debs[-1]], check=True,
                                  stdout=subprocess.PIPE).stdout
            self.tars[package] = tarfile.open(fileobj=io.BytesIO(data))
            self.versions[package] = subprocess.run(
                ["dpkg-deb", "--field", debs[-1], "Version"], check=True,
                stdout=subprocess.PIPE, text=True).stdout.strip()
        return self.tars[package]

    def version(self, package):
        self._tar(package)
        return self.versions[package]

    def read(self, package, path):
        """package:path, or package:path.rcc!member for a file inside a Qt resource."""
        path, _, member = path.partition("!")
        if not member:
            return self._tar(package).extractfile("./" + path.lstrip("/")).read()
        key = (package, path)
        if key not in self.resources:
            self.resources[key] = qt_resources(self.read(package, path))
        if member not in self.resources[key]:
            raise SystemExit(f"{package}:{path}: no {member}")
        return self.resources[key][member]

    def exists(self, package, path):
        try:
            self._tar(package).getmember("./" + path.lstrip("/"))
            return True
        except KeyError:
            return False


def dep5_credit(copyright_text, path):
    """Copyright and License of the DEP-5 stanza that covers path (the last one whose pattern
    matches a tail of the path or names its file), or None; a bare "Files: *" stanza says
    nothing about one photo and is not used."""
    found = None
    for stanza in copyright_text.split("\n\n"):
        fields, key = {}, None
        for line in stanza.split("\n"):
            if line[:1] in (" ", "\t") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if "Files" not in fields or "License" not in fields:
            continue
        for pattern in fields["Files"].split():
            if (fnmatch.fnmatchcase(path, "*" + pattern)
                    or os.path.basename(pattern) == os.path.basename(path)):
                found = None if pattern == "*" else (
                    " ".join(fields.get("Copyright", "").split()),
                    fields["License"].split(" ")[0])
                break
    return found


def readme_credit(readme_text, filename):
    """Fields (Copyright, License, Source, Comment) of filename (relative to the README) in a
    GCompris resource README: blocks of 'Key: value' lines and file names (after 'Files:' or
    alone on their lines), separated by blank lines; or None."""
    for block in readme_text.split("\n\n"):
        fields, files = {}, []
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            key = key.strip()
            if sep and key in ("Copyright", "License", "Source", "Comment", "Comments", "Files"):
                if key == "Files":
                    files += value.split()
                else:
                    fields["Comment" if key == "Comments" else key] = value.strip()
            else:
                files += line.split()
        if filename in files:
            return fields
    return None


def kde_credit(debs, package, path):
    """Author and licence from KDE metadata beside a picture: a palapeli puzzle's .desktop file,
    a Plasma wallpaper's metadata.json; or None."""
    desktop = os.path.splitext(path)[0] + ".desktop"
    if debs.exists(package, desktop):
        entry = dict(line.split("=", 1) for line in
                     debs.read(package, desktop).decode("utf-8").splitlines() if "=" in line)
        if "X-KDE-PluginInfo-Author" in entry:
            return (f"{entry['X-KDE-PluginInfo-Author']}, "
                    f"{entry.get('X-KDE-PluginInfo-License', '?')}"
                    + (f", {entry['X-KDE-PluginInfo-Website']}"
                       if entry.get("X-KDE-PluginInfo-Website") else ""))
    parts = path.split("/")
    if len(parts) > 3 and parts[-3] == "contents":  # wallpapers/NAME/contents/images/FILE
        meta = "/".join(parts[:-3]) + "/metadata.json"
        if debs.exists(package, meta):
            plugin = json.loads(debs.read(package, meta)).get("KPlugin", {})
            authors = ", ".join(x.get("Name", "?") for x in plugin.get("Authors", []))
            return f"{authors or '?'}, {plugin.get('License', '?')}"
    return None


def photo_credit(debs, package, path):
    """One line: who made the photo and its licence, from the package's own records."""
    if "!" in path:  # a GCompris resource: the nearest README above it
        rcc, _, member = path.partition("!")
        folder = os.path.dirname(member)
        while folder:
            try:
                text = debs.read(package, f"{rcc}!{folder}/README").decode("utf-8")
            except SystemExit:
                folder = os.path.dirname(folder)
                continue
            fields = readme_credit(text, os.path.relpath(member, folder))
            if not fields:
                return None
            return ", ".join(fields[k] for k in ("Copyright", "License", "Source", "Comment")
                             if fields.get(k))
        return None
    credit = kde_credit(debs, package, path)
    if credit:
        return credit
    copyright_path = f"usr/share/doc/{package}/copyright"
    if debs.exists(package, copyright_path):
        found = dep5_credit(debs.read(package, copyright_path).decode("utf-8", "replace"), path)
        if found and found[0]:
            holders = found[0] if len(found[0]) <= 120 else found[0][:117] + "..."
            return f"{holders}, {found[1]}"
    return None


def write_photo(image, dest):
    """Writes a photo: the bytes as they are when already a JPEG/PNG (matching dest's suffix)
    within MAX_PHOTO_SIDE, else decoded, flattened on white, resized to fit, as JPEG."""
    kind = ("jpeg" if image[:3] == b"\xff\xd8\xff" else
            "png" if image[:8] == b"\x89PNG\r\n\x1a\n" else "other")
    suffix = os.path.splitext(dest)[1].lower()
    im = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_UNCHANGED)
    if im is None:
        raise SystemExit(f"{dest}: cannot decode")
    if (max(im.shape[:2]) <= MAX_PHOTO_SIDE
            and (kind, suffix) in (("jpeg", ".jpg"), ("jpeg", ".jpeg"), ("png", ".png"))):
        with open(dest, "wb") as o:
            o.write(image)
        return
    if suffix not in (".jpg", ".jpeg"):
        raise SystemExit(f"{dest}: a re-encoded photo is a JPEG; name it .jpg")
    if im.dtype != np.uint8:
        im = (im / (np.iinfo(im.dtype).max / 255.0) + 0.5).astype(np.uint8)
    if im.ndim == 3 and im.shape[2] == 4:
        alpha = im[:, :, 3:4].astype(np.float32) / 255.0
        im = np.clip(im[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha) + 0.5,
                     0, 255).astype(np.uint8)
    scale = MAX_PHOTO_SIDE / max(im.shape[:2])
    if scale < 1:
        im = cv2.resize(im, (max(1, round(im.shape[1] * scale)),
                             max(1, round(im.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    if not cv2.imwrite(dest, im, [cv2.IMWRITE_JPEG_QUALITY, PHOTO_JPEG_QUALITY]):
        raise SystemExit(f"{dest}: cannot write")


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
    ap.add_argument("--mood_photos", help="tools/eval/mood_photos.tsv (extra photos for the "
                    "mood labels, written to OUT/mood_photos)")
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
    summary["photos_by_package"] = {}
    photo_credits = []
    names = set()
    with open(a.photo_lexicons, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 4:
                raise SystemExit(f"{a.photo_lexicons}:{line_no}: want 4 TAB-separated columns")
            name, words, description, origin = cols
            if name in names:
                raise SystemExit(f"{a.photo_lexicons}:{line_no}: {name} listed twice")
            names.add(name)
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
            if package not in PHOTO_LICENCES:
                raise SystemExit(f"{a.photo_lexicons}:{line_no}: no licence for {package} "
                                 "(PHOTO_LICENCES in make_eval_set.py)")
            n = count_relevant(lexicon, songs)
            if n == 0:
                summary["photos_no_relevant_song"] += 1
                continue
            sample = os.path.join(a.samples, name)
            if os.path.exists(sample):
                with open(sample, "rb") as i:
                    image = i.read()
                credit = f"{package}:{path} (via $I2S_CACHE/samples)"
            else:
                image = debs.read(package, path)
                credit = f"{package} {debs.version(package)}:{path}"
                who = photo_credit(debs, package, path)
                if who:
                    credit += f"; {who}"
            rel = f"photos/{name}"
            write_photo(image, os.path.join(a.out, rel))
            summary["photos_by_package"][package] = summary["photos_by_package"].get(package,
                                                                                     0) + 1
            photo_credits.append(f"{rel}: {credit}")
            rows.append({"image": rel, "lexicon": lexicon,
                         "source": f"{package}:{name} ({description})", "relevant_songs": n})

    # (c) Extra photos for the mood labels (photo_moods.tsv): not in eval.jsonl.
    mood_credits = []
    summary["mood_photos_by_package"] = {}
    if a.mood_photos:
        os.makedirs(os.path.join(a.out, "mood_photos"), exist_ok=True)
        with open(a.mood_photos, encoding="utf-8") as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip() or line.startswith("#"):
                    continue
                cols = line.rstrip("\n").split("\t")
                if len(cols) != 2:
                    raise SystemExit(f"{a.mood_photos}:{line_no}: want 2 TAB-separated columns")
                name, origin = cols
                if os.path.basename(name) != name or name in names:
                    raise SystemExit(f"{a.mood_photos}:{line_no}: {name}: bad or repeated name")
                names.add(name)
                package, path = origin.split(":", 1)
                if package not in PHOTO_LICENCES:
                    raise SystemExit(f"{a.mood_photos}:{line_no}: no licence for {package} "
                                     "(PHOTO_LICENCES in make_eval_set.py)")
                write_photo(debs.read(package, path), os.path.join(a.out, "mood_photos", name))
                credit = f"{package} {debs.version(package)}:{path}"
                who = photo_credit(debs, package, path)
                if who:
                    credit += f"; {who}"
                mood_credits.append(f"mood_photos/{name}: {credit}")
                summary["mood_photos_by_package"][package] = (
                    summary["mood_photos_by_package"].get(package, 0) + 1)
    summary["mood_photos"] = len(mood_credits)

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
            "photos/*: photographs from Debian packages, licences by package:\n")
        for package in sorted(summary["photos_by_package"]):
            f.write(f"  {package} ({summary['photos_by_package'][package]} photos): "
                    f"{PHOTO_LICENCES[package]}\n")
        f.write("Each photo: package version:path; author, licence and source where the "
                "package records them.\n")
        for line in photo_credits:
            f.write(f"  {line}\n")
        if mood_credits:
            f.write("mood_photos/*: photographs for the mood labels only (not in eval.jsonl), "
                    "licences by package:\n")
            for package in sorted(summary["mood_photos_by_package"]):
                f.write(f"  {package} ({summary['mood_photos_by_package'][package]} photos): "
                        f"{PHOTO_LICENCES[package]}\n")
            for line in mood_credits:
                f.write(f"  {line}\n")
    print(f"eval set: {len(rows)} pictures ({summary['openmoji']} openmoji, "
          f"{summary['fluent3d']} fluent3d, {summary['photos']} photos); emoji concepts "
          f"excluded: {summary['emoji_empty_lexicon']} empty lexicon, "
          f"{summary['emoji_no_relevant_song']} without a relevant song, "
          f"{summary['emoji_over_cap']} over the cap of {MAX_CONCEPTS}; photos excluded: "
          f"{summary['photos_no_relevant_song']}; mood photos: {summary['mood_photos']}")
    print("photos by package: " + ", ".join(
        f"{k} {v}" for k, v in sorted(summary["photos_by_package"].items())))


if __name__ == "__main__":
    main()
