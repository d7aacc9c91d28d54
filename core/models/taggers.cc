#include "core/models/taggers.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/image/colour_cues.h"
#include "core/models/image_model.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

std::vector<bool> SkipMask(const TaggerSpec& spec, size_t labels) {
  std::vector<bool> skip(labels, false);
  for (int i : spec.skip_labels) {
    if (i >= 0 && size_t(i) < labels) skip[i] = true;
  }
  return skip;
}

Tag MakeTag(const TaggerSpec& spec, const LabelEntry& label, float score) {
  Tag t;
  t.label = label.label;
  t.score = std::clamp(score, 0.0f, 1.0f);
  t.weight = spec.info.weight;
  t.source = spec.info.name;
  t.words = label.words;
  t.core_words = label.core_words;
  return t;
}

// What model-backed taggers share: spec, labels, skipped labels, model.
class ModelTagger : public Tagger {
 public:
  ModelTagger(TaggerSpec spec, std::vector<LabelEntry> labels, std::unique_ptr<ImageModel> model)
      : spec_(std::move(spec)), labels_(std::move(labels)), model_(std::move(model)) {
    spec_.info.execution = model_->execution();
    skip_ = SkipMask(spec_, labels_.size());
  }
  const TaggerInfo& info() const override { return spec_.info; }
  int working_size() const override {
    return std::max(spec_.info.input_width, spec_.info.input_height);
  }

 protected:
  // One forward pass on the whole image at the model's input size; the
  // pass's milliseconds are added to *forward_ms.
  absl::StatusOr<std::vector<ModelOutput>> RunWhole(const RgbImage& image,
                                                    double* forward_ms) const {
    const int w = spec_.info.input_width, h = spec_.info.input_height;
    std::vector<float> input(size_t(3) * w * h);
    PreprocessToChw(image, CropBox{}, w, h, spec_.mean, spec_.std, input.data());
    return model_->Run(input.data(), 1, forward_ms);
  }

  TaggerSpec spec_;
  std::vector<LabelEntry> labels_;
  std::vector<bool> skip_;
  std::unique_ptr<ImageModel> model_;
};

// Classifier on the whole image and, optionally, on regions (grid cells and
// a centre crop) in the same forward pass.
class ClassifierTagger : public ModelTagger {
 public:
  ClassifierTagger(TaggerSpec spec, std::vector<LabelEntry> labels,
                   std::unique_ptr<ImageModel> model)
      : ModelTagger(std::move(spec), std::move(labels), std::move(model)) {
    crops_.push_back(CropBox{});
    for (int gy = 0; gy < spec_.grid; ++gy) {
      for (int gx = 0; gx < spec_.grid; ++gx) {
        const float g = float(spec_.grid);
        crops_.push_back(CropBox{gx / g, gy / g, (gx + 1) / g, (gy + 1) / g});
      }
    }
    if (spec_.center > 0 && spec_.center < 1) {
      const float m = (1 - spec_.center) / 2;
      crops_.push_back(CropBox{m, m, 1 - m, 1 - m});
    }
  }

  // Crop regions are each resized to the input: the smallest crop sets the
  // size (a 2x2 grid: twice the input). Regions from the feature map need
  // only the input.
  int working_size() const override {
    float smallest = 1;
    if (!spec_.regions_from_features) {
      for (const CropBox& c : crops_) smallest = std::min({smallest, c.x1 - c.x0, c.y1 - c.y0});
    }
    return static_cast<int>(std::ceil(ModelTagger::working_size() / smallest));
  }

