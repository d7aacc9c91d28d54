// The taggers and word vectors named by a model manifest (models.json). The
// server runs what the manifest lists; adding a model needs no code:
//
//   {"word_vectors": {"file": "glove100.i2sv", "id": "glove-6b-100d@..."},
//    "expand_words": {"related": true,
//                     "count": 0, "min_cosine": 0.6, "vocabulary": 30000},
//    "taggers": [
//      {"name": "mobilenet_v2", "version": "...", "kind": "classifier",
//       "file": "mobilenet_v2.pt",
//       "input": {"width": 224, "height": 224,
//                 "mean": [128,128,128], "std": [128,128,128]},
//       "labels": "imagenet_words.tsv", "skip_labels": [0],
//       "scores_output": 0, "top_k": 5, "min_score": 0.03, "weight": 1.0,
//       "regions": {"from": "features", "grid": 2, "center": 0.6,
//                   "top_k": 4, "min_score": 0.25, "min_gain": 0.15,
//                   "weight": 0.6, "max_backdrop": 0.2}},
//      {"name": "centernet", "kind": "detector", "file": "centernet.pt",
//       "input": {...}, "labels": "coco_words.tsv",
//       "top_k": 10, "min_score": 0.3, "weight": 1.0, "max_backdrop": 0.2},
//      {"name": "colour", "kind": "cues", "rules": "colour_cues.json",
//       "weight": 0.5},
//      {"name": "faces", "kind": "faces", "file": "faces.pt",
//       "input": {...}, "labels": "emotion_words.tsv",
//       "emotion": {"file": "emotion.pt", "input": {...}, "min_score": 0.4},
//       "top_k": 3, "min_score": 0.75, "min_size": 0.05, "box_scale": 1.4,
//       "when": {"labels_any": ["suit", ...], "min_score": 0.1,
//                "or_top_score_below": 0.3}}],
//    "sentence_encoder": {"file": "use_lite.pt", "vocab": "use_vocab.txt",
//                         "id": "use-lite@...", "phrase": "{label}"}}
//
// The optional "sentence_encoder" (model_manifest.h SentenceEncoderSpec)
// gives tags phrase vectors (tag_phrases.h) for attention over a bundle's
// lyric-line sentence vectors; it is loaded unless words_only.
//
// Relative paths are relative to the manifest's directory. Models take
// float32 NCHW RGB input normalised as (pixel - mean) / std.
//  - classifier: output `scores_output` (default 0) holds label scores in
//    [0, 1]. With "regions", a grid x grid split and a centre box (side
//    `center` of the image; 0 = none) are scored too: with "from": "crops"
//    (default) each is cropped and classified in the same batch as the
//    whole image; with "from": "features" the one forward pass serves them
//    all: the cells of the feature map (output `features_output`, default 2,
//    [B, C, h, w]) under each box are averaged and scored by the model's
//    `head` method (tools/assets/convert_tflite.py writes both). A region
//    label that beats the whole image's score by min_gain becomes a tag with
//    its box and weight * regions.weight. Images with a plain
//    backdrop (icons, product shots: colour_cues.h ColourFeatures' background_share) over
//    max_backdrop (default 1 = never) are classified whole only.
//  - detector: outputs (boxes [B,K,4] as normalised x_min, y_min, x_max,
//    y_max; scores [B,K]; classes [B,K] label indices); the best box per
//    label becomes a tag.
//  - faces: a face detector (outputs as a detector's, e.g. BlazeFace from
//    tools/assets/convert_faces.py) and an expression classifier run on each
//    face's crop (taggers.cc FacesTagger): each face's expressions over
//    emotion.min_score become tags ("smiling face") with the face's box.
//  - cues: colour_cues.h rules, no model.
// Any tagger with "when" runs only when the taggers listed before it gave
// one of its labels_any (at min_score) or no object tag over
// or_top_score_below (tagger.h TaggerGate); gated taggers run after the
// others, on the caller's thread.
// Any tagger with "max_backdrop" < 1 is skipped on images whose plain
// backdrop covers more than that share (a detector of scenes on an icon).
// Label files and "expand_words": label_words.h. The manifest is parsed by
// model_manifest.h; each tagger is made by taggers.h MakeTagger, so Load()
// is: read the manifest, load the word vectors, MakeTagger for each entry.
//
// Thread-safety: immutable after Load(); TagImage() may run concurrently.
#ifndef IMAGE2SONG_CORE_MODELS_MODEL_SET_H_
#define IMAGE2SONG_CORE_MODELS_MODEL_SET_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/models/image_mood.h"
#include "core/models/tag_phrases.h"
#include "core/models/tagger.h"
#include "core/models/taggers.h"
#include "core/words/word_vectors.h"

