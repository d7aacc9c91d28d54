#include "bench/mood_eval.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/image/image.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

double Pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = a.size();
  if (n < 2) return 0;
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n;
  const double mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (saa <= 1e-12 || sbb <= 1e-12) return 0;
  return sab / std::sqrt(saa * sbb);
}

int Third(float x) { return x < -1.0f / 3 ? -1 : (x > 1.0f / 3 ? 1 : 0); }

// Solves a x = b (n x n, symmetric positive definite here) by Gaussian
// elimination with partial pivoting.
std::vector<double> Solve(std::vector<std::vector<double>> a, std::vector<double> b) {
  const size_t n = b.size();
  for (size_t c = 0; c < n; ++c) {
    size_t p = c;
    for (size_t r = c + 1; r < n; ++r) {
      if (std::fabs(a[r][c]) > std::fabs(a[p][c])) p = r;
    }
    std::swap(a[c], a[p]);
    std::swap(b[c], b[p]);
    if (std::fabs(a[c][c]) < 1e-12) continue;
    for (size_t r = c + 1; r < n; ++r) {
      const double f = a[r][c] / a[c][c];
      for (size_t k = c; k < n; ++k) a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(n, 0.0);
  for (size_t i = n; i-- > 0;) {
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= a[i][k] * x[k];
    x[i] = std::fabs(a[i][i]) < 1e-12 ? 0 : s / a[i][i];
  }
  return x;
}

}  // namespace

absl::StatusOr<std::vector<MoodLabel>> ParseMoodLabels(absl::string_view text,
                                                       const std::string& path) {
  std::vector<MoodLabel> out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripTrailingAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    int v = 0;
    MoodLabel l;
    if (cols.size() < 4 || cols[0].empty() || !absl::SimpleAtoi(cols[1], &v) || v < -2 || v > 2 ||
        (cols[2] != "low" && cols[2] != "mid" && cols[2] != "high")) {
      return absl::InvalidArgumentError(
          absl::StrCat("mood labels ", path, " line ", line_no,
                       ": want image<TAB>valence -2..2<TAB>low|mid|high<TAB>word<TAB>reason"));
    }
    l.image = cols[0];
    l.valence = v / 2.0f;
    l.arousal = cols[2] == "low" ? -1.0f : (cols[2] == "high" ? 1.0f : 0.0f);
    l.word = cols[3];
    out.push_back(std::move(l));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("mood labels ", path, " has no photos"));
  }
  return out;
}

MoodMetrics ScoreMoods(const std::vector<MoodLabel>& labels, const std::vector<ImageMood>& preds) {
  MoodMetrics m;
  m.photos = static_cast<int>(labels.size());
  int signed_n = 0, sign_ok = 0, arousal_ok = 0;
  std::vector<double> lv, pv, la, pa;
  for (size_t i = 0; i < labels.size() && i < preds.size(); ++i) {
    if (labels[i].valence != 0) {
      ++signed_n;
      if ((labels[i].valence > 0) == (preds[i].valence > 0) && preds[i].valence != 0) ++sign_ok;
    }
    if (Third(preds[i].arousal) == static_cast<int>(labels[i].arousal)) ++arousal_ok;
    lv.push_back(labels[i].valence);
    pv.push_back(preds[i].valence);
    la.push_back(labels[i].arousal);
    pa.push_back(preds[i].arousal);
  }
  m.valence_sign = signed_n == 0 ? 0 : double(sign_ok) / signed_n;
  m.arousal_agree = m.photos == 0 ? 0 : double(arousal_ok) / m.photos;
  m.valence_r = Pearson(lv, pv);
  m.arousal_r = Pearson(la, pa);
  return m;
}

void FitRidge(const std::vector<std::vector<float>>& x, const std::vector<float>& y,
              const std::vector<int>& columns, double lambda, std::vector<float>* weights,
              float* bias) {
  const size_t n = x.size();
  const size_t d = x.empty() ? 0 : x[0].size();
  weights->assign(d, 0.0f);
  *bias = 0;
  if (n == 0) return;
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  std::vector<int> used;
  std::vector<double> mean, sd;
  for (int c : columns) {
    double m = 0, s = 0;
    for (size_t i = 0; i < n; ++i) m += x[i][c];
    m /= n;
    for (size_t i = 0; i < n; ++i) s += (x[i][c] - m) * (x[i][c] - m);
    s = std::sqrt(s / n);
    if (s < 1e-6) continue;  // constant: no information
    used.push_back(c);
    mean.push_back(m);
    sd.push_back(s);
  }
  const size_t k = used.size();
  std::vector<std::vector<double>> a(k, std::vector<double>(k, 0.0));
  std::vector<double> b(k, 0.0);
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> z(k);
    for (size_t j = 0; j < k; ++j) z[j] = (x[i][used[j]] - mean[j]) / sd[j];
    for (size_t j = 0; j < k; ++j) {
      b[j] += z[j] * (y[i] - my);
      for (size_t l = 0; l < k; ++l) a[j][l] += z[j] * z[l];
    }
  }
  for (size_t j = 0; j < k; ++j) a[j][j] += lambda;
  const std::vector<double> w = Solve(a, b);
  double c0 = my;
  for (size_t j = 0; j < k; ++j) {
    (*weights)[used[j]] = static_cast<float>(w[j] / sd[j]);
    c0 -= w[j] * mean[j] / sd[j];
  }
  *bias = static_cast<float>(c0);
}