  absl::StatusOr<ImageTags> Run(const RgbImage& image, ImageFacts& facts) const override {
    const int w = spec_.info.input_width, h = spec_.info.input_height;
    const size_t plane = size_t(3) * w * h;
    // The backdrop gate reads the colour features: for regions from the
    // feature map only after the forward pass (ModelSet::TagImage may be
    // computing them beside it).
    auto regions_allowed = [&] {
      return crops_.size() > 1 &&
             !(spec_.region_max_backdrop < 1 && facts.backdrop_share() > spec_.region_max_backdrop);
    };
    const int batch =
        !spec_.regions_from_features && regions_allowed() ? static_cast<int>(crops_.size()) : 1;
    std::vector<float> input(plane * batch);
    for (int b = 0; b < batch; ++b) {
      PreprocessToChw(image, crops_[b], w, h, spec_.mean, spec_.std, input.data() + plane * b);
    }
    ImageTags result;
    ASSIGN_OR_RETURN(std::vector<ModelOutput> outputs,
                     model_->Run(input.data(), batch, &result.forward_ms));
    if (spec_.scores_output >= int(outputs.size())) {
      return absl::InternalError(
          absl::StrCat(spec_.info.name, ": model has no output ", spec_.scores_output));
    }
    const ModelOutput& scores = outputs[spec_.scores_output];
    const size_t n = labels_.size();
    if (scores.data.size() != n * batch) {
      return absl::InternalError(absl::StrCat(spec_.info.name, ": model returns ",
                                              scores.data.size() / batch, " scores per image for ",
                                              n, " labels"));
    }
    std::vector<Tag>& tags = result.tags;
    const float* whole = scores.data.data();
    for (int i : TopLabels(whole, spec_.top_k, spec_.min_score)) {
      tags.push_back(MakeTag(spec_, labels_[i], whole[i]));
    }
    if (spec_.regions_from_features ? !regions_allowed() : batch == 1) return result;
    ModelOutput pooled;
    if (spec_.regions_from_features) {
      ASSIGN_OR_RETURN(pooled, FeatureRegionScores(outputs, &result.forward_ms));
    }
    // Label scores of crops_[b], b >= 1.
    auto region = [&](int b) {
      return spec_.regions_from_features ? pooled.data.data() + n * (b - 1) : whole + n * b;
    };
    // Region labels: the best region per label, kept when it beats the
    // whole image's score for that label by min_gain (an object that fills
    // the frame needs no box; one that is small or off-centre gets one).
    std::vector<std::pair<int, int>> best;  // (label, crop)
    for (int b = 1; b < int(crops_.size()); ++b) {
      const float* s = region(b);
      for (int i : TopLabels(s, spec_.region_top_k, spec_.region_min_score)) {
        if (s[i] < whole[i] + spec_.region_min_gain) continue;
        auto it =
            std::find_if(best.begin(), best.end(), [i](const auto& p) { return p.first == i; });
        if (it == best.end()) {
          best.push_back({i, b});
        } else if (s[i] > region(it->second)[i]) {
          it->second = b;
        }
      }
    }
    std::sort(best.begin(), best.end(), [&](const auto& a, const auto& b) {
      float sa = region(a.second)[a.first], sb = region(b.second)[b.first];
      return sa != sb ? sa > sb : a.first < b.first;
    });
    if (int(best.size()) > spec_.region_top_k) best.resize(spec_.region_top_k);
    for (const auto& [label, crop] : best) {
      Tag t = MakeTag(spec_, labels_[label], region(crop)[label]);
      t.role = TagRole::kRegion;
      t.weight = spec_.info.weight * spec_.region_weight;
      t.has_box = true;
      t.box = crops_[crop];
      tags.push_back(std::move(t));
    }
    return result;
  }

