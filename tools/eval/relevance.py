"""Lyric relevance, the same definition as bench/i2s_eval.cc (keep the two in step).

A song is relevant to a picture when its lyrics contain at least one word of the picture's
lexicon. Lyrics are tokenised like core/words/word_vectors.cc Tokenize() (lowercase runs of
[a-z0-9] with inner apostrophes); a token's trailing "'s" is dropped. A lexicon word w matches
a lyric token t when t == w, or one is a simple plural of the other (forms() below: -s, -es
after s/x/z/ch/sh, -ies -> -y). Graded gain = number of distinct lexicon words present, at
most 3.
"""

MAX_GAIN = 3


def tokenize(text):
    """Byte-for-byte port of image2song::Tokenize()."""
    data = text.encode("utf-8").replace(b"\xe2\x80\x99", b"'")
    out, cur = [], []

    def flush():
        while cur and cur[-1] == "'":
            cur.pop()
        lead = 0
        while lead < len(cur) and cur[lead] == "'":
            lead += 1
        if lead < len(cur):
            out.append("".join(cur[lead:]))
        cur.clear()

    for b in data:
        c = chr(b)
        if "A" <= c <= "Z":
            c = c.lower()
        if "a" <= c <= "z" or "0" <= c <= "9":
            cur.append(c)
        elif c == "'" and cur:
            cur.append(c)
        else:
            flush()
    flush()
    return out


def base(token):
    """The token without a trailing "'s"."""
    return token[:-2] if len(token) > 2 and token.endswith("'s") else token


def forms(word):
    """The word and its simple singulars: {w, w-s, w-es (after s/x/z/ch/sh), w-ies+y}."""
    word = base(word)
    out = {word}
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        out.add(word[:-1])
    if len(word) > 4 and word.endswith("es") and word[:-2].endswith(("s", "x", "z", "ch", "sh")):
        out.add(word[:-2])
    if len(word) > 4 and word.endswith("ies"):
        out.add(word[:-3] + "y")
    return out


def same_word(a, b):
    """True when a and b are equal or one is a simple plural of the other."""
    return a in forms(b) or b in forms(a)


class SongWords:
    """The lyric tokens of one song, for relevance tests."""

    def __init__(self, lyrics):
        self.raw = set()
        self.all_forms = set()
        for tok in tokenize(lyrics):
            self.raw.add(base(tok))
            self.all_forms |= forms(tok)

    def has(self, word):
        return word in self.all_forms or any(f in self.raw for f in forms(word))

    def gain(self, lexicon):
        return min(MAX_GAIN, sum(1 for w in lexicon if self.has(w)))
