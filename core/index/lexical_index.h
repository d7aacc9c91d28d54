// The lexical retrieval channel: an inverted index over the songs' lyric
// words (the word ids of the bundle's attention tokens), scored with BM25.
// i2s-index writes it into the bundle as lexical.bin; the server maps it.
//
//   lexical.bin  "I2SLEX01" | u64 songs n | u64 vocabulary size V |
//                u64 terms T | u64 postings bytes P | u64 tokens in all |
//                u32 word[T] (ascending word ids, each < V) |
//                u32 df[T] (songs holding the word) |
//                u64 offset[T+1] (of each word's postings in the blob) |
//                u16 length[n] (lyric words of each song, capped at 65535) |
//                u8 postings[P]; each array starts 8-byte aligned.
//   A word's postings are the songs holding it in ascending order, each a
//   LEB128 varint of ((song - previous song - 1) << 1 | (count > 1)), then,
//   when count > 1, a varint of count - 2 (the first song's "previous" is
//   -1). At 1M songs this is 1.7 bytes a posting.
//
// Score of song d for query terms t with weights q_t (BM25, Robertson et al.;
// idf as Lucene's, always positive):
//   sum_t q_t * idf_t * tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avg |d|))
//   idf_t = ln(1 + (n - df_t + 0.5) / (df_t + 0.5))
//
// Thread-safety: LexicalIndex is immutable after Open(); Search() and the
// other const methods may run concurrently (each thread keeps its own
// scratch accumulators, one float per song of the largest index it
// searched). WriteLexicalIndex is a plain function.
#ifndef IMAGE2SONG_CORE_INDEX_LEXICAL_INDEX_H_
#define IMAGE2SONG_CORE_INDEX_LEXICAL_INDEX_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/index/scored_id.h"
#include "util/file_util.h"

namespace image2song {

inline constexpr const char* kLexicalIndexFile = "lexical.bin";

struct LexicalIndexOptions {
  // BM25 term-frequency saturation. Default: 1.2.
  float k1 = 1.2f;
  // BM25 length normalisation (0: none, 1: full). Default: 0.75.
  float b = 0.75f;
  // Postings one query may read: terms are taken strongest first (weight x
  // idf), and a term that would take the query past this is left out (its
  // songs are common: a term in 30 % of 1M songs has 300k postings and an
  // idf of 1.2). 0 = no bound. Default: 2000000 (~3 ms at 1M songs).
  int64_t max_postings = 2000000;
  // Terms whose weight x idf is under this share of the strongest term's
  // are left out of the search (each adds at most that much to a song:
  // they reorder the songs the strong terms found more than they find new
  // ones; Recommend still counts them in the BM25 of its candidates).
  // 0: keep all. Default: 0.2 (1M songs, default models, the 1280x720
  // JPEGs: the lexical search 2.7-3.1 ms mean at 0 -> 1.9-2.1 at 0.1 ->
  // 1.2-1.5 at 0.2; the default's eval nDCG@10 unchanged to 3 decimals on
  // every subset at 0.2, openmoji 0.065 -> 0.063 at 0.25;
  // docs/performance.md).
  float min_term_share = 0.2f;
};

// What one Search() read (for benchmarks and metrics).
struct LexicalSearchStats {
  int64_t postings = 0;  // postings decoded
  int terms = 0;         // query words searched
  int skipped = 0;       // known query words left out (min_term_share, max_postings)
};

// One query word: a word id of the bundle's word vectors and its weight.
struct LexicalTerm {
  uint32_t word = 0;
  float weight = 0;
};

class LexicalIndex {
 public:
  // Maps `path` and checks all of it against `song_count` and
  // `vocabulary_size` (word ids below it; header, table, every posting list
  // decoded: songs ascending and in range, counts adding up to each song's
  // length); a
  // damaged or hostile file is DATA_LOSS naming the file, never a crash.
  static absl::StatusOr<LexicalIndex> Open(const std::string& path, int64_t song_count,
                                           int64_t vocabulary_size,
                                           const LexicalIndexOptions& options);
  LexicalIndex() = default;
  LexicalIndex(LexicalIndex&&) = default;
  LexicalIndex& operator=(LexicalIndex&&) = default;

  // The k songs with the highest BM25 score for `terms` (repeated words add
  // their weights; terms of weight <= 0 or unknown words are ignored), best
  // first, ties to the lower song number; only songs holding at least one
  // term (score > 0). When `allowed` is non-null (bit i of byte i/8) only
  // allowed songs are scored.
  std::vector<ScoredId> Search(absl::Span<const LexicalTerm> terms, int k,
                               const std::vector<uint8_t>* allowed,
                               LexicalSearchStats* stats = nullptr) const;

  // Songs holding `word` (0 when none or unknown).
  int64_t DocumentFrequency(uint32_t word) const;
  // BM25 idf of `word` (0 when no song holds it).
  float Idf(uint32_t word) const;
  // The BM25 score `term` adds to `song` when the song holds its word
  // `count` times (what Search() sums; 0 when count is 0).
  float TermScore(const LexicalTerm& term, uint32_t count, int64_t song) const;
  // Lyric words of `song` counted by the index.
  uint32_t Length(int64_t song) const { return lengths_[song]; }

  int64_t size() const { return n_; }
  int64_t term_count() const { return terms_; }
  int64_t postings_bytes() const { return postings_bytes_; }
  double average_length() const { return avg_length_; }
  const LexicalIndexOptions& options() const { return options_; }

 private:
  // Index of `word` in the term table, or -1.
  int64_t TermOf(uint32_t word) const;
  float IdfOfDf(int64_t df) const;

  MappedFile file_;
  LexicalIndexOptions options_;
  int64_t n_ = 0;
  int64_t terms_ = 0;
  int64_t postings_bytes_ = 0;
  double avg_length_ = 1;
  const uint32_t* words_ = nullptr;
  const uint32_t* df_ = nullptr;
  const uint64_t* offsets_ = nullptr;
  const uint16_t* lengths_ = nullptr;
  const uint8_t* postings_ = nullptr;
};

// Writes lexical.bin to `path` for `song_count` songs: `song_words(i, &w)`
// fills `w` with the word ids of song i (any order; a repeated id is a term
// count), each < `vocabulary_size`. It is called twice per song, in order
// (a counting pass, then a writing pass), so memory is the postings plus
// 16 bytes per vocabulary word, whatever the catalogue size.
absl::Status WriteLexicalIndex(
    const std::string& path, int64_t song_count, int64_t vocabulary_size,
    const std::function<void(int64_t song, std::vector<uint32_t>* words)>& song_words);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_INDEX_LEXICAL_INDEX_H_