 private:
  // Scores of crops_[1..] from the feature map: each box's cells, weighted
  // by how much of the cell the box covers, averaged and run through the
  // model's head in one call. Returns [crops - 1, labels].
  absl::StatusOr<ModelOutput> FeatureRegionScores(const std::vector<ModelOutput>& outputs,
                                                  double* forward_ms) const {
    if (spec_.features_output >= int(outputs.size()) ||
        outputs[spec_.features_output].shape.size() != 4 ||
        outputs[spec_.features_output].shape[0] != 1) {
      return absl::InternalError(absl::StrCat(spec_.info.name, ": model output ",
                                              spec_.features_output,
                                              " is not a [1, C, h, w] feature map"));
    }
    const ModelOutput& map = outputs[spec_.features_output];
    const int c = int(map.shape[1]), mh = int(map.shape[2]), mw = int(map.shape[3]);
    const int regions = static_cast<int>(crops_.size()) - 1;
    std::vector<float> pooled(size_t(regions) * c, 0.0f);
    // The cells a box covers and how much of each (a 2x2 grid cell covers a
    // quarter of the map: the others add nothing and are not visited).
    std::vector<int> cells;
    std::vector<float> weight;
    for (int r = 0; r < regions; ++r) {
      const CropBox& box = crops_[r + 1];
      double total = 0;
      cells.clear();
      weight.clear();
      for (int y = 0; y < mh; ++y) {
        const double oy = std::max(0.0, std::min<double>(box.y1, (y + 1.0) / mh) -
                                            std::max<double>(box.y0, double(y) / mh));
        for (int x = 0; x < mw; ++x) {
          const double ox = std::max(0.0, std::min<double>(box.x1, (x + 1.0) / mw) -
                                              std::max<double>(box.x0, double(x) / mw));
          total += ox * oy;
          if (static_cast<float>(ox * oy) == 0) continue;
          cells.push_back(y * mw + x);
          weight.push_back(static_cast<float>(ox * oy));
        }
      }
      float* out = pooled.data() + size_t(r) * c;
      const size_t hw = size_t(mh) * mw;
      const double norm = std::max(total, 1e-9);
      // Four channels at a time: four independent sums (each in the same
      // order as one at a time, the same bits) instead of one chain of
      // dependent additions.
      int k = 0;
      for (; k + 4 <= c; k += 4) {
        const float* p = map.data.data() + size_t(k) * hw;
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i < cells.size(); ++i) {
          const double w = weight[i];
          const int cell = cells[i];
          s0 += w * p[cell];
          s1 += w * p[hw + cell];
          s2 += w * p[2 * hw + cell];
          s3 += w * p[3 * hw + cell];
        }
        out[k] = static_cast<float>(s0 / norm);
        out[k + 1] = static_cast<float>(s1 / norm);
        out[k + 2] = static_cast<float>(s2 / norm);
        out[k + 3] = static_cast<float>(s3 / norm);
      }
      for (; k < c; ++k) {
        const float* plane = map.data.data() + size_t(k) * hw;
        double sum = 0;
        for (size_t i = 0; i < cells.size(); ++i) sum += double(weight[i]) * plane[cells[i]];
        out[k] = static_cast<float>(sum / norm);
      }
    }
    const auto start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(ModelOutput scores, model_->RunHead(pooled.data(), regions, c));
    *forward_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (scores.data.size() != size_t(regions) * labels_.size()) {
      return absl::InternalError(
          absl::StrCat(spec_.info.name, ": model head returns ", scores.data.size() / regions,
                       " scores per region for ", labels_.size(), " labels"));
    }
    return scores;
  }

  std::vector<int> TopLabels(const float* s, int k, float min_score) const {
    std::vector<int> order;
    for (int i = 0; i < int(labels_.size()); ++i) {
      if (!skip_[i] && s[i] >= min_score) order.push_back(i);
    }
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return s[a] != s[b] ? s[a] > s[b] : a < b; });
    if (int(order.size()) > k) order.resize(k);
    return order;
  }

  std::vector<CropBox> crops_;
};

// Object detector: outputs (boxes [1,K,4], scores [1,K], classes [1,K]).
class DetectorTagger : public ModelTagger {
 public:
  using ModelTagger::ModelTagger;

