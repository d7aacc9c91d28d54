#include "core/index/lexical_index.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

constexpr char kMagic[8] = {'I', '2', 'S', 'L', 'E', 'X', '0', '1'};
constexpr size_t kHeaderBytes = 48;  // magic + 5 x u64
constexpr uint32_t kMaxLength = 0xffff;
// Song numbers are u32 in the scratch lists.
constexpr int64_t kMaxSongs = int64_t{1} << 31;

size_t Align8(size_t n) { return (n + 7) & ~size_t{7}; }

int VarintBytes(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

uint8_t* PutVarint(uint64_t v, uint8_t* out) {
  while (v >= 0x80) {
    *out++ = uint8_t(v | 0x80);
    v >>= 7;
  }
  *out++ = uint8_t(v);
  return out;
}

// Reads a varint at *p (before `end`); false when it is cut off or longer
// than 10 bytes.
inline bool GetVarint(const uint8_t** p, const uint8_t* end, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 70 && *p < end; shift += 7) {
    const uint8_t byte = *(*p)++;
    v |= uint64_t(byte & 0x7f) << shift;
    if (byte < 0x80) {
      *out = v;
      return true;
    }
  }
  return false;
}

// Walks one posting list: calls f(song, count) for each posting. Returns
// false (and stops) on a malformed list: a cut varint, a song past `n`, a
// count of 0 or above kMaxLength.
template <typename F>
bool DecodePostings(const uint8_t* p, const uint8_t* end, int64_t n, F&& f) {
  int64_t prev = -1;
  while (p < end) {
    uint64_t code = 0, extra = 0;
    if (!GetVarint(&p, end, &code)) return false;
    const uint64_t delta = code >> 1;
    if (delta >= uint64_t(n - prev - 1)) return false;  // song >= n
    const int64_t song = prev + 1 + int64_t(delta);
    uint32_t count = 1;
    if (code & 1) {
      if (!GetVarint(&p, end, &extra) || extra > kMaxLength - 2) return false;
      count = uint32_t(extra) + 2;
    }
    f(song, count);
    prev = song;
  }
  return true;
}

// Reads a posting list a block at a time (songs and counts into arrays),
// so that the accumulation loop issues its random score and length loads
// together instead of one after each branchy varint. Stops at the first
// malformed posting (Open() has checked every list).
class PostingCursor {
 public:
  PostingCursor(const uint8_t* p, const uint8_t* end, int64_t n) : p_(p), end_(end), n_(n) {}
  int Next(uint32_t* songs, uint32_t* counts, int max) {
    int got = 0;
    while (got < max && p_ < end_) {
      uint64_t code = 0, extra = 0;
      if (!GetVarint(&p_, end_, &code)) break;
      const uint64_t delta = code >> 1;
      if (delta >= uint64_t(n_ - prev_ - 1)) break;
      prev_ += 1 + int64_t(delta);
      uint32_t count = 1;
      if (code & 1) {
        if (!GetVarint(&p_, end_, &extra) || extra > kMaxLength - 2) break;
        count = uint32_t(extra) + 2;
      }
      songs[got] = uint32_t(prev_);
      counts[got] = count;
      ++got;
    }
    if (got < max) p_ = end_;  // done (or malformed: stop)
    return got;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  int64_t n_;
  int64_t prev_ = -1;
};

// Per-thread score accumulators: one float per song (zero between
// searches) and the songs touched by the current search.
// Per song its score so far, and a bit per song for "scored" (a bitmap, not
// a list: a list's next slot depends on whether the last song's score was
// still 0, a chain of cache misses into the 4 MB of scores at 1M songs; the
// bits are set independently, and reading them back visits the songs in
// ascending order, which the prefetcher follows). Both are all zero between
// searches.
struct Scratch {
  std::vector<float> score;
  std::vector<uint64_t> scored;
};
Scratch& ThreadScratch(int64_t n) {
  static thread_local Scratch scratch;
  if (int64_t(scratch.score.size()) < n) {
    scratch.score.resize(size_t(n), 0.0f);
    scratch.scored.resize((size_t(n) + 63) / 64, 0);
  }
  return scratch;
}

}  // namespace

// ---------------------------------------------------------- LexicalIndex

