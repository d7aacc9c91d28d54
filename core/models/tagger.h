// Taggers turn an image into tags: labels with scores, optional boxes, and
// the lyric-space words each label maps to.
#ifndef IMAGE2SONG_CORE_MODELS_TAGGER_H_
#define IMAGE2SONG_CORE_MODELS_TAGGER_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/image/image.h"

namespace image2song {

// What kind of evidence a tag is (the query calibration treats them apart).
enum class TagRole {
  kObject,  // a classifier's whole-image label or a detection
  kRegion,  // a classifier's label of a part of the image
  kCue,     // a colour or light cue
  kText,    // a word of the request's text hint
};

struct Tag {
  std::string label;
  // Model confidence in [0, 1].
  float score = 0;
  // The tagger's weight in the query (from the model manifest).
  float weight = 1;
  bool has_box = false;
  CropBox box;
  // Name of the tagger that produced it.
  std::string source;
  // Lyric-space words for this label (may be empty: then it is display-only).
  // The first `core_words` come from the label file; the rest are nearest-
  // word expansions and count half in the query (-1: all are core).
  std::vector<std::string> words;
  int core_words = -1;
  // Words the catalogue's lyrics use with the core words (the bundle's
  // cooccur.bin, filled by Recommend when RecommendOptions::
  // cooccurrence_weight or cooccurrence_dense_weight is > 0); they count
  // at that weight in the query, relative to a core word's 1.
  std::vector<std::string> cooccurring_words;
  // Which image of a multi-image request the tag (and box) comes from, and
  // in how many of the images it was found.
  int image_index = 0;
  int image_count = 1;
  TagRole role = TagRole::kObject;
};

// How model scores become query weights (models.json "query"; fitted on the
// relevance eval by `i2s-eval --calibrate`). A tag counts in the query with
// score * weight; calibration rewrites `weight` (the score stays the model's
// confidence):
//   object, region tags: weight *= score^(score_power - 1), i.e. the query
//     sees tagger_weight * score^score_power (< 1 flattens, > 1 sharpens);
//   region, cue tags: weight *= (1 - m)^damping, m = the image's best object
//     score: a confident object dominates, cues and regions fill in where
//     the object evidence is weak.
// The defaults (1, 0) change nothing.
struct QueryCalibration {
  float score_power = 1;
  float damping = 0;
  bool identity() const { return score_power == 1 && damping == 0; }
};
void CalibrateTags(const QueryCalibration& calibration, std::vector<Tag>* tags);

// When a tagger runs (models.json "when"; absent: always). A gated tagger
// runs after the ungated ones, on the tags of the taggers listed before it
// in the manifest: when one of them is a label of `labels_any` with a score
// of at least `min_score`, or when their best object tag (TagRole::kObject;
// none: 0) scores below `top_score_below` (0: no such condition). Lets an
// expensive tagger run only where it pays (faces on pictures of people).
struct TaggerGate {
  bool gated = false;
  std::vector<std::string> labels_any;
  float min_score = 0;
  float top_score_below = 0;
};
// Whether `gate` lets its tagger run after `earlier` (the tags of the
// taggers listed before it). Always true for an ungated tagger.
bool GateOpen(const TaggerGate& gate, const std::vector<Tag>& earlier);

struct TaggerInfo {
  std::string name;
  std::string version;
  std::string kind;
  int label_count = 0;
  int input_width = 0;
  int input_height = 0;
  // "optimized", "frozen" or "plain" (what the load-time check kept);
  // "none" for taggers without a model.
  std::string execution;
  float weight = 1;
  std::string file;
  // Skipped on images whose plain backdrop (colour_cues.h ColourFeatures' background_share)
  // covers more than this share: scene models on icons and product shots.
  float max_backdrop = 1;
  // Dynamic batching (batching_model.h) on, and its largest batch.
  bool batching = false;
  int max_batch = 0;
  TaggerGate gate;
};

// Values of one image that several taggers use, computed once on first use
// (ModelSet::TagImage passes one to every tagger): one per image and call.
// Thread-safe: parallel taggers share it.
class ImageFacts {
 public:
  explicit ImageFacts(const RgbImage& image) : image_(image) {}
  // colour_cues.h ColourFeatures(image), computed once for all taggers (the
  // cue tagger's rules and every tagger's backdrop gate use the same
  // thumbnail and backdrop mask).
  const std::map<std::string, float>& colour_features();
  // colour_features()["background_share"]: the share of a plain backdrop
  // (0 for photos and for images plain all over).
  float backdrop_share();

 private:
  const RgbImage& image_;
  std::once_flag once_;
  std::map<std::string, float> colour_features_;
};

// What taggers found in an image, and the milliseconds of model forward
// passes it took (the rest of tagging is cropping, resizing and reading
// outputs).
struct ImageTags {
  std::vector<Tag> tags;
  double forward_ms = 0;
  // The picture's colour features (colour_cues.h ColourFeatures; several
  // pictures: their mean), filled by ModelSet::TagImage(s) for the image
  // mood (image_mood.h) when the set has a mood model. Empty otherwise and
  // from a lone tagger.
  std::map<std::string, float> colour;
};

// Thread-safety: Run() may be called concurrently from several threads.
class Tagger {
 public:
  virtual ~Tagger() = default;
  virtual const TaggerInfo& info() const = 0;
  // Tags for one decoded image, strongest first; `facts` belongs to `image`.
  virtual absl::StatusOr<ImageTags> Run(const RgbImage& image, ImageFacts& facts) const = 0;
  absl::StatusOr<ImageTags> Run(const RgbImage& image) const {
    ImageFacts facts(image);
    return Run(image, facts);
  }
  // The shorter image side, in pixels, at which this tagger sees its input
  // at full resolution (a 224 px classifier: 224; one that also classifies
  // half-size crops: 448). Images are decoded no larger than the largest of
  // a model set's (DecodeOptions::working_size). 0: any size.
  virtual int working_size() const { return 0; }
};

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_MODELS_TAGGER_H_