  absl::StatusOr<ImageTags> Run(const RgbImage& image, ImageFacts& /*facts*/) const override {
    ImageTags result;
    ASSIGN_OR_RETURN(std::vector<ModelOutput> out, RunWhole(image, &result.forward_ms));
    if (out.size() < 3 || out[0].data.size() != out[1].data.size() * 4 ||
        out[1].data.size() != out[2].data.size()) {
      return absl::InternalError(absl::StrCat(spec_.info.name,
                                              ": detector must return (boxes [1,K,4], scores "
                                              "[1,K], classes [1,K])"));
    }
    const size_t k = out[1].data.size();
    std::vector<Tag>& tags = result.tags;
    for (size_t i = 0; i < k && int(tags.size()) < spec_.top_k; ++i) {
      const float score = out[1].data[i];
      const int cls = static_cast<int>(std::lround(out[2].data[i]));
      if (!(score >= spec_.min_score) || cls < 0 || cls >= int(labels_.size()) || skip_[cls]) {
        continue;
      }
      const std::string& label = labels_[cls].label;
      auto seen =
          std::find_if(tags.begin(), tags.end(), [&](const Tag& t) { return t.label == label; });
      if (seen != tags.end()) continue;  // keep the best box per label
      Tag t = MakeTag(spec_, labels_[cls], score);
      const float* b = out[0].data.data() + 4 * i;
      t.has_box = true;
      t.box = CropBox{std::clamp(b[0], 0.0f, 1.0f), std::clamp(b[1], 0.0f, 1.0f),
                      std::clamp(b[2], 0.0f, 1.0f), std::clamp(b[3], 0.0f, 1.0f)};
      tags.push_back(std::move(t));
    }
    return result;
  }
};

// human's emotion input for one face (src/face/facemeshutil.ts cutAndResize,
// gear/emotion.ts): the square box (image pixels, may reach past the image)
// is cut out with tf.image.cropAndResize to crop x crop (bilinear, zero
// outside the image), which tf.image.resizeBilinear (align_corners=false)
// then takes to width x height; both steps are sampled here directly from
// the image. Writes planar CHW (value - mean[c]) / std[c].
void SampleFaceCrop(const RgbImage& image, const float box[4], int crop, int width, int height,
                    const float mean[3], const float std[3], float* out) {
  const int ih = image.height, iw = image.width;
  // cropAndResize: crop-grid row k samples the image at y0n (H-1) + k (y1n - y0n) (H-1) /
  // (crop-1), the box normalised by the image size.
  auto grid = [crop](float lo_px, float hi_px, int size, int k) {
    const double lo = double(lo_px) / size, hi = double(hi_px) / size;
    return crop > 1 ? lo * (size - 1) + k * (hi - lo) * (size - 1) / (crop - 1)
                    : 0.5 * (lo + hi) * (size - 1);
  };
  // resizeBilinear (legacy): output row r reads crop-grid row r * crop / height.
  struct Tap {
    double pos[2];  // image coordinate of the two crop-grid samples
    float frac;     // weight of the second
  };
  auto taps = [&](float lo_px, float hi_px, int size, int out_size) {
    std::vector<Tap> t(out_size);
    const double ratio = double(crop) / out_size;
    for (int r = 0; r < out_size; ++r) {
      const double src = ratio * r;
      const int a = static_cast<int>(std::floor(src));
      const int b = std::min(crop - 1, static_cast<int>(std::ceil(src)));
      t[r] = Tap{{grid(lo_px, hi_px, size, a), grid(lo_px, hi_px, size, b)}, float(src - a)};
    }
    return t;
  };
  const std::vector<Tap> ys = taps(box[1], box[3], ih, height);
  const std::vector<Tap> xs = taps(box[0], box[2], iw, width);
  // One cropAndResize sample (3 channels), zero outside the image.
  auto sample = [&](double y, double x, float v[3]) {
    if (y < 0 || y > ih - 1 || x < 0 || x > iw - 1) {
      v[0] = v[1] = v[2] = 0;
      return;
    }
    const int t = static_cast<int>(std::floor(y)), b = static_cast<int>(std::ceil(y));
    const int l = static_cast<int>(std::floor(x)), r = static_cast<int>(std::ceil(x));
    const float fy = float(y - t), fx = float(x - l);
    const uint8_t* p = image.pixels.data();
    for (int c = 0; c < 3; ++c) {
      const float tl = p[(size_t(t) * iw + l) * 3 + c], tr = p[(size_t(t) * iw + r) * 3 + c];
      const float bl = p[(size_t(b) * iw + l) * 3 + c], br = p[(size_t(b) * iw + r) * 3 + c];
      const float top = tl + (tr - tl) * fx, bottom = bl + (br - bl) * fx;
      v[c] = top + (bottom - top) * fy;
    }
  };
  const size_t plane = size_t(width) * height;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      float q[2][2][3];  // [row tap][col tap][channel]
      for (int a = 0; a < 2; ++a) {
        for (int b = 0; b < 2; ++b) sample(ys[y].pos[a], xs[x].pos[b], q[a][b]);
      }
      for (int c = 0; c < 3; ++c) {
        const float top = q[0][0][c] + (q[0][1][c] - q[0][0][c]) * xs[x].frac;
        const float bottom = q[1][0][c] + (q[1][1][c] - q[1][0][c]) * xs[x].frac;
        const float v = top + (bottom - top) * ys[y].frac;
        out[c * plane + size_t(y) * width + x] = (v - mean[c]) / std[c];
      }
    }
  }
}