absl::StatusOr<LexicalIndex> LexicalIndex::Open(const std::string& path, int64_t song_count,
                                                int64_t vocabulary_size,
                                                const LexicalIndexOptions& options) {
  if (!(options.k1 >= 0 && options.k1 <= 100) || !(options.b >= 0 && options.b <= 1) ||
      options.max_postings < 0 || !(options.min_term_share >= 0 && options.min_term_share <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("lexical options out of range: k1 ", options.k1, " (0..100), b ", options.b,
                     " (0..1), max_postings ", options.max_postings, " (>= 0), min_term_share ",
                     options.min_term_share, " (0..1)"));
  }
  auto bad = [&path](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(path, ": ", what));
  };
  LexicalIndex x;
  x.options_ = options;
  ASSIGN_OR_RETURN(x.file_, MappedFile::Open(path));
  const MappedFile& f = x.file_;
  if (f.size() < kHeaderBytes || std::memcmp(f.data(), kMagic, 8) != 0) {
    return bad("bad header (not a lexical index of this format)");
  }
  uint64_t h[5];
  std::memcpy(h, f.data() + 8, sizeof(h));
  const uint64_t n = h[0], vocabulary = h[1], terms = h[2], bytes = h[3], tokens = h[4];
  if (n != uint64_t(song_count) || song_count >= kMaxSongs) {
    return bad(absl::StrCat("holds ", n, " songs, the manifest says ", song_count));
  }
  if (vocabulary_size < 0 || vocabulary > uint64_t(vocabulary_size)) {
    return bad(absl::StrCat("built for a vocabulary of ", vocabulary,
                            " words, more than the manifest's ", vocabulary_size));
  }
  // Every size below is bounded by the file's before it is multiplied.
  if (terms > vocabulary || terms > f.size() / 16 || bytes > f.size()) {
    return bad("size mismatch (truncated?)");
  }
  const size_t words_at = kHeaderBytes;
  const size_t df_at = words_at + Align8(terms * 4);
  const size_t offsets_at = df_at + Align8(terms * 4);
  const size_t lengths_at = offsets_at + (terms + 1) * 8;
  const size_t postings_at = lengths_at + Align8(n * 2);
  if (postings_at + bytes != f.size()) return bad("size mismatch (truncated?)");
  const char* base = f.data();
  x.n_ = int64_t(n);
  x.terms_ = int64_t(terms);
  x.postings_bytes_ = int64_t(bytes);
  x.words_ = reinterpret_cast<const uint32_t*>(base + words_at);
  x.df_ = reinterpret_cast<const uint32_t*>(base + df_at);
  x.offsets_ = reinterpret_cast<const uint64_t*>(base + offsets_at);
  x.lengths_ = reinterpret_cast<const uint16_t*>(base + lengths_at);
  x.postings_ = reinterpret_cast<const uint8_t*>(base + postings_at);

  // The term table.
  if (x.offsets_[0] != 0 || x.offsets_[terms] != bytes) return bad("bad posting offsets");
  for (uint64_t t = 0; t < terms; ++t) {
    if (x.words_[t] >= vocabulary || (t > 0 && x.words_[t] <= x.words_[t - 1])) {
      return bad("word ids out of order or out of range");
    }
    if (x.df_[t] == 0 || x.df_[t] > n || x.offsets_[t] > x.offsets_[t + 1]) {
      return bad(absl::StrCat("bad entry for word ", x.words_[t]));
    }
  }
  // Every posting list, and the counts against the song lengths.
  std::vector<uint32_t> counted(n, 0);
  for (uint64_t t = 0; t < terms; ++t) {
    uint64_t postings = 0;
    const bool ok = DecodePostings(x.postings_ + x.offsets_[t], x.postings_ + x.offsets_[t + 1],
                                   x.n_, [&](int64_t song, uint32_t count) {
                                     counted[song] += count;
                                     ++postings;
                                   });
    if (!ok || postings != x.df_[t]) {
      return bad(absl::StrCat("the postings of word ", x.words_[t], " are malformed"));
    }
  }
  uint64_t total = 0;
  for (uint64_t i = 0; i < n; ++i) {
    if (counted[i] != x.lengths_[i]) {
      return bad(absl::StrCat("song ", i, ": postings count ", counted[i], " words, its length is ",
                              x.lengths_[i]));
    }
    total += x.lengths_[i];
  }
  if (total != tokens) return bad("token total does not match the song lengths");
  x.avg_length_ = n > 0 && total > 0 ? double(total) / double(n) : 1.0;
  f.DropResidentPages();  // the checks read every posting
  return x;
}

int64_t LexicalIndex::TermOf(uint32_t word) const {
  const uint32_t* end = words_ + terms_;
  const uint32_t* it = std::lower_bound(words_, end, word);
  return it != end && *it == word ? int64_t(it - words_) : -1;
}

float LexicalIndex::IdfOfDf(int64_t df) const {
  return float(std::log(1.0 + (double(n_) - double(df) + 0.5) / (double(df) + 0.5)));
}

int64_t LexicalIndex::DocumentFrequency(uint32_t word) const {
  const int64_t t = TermOf(word);
  return t < 0 ? 0 : df_[t];
}

float LexicalIndex::Idf(uint32_t word) const {
  const int64_t t = TermOf(word);
  return t < 0 ? 0.0f : IdfOfDf(df_[t]);
}

