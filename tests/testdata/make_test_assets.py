#!/usr/bin/python3
"""Generates the tiny models, word vectors, catalogue and images the tests use.

Everything is deterministic (fixed seeds) and small, so the default test run
exercises the real code paths (TorchScript loading, FAISS, gRPC) in seconds:

  models.json    model manifest in the production format, with the shipped image mood model
                 (image_mood.json, mood_words.tsv copied from tools/assets/data)
  models_slow.json  the same with slow_color.pt (~50 ms a forward pass)
  models_full.json  tiny_color with 2x2 + centre regions, colour cues
                 (cues.json: tools/assets/data/colour_cues.json with tiny words),
                 word expansion
  models_cam.json  models_full.json with regions from the feature map of
                 tiny_color_cam.pt
  tiny_color.pt  TorchScript "colour classifier": input [B,3,32,32] in [0,1];
                 outputs (softmax scores over 5 labels, 3-d pooled embedding).
                 Blue -> ocean, red -> fire, green -> forest, white -> snowfield.
  tiny_color_cam.pt  the same plus a third output, the [B,3,4,4] feature map,
                 and a `head` method (pooled [N,3] -> scores [N,5])
  tiny_faces.pt  TorchScript "face detector" (the contract of tools/assets/convert_faces.py):
                 input [B,3,32,32] in [0,1]; outputs (boxes [B,2,4], scores [B,2],
                 classes [B,2]): the bounding box of the saturated pixels (max - min channel
                 > 0.4) with score 0.9 (0 when there are none), and a fixed 5 % box at
                 (0.9, 0.9) with score 0.8; sorted by score.
  tiny_emotion.pt  TorchScript "expression classifier": input [N,3,16,16] in [0,1]; 7
                 probabilities in human's order (angry, disgust, fear, happy, sad, surprise,
                 neutral): a red crop is happy, a blue one sad, a grey one neutral.
  face_words.tsv   the 7 expressions' labels and words (tiny vocabulary)
  models_faces.json  tiny_faces + tiny_emotion as a "faces" tagger
  labels.tsv     index, label, lyric words (production label-file format)
  words.i2sv     16-d word vectors: clusters for sea / fire / forest / snow
                 words, plus stopwords and filler words (I2SWVEC1 format)
  catalogue.jsonl  14 songs; one theme song per cluster and filler songs
  catalogue.csv    the same songs as CSV
  catalogue_gaps.jsonl  the same songs plus snow-03 (no genre, no mood) and
                 fire-03 (no genre): imputed from their neighbours
  mood_lexicon.tsv  a tiny mood lexicon in the format of
                 tools/assets/convert_lexicon.py (word<TAB>score -5..5)
  models_mood.json  models.json plus the mood lexicon and imputation (k 2)
  tiny_use.pt, tiny_use_vocab.txt  a tiny "sentence encoder" in the contract
                 of use_lite.pt (core/text/sentence_encoder.h): piece ids
                 [B,T] padded with -1 -> unit [B,8] (the mean of piece vectors;
                 cluster words near their cluster, and "river" near the sea
                 words, where the word vectors put it among the fillers)
  models_sentence.json  models.json plus the tiny sentence encoder
  images/        blue.png red.jpg green.webp white.bmp gray.png split.png
                 (left blue, right red) dark.png big_blue.jpg face.png (a red
                 square "face" on grey)

usage: make_test_assets.py OUT_DIR
"""
import csv
import json
import os
import shutil
import struct
import sys

import numpy as np

DIM = 16

STOPWORDS = ("the a and of to in i my is on it you that with for be was "
             "me all we by his her so at not but").split()
CLUSTERS = {
    "sea": "sea ocean waves shore sail boat ship water tide sailor".split(),
    "fire": "fire flame flames burning heat ember blaze smoke".split(),
    "forest": "forest tree trees green leaves woods grass moss".split(),
    "snow": "snow winter cold white ice frost snowfield frozen".split(),
}
FILLER = ("love heart night home road day morning dream song sing light "
          "time old young friend mother father town river hill door "
          "window gold silver rain wind star moon city train dance").split()