// Faces and their expression: a face detector (outputs boxes [1,K,4]
// normalised x0,y0,x1,y1, scores [1,K] sorted, suppressed ones 0; e.g.
// BlazeFace, tools/assets/convert_faces.py) on the whole image, then an
// expression classifier (label probabilities) on each face's crop. Each
// label of a face at emotion_min_score or more becomes a tag: score = face
// score x label probability, box = the face's square box; one tag per label
// (its best face), as the detector keeps the best box per label.
class FacesTagger : public ModelTagger {
 public:
  FacesTagger(TaggerSpec spec, std::vector<LabelEntry> labels, std::unique_ptr<ImageModel> model,
              std::unique_ptr<ImageModel> emotion)
      : ModelTagger(std::move(spec), std::move(labels), std::move(model)),
        emotion_(std::move(emotion)) {}

  // Faces are cropped from the picture as the set decodes it: a gated
  // tagger that runs on few pictures does not raise every picture's decode
  // size (ModelSet::working_size).
  int working_size() const override { return 0; }

  absl::StatusOr<ImageTags> Run(const RgbImage& image, ImageFacts& /*facts*/) const override {
    ImageTags result;
    ASSIGN_OR_RETURN(std::vector<ModelOutput> out, RunWhole(image, &result.forward_ms));
    if (out.size() < 2 || out[0].data.size() != out[1].data.size() * 4) {
      return absl::InternalError(absl::StrCat(
          spec_.info.name, ": face detector must return (boxes [1,K,4], scores [1,K], ...)"));
    }
    struct Face {
      float score;
      float box[4];  // image pixels, enlarged and square
    };
    std::vector<Face> faces;
    const float iw = float(image.width), ih = float(image.height);
    const float shorter = std::min(iw, ih);
    for (size_t i = 0; i < out[1].data.size() && int(faces.size()) < spec_.top_k; ++i) {
      const float score = out[1].data[i];
      if (!(score >= spec_.min_score)) continue;
      const float* b = out[0].data.data() + 4 * i;
      const float x0 = b[0] * iw, y0 = b[1] * ih, x1 = b[2] * iw, y1 = b[3] * ih;
      if (!std::isfinite(x0 + y0 + x1 + y1)) continue;
      const float bw = std::fabs(x1 - x0), bh = std::fabs(y1 - y0);
      if (std::max(bw, bh) < spec_.face_min_size * shorter) continue;
      // human: enlargeBox(scale) then squarifyBox (side = the larger side, rounded ends).
      const float cx = x0 + (x1 - x0) / 2, cy = y0 + (y1 - y0) / 2;
      const float half = std::max(bw, bh) * spec_.face_box_scale / 2;
      auto round = [](float v) { return std::floor(v + 0.5f); };  // JavaScript's Math.round
      faces.push_back(
          Face{score, {round(cx - half), round(cy - half), round(cx + half), round(cy + half)}});
    }
    if (faces.empty()) return result;
    const int ew = spec_.emotion_width, eh = spec_.emotion_height;
    std::vector<float> crop(size_t(3) * ew * eh);
    std::vector<Tag>& tags = result.tags;
    for (const Face& f : faces) {
      SampleFaceCrop(image, f.box, spec_.info.input_width, ew, eh, spec_.emotion_mean,
                     spec_.emotion_std, crop.data());
      ASSIGN_OR_RETURN(std::vector<ModelOutput> probs,
                       emotion_->Run(crop.data(), 1, &result.forward_ms));
      if (probs.empty() || probs[0].data.size() != labels_.size()) {
        return absl::InternalError(absl::StrCat(spec_.info.name, ": expression model returns ",
                                                probs.empty() ? 0 : probs[0].data.size(),
                                                " scores for ", labels_.size(), " labels"));
      }
      for (size_t k = 0; k < labels_.size(); ++k) {
        const float p = probs[0].data[k];
        if (skip_[k] || !(p >= spec_.emotion_min_score)) continue;
        const float score = f.score * p;
        auto seen = std::find_if(tags.begin(), tags.end(),
                                 [&](const Tag& t) { return t.label == labels_[k].label; });
        if (seen != tags.end() && seen->score >= score) continue;
        Tag t = MakeTag(spec_, labels_[k], score);
        t.has_box = true;
        t.box =
            CropBox{std::clamp(f.box[0] / iw, 0.0f, 1.0f), std::clamp(f.box[1] / ih, 0.0f, 1.0f),
                    std::clamp(f.box[2] / iw, 0.0f, 1.0f), std::clamp(f.box[3] / ih, 0.0f, 1.0f)};
        if (seen != tags.end()) {
          *seen = std::move(t);
        } else {
          tags.push_back(std::move(t));
        }
      }
    }
    std::stable_sort(tags.begin(), tags.end(),
                     [](const Tag& a, const Tag& b) { return a.score > b.score; });
    return result;
  }

