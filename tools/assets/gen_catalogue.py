#!/usr/bin/python3
"""Generate a synthetic song catalogue (JSONL) of any size, for indexer and server scale tests.

Each line is one song in the catalogue format read by core/bundle/catalogue.cc (see docs/indexing.md,
"Indexing your own catalogue"): id, title, artist, lyrics (required), genre, mood, language,
license, duration (seconds), explicit (true/false), tags (list of strings).  Everything is
plain ASCII; no field comes near the reader's limits (lyrics <= 40 lines of <= 10 words).

How songs look:
  * lyric words follow a Zipf law (p ~ 1/(rank + 2.7)^1.1) over the first --vocabulary lowercase
    alphabetic words of the word-vector file (its rows are in corpus-frequency order), lightly
    tilted towards lyric words (i, you, love, night, ...) and away from news words (said,
    percent, ...);
  * every song has a topic: 3-6 words from one of 1000 themes (a seed word of rank 200-12k
    and its 32 nearest neighbours among the 15k most frequent words); 10-25 % of its words
    are topic words, so song vectors differ the way real songs do instead of all sitting on
    the corpus mean;
  * 8-40 lines (log-normal, ~24), 4-10 words a line (~7; ~170 words a song), stanzas of 2-6
    lines separated by a blank line; 60 % of songs have a chorus (stanza 2) that comes back
    as stanzas 4, 6 and 8;
  * title: 2-5 words of the song's own chorus (or a random line); artist: Zipf over ~N/20
    made-up names ("Harbor Silent", "The Velvet Mile"); genre (15), mood (10), language (mostly
    en, long tail), license (mostly standard, ~10 % ads) all skewed; duration ~ normal(210, 50)
    clipped to [30, 900]; explicit with probability --explicit-share.
Output is deterministic for a given --seed and --songs, written in chunks of 10,000 songs to
FILE.part and renamed to FILE at the end, so memory stays flat at any size.

Example:
  /usr/bin/python3 tools/assets/gen_catalogue.py --songs 1000000 --out /tmp/syn1m.jsonl
  build/index/i2s-index --catalogue=/tmp/syn1m.jsonl --output=/tmp/syn1m.bundle ...
"""

import argparse
import math
import os
import re
import sys
import time

import numpy as np

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_glove import read_i2sv  # noqa: E402

PROG = "gen_catalogue"
CACHE = os.environ.get("I2S_CACHE") or os.path.expanduser("~/.cache/image2song")
DEFAULT_VECTORS = os.path.join(CACHE, "models", "default", "glove100.i2sv")
CHUNK = 10_000          # songs per chunk (part of the output definition: keep fixed)
N_THEMES = 1000
THEME_SIZE = 32         # neighbours per theme
MAX_TOPIC = 6
ZIPF_S = 1.1          # word-rank exponent (lyrics use a smaller vocabulary than news)
THEME_MAX_RANK = 15000  # theme words come from the 15k most frequent words
WORD_RE = re.compile(r"^[a-z]+$")

# (value, relative weight): skewed metadata.
GENRES = list(zip(
    "pop rock hip-hop electronic r&b country indie folk latin metal jazz soul reggae blues "
    "classical".split(),
    [1 / (r + 1.5) ** 1.1 for r in range(15)]))
MOODS = [("happy", 18), ("sad", 14), ("energetic", 14), ("romantic", 12), ("calm", 10),
         ("melancholic", 9), ("hopeful", 8), ("nostalgic", 6), ("dark", 5), ("angry", 4)]
LANGUAGES = [("en", 80.0), ("es", 6.5), ("pt", 2.5), ("fr", 2.2), ("de", 2.0), ("it", 1.3),
             ("ja", 1.0), ("ko", 0.9), ("nl", 0.6), ("sv", 0.5), ("pl", 0.4), ("tr", 0.4),
             ("ru", 0.4), ("hi", 0.4), ("id", 0.3), ("ar", 0.2), ("fi", 0.15), ("da", 0.15),
             ("no", 0.1), ("el", 0.1)]