SONGS = [
    ("sea-01", "The Wide Ocean", "Test Shanty Crew", "folk", "calm", "en",
     "public-domain", 180, ["sea"],
     "The ocean waves roll on the shore\nMy ship will sail for evermore\n"
     "\nThe sailor sings of tide and sea"),
    ("sea-02", "Sailor's Boat", "Harbour Band", "pop", "happy", "en",
     "cc-by", 200, [],
     "A little boat upon the water\nWe sail away with the tide\n"
     "The shore is far behind"),
    ("fire-01", "Burning Night", "Ember Trio", "rock", "energetic", "en",
     "public-domain", 210, ["fire"],
     "The fire is burning in the night\nFlames and smoke and ember light\n"
     "Feel the heat of the blaze"),
    ("fire-02", "Smoke Signal", "Ember Trio", "rock", "dark", "de",
     "cc-by", 190, [],
     "Smoke is rising from the flame\nThe heat will call your name"),
    ("forest-01", "Green Woods", "Moss Singers", "folk", "calm", "en",
     "public-domain", 170, ["forest"],
     "Under the green trees of the forest\nThe leaves and grass and moss\n"
     "We walk in the woods"),
    ("forest-02", "The Old Tree", "Moss Singers", "folk", "sad", "en",
     "cc-by", 160, [],
     "An old tree on the hill\nIts leaves are green"),
    ("snow-01", "Winter White", "Frost Choir", "classical", "calm", "en",
     "public-domain", 240, ["winter"],
     "The snow is white and cold\nIce and frost on the frozen town\n"
     "Winter comes again"),
    ("snow-02", "Frozen River", "Frost Choir", "classical", "sad", "fr",
     "cc-by", 230, [],
     "The river is frozen\nCold winter wind and snow"),
]
for i in range(6):
    rng = np.random.RandomState(100 + i)
    lines = []
    for _ in range(4):
        words = rng.choice(FILLER, size=5, replace=False)
        lines.append(" ".join(words).capitalize())
    SONGS.append((f"filler-{i:02d}", f"Filler Song {i}", "Various", "pop",
                  "happy", "en", "public-domain", 150 + i, [],
                  "\n".join(lines)))


# Songs without genre or mood (catalogue_gaps.jsonl): snow-03 is nearly
# snow-01's words (classical, calm), fire-03 the fire songs' (rock).
GAP_SONGS = [
    ("snow-03", "Snowfield", "Frost Choir", "", "", "en", "public-domain", 220, [],
     "The snow is white and cold\nIce and frost on the frozen snowfield\n"
     "Winter comes again"),
    ("fire-03", "Ember Glow", "Ember Trio", "", "dark", "en", "cc-by", 200, [],
     "The fire is burning\nFlames and smoke and heat\nThe blaze and the ember"),
]

# A tiny mood lexicon: scores as AFINN gives them where AFINN has the word.
MOOD_LEXICON = {"love": 3, "happy": 3, "dream": 1, "gold": 2, "light": 1,
                "sad": -2, "cold": -1, "frozen": -1, "dark": -2, "burning": -1,
                "smoke": -1, "fire": -2, "die": -3, "lonely": -2}


def write_mood_lexicon(path):
    with open(path, "w") as f:
        f.write("# image2song mood lexicon (word<TAB>score -5..5), tests/testdata/"
                "make_test_assets.py\n")
        for word in sorted(MOOD_LEXICON):
            f.write(f"{word}\t{MOOD_LEXICON[word]}\n")


def write_gap_catalogue(path):
    with open(path, "w") as f:
        for (sid, title, artist, genre, mood, lang, lic, dur, tags,
             lyrics) in SONGS + GAP_SONGS:
            record = {"id": sid, "title": title, "artist": artist,
                      "language": lang, "license": lic, "duration": dur,
                      "tags": tags, "lyrics": lyrics}
            if genre:
                record["genre"] = genre
            if mood:
                record["mood"] = mood
            f.write(json.dumps(record) + "\n")


