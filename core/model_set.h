// The image models and word vectors named by a model manifest (models.json):
//
//   {"word_vectors": {"file": "glove100.i2sv", "id": "glove-6b-100d@..."},
//    "taggers": [{"name": "mobilenet_v2", "version": "...",
//                 "kind": "classifier", "file": "mobilenet_v2.pt",
//                 "input": {"width": 224, "height": 224,
//                           "mean": [128,128,128], "std": [128,128,128]},
//                 "labels": "imagenet_words.tsv", "skip_labels": [0],
//                 "scores_output": 0,
//                 "top_k": 5, "min_score": 0.03, "weight": 1.0}]}
//
// Relative paths are relative to the manifest's directory. A classifier
// model takes float32 NCHW RGB input normalised as (pixel - mean) / std and
// returns label scores in [0, 1] (output `scores_output`, default 0).
//
// Thread-safety: immutable after Load(); TagImage() may run concurrently.
#ifndef IMAGE2SONG_CORE_MODEL_SET_H_
#define IMAGE2SONG_CORE_MODEL_SET_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tagger.h"
#include "core/word_vectors.h"

namespace image2song {

struct ModelSetOptions {
  // Path of models.json. Required.
  std::string manifest_path;
  // Verify-and-use TorchScript freeze/optimize_for_inference. Default: true.
  bool optimize = true;
  // Load only the word vectors (the indexer needs no image models).
  // Default: false.
  bool words_only = false;
};

class ModelSet {
 public:
  static absl::StatusOr<std::unique_ptr<ModelSet>> Load(
      const ModelSetOptions& options);
  // For tests: wraps given parts.
  ModelSet(std::unique_ptr<WordVectors> words,
           std::vector<std::unique_ptr<Tagger>> taggers);

  const WordVectors& words() const { return *words_; }
  const std::vector<std::unique_ptr<Tagger>>& taggers() const {
    return taggers_;
  }
  // "name@version,name@version".
  const std::string& version() const { return version_; }

  // Runs every tagger; tags from all taggers, by score * weight, strongest
  // first.
  absl::StatusOr<std::vector<Tag>> TagImage(const RgbImage& image) const;

 private:
  std::unique_ptr<WordVectors> words_;
  std::vector<std::unique_ptr<Tagger>> taggers_;
  std::string version_;
};

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_MODEL_SET_H_
