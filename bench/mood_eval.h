// The image-mood evaluation and fit of i2s-eval --mood (issue 17, item 6):
// photos labelled with the mood a viewer names (tools/eval/photo_moods.tsv),
// the mood model's features of each (core/models/image_mood.h), a ridge
// regression of valence and arousal on a group of features, k-fold
// cross-validated, and per-fold agreement with the labels.
//
// Labels TSV: image<TAB>valence<TAB>arousal<TAB>word<TAB>reason, valence an
// integer in -2..2 (target valence / 2), arousal low / mid / high (target
// -1 / 0 / 1); '#' lines are comments.
//
// Metrics of a set of predictions against labels:
//   valence_sign  share of the photos with a non-zero valence label whose
//                 predicted valence has the same sign
//   arousal_agree share of photos whose predicted arousal falls in the
//                 label's third: low < -1/3 <= mid <= 1/3 < high
//   valence_r, arousal_r  Pearson correlation (0 when either is constant)
#ifndef IMAGE2SONG_BENCH_MOOD_EVAL_H_
#define IMAGE2SONG_BENCH_MOOD_EVAL_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/models/image_mood.h"
#include "core/models/model_set.h"

namespace image2song {

struct MoodLabel {
  std::string image;
  float valence = 0;  // in [-1, 1] (the file's -2..2 / 2)
  float arousal = 0;  // -1, 0, 1
  std::string word;
};

absl::StatusOr<std::vector<MoodLabel>> ParseMoodLabels(absl::string_view text,
                                                       const std::string& path);

struct MoodMetrics {
  int photos = 0;
  double valence_sign = 0, arousal_agree = 0, valence_r = 0, arousal_r = 0;
};
MoodMetrics ScoreMoods(const std::vector<MoodLabel>& labels, const std::vector<ImageMood>& preds);

// Ridge regression on standardised columns `columns` of `x` (others get
// weight 0; a constant column too): returns weights over all columns, in
// raw units, and the bias. lambda >= 0.
void FitRidge(const std::vector<std::vector<float>>& x, const std::vector<float>& y,
              const std::vector<int>& columns, double lambda, std::vector<float>* weights,
              float* bias);

// A model of `base` (lexicon, words) with valence and arousal weights fitted
// on rows `rows` of (x, labels) over feature columns `columns`. Columns not
// fitted keep `base`'s weights when `keep_unfitted` (the face features when
// no photo has a face), else 0.
ImageMoodModel FitImageMood(const ImageMoodModel& base, const std::vector<std::vector<float>>& x,
                            const std::vector<MoodLabel>& labels, const std::vector<int>& rows,
                            const std::vector<int>& columns, double lambda, bool keep_unfitted);

// Fold (0..folds-1) of each of n photos: a fixed shuffle (seed 17), dealt
// round-robin.
std::vector<int> MoodFolds(int n, int folds);

struct MoodVariant {
  std::string name;  // "fitted", "colour-only", "tags-only", "constant", "loaded"
  std::vector<MoodMetrics> per_fold;
  MoodMetrics pooled;  // over all held-out predictions
};

// Cross-validates the variants on features `x` of the labelled photos:
// fitted (colour + tag + face columns), colour-only, tags-only (each fitted
// on the other folds), constant (the other folds' mean valence and arousal:
// the majority-like baseline), and loaded (`base`'s weights as they are, no fit:
// held out only when they were not fitted on these photos).
std::vector<MoodVariant> CrossValidateMood(const ImageMoodModel& base,
                                           const std::vector<std::vector<float>>& x,
                                           const std::vector<MoodLabel>& labels, int folds,
                                           double lambda);

// The features of each labelled photo under `models` (which must have a mood
// model): decode, TagImage, ImageMoodFeatures. Label paths are relative to
// `photos_dir` ($I2S_CACHE/eval: photos/NAME, mood_photos/NAME).
absl::StatusOr<std::vector<std::vector<float>>> MoodFeaturesOf(const ModelSet& models,
                                                               const std::vector<MoodLabel>& labels,
                                                               const std::string& photos_dir);

}  // namespace image2song

#endif  // IMAGE2SONG_BENCH_MOOD_EVAL_H_