def write_vectors(path):
    rng = np.random.RandomState(7)
    words, vecs = [], []
    common = rng.normal(size=DIM)  # shared component, as real GloVe means have
    for w in STOPWORDS:
        words.append(w)
        vecs.append(common + 0.3 * rng.normal(size=DIM))
    centres = {}
    for name, members in CLUSTERS.items():
        centres[name] = 3.0 * rng.normal(size=DIM)
        for w in members:
            words.append(w)
            vecs.append(centres[name] + 0.6 * rng.normal(size=DIM) + 0.5 * common)
    for w in FILLER:
        words.append(w)
        vecs.append(1.5 * rng.normal(size=DIM) + 0.5 * common)
    # Pad the vocabulary so the stopword cut (1% of the vocabulary) is 2.
    for i in range(len(words), 240):
        words.append(f"zz{i:03d}")
        vecs.append(rng.normal(size=DIM))
    blob = "".join(w + "\n" for w in words).encode()
    header = b"I2SWVEC1" + struct.pack("<IIII", 1, DIM, len(words), len(blob))
    data = header + blob
    data += b"\0" * ((-len(data)) % 4)
    data += np.asarray(vecs, dtype="<f4").tobytes()
    with open(path, "wb") as f:
        f.write(data)


def write_face_words(path):
    rows = [("angry face", "fire"), ("disgusted face", "smoke"), ("fearful face", "night"),
            ("smiling face", "love heart dance"), ("sad face", "rain cold"),
            ("surprised face", "star"), ("face", "friend")]
    with open(path, "w") as f:
        for i, (label, words) in enumerate(rows):
            f.write(f"{i}\t{label}\t{words}\n")


def write_labels(path):
    rows = [("background", ""), ("ocean", "sea ocean waves"),
            ("fire", "fire flame"), ("forest", "forest trees green"),
            ("snowfield", "snow winter white")]
    with open(path, "w") as f:
        for i, (label, words) in enumerate(rows):
            f.write(f"{i}\t{label}\t{words}\n")