 private:
  std::unique_ptr<ImageModel> emotion_;
};

// Light and colour cues: no model.
class CueTagger : public Tagger {
 public:
  CueTagger(TaggerSpec spec, std::vector<CueRule> rules)
      : spec_(std::move(spec)), rules_(std::move(rules)) {
    spec_.info.execution = "none";
    spec_.info.label_count = static_cast<int>(rules_.size());
  }

  const TaggerInfo& info() const override { return spec_.info; }
  // ColourFeatures works on a thumbnail (kColourThumbnailSide).
  int working_size() const override { return kColourThumbnailSide; }

  absl::StatusOr<ImageTags> Run(const RgbImage& /*image*/, ImageFacts& facts) const override {
    ImageTags result;
    std::vector<Tag>& tags = result.tags;
    for (const CueMatch& m : MatchCueRules(rules_, facts.colour_features())) {
      Tag t;
      t.label = m.rule->tag;
      t.score = m.score;
      t.weight = spec_.info.weight;
      t.source = spec_.info.name;
      t.role = TagRole::kCue;
      t.words = m.rule->words;
      tags.push_back(std::move(t));
    }
    std::stable_sort(tags.begin(), tags.end(),
                     [](const Tag& a, const Tag& b) { return a.score > b.score; });
    if (int(tags.size()) > spec_.top_k) tags.resize(spec_.top_k);
    return result;
  }

