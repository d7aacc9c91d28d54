// Word vectors in the lyric word space (GloVe), memory-mapped from the
// compact "I2SWVEC1" binary written by tools/assets/convert_glove.py:
//
//   "I2SWVEC1" | u32 version=1 | u32 dim | u32 count | u32 words_bytes |
//   words ('\n' after each) | zero pad to 4 | f32[count*dim]
//
// Words are in corpus-frequency order, so a word's id is its frequency rank;
// SifWeight() uses that rank as a Zipf estimate of the word's probability.
//
// Thread-safety: immutable after Load(); all methods are const and safe to
// call concurrently.
#ifndef IMAGE2SONG_CORE_WORDS_WORD_VECTORS_H_
#define IMAGE2SONG_CORE_WORDS_WORD_VECTORS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "util/file_util.h"

namespace image2song {

class WordVectors {
 public:
  static constexpr int32_t kNoWord = -1;

  // Loads and validates a vectors file; `id` names the embedder (recorded in
  // bundles so the server can refuse an index built with other vectors).
  static absl::StatusOr<std::unique_ptr<WordVectors>> Load(const std::string& path,
                                                           const std::string& id);

  // Builds from memory (tests, tools).
  static absl::StatusOr<std::unique_ptr<WordVectors>> FromData(std::vector<std::string> words,
                                                               std::vector<float> vectors, int dim,
                                                               const std::string& id);

  const std::string& id() const { return id_; }
  int dim() const { return dim_; }
  int32_t size() const { return static_cast<int32_t>(words_.size()); }

  // Word id, or kNoWord. `word` must already be lowercase.
  int32_t Find(absl::string_view word) const;
  // Like Find, for a token from Tokenize(): falls back to the part before an
  // apostrophe ("lover's" -> "lover") and to the word without apostrophes.
  int32_t FindToken(absl::string_view token) const;
  absl::string_view Word(int32_t id) const { return words_[id]; }
  // The raw vector of word `id` (dim() floats).
  const float* Vector(int32_t id) const { return vectors_ + size_t(id) * dim_; }
  // The unit-length vector of word `id` (dim() floats).
  const float* UnitVector(int32_t id) const { return unit_.data() + size_t(id) * dim_; }

  // Smooth inverse frequency weight a / (a + p(w)) with p(w) from the Zipf
  // law on the word's rank. Frequent words ("the") get ~0.01, rare ones ~1.
  float SifWeight(int32_t id) const { return sif_[id]; }

 private:
  WordVectors() = default;
  absl::Status Index();

  std::string id_;
  int dim_ = 0;
  MappedFile file_;
  std::vector<float> owned_;  // used by FromData
  std::vector<std::string> owned_words_;
  const float* vectors_ = nullptr;
  std::vector<absl::string_view> words_;
  absl::flat_hash_map<absl::string_view, int32_t> by_word_;
  std::vector<float> unit_;
  std::vector<float> sif_;
};

// Splits text into lowercase word tokens: runs of [a-z0-9] with inner
// apostrophes kept ("o'er"). Everything else, hyphens and non-ASCII bytes
// included, separates tokens. Appends to `out`.
void Tokenize(absl::string_view text, std::vector<std::string>* out);

// Words ranked more frequent than this are stopwords (for attention tokens
// and text hints).
constexpr int32_t kStopwordRank = 120;
// kStopwordRank, capped at 1% of the vocabulary (tiny test vocabularies).
int32_t StopwordRank(const WordVectors& words);

// v <- v / |v| (left as is when zero).
void Normalize(float* v, int dim);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_WORDS_WORD_VECTORS_H_