def write_model(out):
    import torch

    torch.manual_seed(0)

    class TinyColor(torch.nn.Module):
        def __init__(self):
            super().__init__()
            # 1x1 conv + BatchNorm (identity) so freeze/optimize_for_inference
            # have something to fold.
            self.conv = torch.nn.Conv2d(3, 3, 1, bias=False)
            self.bn = torch.nn.BatchNorm2d(3)
            with torch.no_grad():
                self.conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.fc = torch.nn.Linear(3, 5)
            with torch.no_grad():
                self.fc.weight.copy_(torch.tensor([
                    [0.0, 0.0, 0.0],      # background
                    [-4.0, -4.0, 8.0],    # ocean: blue
                    [8.0, -4.0, -4.0],    # fire: red
                    [-4.0, 8.0, -4.0],    # forest: green
                    [6.0, 6.0, 6.0],      # snowfield: white
                ]))
                self.fc.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, -10.0]))

        def forward(self, x):
            x = self.bn(self.conv(x))
            pooled = x.mean(dim=(2, 3))
            return torch.softmax(self.fc(pooled), dim=1), pooled

    class SlowColor(TinyColor):
        """TinyColor plus ~1 GFLOP of input-dependent busy work (about
        50 ms a call): lets the shutdown test have requests in flight."""

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(256, 256) / 16.0)

        def forward(self, x):
            scores, pooled = super().forward(x)
            a = x.reshape(x.shape[0], -1)[:, :256].unsqueeze(2) * self.w
            for _ in range(30):
                a = torch.tanh(a @ self.w)
            return scores + 0.0 * a.mean(), pooled

    class TinyColorCam(TinyColor):
        """TinyColor with the contract of tools/assets/convert_tflite.py: a
        third output, the [B, 3, 4, 4] feature map before the pool, and a
        head method (pooled features -> scores) for one-pass regions."""

        def forward(self, x):
            features = torch.nn.functional.avg_pool2d(self.bn(self.conv(x)), 8)
            pooled = features.mean(dim=(2, 3))
            return self.head(pooled), pooled, features

        def head(self, pooled):
            return torch.softmax(self.fc(pooled), dim=1)

    class TinyFaces(torch.nn.Module):
        def forward(self, x):
            b, _, h, w = x.shape
            sat = x.max(dim=1).values - x.min(dim=1).values
            mask = (sat > 0.4).float()
            rows, cols = mask.amax(dim=2), mask.amax(dim=1)     # [B, H], [B, W]
            ys = torch.arange(h, dtype=torch.float32).expand(b, h)
            xs = torch.arange(w, dtype=torch.float32).expand(b, w)
            big_h, big_w = torch.full_like(ys, float(h)), torch.full_like(xs, float(w))
            y0 = torch.where(rows > 0, ys, big_h).amin(dim=1) / h
            y1 = torch.where(rows > 0, ys + 1, torch.zeros_like(ys)).amax(dim=1) / h
            x0 = torch.where(cols > 0, xs, big_w).amin(dim=1) / w
            x1 = torch.where(cols > 0, xs + 1, torch.zeros_like(xs)).amax(dim=1) / w
            found = rows.amax(dim=1)
            face = torch.stack([x0, y0, x1, y1], dim=1) * found.unsqueeze(1)
            small = torch.tensor([0.9, 0.9, 0.95, 0.95]).expand(b, 4)
            boxes = torch.stack([face, small], dim=1)
            scores = torch.stack([0.9 * found, torch.full_like(found, 0.8)], dim=1)
            order = torch.sort(scores, dim=1, descending=True).indices
            scores = torch.gather(scores, 1, order)
            boxes = torch.gather(boxes, 1, order.unsqueeze(2).expand(b, 2, 4))
            return boxes, scores, torch.zeros_like(scores)

    class TinyEmotion(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 7)
            with torch.no_grad():
                self.fc.weight.copy_(torch.tensor([
                    [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0],  # angry disgust fear
                    [12.0, 0.0, 0.0],                                    # happy: red
                    [0.0, 0.0, 12.0],                                    # sad: blue
                    [0.0, 0.0, 0.0],                                     # surprise
                    [5.0, 5.0, 5.0]]))                                   # neutral: grey
                self.fc.bias.zero_()

        def forward(self, x):
            return torch.softmax(self.fc(x.mean(dim=(2, 3))), dim=1)

    example = torch.rand(2, 3, 32, 32)
    torch.jit.trace(TinyFaces().eval(), example).save(os.path.join(out, "tiny_faces.pt"))
    torch.jit.trace(TinyEmotion().eval(), torch.rand(2, 3, 16, 16)).save(
        os.path.join(out, "tiny_emotion.pt"))
    for cls, name in ((TinyColor, "tiny_color.pt"), (SlowColor, "slow_color.pt")):
        torch.jit.trace(cls().eval(), example).save(os.path.join(out, name))
    cam = TinyColorCam().eval()
    torch.jit.trace_module(cam, {"forward": example, "head": torch.rand(2, 3)}).save(
        os.path.join(out, "tiny_color_cam.pt"))


def write_sentence_encoder(out):
    """tiny_use.pt + tiny_use_vocab.txt (see the module docstring)."""
    import re
    import torch

    marker = "\u2581"
    words = set()
    for song in SONGS:
        words.update(re.findall(r"[A-Za-z']+", song[-1] + " " + song[1]))
    words.update(["ocean", "fire", "forest", "snowfield", "warm", "cold", "green",
                  "night", "water", "sky", "sunny", "colourful", "bright", "dark"])
    pieces = [("\ufffd", 0.0), ("<s>", 0.0), ("</s>", 0.0), ("extra_token_id_1", 0.0),
              ("extra_token_id_2", 0.0), ("extra_token_id_3", 0.0), (marker, -10.0)]
    pieces += [(marker + w, -1.0) for w in sorted(words)]
    pieces += [(chr(c), -10.0) for c in range(33, 127)]
    rng = np.random.RandomState(11)
    dim = 8
    centres = {name: 2.0 * rng.normal(size=dim) for name in CLUSTERS}
    cluster_of = {w: name for name, members in CLUSTERS.items() for w in members}
    cluster_of.update({"river": "sea", "snowfield": "snow"})
    table = []
    for piece, _ in pieces:
        w = piece[len(marker):].lower() if piece.startswith(marker) else ""
        if w in cluster_of:
            table.append(centres[cluster_of[w]] + 0.3 * rng.normal(size=dim))
        elif w in STOPWORDS or not w:
            table.append(0.05 * rng.normal(size=dim))
        else:
            table.append(rng.normal(size=dim))

    class TinyUse(torch.nn.Module):
        def __init__(self, table, bias):
            super().__init__()
            self.table = torch.nn.Parameter(table, requires_grad=False)
            self.bias = torch.nn.Parameter(bias, requires_grad=False)

        def forward(self, ids):
            mask = (ids >= 0).to(torch.float32).unsqueeze(-1)
            e = self.table[ids.clamp(min=0)] * mask
            return torch.nn.functional.normalize(e.sum(1) + self.bias, dim=1)

    module = torch.jit.script(TinyUse(torch.tensor(np.array(table), dtype=torch.float32),
                                      torch.tensor(0.01 * rng.normal(size=dim),
                                                   dtype=torch.float32)))
    meta = {"vocab_size": len(pieces), "max_len": 128, "dim": dim}
    module.save(os.path.join(out, "tiny_use.pt"),
                _extra_files={"i2s_meta.json": json.dumps(meta)})
    with open(os.path.join(out, "tiny_use_vocab.txt"), "w", encoding="utf-8") as f:
        f.write("# i2s-sentencepiece-vocab 1\n")
        for piece, score in pieces:
            f.write(f"{score!r}\t{piece}\n")


