// The image's mood (issue 17, item 2): valence and arousal in [-1, 1] and the
// impression words they imply, from the picture's tags (a valence/arousal
// lexicon of labels and words), its faces' expressions and its colour
// features (core/image/colour_cues.h ColourFeatures). A pure function of its
// inputs; no model call, no LibTorch.
//
// The model is a JSON file (tools/assets/data/image_mood.json, named by the
// model manifest's "mood": {"file": ...}):
//   {"lexicon": "mood_words.tsv",
//    "valence": {"bias": b, "brightness": w, ..., "tag_valence": w, ...},
//    "arousal": {...},
//    "words": [{"word": "calm", "valence": 0.4, "arousal": -0.6}, ...],
//    "fit": {...}}                       (provenance; not read)
// valence = clamp(bias + sum_f w_f * feature_f, -1, 1), the same for arousal;
// features (ImageMoodFeatureNames()):
//   colour: brightness, saturation, colourfulness, dark_share, bright_share,
//     warm_share, cold_share, vegetation_share, sky_share, water_share
//     (ColourFeatures' values, in [0, 1]);
//   tags: tag_valence, tag_arousal: the lexicon's values of the tags' labels
//     (a label's own entry, else the mean of its core words' entries),
//     averaged with weight score * tagger weight over the tags that have one
//     (0 when none has); faces' tags are left out;
//   faces: face_valence, face_arousal: the same over the faces tagger's tags
//     (their labels: "smiling face", "sad face", ...).
// The lexicon (TSV: word or label, valence, arousal, each in [-1, 1]; '#'
// comments) is hand-written; the weights are fitted by
// `i2s-eval --mood=... --fit_mood=...` (ridge regression, docs/models.md).
// The words: the nearest entry of "words" in (valence, arousal), and the
// second nearest when it is within 1.25 times the first's distance.
//
// Thread-safety: an ImageMoodModel is immutable after parsing; the functions
// are pure.
#ifndef IMAGE2SONG_CORE_MODELS_IMAGE_MOOD_H_
#define IMAGE2SONG_CORE_MODELS_IMAGE_MOOD_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/models/tagger.h"

namespace image2song {

struct MoodPoint {
  float valence = 0;
  float arousal = 0;
};

struct MoodWord {
  std::string word;
  MoodPoint point;
};

struct ImageMoodModel {
  std::string path;          // the JSON file ("" when built in code)
  std::string lexicon_path;  // resolved
  // Label or word -> prior valence and arousal.
  std::map<std::string, MoodPoint> lexicon;
  // Per feature (ImageMoodFeatureNames() order) and a bias.
  std::vector<float> valence_weights, arousal_weights;
  float valence_bias = 0, arousal_bias = 0;
  std::vector<MoodWord> words;
};

struct ImageMood {
  float valence = 0;
  float arousal = 0;
  std::vector<std::string> words;
};

// The feature names, in the order of ImageMoodFeatures() and the weights.
const std::vector<std::string>& ImageMoodFeatureNames();
// Indices into ImageMoodFeatureNames() of each group.
std::vector<int> ImageMoodColourFeatures();
std::vector<int> ImageMoodTagFeatures();
std::vector<int> ImageMoodFaceFeatures();

// The lexicon's value for one tag: its label's entry, else the mean of its
// core words' entries; false when it has none.
bool TagMoodPrior(const std::map<std::string, MoodPoint>& lexicon, const Tag& tag, MoodPoint* out);

// The feature vector of a picture. `colour`: ColourFeatures() (missing
// features count 0). Tags whose `source` is in `face_sources` (the names of
// the set's faces taggers) feed the face features, the others the tag ones.
std::vector<float> ImageMoodFeatures(const std::map<std::string, MoodPoint>& lexicon,
                                     const std::vector<Tag>& tags,
                                     const std::map<std::string, float>& colour,
                                     const std::vector<std::string>& face_sources = {});

// The mood of a feature vector under `model`'s weights, with its words.
ImageMood ImageMoodFromFeatures(const ImageMoodModel& model, const std::vector<float>& features);

// ImageMoodFeatures + ImageMoodFromFeatures.
ImageMood ComputeImageMood(const ImageMoodModel& model, const std::vector<Tag>& tags,
                           const std::map<std::string, float>& colour,
                           const std::vector<std::string>& face_sources = {});

// The nearest impression word(s) of a point (see above).
std::vector<std::string> MoodWordsFor(const std::vector<MoodWord>& words, MoodPoint point);

// Parses a lexicon TSV (`path` for messages only).
absl::StatusOr<std::map<std::string, MoodPoint>> ParseMoodLexicon(absl::string_view text,
                                                                  const std::string& path);

// Parses the model JSON `text` at `path`; `lexicon_text` is the lexicon
// file's contents (the caller reads it: ReadImageMoodModel does). Errors name
// the path and the field.
absl::StatusOr<ImageMoodModel> ParseImageMoodModel(absl::string_view text, const std::string& path,
                                                   const std::string* lexicon_text = nullptr);
// Reads the model at `path` and the lexicon it names (relative to its
// directory).
absl::StatusOr<ImageMoodModel> ReadImageMoodModel(const std::string& path);

// The model as JSON (lexicon by file name, the weights, the words, and
// `fit` as given), as ParseImageMoodModel reads it.
std::string ImageMoodModelJson(const ImageMoodModel& model, const std::string& lexicon_file,
                               const std::string& fit_json);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_MODELS_IMAGE_MOOD_H_