float LexicalIndex::TermScore(const LexicalTerm& term, uint32_t count, int64_t song) const {
  if (count == 0 || !(term.weight > 0) || song < 0 || song >= n_) return 0;
  // As Search() computes it.
  const float w = term.weight * Idf(term.word) * (options_.k1 + 1);
  const float c0 = options_.k1 * (1 - options_.b);
  const float c1 = float(options_.k1 * options_.b / avg_length_);
  const float tf = float(count);
  return w * tf / (tf + c0 + c1 * float(lengths_[song]));
}

std::vector<ScoredId> LexicalIndex::Search(absl::Span<const LexicalTerm> terms, int k,
                                           const std::vector<uint8_t>* allowed,
                                           LexicalSearchStats* stats) const {
  LexicalSearchStats unused;
  if (stats == nullptr) stats = &unused;
  *stats = LexicalSearchStats{};
  if (k <= 0 || n_ == 0) return {};
  // Merge repeated words; keep known words of positive weight.
  struct Planned {
    int64_t term;
    float weight;  // query weight x idf x (k1 + 1)
  };
  std::vector<LexicalTerm> sorted(terms.begin(), terms.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const LexicalTerm& a, const LexicalTerm& b) { return a.word < b.word; });
  std::vector<Planned> plan;
  for (size_t i = 0; i < sorted.size();) {
    float weight = 0;
    const uint32_t word = sorted[i].word;
    for (; i < sorted.size() && sorted[i].word == word; ++i) {
      if (sorted[i].weight > 0 && std::isfinite(sorted[i].weight)) weight += sorted[i].weight;
    }
    const int64_t t = TermOf(word);
    if (t < 0) continue;
    const float w = weight * IdfOfDf(df_[t]) * (options_.k1 + 1);
    if (w > 1e-20f && std::isfinite(w)) plan.push_back({t, w});
  }
  // Strongest first; within the postings budget.
  std::sort(plan.begin(), plan.end(), [](const Planned& a, const Planned& b) {
    return a.weight != b.weight ? a.weight > b.weight : a.term < b.term;
  });
  const int64_t budget = options_.max_postings > 0 ? options_.max_postings : INT64_MAX;
  // A term adds at most its weight (tf / (tf + norm) < 1): leave out those
  // under min_term_share of the strongest.
  const float floor = plan.empty() ? 0.0f : plan[0].weight * options_.min_term_share;
  int64_t read = 0;
  Scratch& scratch = ThreadScratch(n_);
  float* score = scratch.score.data();
  uint64_t* scored = scratch.scored.data();
  uint32_t lowest = UINT32_MAX, highest = 0;  // of the songs scored
  const float c0 = options_.k1 * (1 - options_.b);
  const float c1 = float(options_.k1 * options_.b / avg_length_);
  const uint8_t* bits = allowed != nullptr ? allowed->data() : nullptr;
  const int64_t bit_songs = allowed != nullptr ? int64_t(allowed->size()) * 8 : 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    const Planned& p = plan[i];
    if (p.weight < floor) {
      stats->skipped += int(plan.size() - i);
      break;
    }
    if (read + df_[p.term] > budget) {
      ++stats->skipped;
      continue;
    }
    read += df_[p.term];
    ++stats->terms;
    const float w = p.weight;
    PostingCursor cursor(postings_ + offsets_[p.term], postings_ + offsets_[p.term + 1], n_);
    constexpr int kBlock = 64;
    uint32_t songs[kBlock], counts[kBlock];
    while (int got = cursor.Next(songs, counts, kBlock)) {
      if (bits != nullptr) {  // keep the allowed songs
        int kept = 0;
        for (int j = 0; j < got; ++j) {
          const uint32_t song = songs[j];
          if (song < bit_songs && (bits[song >> 3] & (1u << (song & 7)))) {
            songs[kept] = song;
            counts[kept++] = counts[j];
          }
        }
        got = kept;
      }
      if (got == 0) continue;
      for (int j = 0; j < got; ++j) {
        __builtin_prefetch(&lengths_[songs[j]]);
        __builtin_prefetch(&score[songs[j]], 1);
      }
      // A term's postings are in ascending song order.
      lowest = std::min(lowest, songs[0]);
      highest = std::max(highest, songs[got - 1]);
      for (int j = 0; j < got; ++j) {
        const uint32_t song = songs[j];
        const float tf = float(counts[j]);
        score[song] += w * tf / (tf + c0 + c1 * float(lengths_[song]));
        scored[song >> 6] |= uint64_t{1} << (song & 63);
      }
    }
  }
  stats->postings = read;
  TopK top(k);
  if (lowest <= highest) {
    for (size_t word = lowest >> 6; word <= (highest >> 6); ++word) {
      for (uint64_t b = scored[word]; b != 0; b &= b - 1) {
        const uint32_t song = uint32_t(word * 64) + uint32_t(__builtin_ctzll(b));
        top.Push(song, score[song]);
        score[song] = 0;
      }
      scored[word] = 0;
    }
  }
  return top.Take();
}