def write_odd_images(out):
    """Images in the forms a public service meets (images/odd/): CMYK and
    grayscale and progressive JPEG, an EXIF-rotated JPEG, 16-bit and palette
    PNGs, an animated GIF and WebP, a multi-page TIFF. Needs python3-pil."""
    from PIL import Image
    d = os.path.join(out, "images", "odd")
    os.makedirs(d, exist_ok=True)
    Image.new("CMYK", (64, 48), (255, 128, 0, 0)).save(os.path.join(d, "cmyk.jpg"), quality=90)
    # Stored 64x32, left half blue, right half red; EXIF orientation 6 (rotate
    # 90 degrees clockwise to display): shown 32x64, blue on top.
    im = Image.new("RGB", (64, 32), (220, 20, 20))
    im.paste((20, 20, 220), (0, 0, 32, 32))
    exif = Image.Exif()
    exif[0x0112] = 6
    im.save(os.path.join(d, "exif_rotate90.jpg"), exif=exif.tobytes(), quality=95)
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 255, 0))]
    for name in ("animated.gif", "animated.webp", "multipage.tif"):
        frames[0].save(os.path.join(d, name), save_all=True, append_images=frames[1:],
                       duration=100, loop=0)
    Image.new("I;16", (16, 16), 40000).save(os.path.join(d, "gray16.png"))
    p = Image.new("P", (16, 16), 1)
    p.putpalette([0, 0, 0, 0, 0, 255] * 128)
    p.save(os.path.join(d, "palette_alpha.png"), transparency=0)
    Image.new("L", (32, 32), 128).save(os.path.join(d, "gray.jpg"))
    Image.new("RGB", (64, 64), (10, 200, 10)).save(os.path.join(d, "progressive.jpg"),
                                                   progressive=True)


