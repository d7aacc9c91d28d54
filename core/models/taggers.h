// The tagger kinds a model manifest can name (model_set.h describes them):
//  - classifier: label scores for the whole image and, with "regions", for
//    grid cells and a centre crop in the same forward pass;
//  - detector: boxes, scores and classes; the best box per label;
//  - faces: a face detector, then an expression classifier on each face's
//    crop; each face's expressions as tags with the face's box;
//  - cues: colour and light rules (colour_cues.h), no model.
#ifndef IMAGE2SONG_CORE_MODELS_TAGGERS_H_
#define IMAGE2SONG_CORE_MODELS_TAGGERS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/models/batching_model.h"
#include "core/models/label_words.h"
#include "core/models/model_manifest.h"
#include "core/models/tagger.h"
#include "core/words/word_vectors.h"

namespace image2song {

// How model files are loaded and run.
struct TaggerLoadOptions {
  // Verify-and-use TorchScript freeze/optimize_for_inference. Default: true.
  bool optimize = true;
  // Dynamic batching (batching_model.h) of every model tagger that passes
  // the batching check; a tagger's manifest entry "batching": {"max_batch":
  // N} lowers max_batch for it, "batching": false turns it off. Name, input
  // size and on_batch of `batching_options` are set per model. Default: off.
  bool batching = false;
  BatchingOptions batching_options;
  // Told after every batched forward pass (model name, images, calls, wait).
  std::function<void(const std::string& model, int images, int calls, double wait_seconds)>
      on_batch;
  // Runs first on every thread the model set starts (batch executors,
  // parallel taggers): e.g. to set LibTorch's thread count there.
  std::function<void()> on_thread_start;
};

// Loads what `spec` names (model and label file, or cue rules), keeps the
// label and rule words `words` knows (expanded per `expand`), and returns
// the tagger. Logs what it loaded.
absl::StatusOr<std::unique_ptr<Tagger>> MakeTagger(TaggerSpec spec, const WordVectors& words,
                                                   const LabelWordOptions& expand,
                                                   const TaggerLoadOptions& options);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_MODELS_TAGGERS_H_