// ------------------------------------------------------------- writing

absl::Status WriteLexicalIndex(
    const std::string& path, int64_t song_count, int64_t vocabulary_size,
    const std::function<void(int64_t song, std::vector<uint32_t>* words)>& song_words) {
  if (song_count < 0 || song_count >= kMaxSongs || vocabulary_size < 0 ||
      vocabulary_size > int64_t{0xffffffff}) {
    return absl::InvalidArgumentError(absl::StrCat("lexical index: ", song_count, " songs and ",
                                                   vocabulary_size, " words is out of range"));
  }
  const size_t v = size_t(vocabulary_size);
  const size_t n = size_t(song_count);
  std::vector<uint32_t> df(v, 0);
  std::vector<uint32_t> last(v, 0);  // previous song + 1; 0: none yet
  std::vector<uint64_t> at(v, 0);    // bytes of each list, then write positions
  std::vector<uint16_t> lengths(n, 0);
  std::vector<uint32_t> words;
  uint64_t tokens = 0;
  // Calls f(word, song, count) for each distinct word of each song.
  auto each_song = [&](auto&& f) -> absl::Status {
    for (size_t s = 0; s < n; ++s) {
      words.clear();
      song_words(int64_t(s), &words);
      if (words.size() > kMaxLength) {
        return absl::InvalidArgumentError(absl::StrCat(
            "lexical index: song ", s, " has ", words.size(), " words (at most ", kMaxLength, ")"));
      }
      lengths[s] = uint16_t(words.size());
      std::sort(words.begin(), words.end());
      for (size_t i = 0; i < words.size();) {
        const uint32_t w = words[i];
        if (w >= v) {
          return absl::InvalidArgumentError(
              absl::StrCat("lexical index: song ", s, ": word id ", w, " out of range"));
        }
        size_t j = i;
        while (j < words.size() && words[j] == w) ++j;
        f(w, uint32_t(s), uint32_t(j - i));
        i = j;
      }
    }
    return absl::OkStatus();
  };
  auto code_of = [&](uint32_t w, uint32_t s, uint32_t count) {
    const uint64_t delta = uint64_t(s) - last[w];  // last = previous + 1
    last[w] = s + 1;
    return (delta << 1) | (count > 1 ? 1 : 0);
  };
  // Pass 1: list sizes.
  RETURN_IF_ERROR(each_song([&](uint32_t w, uint32_t s, uint32_t count) {
    at[w] += VarintBytes(code_of(w, s, count)) + (count > 1 ? VarintBytes(count - 2) : 0);
    ++df[w];
    tokens += count;
  }));
  std::vector<uint32_t> term_words, term_df;
  std::vector<uint64_t> offsets{0};
  for (size_t w = 0; w < v; ++w) {
    if (df[w] == 0) continue;
    term_words.push_back(uint32_t(w));
    term_df.push_back(df[w]);
    const uint64_t size = at[w];
    at[w] = offsets.back();
    offsets.push_back(offsets.back() + size);
  }
  // Pass 2: the postings.
  std::vector<uint8_t> postings(offsets.back());
  std::fill(last.begin(), last.end(), 0);
  RETURN_IF_ERROR(each_song([&](uint32_t w, uint32_t s, uint32_t count) {
    uint8_t* out = PutVarint(code_of(w, s, count), postings.data() + at[w]);
    if (count > 1) out = PutVarint(count - 2, out);
    at[w] = uint64_t(out - postings.data());
  }));

  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) return absl::InternalError(absl::StrCat("cannot create ", path));
  const uint64_t header[5] = {uint64_t(n), uint64_t(v), uint64_t(term_words.size()),
                              uint64_t(postings.size()), tokens};
  static const char zeros[8] = {};
  absl::Status s = WriteAll(out, kMagic, 8, path);
  auto put = [&](const void* data, size_t size) {
    if (s.ok()) s = WriteAll(out, data, size, path);
    if (s.ok()) s = WriteAll(out, zeros, Align8(size) - size, path);
  };
  put(header, sizeof(header));
  put(term_words.data(), term_words.size() * 4);
  put(term_df.data(), term_df.size() * 4);
  put(offsets.data(), offsets.size() * 8);
  put(lengths.data(), lengths.size() * 2);
  if (s.ok()) s = WriteAll(out, postings.data(), postings.size(), path);
  absl::Status closed = CloseSynced(&out, path);
  RETURN_IF_ERROR(s);
  return closed;
}

}  // namespace image2song