def write_certs(out):
    """A test CA, a server certificate for localhost / 127.0.0.1 and a client
    certificate, all signed by the CA (EC P-256, 10 days), plus a second CA
    that signed nothing here (to test an untrusted client)."""
    import subprocess
    import tempfile
    d = os.path.join(out, "tls")
    os.makedirs(d, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    def key(name):
        run("ecparam", "-name", "prime256v1", "-genkey", "-noout",
            "-out", os.path.join(d, name + ".key"))

    for ca in ("ca", "other_ca"):
        key(ca)
        run("req", "-x509", "-new", "-key", os.path.join(d, ca + ".key"), "-days", "10",
            "-subj", "/CN=image2song test " + ca, "-out", os.path.join(d, ca + ".crt"))
    with tempfile.TemporaryDirectory() as tmp:
        for name, ext in (("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                     "extendedKeyUsage=serverAuth\n"),
                          ("client", "extendedKeyUsage=clientAuth\n")):
            key(name)
            csr = os.path.join(tmp, name + ".csr")
            extfile = os.path.join(tmp, name + ".ext")
            with open(extfile, "w") as f:
                f.write(ext)
            run("req", "-new", "-key", os.path.join(d, name + ".key"),
                "-subj", "/CN=" + ("localhost" if name == "server" else "i2s-test-client"),
                "-out", csr)
            run("x509", "-req", "-in", csr, "-CA", os.path.join(d, "ca.crt"),
                "-CAkey", os.path.join(d, "ca.key"), "-CAcreateserial", "-days", "10",
                "-extfile", extfile, "-out", os.path.join(d, name + ".crt"))
        # A client certificate from the CA the server does not trust.
        key("stranger")
        csr = os.path.join(tmp, "stranger.csr")
        run("req", "-new", "-key", os.path.join(d, "stranger.key"), "-subj", "/CN=stranger",
            "-out", csr)
        run("x509", "-req", "-in", csr, "-CA", os.path.join(d, "other_ca.crt"),
            "-CAkey", os.path.join(d, "other_ca.key"), "-CAcreateserial", "-days", "10",
            "-out", os.path.join(d, "stranger.crt"))
    with open(os.path.join(d, "token"), "w") as f:
        f.write("test-token-7f3a\n")


# Songs marked explicit (the explicit filter's test data).
EXPLICIT = {"sea-01"}


def write_catalogue(jsonl_path, csv_path):
    with open(jsonl_path, "w") as f:
        for (sid, title, artist, genre, mood, lang, lic, dur, tags,
             lyrics) in SONGS:
            f.write(json.dumps({
                "id": sid, "title": title, "artist": artist, "genre": genre,
                "mood": mood, "language": lang, "license": lic,
                "duration": dur, "explicit": sid in EXPLICIT, "tags": tags,
                "lyrics": lyrics}) + "\n")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "title", "artist", "genre", "mood", "language",
                    "license", "duration", "explicit", "tags", "lyrics"])
        for (sid, title, artist, genre, mood, lang, lic, dur, tags,
             lyrics) in SONGS:
            w.writerow([sid, title, artist, genre, mood, lang, lic, dur,
                        "true" if sid in EXPLICIT else "false",
                        ";".join(tags), lyrics])


