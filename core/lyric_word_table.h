// The unit vectors of the words a bundle's lyrics use, copied out of the
// models' word table (400,000 GloVe words, 160 MB) into one block, most
// frequent first. The rerank reads the vectors of ~4,500 distinct lyric
// words per request; gathered from the big table they are cache misses in
// no order a prefetcher can follow (0.7 ms a request on the demo bundle),
// from this block the common ones stay in the CPU caches between requests.
// Built per snapshot (bundle + models); words past the byte budget fall back
// to the models' table.
//
// Thread-safety: immutable after Build.
#ifndef IMAGE2SONG_CORE_LYRIC_WORD_TABLE_H_
#define IMAGE2SONG_CORE_LYRIC_WORD_TABLE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"

#include "core/bundle/bundle.h"
#include "core/words/word_vectors.h"

namespace image2song {

class LyricWordTable {
 public:
  // Counts the lyric words of `bundle` (of at most `max_tokens` tokens:
  // songs evenly spaced when it has more) and copies the unit vectors of the
  // most frequent into a block of at most `max_bytes`. Null when the bundle
  // has no lyric tokens or the words are not the bundle's.
  static std::unique_ptr<LyricWordTable> Build(const Bundle& bundle, const WordVectors& words,
                                               size_t max_bytes = size_t(64) << 20,
                                               int64_t max_tokens = 20'000'000);

  // The unit vector of `word` (a WordVectors id), from the block when it
  // holds the word.
  const float* UnitVector(uint32_t word) const {
    const int32_t row = Row(word);
    return row >= 0 ? block_.data() + size_t(row) * dim_
                    : words_.UnitVector(static_cast<int32_t>(word));
  }
  // The word's row in the block (0 .. rows() - 1), or -1.
  int32_t Row(uint32_t word) const { return word < row_of_.size() ? row_of_[word] : -1; }
  const WordVectors& words() const { return words_; }
  // Words in the block, and the distinct lyric words counted.
  size_t rows() const { return rows_; }
  size_t distinct() const { return distinct_; }
  // Milliseconds Build took (counting the words and copying them).
  int64_t build_ms() const { return build_ms_; }
  size_t bytes() const { return block_.size() * sizeof(float) + row_of_.size() * sizeof(int32_t); }

  // The cosines of every row's vector with `tag` (dim() floats, the tag's
  // unit query vector), computed once per distinct tag vector and kept
  // (the same label gives the same vector on every request; at most
  // `max_cache_bytes` of them, then the cache starts again). The same bits
  // as util/dot.h DotColumns of a row with the tag among other columns.
  std::shared_ptr<const std::vector<float>> Cosines(const std::vector<float>& tag) const;
  // Tag vectors whose cosines are cached now, and columns computed so far.
  size_t cached_columns() const;
  int64_t computed_columns() const;

 private:
  explicit LyricWordTable(const WordVectors& words) : words_(words) {}

  const WordVectors& words_;
  int dim_ = 0;
  std::vector<int32_t> row_of_;  // per WordVectors id: row in block_, or -1
  std::vector<float> block_;
  size_t rows_ = 0, distinct_ = 0;
  int64_t build_ms_ = 0;
  size_t max_cache_bytes_ = size_t(64) << 20;
  mutable std::mutex mu_;
  // Keyed by the tag vector's bytes.
  mutable absl::flat_hash_map<std::string, std::shared_ptr<const std::vector<float>>> cosines_;
  mutable int64_t computed_ = 0;
};

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_LYRIC_WORD_TABLE_H_