 private:
  TaggerSpec spec_;
  std::vector<CueRule> rules_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Tagger>> MakeTagger(TaggerSpec spec, const WordVectors& words,
                                                   const LabelWordOptions& expand,
                                                   const TaggerLoadOptions& options) {
  if (spec.info.kind == "cues") {
    ASSIGN_OR_RETURN(std::vector<CueRule> rules, LoadCueRules(spec.rules));
    for (CueRule& r : rules) {
      r.words.erase(std::remove_if(r.words.begin(), r.words.end(),
                                   [&](const std::string& w) {
                                     return words.Find(w) == WordVectors::kNoWord;
                                   }),
                    r.words.end());
    }
    I2S_LOG(INFO) << "loaded tagger " << spec.info.name << " (cues, " << rules.size()
                  << " rules from " << spec.rules << ")";
    return std::make_unique<CueTagger>(std::move(spec), std::move(rules));
  }
  ASSIGN_OR_RETURN(std::vector<LabelEntry> labels, LoadLabelFile(spec.labels));
  ASSIGN_OR_RETURN(size_t dropped, PrepareLabelWords(words, expand, &labels));
  spec.info.label_count = static_cast<int>(labels.size());
  ImageModelOptions mo;
  mo.path = spec.model_path;
  mo.input_width = spec.info.input_width;
  mo.input_height = spec.info.input_height;
  mo.optimize = options.optimize;
  if (spec.info.kind == "classifier" && !spec.regions_from_features) {
    mo.warmup_batch = 1 + spec.grid * spec.grid + (spec.center > 0 ? 1 : 0);
  }
  ASSIGN_OR_RETURN(auto model, ImageModel::Load(mo));
  if (spec.info.kind == "classifier" && spec.regions_from_features && !model->has_head()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tagger '", spec.info.name, "': regions.from \"features\" needs a model with a head ",
        "method and a feature-map output (re-run tools/assets/setup_assets.sh); ", mo.path,
        " has no head"));
  }
  if (options.batching && spec.batching) {
    BatchingOptions bo = options.batching_options;
    bo.name = spec.info.name;
    bo.input_width = spec.info.input_width;
    bo.input_height = spec.info.input_height;
    bo.on_thread_start = options.on_thread_start;
    if (spec.max_batch > 0) bo.max_batch = std::min(bo.max_batch, spec.max_batch);
    if (options.on_batch) {
      bo.on_batch = [f = options.on_batch, name = spec.info.name](
                        int images, int calls, double wait_s) { f(name, images, calls, wait_s); };
    }
    ASSIGN_OR_RETURN(model, MakeBatchingModel(std::move(model), bo));
    spec.info.batching = IsBatching(*model);
    spec.info.max_batch = spec.info.batching ? bo.max_batch : 0;
  }
  I2S_LOG(INFO) << "loaded tagger " << spec.info.name << "@" << spec.info.version << " ("
                << spec.info.kind << ", " << labels.size() << " labels, " << spec.info.input_width
                << "x" << spec.info.input_height << ", " << model->execution()
                << (spec.grid > 0 ? absl::StrCat(", ", spec.grid, "x", spec.grid, " grid regions",
                                                 spec.regions_from_features ? " from features"
                                                                            : " from crops")
                                  : "")
                << ") from " << mo.path
                << (dropped ? absl::StrCat("; ", dropped, " label words not in the vocabulary")
                            : "");
  if (spec.info.kind == "classifier") {
    return std::make_unique<ClassifierTagger>(std::move(spec), std::move(labels), std::move(model));
  }
  if (spec.info.kind == "faces") {
    ImageModelOptions eo;
    eo.path = spec.emotion_path;
    eo.input_width = spec.emotion_width;
    eo.input_height = spec.emotion_height;
    eo.optimize = options.optimize;
    ASSIGN_OR_RETURN(auto emotion, ImageModel::Load(eo));
    I2S_LOG(INFO) << "loaded tagger " << spec.info.name << "'s expression model ("
                  << spec.emotion_width << "x" << spec.emotion_height << ", "
                  << emotion->execution() << ") from " << eo.path;
    return std::make_unique<FacesTagger>(std::move(spec), std::move(labels), std::move(model),
                                         std::move(emotion));
  }
  return std::make_unique<DetectorTagger>(std::move(spec), std::move(labels), std::move(model));
}

const std::map<std::string, float>& ImageFacts::colour_features() {
  std::call_once(once_, [this] { colour_features_ = ColourFeatures(image_); });
  return colour_features_;
}

float ImageFacts::backdrop_share() { return colour_features().at("background_share"); }

}  // namespace image2song