def write_images(out):
    import cv2

    os.makedirs(out, exist_ok=True)
    rng = np.random.RandomState(3)

    def solid(bgr, h=48, w=64):
        img = np.zeros((h, w, 3), np.uint8)
        img[:] = bgr
        noise = rng.randint(-10, 11, size=img.shape)
        return np.clip(img.astype(int) + noise, 0, 255).astype(np.uint8)

    cv2.imwrite(os.path.join(out, "blue.png"), solid((230, 40, 20)))
    cv2.imwrite(os.path.join(out, "red.jpg"), solid((20, 30, 230)))
    cv2.imwrite(os.path.join(out, "green.webp"), solid((30, 220, 40)))
    cv2.imwrite(os.path.join(out, "white.bmp"), solid((245, 245, 245)))
    cv2.imwrite(os.path.join(out, "gray.png"), solid((128, 128, 128)))
    # Left half blue, right half red: regions see ocean and fire.
    split = np.concatenate([solid((230, 40, 20), h=64, w=64),
                            solid((20, 30, 230), h=64, w=64)], axis=1)
    cv2.imwrite(os.path.join(out, "split.png"), split)
    # Nearly black: the colour cues call it night.
    cv2.imwrite(os.path.join(out, "dark.png"), solid((12, 10, 8)))
    # A grey picture with a red square "face" for the tiny face detector.
    face = np.full((96, 128, 3), 128, np.uint8)
    face[24:56, 40:72] = (20, 20, 230)
    cv2.imwrite(os.path.join(out, "face.png"), face)
    # A larger JPEG to exercise reduced decoding.
    cv2.imwrite(os.path.join(out, "big_blue.jpg"),
                solid((230, 40, 20), h=1200, w=1600))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    write_vectors(os.path.join(out, "words.i2sv"))
    write_labels(os.path.join(out, "labels.tsv"))
    write_face_words(os.path.join(out, "face_words.tsv"))
    write_catalogue(os.path.join(out, "catalogue.jsonl"),
                    os.path.join(out, "catalogue.csv"))
    write_gap_catalogue(os.path.join(out, "catalogue_gaps.jsonl"))
    write_mood_lexicon(os.path.join(out, "mood_lexicon.tsv"))
    write_images(os.path.join(out, "images"))
    write_model(out)
    write_certs(out)
    write_odd_images(out)
    write_sentence_encoder(out)
    manifest = {
        "word_vectors": {"file": "words.i2sv", "id": "test-words-16d@1"},
        "taggers": [{
            "name": "tiny_color", "version": "1", "kind": "classifier",
            "file": "tiny_color.pt",
            "input": {"width": 32, "height": 32, "mean": [0, 0, 0],
                      "std": [255, 255, 255]},
            "labels": "labels.tsv", "skip_labels": [0],
            "top_k": 3, "min_score": 0.05, "weight": 1.0}],
    }
    # The image mood model as shipped (tools/assets/data/image_mood.json and its lexicon).
    for name in ("image_mood.json", "mood_words.tsv"):
        shutil.copyfile(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                     "../../tools/assets/data", name), os.path.join(out, name))
    manifest["mood"] = {"file": "image_mood.json"}
    with open(os.path.join(out, "models.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    del manifest["mood"]
    # The full tagger set: regions on the classifier plus colour cues (the
    # production rule file, with words from the tiny vocabulary).
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "../../tools/assets/data/colour_cues.json")) as f:
        cues = json.load(f)
    tiny_words = {"night": ["night", "dark"], "warm": ["fire", "heat"],
                  "cold": ["snow", "ice", "cold"], "green": ["green", "trees"],
                  "water": ["water", "sea"], "sky": ["star"]}
    for rule in cues["rules"]:
        rule["words"] = tiny_words.get(rule["tag"], [])
    with open(os.path.join(out, "cues.json"), "w") as f:
        json.dump(cues, f, indent=1)
    full = json.loads(json.dumps(manifest))
    full["taggers"][0]["regions"] = {"grid": 2, "center": 0.5, "top_k": 4,
                                     "min_score": 0.3, "weight": 0.6}
    full["taggers"].append({"name": "colour", "kind": "cues",
                            "rules": "cues.json", "top_k": 4, "weight": 0.5})
    full["expand_words"] = {"count": 2, "min_cosine": 0.8, "vocabulary": 240}
    with open(os.path.join(out, "models_full.json"), "w") as f:
        json.dump(full, f, indent=2)
    # The same with regions from the feature map (one forward pass).
    cam = json.loads(json.dumps(full))
    cam["taggers"][0]["file"] = "tiny_color_cam.pt"
    cam["taggers"][0]["regions"]["from"] = "features"
    with open(os.path.join(out, "models_cam.json"), "w") as f:
        json.dump(cam, f, indent=2)
    sentence = json.loads(json.dumps(manifest))
    sentence["sentence_encoder"] = {"file": "tiny_use.pt", "vocab": "tiny_use_vocab.txt",
                                    "id": "tiny-use@1"}
    with open(os.path.join(out, "models_sentence.json"), "w") as f:
        json.dump(sentence, f, indent=2)
    mood = json.loads(json.dumps(manifest))
    mood["mood_lexicon"] = {"file": "mood_lexicon.tsv", "id": "tiny-lexicon@1"}
    mood["imputation"] = {"k": 2, "vote": "similarity"}
    with open(os.path.join(out, "models_mood.json"), "w") as f:
        json.dump(mood, f, indent=2)
    # Faces and their expression (tools/assets/models_faces.json in miniature).
    faces = {"word_vectors": manifest["word_vectors"], "taggers": [{
        "name": "faces", "version": "1", "kind": "faces", "file": "tiny_faces.pt",
        "input": {"width": 32, "height": 32, "mean": [0, 0, 0], "std": [255, 255, 255]},
        "labels": "face_words.tsv",
        "emotion": {"file": "tiny_emotion.pt",
                    "input": {"width": 16, "height": 16, "mean": [0, 0, 0],
                              "std": [255, 255, 255]},
                    "min_score": 0.4},
        "top_k": 3, "min_score": 0.5, "min_size": 0.1, "weight": 0.5}]}
    with open(os.path.join(out, "models_faces.json"), "w") as f:
        json.dump(faces, f, indent=2)
    manifest["taggers"][0]["file"] = "slow_color.pt"
    with open(os.path.join(out, "models_slow.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    print(f"test assets written to {out}")


if __name__ == "__main__":
    main()
