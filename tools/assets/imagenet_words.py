#!/usr/bin/python3
"""Map the 1001 ImageNet labels to plain lyric-space words: writes imagenet_words.tsv.

Output: one line per label index 0..N-1:
    index <TAB> display_label <TAB> space-separated words
display_label is the label's first synonym as written in imagenet_labels.txt ("seashore",
"Egyptian cat").  Words are derived automatically, then data/imagenet_words_overrides.tsv
replaces ("=") or extends ("+") them (see data/README.md).  Index 0 "background" has no words;
every other label must end with at least one word (the script fails otherwise).

Automatic rule: split the synonyms on ", "; skip Latin binomials ("Tinca tinca") after the
first synonym; split each synonym into words on anything but letters; lowercase; drop stopwords,
weak modifiers (common, great, little, ...), one-letter words and words not in the word-vector
vocabulary; dedupe keeping order; at most --max-words words.  Override words are checked against
the vocabulary too (missing ones are dropped with a warning).

Usage: imagenet_words.py LABELS.txt VOCAB.i2sv OUT.tsv [--overrides FILE]
"""

import argparse
import os
import re
import sys

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_glove import read_i2sv  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OVERRIDES = os.path.join(HERE, "data", "imagenet_words_overrides.tsv")

STOPWORDS = set("""a an the of and or for with in on to at by from as is it its into de la le
del du da van von s""".split())
WEAK = set("""common great little lesser greater giant miniature standard toy small large big
new old type""".split())
BINOMIAL = re.compile(r"^[A-Z][a-z]+ [a-z]+(?: [a-z]+)?$")


def log(msg):
    print(f"[imagenet_words] {msg}", flush=True)


def auto_words(label, vocab, max_words):
    syns = [s.strip() for s in label.split(",") if s.strip()]
    out = []
    for k, syn in enumerate(syns):
        if k > 0 and BINOMIAL.match(syn):
            continue
        low = syn.lower()
        cand = []
        if "-" in low and low in vocab:   # keep a hyphenated compound GloVe knows
            cand.append(low)
        cand += re.split(r"[^a-z]+", low.replace("'s", ""))
        for w in cand:
            if len(w) < 2 or w in STOPWORDS or w not in vocab or w in out:
                continue
            out.append(w)
    strong = [w for w in out if w not in WEAK]
    return (strong or out)[:max_words]


def parse_overrides(path, display):
    """-> list of (indices, op, words, line_no); validates display names."""
    rules = []
    n = len(display)
    with open(path, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 4:
                raise SystemExit(f"{path}:{ln}: expected 4 TAB-separated columns")
            key, name, op, words = parts
            if op not in ("=", "+"):
                raise SystemExit(f"{path}:{ln}: op must be '=' or '+'")
            if "-" in key:
                a, b = (int(x) for x in key.split("-"))
                expect = f"{display[a]}..{display[b]}" if 0 <= a <= b < n else None
                idx = list(range(a, b + 1))
            else:
                a = int(key)
                expect = display[a] if 0 <= a < n else None
                idx = [a]
            if expect != name:
                raise SystemExit(f"{path}:{ln}: {key} is {expect!r}, file says {name!r}")
            rules.append((idx, op, words.split(), ln))
    return rules


def build(labels, vocab, rules, max_words):
    display = [lab.split(",")[0].strip() for lab in labels]
    words = [auto_words(lab, vocab, max_words) for lab in labels]
    words[0] = []
    missing = set()
    touched = set()
    for idx, op, ws, ln in rules:
        ok = [w for w in ws if w in vocab]
        missing.update((w, ln) for w in ws if w not in vocab)
        for i in idx:
            cur = [] if op == "=" else words[i]
            words[i] = cur + [w for w in ok if w not in cur]
            touched.add(i)
    return display, words, missing, touched


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("labels")
    ap.add_argument("vocab", help="glove100.i2sv (its vocabulary filters words)")
    ap.add_argument("out")
    ap.add_argument("--overrides", default=DEFAULT_OVERRIDES)
    ap.add_argument("--max-words", type=int, default=5, help="cap on automatic words")
    args = ap.parse_args()

    labels = [ln.rstrip("\n") for ln in open(args.labels, encoding="utf-8")]
    vocab_words, _ = read_i2sv(args.vocab)
    vocab = set(vocab_words)
    log(f"{len(labels)} labels, vocabulary {len(vocab):,} words")
    display = [lab.split(",")[0].strip() for lab in labels]
    rules = parse_overrides(args.overrides, display)
    display, words, missing, touched = build(labels, vocab, rules, args.max_words)
    for w, ln in sorted(missing, key=lambda x: x[1]):
        log(f"warning: override word {w!r} (line {ln}) not in vocabulary, dropped")
    empty = [i for i in range(1, len(labels)) if not words[i]]
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for i, (d, ws) in enumerate(zip(display, words)):
            if "\t" in d or "\n" in d:
                raise SystemExit(f"label {i} has a TAB/newline")
            f.write(f"{i}\t{d}\t{' '.join(ws)}\n")
    if empty:
        for i in empty:
            log(f"error: label {i} {labels[i]!r} has no words")
        raise SystemExit(f"{len(empty)} labels without words: add overrides")
    os.replace(tmp, args.out)
    total = sum(len(w) for w in words)
    log(f"{len(rules)} override rules touching {len(touched)} labels; {total} words in all "
        f"(avg {total / (len(labels) - 1):.1f} per label); wrote {args.out}")
    for i in (282, 505, 813, 979):
        if i < len(labels):
            log(f"  e.g. {i}\t{display[i]}\t{' '.join(words[i])}")


if __name__ == "__main__":
    main()