ImageMoodModel FitImageMood(const ImageMoodModel& base, const std::vector<std::vector<float>>& x,
                            const std::vector<MoodLabel>& labels, const std::vector<int>& rows,
                            const std::vector<int>& columns, double lambda, bool keep_unfitted) {
  std::vector<std::vector<float>> xs;
  std::vector<float> yv, ya;
  for (int r : rows) {
    xs.push_back(x[r]);
    yv.push_back(labels[r].valence);
    ya.push_back(labels[r].arousal);
  }
  ImageMoodModel m = base;
  FitRidge(xs, yv, columns, lambda, &m.valence_weights, &m.valence_bias);
  FitRidge(xs, ya, columns, lambda, &m.arousal_weights, &m.arousal_bias);
  if (keep_unfitted) {
    // A column not fitted (not asked for, or constant on these photos)
    // keeps base's weight; its constant value is taken out of the bias the
    // fit absorbed it into.
    for (size_t c = 0; c < m.valence_weights.size(); ++c) {
      if (m.valence_weights[c] != 0 || m.arousal_weights[c] != 0) continue;
      if (c >= base.valence_weights.size()) continue;
      const float value = xs.empty() ? 0 : xs[0][c];
      m.valence_weights[c] = base.valence_weights[c];
      m.arousal_weights[c] = base.arousal_weights[c];
      m.valence_bias -= base.valence_weights[c] * value;
      m.arousal_bias -= base.arousal_weights[c] * value;
    }
  }
  return m;
}

std::vector<int> MoodFolds(int n, int folds) {
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(17);
  for (int i = n - 1; i > 0; --i) {
    std::swap(order[i], order[rng() % (i + 1)]);
  }
  std::vector<int> fold(n);
  for (int i = 0; i < n; ++i) fold[order[i]] = i % folds;
  return fold;
}

std::vector<MoodVariant> CrossValidateMood(const ImageMoodModel& base,
                                           const std::vector<std::vector<float>>& x,
                                           const std::vector<MoodLabel>& labels, int folds,
                                           double lambda) {
  std::vector<int> all = ImageMoodColourFeatures();
  for (int c : ImageMoodTagFeatures()) all.push_back(c);
  for (int c : ImageMoodFaceFeatures()) all.push_back(c);
  struct Spec {
    std::string name;
    std::vector<int> columns;
    bool fit;
  };
  const std::vector<Spec> specs = {{"fitted", all, true},
                                   {"colour-only", ImageMoodColourFeatures(), true},
                                   {"tags-only", ImageMoodTagFeatures(), true},
                                   {"constant", {}, true},
                                   {"loaded", {}, false}};
  const std::vector<int> fold = MoodFolds(static_cast<int>(labels.size()), folds);
  std::vector<MoodVariant> out;
  for (const Spec& spec : specs) {
    MoodVariant v;
    v.name = spec.name;
    std::vector<ImageMood> pooled(labels.size());
    for (int f = 0; f < folds; ++f) {
      std::vector<int> train, test;
      for (size_t i = 0; i < labels.size(); ++i) (fold[i] == f ? test : train).push_back(i);
      // Only the fitted variant keeps unfitted columns (faces) at base's
      // weights: colour-only and tags-only see nothing else.
      const ImageMoodModel m = spec.fit ? FitImageMood(base, x, labels, train, spec.columns, lambda,
                                                       spec.name == "fitted")
                                        : base;
      std::vector<MoodLabel> tl;
      std::vector<ImageMood> tp;
      for (int i : test) {
        tl.push_back(labels[i]);
        tp.push_back(ImageMoodFromFeatures(m, x[i]));
        pooled[i] = tp.back();
      }
      v.per_fold.push_back(ScoreMoods(tl, tp));
    }
    v.pooled = ScoreMoods(labels, pooled);
    out.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<float>>> MoodFeaturesOf(const ModelSet& models,
                                                               const std::vector<MoodLabel>& labels,
                                                               const std::string& photos_dir) {
  if (models.mood() == nullptr) {
    return absl::FailedPreconditionError("the models name no mood model (models.json \"mood\")");
  }
  std::vector<std::string> face_sources;
  for (const auto& t : models.taggers()) {
    if (t->info().kind == "faces") face_sources.push_back(t->info().name);
  }
  std::vector<std::vector<float>> x;
  for (const MoodLabel& l : labels) {
    const std::string path = JoinPath(photos_dir, l.image);
    ASSIGN_OR_RETURN(std::string bytes, ReadFile(path, int64_t{64} << 20));
    auto image = DecodeImage(bytes, DecodeOptionsFor(models));
    if (!image.ok())
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", image.status().message()));
    ASSIGN_OR_RETURN(ImageTags tagged, models.TagImage(*image));
    x.push_back(
        ImageMoodFeatures(models.mood()->lexicon, tagged.tags, tagged.colour, face_sources));
  }
  return x;
}

}  // namespace image2song