LICENSES = [("standard", 84.5), ("ads", 10.0), ("sync", 3.0), ("restricted", 1.5),
            ("cc-by", 0.7), ("public-domain", 0.3)]
TAGS = ("acoustic live remastered cover radio-edit summer love party workout chill road-trip "
        "night dance throwback wedding rainy-day feel-good heartbreak duet unplugged "
        "anthem ballad remix soundtrack christmas").split()
TAG_WEIGHTS = [1 / (r + 2.0) for r in range(len(TAGS))]
N_TAGS_P = [0.25, 0.35, 0.25, 0.15]   # 0..3 tags from TAGS, plus the theme word (40 %)
STANZA = [(2, 0.10), (4, 0.65), (6, 0.25)]
P_CHORUS = 0.6

LYRIC_BOOST = """i you me my your we our love baby heart night oh yeah know feel never want
time away tonight dream cry dance fire eyes hold kiss soul forever goodbye light dark home
blue rain sky sun moon girl boy lonely sweet wild free fly run burn shine tears remember
alone together wanna gonna touch lips arms tell need little long sleep wake""".split()
NEWS_DAMP = """said percent million billion government president company market year
officials police minister state states according reported spokesman economic tuesday
wednesday thursday monday friday saturday sunday international national federal percent
quarter shares analysts economy election party republican democratic""".split()


class GenError(Exception):
    pass


def die(msg, code=1):
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    sys.exit(code)


def cdf_of(weights):
    c = np.cumsum(np.asarray(weights, dtype=np.float64))
    return c / c[-1]


def draw(rng, cdf, n):
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


