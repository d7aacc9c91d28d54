// Words that lyrics use together: for each lyric word of a catalogue, the
// words that co-occur with it more than chance (normalised PMI over songs
// or lines), computed by i2s-index and stored in the bundle as cooccur.bin.
// Recommend expands a tag's words with them (RecommendOptions::
// cooccurrence_weight), so "cat" also asks for "mouse" and "kitten" when the
// catalogue's lyrics say them together.
//
//   cooccur.bin  "I2SCOC01" | u64 vocabulary size V | u64 words T |
//                u64 neighbours E | u64 units N | u32 unit (0 song, 1 line) |
//                u32 min pair count |
//                u32 word[T] (ascending word ids, each < V; padded to 8 bytes) |
//                u64 offset[T+1] (offset[0] = 0, non-decreasing, offset[T] = E) |
//                {u32 word, u32 pair count, f32 npmi}[E]: each word's
//                neighbours, best first (npmi descending, in (0, 1]), each
//                < V, not the word itself, count >= the min pair count.
//
// Score (normalised PMI, Bouma 2009) of words a, b over N units (songs, or
// lyric lines) with document frequencies df_a, df_b and c_ab units holding
// both:
//   npmi(a, b) = ln(c_ab N / (df_a df_b)) / -ln(c_ab / N)     in [-1, 1]
// 1 when a and b only occur together, 0 when independent. Plain PMI ranks a
// word seen once, next to `a`, first (ln(N / df_a) is its ceiling); the
// -ln p(a, b) normaliser takes most of that bias away, and pairs seen fewer
// than `min_count` times are not kept at all. Only positive scores are kept.
//
// Thread-safety: CooccurrenceTable is immutable after Open(); its const
// methods may run concurrently. WriteCooccurrence is a plain function.
#ifndef IMAGE2SONG_CORE_INDEX_COOCCURRENCE_H_
#define IMAGE2SONG_CORE_INDEX_COOCCURRENCE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "util/file_util.h"

namespace image2song {

inline constexpr const char* kCooccurrenceFile = "cooccur.bin";

enum class CooccurrenceUnit : uint32_t { kSong = 0, kLine = 1 };

struct CooccurrenceOptions {
  // What counts as "together": the same song or the same lyric line.
  // Default: song (on the demo catalogue's eval, song units gave higher
  // nDCG@10 than line units; docs/indexing.md).
  CooccurrenceUnit unit = CooccurrenceUnit::kSong;
  // Neighbours kept per word; 0: no cooccur.bin. Default: 8.
  int neighbours = 8;
  // Units a pair must share to be kept. Default: 3.
  int min_count = 3;
  // Songs read per word (an evenly spaced sample of the songs holding it;
  // its counts are scaled up): bounds the time of the frequent words, the
  // cost being sum over words of min(df, this) x song length. 0: all.
  // Default: 20000.
  int64_t max_songs_per_word = 20000;
  // Print progress every this many seconds (0: never). Default: 5.
  double progress_seconds = 5;
};

struct CooccurrenceNeighbour {
  uint32_t word = 0;
  uint32_t count = 0;  // units holding both (in the sample read)
  float npmi = 0;
};
static_assert(sizeof(CooccurrenceNeighbour) == 12, "file layout");

struct CooccurrenceStats {
  int64_t words = 0;        // words with neighbours
  int64_t neighbours = 0;   // stored
  int64_t units = 0;        // songs or lines
  int64_t tokens_read = 0;  // tokens scanned for the counts
  double seconds = 0;
};

class CooccurrenceTable {
 public:
  // Maps `path` and checks all of it against `vocabulary_size` (the file's
  // own vocabulary may not be larger): header,
  // sizes against the file before any multiplication, word ids ascending and
  // in range, offsets, every neighbour (in range, not the word itself,
  // scores finite in (0, 1] and descending, counts >= the min count). A
  // damaged or hostile file is DATA_LOSS naming the file, never a crash.
  static absl::StatusOr<CooccurrenceTable> Open(const std::string& path, int64_t vocabulary_size);
  CooccurrenceTable() = default;
  CooccurrenceTable(CooccurrenceTable&&) = default;
  CooccurrenceTable& operator=(CooccurrenceTable&&) = default;

  // `word`'s neighbours, best first (empty when none or unknown).
  absl::Span<const CooccurrenceNeighbour> Neighbours(uint32_t word) const;

  int64_t word_count() const { return terms_; }
  int64_t neighbour_count() const { return edges_; }
  int64_t units() const { return units_; }
  CooccurrenceUnit unit() const { return unit_; }
  uint32_t min_count() const { return min_count_; }

 private:
  MappedFile file_;
  int64_t terms_ = 0;
  int64_t edges_ = 0;
  int64_t units_ = 0;
  CooccurrenceUnit unit_ = CooccurrenceUnit::kSong;
  uint32_t min_count_ = 0;
  const uint32_t* words_ = nullptr;
  const uint64_t* offsets_ = nullptr;
  const CooccurrenceNeighbour* neighbours_ = nullptr;
};

// Computes the table for `song_count` songs and writes it to `path`.
// `song_tokens(i)` returns song i's lyric tokens as interleaved (word id,
// line) pairs (2 u32 per token; word ids < `vocabulary_size`, stopwords
// already out), valid until the next call. Memory: the sampled song lists
// (4 bytes per song-word kept) plus ~20 bytes per vocabulary word; time:
// sum over words of min(df, max_songs_per_word) x song tokens.
absl::StatusOr<CooccurrenceStats> WriteCooccurrence(
    const std::string& path, int64_t song_count, int64_t vocabulary_size,
    const std::function<absl::Span<const uint32_t>(int64_t song)>& song_tokens,
    const CooccurrenceOptions& options);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_INDEX_COOCCURRENCE_H_
