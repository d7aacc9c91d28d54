#!/usr/bin/python3
"""Add WordNet hypernym words to a label-words file (imagenet_words.tsv, coco_words.tsv).

Input lines: index <TAB> display_label <TAB> words [<TAB> related words]
Output lines: the same, with a 4th column of related words: common words naming what the label
is a kind of, taken from WordNet 3.0 (Debian `wordnet-base`, /usr/share/wordnet):
"goldfinch" -> "finch bird", "seashore" -> "shore", "espresso" -> "coffee drink".
The server counts related words at half weight (like the word-vector expansion), so they widen
the query towards the picture's category without outweighing the label itself.

Synset choice: the noun synsets of every synonym of the label (--synonyms: ImageNet's
"tench, Tinca tinca" lines; default: the display label); the synset sharing the most synonyms
wins, ties go to the most frequent sense.  Hypernyms are followed up to --depth levels (instance
hypernyms too).  A word is kept when it is a single word, in the --vocabulary most frequent words
of the word vectors (rare words such as "passerine" do not help a lyric query), not a stopword of
taxonomy ("entity", "artifact", "instrumentality", ...; GENERIC below) and not already a word of
the label; at most --max-related per label, nearest levels first.

Usage: wordnet_words.py IN.tsv VOCAB.i2sv OUT.tsv [--synonyms LABELS.txt] [--wordnet DIR]
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_glove import read_i2sv  # noqa: E402

# Upper-ontology and taxonomy words: true of everything, useless in a lyric query.
GENERIC = set("""entity object whole thing physical matter abstraction artifact artefact unit
instrumentality device implement container structure construction organism being living
creature system equipment commodity covering part portion component attribute group
collection substance material person individual someone somebody mortal soul causal agent
agency product merchandise ware worker vertebrate craniate chordate invertebrate placental
instrumentation cause formation piece nutrition signaling signalling
mammal eutherian aquatic mechanism mechanical natural food nutrient solid fluid liquid
article artifact means conveyance way cover protective region location area point position
form shape state quality act activity event process relation measure""".split())


def log(msg):
    print(f"[wordnet_words] {msg}", flush=True)


def read_wordnet(wn_dir):
    """Returns (index: lemma -> [offsets in sense order], synsets: offset -> (lemmas, hypernyms))."""
    index = {}
    with open(os.path.join(wn_dir, "index.noun"), encoding="latin-1") as f:
        for line in f:
            if line.startswith(" "):
                continue
            p = line.split()
            lemma, synset_cnt, p_cnt = p[0], int(p[2]), int(p[3])
            index[lemma] = p[6 + p_cnt: 6 + p_cnt + synset_cnt]
    synsets = {}
    with open(os.path.join(wn_dir, "data.noun"), encoding="latin-1") as f:
        for line in f:
            if line.startswith(" "):
                continue
            p = line.split(" | ")[0].split()
            offset, w_cnt = p[0], int(p[3], 16)
            lemmas = [p[4 + 2 * i].lower() for i in range(w_cnt)]
            k = 4 + 2 * w_cnt
            ptr_cnt = int(p[k])
            hyper = []
            for i in range(ptr_cnt):
                sym, target, pos = p[k + 1 + 4 * i], p[k + 2 + 4 * i], p[k + 3 + 4 * i]
                if sym in ("@", "@i") and pos == "n":
                    hyper.append(target)
            synsets[offset] = (lemmas, hyper)
    return index, synsets


def pick_synset(synonyms, index, synsets):
    keys = [s.strip().lower().replace(" ", "_") for s in synonyms if s.strip()]
    best, best_score = None, (0, 0)
    for k, key in enumerate(keys):
        for rank, off in enumerate(index.get(key, [])):
            lemmas = set(synsets[off][0])
            shared = sum(1 for x in keys if x in lemmas)
            # more shared synonyms first, then earlier synonym, then more frequent sense
            score = (shared, -(k * 100 + rank))
            if best is None or score > best_score:
                best, best_score = off, score
    return best


def related_words(off, synsets, depth, vocab_rank, max_vocab, own, max_related):
    out, seen, level = [], {off}, [off]
    for _ in range(depth):
        nxt = []
        for o in level:
            for h in synsets[o][1]:
                if h not in seen:
                    seen.add(h)
                    nxt.append(h)
        for o in nxt:
            for lemma in synsets[o][0]:
                if "_" in lemma or "-" in lemma or lemma in GENERIC or lemma in own:
                    continue
                if vocab_rank.get(lemma, max_vocab) >= max_vocab or lemma in out:
                    continue
                out.append(lemma)
        level = nxt
    return out[:max_related]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("input")
    ap.add_argument("vocab", help="word vectors (.i2sv), frequency-ordered")
    ap.add_argument("output")
    ap.add_argument("--synonyms", help="label synonyms, one line per label index (ImageNet "
                    "labels.txt); default: the display label")
    ap.add_argument("--wordnet", default="/usr/share/wordnet")
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--vocabulary", type=int, default=20000)
    ap.add_argument("--max-related", type=int, default=3)
    args = ap.parse_args()

    if not os.path.exists(os.path.join(args.wordnet, "data.noun")):
        sys.exit(f"wordnet_words: {args.wordnet}/data.noun missing "
                 "(apt-get install wordnet-base)")
    words, _ = read_i2sv(args.vocab)
    vocab_rank = {w: i for i, w in enumerate(words[:args.vocabulary])}
    index, synsets = read_wordnet(args.wordnet)
    log(f"WordNet: {len(synsets)} noun synsets, {len(index)} lemmas")
    syn_lines = None
    if args.synonyms:
        with open(args.synonyms, encoding="utf-8") as f:
            syn_lines = [line.rstrip("\n") for line in f]

    out_lines, found, added = [], 0, 0
    with open(args.input, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    for row in rows:
        idx, label = int(row[0]), row[1]
        own = set(row[2].split()) if len(row) > 2 else set()
        if not own:  # "background": no words, nothing to relate
            out_lines.append("\t".join(row[:3]))
            continue
        synonyms = syn_lines[idx].split(",") if syn_lines else [label]
        off = pick_synset(synonyms, index, synsets)
        related = []
        if off is not None:
            found += 1
            related = related_words(off, synsets, args.depth, vocab_rank, args.vocabulary,
                                    own, args.max_related)
        added += len(related)
        row = (row + [""])[:3] + [" ".join(related)]
        out_lines.append("\t".join(row))
    tmp = args.output + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("\n".join(out_lines) + "\n")
    os.replace(tmp, args.output)
    log(f"{len(rows)} labels, {found} found in WordNet, {added} related words "
        f"-> {args.output}")


if __name__ == "__main__":
    main()