class Model:
    """Everything derived once from the word vectors and the flags."""

    def __init__(self, words, vecs, vocabulary, seed, songs):
        keep = [i for i, w in enumerate(words[:vocabulary]) if WORD_RE.match(w)]
        if len(keep) < 2000:
            raise GenError(f"only {len(keep)} plain lowercase words among the first "
                           f"{vocabulary}; need at least 2000 (raise --vocabulary)")
        self.words = [words[i] for i in keep]
        V = self.V = len(self.words)
        index = {w: i for i, w in enumerate(self.words)}

        # Zipf-Mandelbrot over the frequency rank, tilted towards lyric vocabulary.
        wt = 1.0 / (np.arange(V) + 2.7) ** ZIPF_S
        for w in LYRIC_BOOST:
            if w in index:
                wt[index[w]] *= 4.0
        for w in NEWS_DAMP:
            if w in index:
                wt[index[w]] *= 0.1
        self.word_cdf = cdf_of(wt)

        # Themes: seed word (rank 200..12000) + nearest neighbours (cosine) in the vocabulary.
        rng = np.random.default_rng([seed, 7])
        v = vecs[keep].astype(np.float32)
        v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-6)
        lo, hi = min(200, V // 10), min(12000, V)
        top = min(THEME_MAX_RANK, V)
        seeds = rng.choice(np.arange(lo, hi), size=N_THEMES, replace=False)
        self.themes = np.empty((N_THEMES, THEME_SIZE), dtype=np.int64)
        for b in range(0, N_THEMES, 100):                 # blocks keep the peak memory low
            sd = seeds[b:b + 100]
            sims = v[sd] @ v[lo:top].T                    # skip the most frequent words
            sims[np.arange(len(sd)), sd - lo] = np.inf    # the seed itself comes first
            nb = np.argpartition(-sims, THEME_SIZE, axis=1)[:, :THEME_SIZE]
            order = np.argsort(-np.take_along_axis(sims, nb, axis=1), axis=1)
            self.themes[b:b + 100] = np.take_along_axis(nb, order, axis=1) + lo
        del v, sims
        self.theme_seed = seeds

        # Token table: word + separator.  kind 0 " ", 1 line end, 2 stanza end, 3 song end
        # (JSON-escaped newlines: the words are [a-z]+, so nothing else needs escaping).
        seps = [" ", "\\n", "\\n\\n", ""]
        self.tokens = np.array([w + s for s in seps for w in self.words], dtype=object)
        self.caps = [w.capitalize() for w in self.words]

        # Artists: Zipf (s = 0.6, mild: the top artist has ~0.3 % of the songs) over A names.
        self.n_artists = A = max(1, songs // 20)
        self.artist_cdf = cdf_of(1.0 / (np.arange(A) + 3.0) ** 0.6)
        pool = [w.capitalize() for w in self.words[100:2600] if len(w) >= 3]
        self.artist_pool = pool
        K = len(pool)
        self.artist_words = 2 if A <= K * K else 3
        self.artist_space = K ** self.artist_words
        mult = 2_654_435_761                     # scramble: a -> a * mult mod K^n (bijective)
        while math.gcd(mult, self.artist_space) != 1:
            mult += 2
        self.artist_mult = mult

        self.genres = [g for g, _ in GENRES]
        self.genre_cdf = cdf_of([w for _, w in GENRES])
        self.moods = [m for m, _ in MOODS]
        self.mood_cdf = cdf_of([w for _, w in MOODS])
        self.langs = [x for x, _ in LANGUAGES]
        self.lang_cdf = cdf_of([w for _, w in LANGUAGES])
        self.licenses = [x for x, _ in LICENSES]
        self.license_cdf = cdf_of([w for _, w in LICENSES])
        self.tag_cdf = cdf_of(TAG_WEIGHTS)
        self.ntag_cdf = cdf_of(N_TAGS_P)
        self.stanza_vals = np.array([k for k, _ in STANZA])
        self.stanza_cdf = cdf_of([p for _, p in STANZA])
        self.theme_tag = [self.words[s] for s in seeds]
        self._artist_cache = {}

    def artist(self, a):
        name = self._artist_cache.get(a)
        if name is None:
            x = (a * self.artist_mult + 12345) % self.artist_space
            K = len(self.artist_pool)
            parts = []
            for _ in range(self.artist_words):
                x, r = divmod(x, K)
                parts.append(self.artist_pool[r])
            name = ("The " if a % 7 == 3 else "") + " ".join(parts)
            if len(self._artist_cache) > 200_000:
                self._artist_cache.clear()
            self._artist_cache[a] = name
        return name


def gen_chunk(m, seed, ci, first, n, explicit_share, id_width):
    """Returns (text of n JSONL lines, lyric word count)."""
    rng = np.random.default_rng([seed, 1, ci])
    ar = np.arange(n)

    # --- per song
    nl = np.clip(np.rint(rng.lognormal(math.log(24.0), 0.35, n)), 8, 40).astype(np.int64)
    base = rng.integers(5, 10, n)                          # typical line length 5..9
    k = m.stanza_vals[draw(rng, m.stanza_cdf, n)]
    chorus = rng.random(n) < P_CHORUS
    theme = rng.integers(0, N_THEMES, n)
    ntopic = rng.integers(3, MAX_TOPIC + 1, n)
    ptopic = rng.uniform(0.10, 0.25, n)
    pick = np.argsort(rng.random((n, THEME_SIZE)), axis=1)[:, :MAX_TOPIC]
    topic = m.themes[theme[:, None], pick]                 # [n, MAX_TOPIC] word ids

    # --- per line
    L = int(nl.sum())
    song_first_line = np.cumsum(nl) - nl
    sol = np.repeat(ar, nl)                                # song of line
    pos = np.arange(L) - song_first_line[sol]              # line number within the song
    kl = k[sol]
    st, p = pos // kl, pos % kl
    # stanzas 3, 5, 7 repeat stanza 1 (the chorus); later ones are new verses
    rep = chorus[sol] & (st >= 3) & (st <= 7) & (st % 2 == 1)
    src = np.where(rep, song_first_line[sol] + kl + p, np.arange(L))
    llen = np.clip(base[sol] + rng.integers(-2, 3, L), 4, 10)
    llen = llen[src]

    # --- per word (drawn for every line, then chorus repeats copy their source line)
    W = int(llen.sum())
    wstart = np.cumsum(llen) - llen
    sow = np.repeat(sol, llen)                             # song of word
    ids = draw(rng, m.word_cdf, W)
    is_topic = rng.random(W) < ptopic[sow]
    j = np.floor(ntopic[sow] * rng.random(W) ** 2).astype(np.int64)   # first topic words most
    ids = np.where(is_topic, topic[sow, j], ids)
    within = np.arange(W) - np.repeat(wstart, llen)
    ids = ids[np.repeat(wstart[src], llen) + within]

    kind = np.zeros(W, dtype=np.int64)
    last_line = pos == nl[sol] - 1
    kind[wstart + llen - 1] = np.where(last_line, 3, np.where(p == kl - 1, 2, 1))
    toks = m.tokens[kind * m.V + ids].tolist()
    ids_l = ids.tolist()

    # song word ranges
    song_words = np.add.reduceat(llen, song_first_line)
    sw_start = (np.cumsum(song_words) - song_words).tolist()
    sw_end = np.cumsum(song_words).tolist()

    # title: 2..5 words from the chorus' first line, else from a random line
    tline = np.where(chorus, song_first_line + k,
                     song_first_line + (rng.random(n) * nl).astype(np.int64))
    tlen = np.minimum(rng.integers(2, 6, n), llen[tline]).tolist()
    tstart = wstart[tline].tolist()

    artist = draw(rng, m.artist_cdf, n).tolist()
    genre = draw(rng, m.genre_cdf, n).tolist()
    mood = draw(rng, m.mood_cdf, n).tolist()
    lang = draw(rng, m.lang_cdf, n).tolist()
    lic = draw(rng, m.license_cdf, n).tolist()
    dur = np.clip(np.rint(rng.normal(210.0, 50.0, n)), 30, 900).astype(np.int64).tolist()
    expl = (rng.random(n) < explicit_share).tolist()
    ntags = draw(rng, m.ntag_cdf, n)
    tag_ids = draw(rng, m.tag_cdf, n * 3).reshape(n, 3).tolist()
    theme_tag = (rng.random(n) < 0.4).tolist()
    ntags = ntags.tolist()
    theme = theme.tolist()

    words_caps, tokens_join = m.caps, "".join
    genres, moods, langs, lics, tagn = m.genres, m.moods, m.langs, m.licenses, TAGS
    out = []
    for i in range(n):
        a = tstart[i]
        title = " ".join([words_caps[x] for x in ids_l[a:a + tlen[i]]])
        tags = []
        for t in tag_ids[i][:ntags[i]]:
            if tagn[t] not in tags:
                tags.append(tagn[t])
        if theme_tag[i]:
            w = m.theme_tag[theme[i]]
            if w not in tags:
                tags.append(w)
        tags_json = "[" + ",".join(['"' + t + '"' for t in tags]) + "]"
        out.append(
            f'{{"id":"syn-{first + i + 1:0{id_width}d}","title":"{title}",'
            f'"artist":"{m.artist(artist[i])}","genre":"{genres[genre[i]]}",'
            f'"mood":"{moods[mood[i]]}","language":"{langs[lang[i]]}",'
            f'"license":"{lics[lic[i]]}","duration":{dur[i]},'
            f'"explicit":{"true" if expl[i] else "false"},"tags":{tags_json},'
            f'"lyrics":"{tokens_join(toks[sw_start[i]:sw_end[i]])}"}}\n')
    return "".join(out), W


def fmt_eta(s):
    s = int(round(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="gen_catalogue.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--songs", type=int, required=True, metavar="N",
                    help="number of songs to write (>= 1)")
    ap.add_argument("--out", required=True, metavar="FILE.jsonl",
                    help="output catalogue (.jsonl; written to FILE.part, renamed at the end)")
    ap.add_argument("--vectors", default=DEFAULT_VECTORS, metavar="FILE.i2sv",
                    help="word vectors in frequency order (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default: %(default)s)")
    ap.add_argument("--vocabulary", type=int, default=30000, metavar="N",
                    help="draw lyric words from the N most frequent vector rows "
                         "(default: %(default)s)")
    ap.add_argument("--explicit-share", type=float, default=0.05, metavar="P",
                    help="probability that a song is explicit, 0..1 (default: %(default)s)")
    ap.add_argument("--quiet", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)
    if args.songs < 1:
        ap.error(f"--songs must be >= 1 (got {args.songs})")
    if args.vocabulary < 2000:
        ap.error(f"--vocabulary must be >= 2000 (got {args.vocabulary})")
    if not 0.0 <= args.explicit_share <= 1.0:
        ap.error(f"--explicit-share must be in 0..1 (got {args.explicit_share})")
    if args.seed < 0:
        ap.error(f"--seed must be >= 0 (got {args.seed})")
    if not os.path.isfile(args.vectors):
        ap.error(f"word vectors not found: {args.vectors} (run tools/assets/setup_assets.sh to "
                 "fetch and convert them, or pass --vectors FILE.i2sv)")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        ap.error(f"--out: directory {out_dir} does not exist")
    if os.path.isdir(args.out):
        ap.error(f"--out: {args.out} is a directory")
    if not args.out.lower().endswith((".jsonl", ".ndjson", ".json")):
        print(f"{PROG}: warning: {args.out} does not end in .jsonl; i2s-index picks the "
              "format from the extension (or pass it --format=jsonl)", file=sys.stderr)
    return args


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    try:
        words, vecs = read_i2sv(args.vectors)
    except (OSError, ValueError) as e:
        die(f"cannot read word vectors {args.vectors}: {e} (re-run tools/assets/setup_assets.sh)")
    vocabulary = min(args.vocabulary, len(words))
    if vocabulary < args.vocabulary:
        print(f"{PROG}: warning: {args.vectors} has only {len(words)} words; "
              f"--vocabulary {args.vocabulary} clipped", file=sys.stderr)
    try:
        m = Model(words, vecs, vocabulary, args.seed, args.songs)
    except GenError as e:
        die(str(e))
    del words, vecs
    log = (lambda s: None) if args.quiet else (lambda s: print(f"[{PROG}] {s}",
                                                                file=sys.stderr, flush=True))
    log(f"{m.V} lyric words (first {vocabulary} rows of {args.vectors}), {N_THEMES} themes, "
        f"{m.n_artists} artists; setup {time.time() - t0:.1f}s")

    n, part = args.songs, args.out + ".part"
    id_width = max(7, len(str(n)))
    interval = 2.0 if sys.stderr.isatty() else 5.0
    done = nbytes = nwords = 0
    t1 = last = time.time()
    try:
        with open(part, "wb", buffering=1 << 22) as f:
            for ci, first in enumerate(range(0, n, CHUNK)):
                cnt = min(CHUNK, n - first)
                text, w = gen_chunk(m, args.seed, ci, first, cnt, args.explicit_share, id_width)
                data = text.encode("ascii")
                f.write(data)
                done, nbytes, nwords = done + cnt, nbytes + len(data), nwords + w
                now = time.time()
                if now - last >= interval and done < n:
                    last = now
                    rate = done / (now - t1)
                    log(f"{done:,}/{n:,} songs ({100 * done / n:.1f}%), {rate:,.0f} songs/s, "
                        f"ETA {fmt_eta((n - done) / rate)}, {nbytes / 1e6:,.1f} MB written")
        os.replace(part, args.out)
    except KeyboardInterrupt:
        try:
            os.remove(part)
        except OSError:
            pass
        die("interrupted; removed " + part, 130)
    except OSError as e:
        try:
            os.remove(part)
        except OSError:
            pass
        die(f"writing {part}: {e}")
    el = time.time() - t1
    log(f"wrote {args.out}: {n:,} songs, {nbytes / 1e6:,.1f} MB, {nwords / n:.1f} lyric "
        f"words/song, {el:.1f}s ({n / max(el, 1e-9):,.0f} songs/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
