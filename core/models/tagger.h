// Taggers turn an image into tags: labels with scores, optional boxes, and
// the lyric-space words each label maps to.
#ifndef IMAGE2SONG_CORE_MODELS_TAGGER_H_
#define IMAGE2SONG_CORE_MODELS_TAGGER_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/image/image.h"

namespace image2song {

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
  // Which image of a multi-image request the tag (and box) comes from, and
  // in how many of the images it was found.
  int image_index = 0;
  int image_count = 1;
};

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
  // Skipped on images whose plain backdrop (colour_cues.h BackdropShare)
  // covers more than this share: scene models on icons and product shots.
  float max_backdrop = 1;
  // Dynamic batching (batching_model.h) on, and its largest batch.
  bool batching = false;
  int max_batch = 0;
};

// Values of one image that several taggers use, computed once on first use
// (ModelSet::TagImage passes one to every tagger): one per image and call.
// Thread-safe: parallel taggers share it.
class ImageFacts {
 public:
  explicit ImageFacts(const RgbImage& image) : image_(image) {}
  // colour_cues.h BackdropShare(image).
  float backdrop_share();

 private:
  const RgbImage& image_;
  std::once_flag once_;
  float backdrop_share_ = -1;
};

// What taggers found in an image, and the milliseconds of model forward
// passes it took (the rest of tagging is cropping, resizing and reading
// outputs).
struct ImageTags {
  std::vector<Tag> tags;
  double forward_ms = 0;
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
};

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_MODELS_TAGGER_H_