namespace image2song {

// TaggerLoadOptions (taggers.h: optimize, batching, on_batch,
// on_thread_start) plus what the set as a whole does.
struct ModelSetOptions : TaggerLoadOptions {
  // Path of models.json. Required.
  std::string manifest_path;
  // Load only the word vectors (the indexer needs no image models).
  // Default: false.
  bool words_only = false;
  // Run the model taggers of an image concurrently: the first on the
  // caller's thread, the others on long-lived tagger threads started and
  // warmed at load (never a thread per request; when every tagger thread is
  // busy the caller runs the tagger itself). Default: off.
  bool parallel_taggers = false;
  // Tagger threads for parallel_taggers (the server sets its worker count).
  // Default: 2.
  int tagger_threads = 2;
  // Load the manifest's sentence encoder, if it names one (its label
  // phrases are embedded at load: ~1,000 ImageNet labels take ~2 s on one
  // core). Default: true.
  bool sentence_encoder = true;
};

class SpareThreads;

class ModelSet {
 public:
  static absl::StatusOr<std::unique_ptr<ModelSet>> Load(const ModelSetOptions& options);
  // For tests: wraps given parts.
  ModelSet(std::unique_ptr<WordVectors> words, std::vector<std::unique_ptr<Tagger>> taggers,
           bool parallel_taggers = false, std::function<void()> on_thread_start = nullptr,
           int tagger_threads = 2);
  ~ModelSet();

  const WordVectors& words() const { return *words_; }
  const std::vector<std::unique_ptr<Tagger>>& taggers() const { return taggers_; }
  // "name@version,name@version".
  const std::string& version() const { return version_; }
  // How TagImage turns scores into query weights (the manifest's "query";
  // i2s-eval --calibrate sets others to fit them).
  const QueryCalibration& calibration() const { return calibration_; }
  // The largest of the taggers' working sizes (Tagger::working_size): the
  // DecodeOptions::working_size to decode images for this set at; 0 when
  // it has no image taggers.
  int working_size() const { return working_size_; }
  void set_calibration(const QueryCalibration& c) { calibration_ = c; }
  // The tags' phrase vectors, or null when the manifest names no sentence
  // encoder (or it was not loaded).
  const TagPhrases* phrases() const { return phrases_.get(); }
  void set_phrases(std::unique_ptr<TagPhrases> p) { phrases_ = std::move(p); }
  // The manifest's image mood model (image_mood.h), or null when it names
  // none.
  const ImageMoodModel* mood() const { return mood_.get(); }
  // Also notes the faces taggers, whose tags feed the mood's face features.
  void set_mood(std::shared_ptr<const ImageMoodModel> m);
  // The manifest's mood-aware ranking weights (model_manifest.h MoodSpec):
  // of the pictures' own mood and of a mood the request names.
  float mood_weight() const { return mood_weight_; }
  float requested_mood_weight() const { return requested_mood_weight_; }
  void set_mood_weights(float image, float requested) {
    mood_weight_ = image;
    requested_mood_weight_ = requested;
  }
  // The picture's mood from TagImage(s)' tags and colour features (the
  // faces taggers' tags as faces); false, *out untouched, when the set has
  // no mood model.
  bool ImageMoodOf(const ImageTags& tagged, ImageMood* out) const;

  // Runs every tagger; tags from all taggers, by score * weight, strongest
  // first, and the forward-pass time (taggers on parallel threads overlap).
  // With spare threads and a free core, the colour features (cue tagger,
  // backdrop gates, mood) are computed beside the first model's forward pass.
  absl::StatusOr<ImageTags> TagImage(const RgbImage& image) const;

  // Tags for several images of one request: each image is tagged; the same
  // (source, label) seen in n of N images keeps its best score and box,
  // scaled by 0.5 + 0.5 * n / N, with image_count = n. forward_ms: the sum.
  absl::StatusOr<ImageTags> TagImages(const std::vector<RgbImage>& images) const;

  // The long-lived helper threads (with parallel_taggers), or null. The
  // recommender runs the lexical search beside the dense one on them when a
  // core is free.
  SpareThreads* spare_threads() const { return threads_.get(); }

  // Tags for a text hint: one tag per distinct known content word, source
  // "text", score 1, the given weight. At most `max_words`.
  std::vector<Tag> TagText(absl::string_view text, float weight, int max_words = 16) const;

 private:
  std::unique_ptr<WordVectors> words_;
  std::vector<std::unique_ptr<Tagger>> taggers_;
  std::string version_;
  int working_size_ = 0;
  QueryCalibration calibration_;
  std::unique_ptr<TagPhrases> phrases_;
  std::shared_ptr<const ImageMoodModel> mood_;
  std::vector<std::string> face_sources_;  // names of the faces taggers
  float mood_weight_ = 0, requested_mood_weight_ = 0;
  // Set with parallel_taggers.
  std::unique_ptr<SpareThreads> threads_;
  // A tagger (cues) or the mood reads the colour features.
  bool needs_colour_ = false;
};

// `base` with the working size of `models` (when it has image taggers):
// how the server, the benchmarks and the eval decode images for a set.
DecodeOptions DecodeOptionsFor(const ModelSet& models, DecodeOptions base = {});

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_MODELS_MODEL_SET_H_
