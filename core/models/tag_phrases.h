// Tags as phrases (issue 16): each tag label's phrase ("{label}" of the
// manifest's sentence_encoder, e.g. "Egyptian cat", "seashore", "warm")
// embedded by the sentence encoder, for attention over lyric lines' sentence
// vectors (core/recommender.h, sentence_weight). A forward pass costs ~4 ms,
// so no request runs one for a label seen before: the vectors of every label
// of the set's label files are computed at load (batched), and a label not
// seen yet (a colour cue's, a text hint's word) is computed once and kept.
//
// Thread-safety: Vectors() may run concurrently (a reader lock on the cache;
// a writer lock only to add new labels).
#ifndef IMAGE2SONG_CORE_MODELS_TAG_PHRASES_H_
#define IMAGE2SONG_CORE_MODELS_TAG_PHRASES_H_

#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/models/model_manifest.h"

namespace image2song {

class SentenceEncoder;

class TagPhrases {
 public:
  // Loads the encoder of `spec` and embeds the phrases of `labels`.
  static absl::StatusOr<std::unique_ptr<TagPhrases>> Load(const SentenceEncoderSpec& spec,
                                                          const std::vector<std::string>& labels);
  ~TagPhrases();

  // The encoder's id (from the manifest; bundles record it) and dimension.
  const std::string& id() const { return id_; }
  int dim() const { return dim_; }
  // "phrase" with {label} replaced.
  std::string Phrase(const std::string& label) const;
  // Unit vectors of the phrases of `labels`, row-major (labels.size() x
  // dim() floats); labels not cached are embedded in one call and cached
  // (up to `kMaxCached` labels; past that they are embedded, not kept).
  absl::StatusOr<std::vector<float>> Vectors(const std::vector<std::string>& labels) const;
  size_t cached() const;
  // The encoder itself (i2s-index embeds lyric lines with it).
  const SentenceEncoder& encoder() const { return *encoder_; }

  static constexpr size_t kMaxCached = 100000;

 private:
  TagPhrases() = default;
  std::unique_ptr<SentenceEncoder> encoder_;
  std::string id_;
  std::string phrase_;
  int dim_ = 0;
  mutable std::shared_mutex mu_;
  // label -> row of table_
  mutable absl::flat_hash_map<std::string, size_t> row_;
  mutable std::vector<float> table_;
};

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_MODELS_TAG_PHRASES_H_
