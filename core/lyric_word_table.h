// The unit vectors of the words a bundle's lyrics use, copied out of the
// models' word table (400,000 GloVe words, 160 MB) into one block, most
// frequent first. The rerank reads the vectors of ~4,500 distinct lyric
// words per request; gathered from the big table they are cache misses in
// no order a prefetcher can follow (0.7 ms a request on the demo bundle),
// from this block the common ones stay in the CPU caches between requests.
// Built per snapshot (bundle + models); words past the byte budget fall back
// to the models' table.
//
// It also lists each song's distinct lyric words as rows with their counts,
// in the order they first appear, when the bundle's tokens fit a second
// budget (64 MB: 8M tokens, a catalogue of ~80k songs; the demo's 1,192
// songs take 0.6 MB). The rerank reads a candidate's list instead of its
// tokens: ~60% as many entries and no row lookup or first-seen check a
// token. Songs with a word past the block's budget have none, nor has any
// song of a bigger bundle (their tokens are read).
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
#include "absl/types/span.h"

#include "core/bundle/bundle.h"
#include "core/words/word_vectors.h"

namespace image2song {

class LyricWordTable {
 public:
  // Counts the lyric words of `bundle` (of at most `max_tokens` tokens:
  // songs evenly spaced when it has more) and copies the unit vectors of the
  // most frequent into a block of at most `max_bytes`. Null when the bundle
  // has no lyric tokens or the words are not the bundle's.
  // Song lists are built when the bundle's tokens are at most
  // `max_list_bytes` / 8.
  static std::unique_ptr<LyricWordTable> Build(const Bundle& bundle, const WordVectors& words,
                                               size_t max_bytes = size_t(64) << 20,
                                               int64_t max_tokens = 20'000'000,
                                               size_t max_list_bytes = size_t(64) << 20);

  // One distinct word of a song: its row and how many tokens it has.
  struct SongWord {
    uint32_t row = 0;
    float count = 0;
  };
  // Song `song`'s distinct words in the order they first appear, when it
  // has a list (false: read its tokens).
  bool SongWords(int64_t song, absl::Span<const SongWord>* out) const {
    if (song < 0 || size_t(song) >= list_of_.size() || list_of_[size_t(song)].size == kNoList) {
      return false;
    }
    const ListRange& r = list_of_[size_t(song)];
    *out = absl::MakeConstSpan(lists_.data() + r.begin, r.size);
    return true;
  }
  // The WordVectors id of row `row`.
  uint32_t WordOfRow(uint32_t row) const { return word_of_row_[row]; }
  // Songs with a list.
  int64_t listed_songs() const { return listed_songs_; }

  // The unit vector of `word` (a WordVectors id), from the block when it
  // holds the word.
  const float* UnitVector(uint32_t word) const {
    const int32_t row = Row(word);
    return row >= 0 ? block_.data() + size_t(row) * dim_
                    : words_.UnitVector(static_cast<int32_t>(word));
  }
  // The word's row in the block (0 .. rows() - 1), or -1.
  int32_t Row(uint32_t word) const { return word < row_of_.size() ? row_of_[word] : -1; }
  // Starts fetching Row(word)'s entry: the row index (4 bytes a word of the
  // models' table) is read in token order, a cache miss a token otherwise.
  void PrefetchRow(uint32_t word) const {
    if (word < row_of_.size()) __builtin_prefetch(&row_of_[word]);
  }
  const WordVectors& words() const { return words_; }
  // Words in the block, and the distinct lyric words counted.
  size_t rows() const { return rows_; }
  size_t distinct() const { return distinct_; }
  // Milliseconds Build took (counting the words and copying them).
  int64_t build_ms() const { return build_ms_; }
  size_t bytes() const {
    return block_.size() * sizeof(float) +
           (row_of_.size() + word_of_row_.size()) * sizeof(int32_t) +
           lists_.size() * sizeof(SongWord) + list_of_.size() * sizeof(ListRange);
  }

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
  // Lists every song's distinct words when the bundle's tokens fit
  // `max_bytes` (one list entry a token at most).
  void ListSongs(const Bundle& bundle, size_t max_bytes);

  std::vector<int32_t> row_of_;        // per WordVectors id: row in block_, or -1
  std::vector<uint32_t> word_of_row_;  // per row: its WordVectors id
  std::vector<float> block_;
  // Song i's list: lists_[begin, begin + size) of list_of_[i]; songs from
  // list_of_.size() on, and those of size kNoList, have none.
  struct ListRange {
    uint32_t begin = 0, size = 0;
  };
  static constexpr uint32_t kNoList = 0xffffffffu;
  std::vector<SongWord> lists_;
  std::vector<ListRange> list_of_;
  int64_t listed_songs_ = 0;
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
