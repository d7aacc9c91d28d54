// Song and query vectors in the word-vector space.
//
// A song vector is the SIF-weighted mean of its lyric word vectors, plus the
// title and tag words (each part unit-normalised, title and tags weighted
// kTitleWeight / kTagWeight), unit-normalised. Mean-of-word-vectors sit in a
// narrow cone (mean pairwise cosine ~0.9), which ruins nearest-neighbour
// search, so the indexer removes the common component (centre on the mean,
// then remove the first principal component, as SIF does) and stores it in
// the bundle; queries get the same transform.
//
// Thread-safety: SongEmbedder is immutable; Embed() may run concurrently.
#ifndef IMAGE2SONG_CORE_BUNDLE_EMBEDDER_H_
#define IMAGE2SONG_CORE_BUNDLE_EMBEDDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/bundle/catalogue.h"
#include "core/words/word_vectors.h"

namespace image2song {

// One lyric token kept for tag attention: a word id and its line number.
struct LyricToken {
  uint32_t word = 0;
  uint32_t line = 0;
};

struct EmbeddedSong {
  std::vector<float> vector;       // dim floats, unit length
  std::vector<LyricToken> tokens;  // content words, in lyric order
  std::vector<std::string> lines;  // non-blank lyric lines
  int32_t words_total = 0;         // word tokens seen
  int32_t words_known = 0;         // of those, in the vocabulary
};

// The common component removed from song and query vectors.
struct CommonComponent {
  std::vector<float> mean;  // dim floats
  std::vector<float> pc;    // dim floats, unit length (zero: none)
  // v <- v - mean; v <- v - (v.pc) pc; v <- v / |v|.
  void Apply(float* v, int dim) const;
};

class SongEmbedder {
 public:
  static constexpr float kTitleWeight = 0.5f;
  static constexpr float kTagWeight = 0.5f;
  // At most this many attention tokens are kept per song.
  static constexpr size_t kMaxTokens = 4000;

  explicit SongEmbedder(const WordVectors* words);

  // Embeds one record (vector before common-component removal).
  EmbeddedSong Embed(const SongRecord& record) const;

  // Fits mean + first principal component (power iteration) on `n` vectors
  // of the embedder's dimension, row-major.
  static CommonComponent Fit(const float* vectors, int64_t n, int dim);

 private:
  const WordVectors* words_;
  int32_t stopword_rank_;
};

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_BUNDLE_EMBEDDER_H_
