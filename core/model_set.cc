#include "core/model_set.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/file_util.h"
#include "core/batching_model.h"
#include "core/colour_cues.h"
#include "core/embedder.h"
#include "core/image_model.h"
#include "core/song_index.h"
#include "core/log.h"
#include "core/status_macros.h"

namespace image2song {
namespace {

using json = nlohmann::json;

std::string Resolve(const std::string& dir, const std::string& file) {
  return !file.empty() && file[0] == '/' ? file : JoinPath(dir, file);
}

// What every model-backed tagger shares.
struct ModelSpec {
  TaggerInfo info;
  std::string labels;
  float mean[3] = {0, 0, 0};
  float std[3] = {1, 1, 1};
  std::vector<int> skip_labels;
  int top_k = 5;
  float min_score = 0.03f;
  // classifier
  int scores_output = 0;
  int grid = 0;         // regions: grid x grid cells (0: no regions)
  float center = 0;     // regions: centre crop side (0: none)
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
  // cues
  std::string rules;
};

std::vector<bool> SkipMask(const ModelSpec& spec, size_t labels) {
  std::vector<bool> skip(labels, false);
  for (int i : spec.skip_labels) {
    if (i >= 0 && size_t(i) < labels) skip[i] = true;
  }
  return skip;
}

Tag MakeTag(const ModelSpec& spec, const LabelEntry& label, float score) {
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
  ModelTagger(ModelSpec spec, std::vector<LabelEntry> labels,
              std::unique_ptr<ImageModel> model)
      : spec_(std::move(spec)),
        labels_(std::move(labels)),
        model_(std::move(model)) {
    spec_.info.execution = model_->execution();
    skip_ = SkipMask(spec_, labels_.size());
  }
  const TaggerInfo& info() const override { return spec_.info; }

 protected:
  ModelSpec spec_;
  std::vector<LabelEntry> labels_;
  std::vector<bool> skip_;
  std::unique_ptr<ImageModel> model_;
};

// Classifier on the whole image and, optionally, on regions (grid cells and
// a centre crop) in the same forward pass.
class ClassifierTagger : public ModelTagger {
 public:
  ClassifierTagger(ModelSpec spec, std::vector<LabelEntry> labels,
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

  absl::StatusOr<std::vector<Tag>> Run(const RgbImage& image,
                                       ImageFacts& facts) const override {
    const int w = spec_.info.input_width, h = spec_.info.input_height;
    const size_t plane = size_t(3) * w * h;
    int batch = static_cast<int>(crops_.size());
    if (batch > 1 && spec_.region_max_backdrop < 1 &&
        facts.backdrop_share() > spec_.region_max_backdrop) {
      batch = 1;
    }
    std::vector<float> input(plane * batch);
    for (int b = 0; b < batch; ++b) {
      PreprocessToChw(image, crops_[b], w, h, spec_.mean, spec_.std,
                      input.data() + plane * b);
    }
    ASSIGN_OR_RETURN(std::vector<ModelOutput> outputs,
                     model_->Run(input.data(), batch));
    if (spec_.scores_output >= int(outputs.size())) {
      return absl::InternalError(absl::StrCat(
          spec_.info.name, ": model has no output ", spec_.scores_output));
    }
    const ModelOutput& scores = outputs[spec_.scores_output];
    const size_t n = labels_.size();
    if (scores.data.size() != n * batch) {
      return absl::InternalError(absl::StrCat(
          spec_.info.name, ": model returns ", scores.data.size() / batch,
          " scores per image for ", n, " labels"));
    }
    std::vector<Tag> tags;
    const float* whole = scores.data.data();
    for (int i : TopLabels(whole, spec_.top_k, spec_.min_score)) {
      tags.push_back(MakeTag(spec_, labels_[i], whole[i]));
    }
    // Region labels: the best region per label, kept when it beats the
    // whole image's score for that label by min_gain (an object that fills
    // the frame needs no box; one that is small or off-centre gets one).
    std::vector<std::pair<int, int>> best;  // (label, crop)
    for (int b = 1; b < batch; ++b) {
      const float* s = whole + n * b;
      for (int i : TopLabels(s, spec_.region_top_k, spec_.region_min_score)) {
        if (s[i] < whole[i] + spec_.region_min_gain) continue;
        auto it = std::find_if(best.begin(), best.end(),
                               [i](const auto& p) { return p.first == i; });
        if (it == best.end()) {
          best.push_back({i, b});
        } else if (s[i] > whole[n * it->second + i]) {
          it->second = b;
        }
      }
    }
    std::sort(best.begin(), best.end(), [&](const auto& a, const auto& b) {
      float sa = whole[n * a.second + a.first], sb = whole[n * b.second + b.first];
      return sa != sb ? sa > sb : a.first < b.first;
    });
    if (int(best.size()) > spec_.region_top_k) best.resize(spec_.region_top_k);
    for (const auto& [label, crop] : best) {
      Tag t = MakeTag(spec_, labels_[label], whole[n * crop + label]);
      t.weight = spec_.info.weight * spec_.region_weight;
      t.has_box = true;
      t.box = crops_[crop];
      tags.push_back(std::move(t));
    }
    return tags;
  }

 private:
  std::vector<int> TopLabels(const float* s, int k, float min_score) const {
    std::vector<int> order;
    for (int i = 0; i < int(labels_.size()); ++i) {
      if (!skip_[i] && s[i] >= min_score) order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](int a, int b) {
      return s[a] != s[b] ? s[a] > s[b] : a < b;
    });
    if (int(order.size()) > k) order.resize(k);
    return order;
  }

  std::vector<CropBox> crops_;
};

// Object detector: outputs (boxes [1,K,4], scores [1,K], classes [1,K]).
class DetectorTagger : public ModelTagger {
 public:
  using ModelTagger::ModelTagger;

  absl::StatusOr<std::vector<Tag>> Run(const RgbImage& image,
                                       ImageFacts& /*facts*/) const override {
    const int w = spec_.info.input_width, h = spec_.info.input_height;
    std::vector<float> input(size_t(3) * w * h);
    PreprocessToChw(image, CropBox{}, w, h, spec_.mean, spec_.std, input.data());
    ASSIGN_OR_RETURN(std::vector<ModelOutput> out, model_->Run(input.data(), 1));
    if (out.size() < 3 || out[0].data.size() != out[1].data.size() * 4 ||
        out[1].data.size() != out[2].data.size()) {
      return absl::InternalError(absl::StrCat(
          spec_.info.name, ": detector must return (boxes [1,K,4], scores "
                           "[1,K], classes [1,K])"));
    }
    const size_t k = out[1].data.size();
    std::vector<Tag> tags;
    for (size_t i = 0; i < k && int(tags.size()) < spec_.top_k; ++i) {
      const float score = out[1].data[i];
      const int cls = static_cast<int>(std::lround(out[2].data[i]));
      if (!(score >= spec_.min_score) || cls < 0 ||
          cls >= int(labels_.size()) || skip_[cls]) {
        continue;
      }
      const std::string& label = labels_[cls].label;
      auto seen = std::find_if(tags.begin(), tags.end(),
                               [&](const Tag& t) { return t.label == label; });
      if (seen != tags.end()) continue;  // keep the best box per label
      Tag t = MakeTag(spec_, labels_[cls], score);
      const float* b = out[0].data.data() + 4 * i;
      t.has_box = true;
      t.box = CropBox{std::clamp(b[0], 0.0f, 1.0f), std::clamp(b[1], 0.0f, 1.0f),
                      std::clamp(b[2], 0.0f, 1.0f), std::clamp(b[3], 0.0f, 1.0f)};
      tags.push_back(std::move(t));
    }
    return tags;
  }
};

// Light and colour cues: no model.
class CueTagger : public Tagger {
 public:
  CueTagger(ModelSpec spec, std::vector<CueRule> rules)
      : spec_(std::move(spec)), rules_(std::move(rules)) {
    spec_.info.execution = "none";
    spec_.info.label_count = static_cast<int>(rules_.size());
  }

  const TaggerInfo& info() const override { return spec_.info; }

  absl::StatusOr<std::vector<Tag>> Run(const RgbImage& image,
                                       ImageFacts& /*facts*/) const override {
    // ColourFeatures finds the backdrop itself: it needs the mask, not only
    // its share.
    std::vector<Tag> tags;
    for (const CueMatch& m : MatchCueRules(rules_, ColourFeatures(image))) {
      Tag t;
      t.label = m.rule->tag;
      t.score = m.score;
      t.weight = spec_.info.weight;
      t.source = spec_.info.name;
      t.words = m.rule->words;
      tags.push_back(std::move(t));
    }
    std::stable_sort(tags.begin(), tags.end(),
                     [](const Tag& a, const Tag& b) { return a.score > b.score; });
    if (int(tags.size()) > spec_.top_k) tags.resize(spec_.top_k);
    return tags;
  }

 private:
  ModelSpec spec_;
  std::vector<CueRule> rules_;
};

void ReadTriple(const json& j, const char* key, float out[3]) {
  if (!j.contains(key)) return;
  auto v = j.at(key).get<std::vector<float>>();
  if (v.size() != 3) throw std::runtime_error(absl::StrCat("input.", key, " needs 3 values"));
  std::copy(v.begin(), v.end(), out);
}

absl::StatusOr<ModelSpec> ParseTagger(const json& j, const std::string& where) {
  ModelSpec s;
  try {
    s.info.name = j.at("name").get<std::string>();
    s.info.version = j.value("version", "unversioned");
    s.info.kind = j.value("kind", "classifier");
    s.info.weight = j.value("weight", 1.0f);
    s.info.max_backdrop = j.value("max_backdrop", 1.0f);
    s.top_k = j.value("top_k", 5);
    s.min_score = j.value("min_score", 0.03f);
    if (s.info.kind == "cues") {
      s.rules = j.at("rules").get<std::string>();
    } else {
      s.info.file = j.at("file").get<std::string>();
      s.labels = j.at("labels").get<std::string>();
      const json& in = j.at("input");
      s.info.input_width = in.at("width").get<int>();
      s.info.input_height = in.at("height").get<int>();
      ReadTriple(in, "mean", s.mean);
      ReadTriple(in, "std", s.std);
      for (float f : s.std) {
        if (!(f > 0)) throw std::runtime_error("input.std must be > 0");
      }
      s.skip_labels = j.value("skip_labels", std::vector<int>{});
      s.scores_output = j.value("scores_output", 0);
      if (j.contains("batching")) {
        const json& b = j.at("batching");
        if (b.is_boolean()) {
          s.batching = b.get<bool>();
        } else {
          s.max_batch = b.value("max_batch", 0);
          if (s.max_batch < 0 || s.max_batch > 256) {
            throw std::runtime_error("batching.max_batch must be 0..256");
          }
        }
      }
      if (j.contains("regions")) {
        const json& r = j.at("regions");
        s.grid = r.value("grid", 2);
        s.center = r.value("center", 0.0f);
        s.region_top_k = r.value("top_k", 4);
        s.region_min_score = r.value("min_score", 0.25f);
        s.region_weight = r.value("weight", 0.6f);
        s.region_min_gain = r.value("min_gain", 0.15f);
        s.region_max_backdrop = r.value("max_backdrop", 1.0f);
      }
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": bad tagger entry: ", e.what()));
  }
  if (s.info.kind != "classifier" && s.info.kind != "detector" &&
      s.info.kind != "cues") {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": tagger '", s.info.name, "' has unsupported kind '",
        s.info.kind, "' (supported: classifier, detector, cues)"));
  }
  if (s.top_k < 1 || s.top_k > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": tagger '", s.info.name, "': top_k must be 1..100"));
  }
  if (s.grid < 0 || s.grid > 4 || s.center < 0 || s.center >= 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": tagger '", s.info.name,
        "': regions.grid must be 0..4 and regions.center in [0, 1)"));
  }
  return s;
}

// Keeps the label words the vocabulary knows, then adds each label's
// nearest words. Returns how many words were dropped.
absl::StatusOr<size_t> PrepareLabelWords(const WordVectors& words,
                                         const json& expand,
                                         std::vector<LabelEntry>* labels) {
  size_t dropped = 0;
  for (LabelEntry& e : *labels) {
    std::vector<std::string> kept;
    for (std::string& w : e.words) {
      if (words.Find(w) != WordVectors::kNoWord) {
        kept.push_back(std::move(w));
      } else {
        ++dropped;
      }
    }
    e.words = std::move(kept);
  }
  if (expand.value("related", false)) {
    for (LabelEntry& e : *labels) {
      if (e.words.empty()) continue;
      e.core_words = static_cast<int>(e.words.size());
      for (std::string& w : e.related) {
        if (words.Find(w) == WordVectors::kNoWord) {
          ++dropped;
        } else if (std::find(e.words.begin(), e.words.end(), w) == e.words.end()) {
          e.words.push_back(std::move(w));
        }
      }
    }
  }
  const int count = expand.value("count", 0);
  if (count <= 0) return dropped;
  const float min_cosine = expand.value("min_cosine", 0.6f);
  const int32_t vocab = std::min<int32_t>(expand.value("vocabulary", 30000), words.size());
  // Skip the most frequent words ("the", "and"): never useful expansions.
  const int32_t first = std::min<int32_t>(150, vocab / 100);
  const int dim = words.dim();
  std::vector<float> queries;
  std::vector<size_t> which;
  for (size_t i = 0; i < labels->size(); ++i) {
    if ((*labels)[i].words.empty()) continue;
    std::vector<float> q(dim, 0.0f);
    const LabelEntry& e = (*labels)[i];
    const size_t core = e.core_words >= 0 ? size_t(e.core_words) : e.words.size();
    for (size_t k = 0; k < core; ++k) {
      const std::string& w = e.words[k];
      const float* u = words.UnitVector(words.Find(w));
      for (int d = 0; d < dim; ++d) q[d] += u[d];
    }
    queries.insert(queries.end(), q.begin(), q.end());
    which.push_back(i);
  }
  if (which.empty() || vocab <= first) return dropped;
  ASSIGN_OR_RETURN(auto neighbours,
                   ExactNeighbours(words.UnitVector(first), vocab - first,
                                   queries.data(), int64_t(which.size()), dim,
                                   count + 8));
  for (size_t q = 0; q < which.size(); ++q) {
    LabelEntry& e = (*labels)[which[q]];
    if (e.core_words < 0) e.core_words = static_cast<int>(e.words.size());
    // Cosine with the normalised query = inner product / |query|.
    double norm = 0;
    for (int d = 0; d < dim; ++d) norm += double(queries[q * dim + d]) * queries[q * dim + d];
    norm = std::sqrt(norm);
    int added = 0;
    for (const ScoredId& n : neighbours[q]) {
      if (added >= count || norm <= 0 || n.score / norm < min_cosine) break;
      std::string word(words.Word(static_cast<int32_t>(n.id + first)));
      if (std::find(e.words.begin(), e.words.end(), word) != e.words.end()) continue;
      e.words.push_back(std::move(word));
      ++added;
    }
  }
  return dropped;
}

}  // namespace

absl::StatusOr<std::vector<LabelEntry>> LoadLabelFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, int64_t{64} << 20));
  std::vector<LabelEntry> labels;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    if (cols.size() < 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", line_no, ": expected index<TAB>label<TAB>words"));
    }
    int index = 0;
    if (!absl::SimpleAtoi(cols[0], &index) || index != int(labels.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", line_no, ": expected label index ", labels.size()));
    }
    LabelEntry e;
    e.label = cols[1];
    if (cols.size() > 2) {
      e.words = absl::StrSplit(cols[2], ' ', absl::SkipEmpty());
    }
    if (cols.size() > 3) {
      e.related = absl::StrSplit(cols[3], ' ', absl::SkipEmpty());
    }
    labels.push_back(std::move(e));
  }
  if (labels.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no labels"));
  }
  return labels;
}

ModelSet::ModelSet(std::unique_ptr<WordVectors> words,
                   std::vector<std::unique_ptr<Tagger>> taggers,
                   bool parallel_taggers, std::function<void()> on_thread_start)
    : words_(std::move(words)),
      taggers_(std::move(taggers)),
      parallel_taggers_(parallel_taggers),
      on_thread_start_(std::move(on_thread_start)) {
  std::vector<std::string> parts;
  for (const auto& t : taggers_) {
    parts.push_back(absl::StrCat(t->info().name, "@", t->info().version));
  }
  version_ = absl::StrJoin(parts, ",");
}

absl::StatusOr<std::unique_ptr<ModelSet>> ModelSet::Load(
    const ModelSetOptions& options) {
  const std::string& path = options.manifest_path;
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, int64_t{1} << 20));
  json manifest;
  try {
    manifest = json::parse(text);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("model manifest ", path, " is not valid JSON: ", e.what()));
  }
  const std::string dir = ParentDir(path);
  std::string vec_file, vec_id;
  try {
    vec_file = manifest.at("word_vectors").at("file").get<std::string>();
    vec_id = manifest.at("word_vectors").at("id").get<std::string>();
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model manifest ", path, ": word_vectors.file/id: ", e.what()));
  }
  ASSIGN_OR_RETURN(auto words, WordVectors::Load(Resolve(dir, vec_file), vec_id));
  I2S_LOG(INFO) << "loaded word vectors " << vec_id << ": " << words->size()
                << " words, " << words->dim() << " dimensions";
  std::vector<std::unique_ptr<Tagger>> taggers;
  if (!options.words_only) {
    if (!manifest.contains("taggers") || !manifest["taggers"].is_array() ||
        manifest["taggers"].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model manifest ", path, " lists no taggers"));
    }
    const json expand = manifest.value("expand_words", json::object());
    for (const json& j : manifest["taggers"]) {
      ASSIGN_OR_RETURN(ModelSpec spec, ParseTagger(j, path));
      for (const auto& t : taggers) {
        if (t->info().name == spec.info.name) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ": two taggers are named '", spec.info.name, "'"));
        }
      }
      if (spec.info.kind == "cues") {
        ASSIGN_OR_RETURN(std::vector<CueRule> rules,
                         LoadCueRules(Resolve(dir, spec.rules)));
        for (CueRule& r : rules) {
          r.words.erase(std::remove_if(r.words.begin(), r.words.end(),
                                       [&](const std::string& w) {
                                         return words->Find(w) == WordVectors::kNoWord;
                                       }),
                        r.words.end());
        }
        I2S_LOG(INFO) << "loaded tagger " << spec.info.name << " (cues, "
                      << rules.size() << " rules from " << spec.rules << ")";
        taggers.push_back(std::make_unique<CueTagger>(std::move(spec), std::move(rules)));
        continue;
      }
      ASSIGN_OR_RETURN(std::vector<LabelEntry> labels,
                       LoadLabelFile(Resolve(dir, spec.labels)));
      ASSIGN_OR_RETURN(size_t dropped, PrepareLabelWords(*words, expand, &labels));
      spec.info.label_count = static_cast<int>(labels.size());
      ImageModelOptions mo;
      mo.path = Resolve(dir, spec.info.file);
      mo.input_width = spec.info.input_width;
      mo.input_height = spec.info.input_height;
      mo.optimize = options.optimize;
      if (spec.info.kind == "classifier") {
        mo.warmup_batch = 1 + spec.grid * spec.grid + (spec.center > 0 ? 1 : 0);
      }
      ASSIGN_OR_RETURN(auto model, ImageModel::Load(mo));
      if (options.batching && spec.batching) {
        BatchingOptions bo = options.batching_options;
        bo.name = spec.info.name;
        bo.input_width = spec.info.input_width;
        bo.input_height = spec.info.input_height;
        bo.on_thread_start = options.on_thread_start;
        if (spec.max_batch > 0) bo.max_batch = std::min(bo.max_batch, spec.max_batch);
        if (options.on_batch) {
          bo.on_batch = [f = options.on_batch, name = spec.info.name](
                            int images, int calls, double wait_s) {
            f(name, images, calls, wait_s);
          };
        }
        ASSIGN_OR_RETURN(model, MakeBatchingModel(std::move(model), bo));
        spec.info.batching = IsBatching(*model);
        spec.info.max_batch = spec.info.batching ? bo.max_batch : 0;
      }
      I2S_LOG(INFO) << "loaded tagger " << spec.info.name << "@"
                    << spec.info.version << " (" << spec.info.kind << ", "
                    << labels.size() << " labels, " << spec.info.input_width
                    << "x" << spec.info.input_height << ", "
                    << model->execution()
                    << (spec.grid > 0 ? absl::StrCat(", ", spec.grid, "x", spec.grid,
                                                     " grid regions")
                                      : "")
                    << ") from " << mo.path
                    << (dropped ? absl::StrCat("; ", dropped,
                                               " label words not in the "
                                               "vocabulary")
                                : "");
      if (spec.info.kind == "classifier") {
        taggers.push_back(std::make_unique<ClassifierTagger>(
            std::move(spec), std::move(labels), std::move(model)));
      } else {
        taggers.push_back(std::make_unique<DetectorTagger>(
            std::move(spec), std::move(labels), std::move(model)));
      }
    }
  }
  return std::make_unique<ModelSet>(std::move(words), std::move(taggers),
                                    options.parallel_taggers,
                                    options.on_thread_start);
}

float ImageFacts::backdrop_share() {
  std::call_once(once_, [this] { backdrop_share_ = BackdropShare(image_); });
  return backdrop_share_;
}

namespace {

// A tagger's Run, with any exception from a library (OpenCV, LibTorch) as an
// INTERNAL status: on a tagger thread an escaped exception would terminate
// the process.
absl::StatusOr<std::vector<Tag>> RunTagger(const Tagger& tagger,
                                           const RgbImage& image,
                                           ImageFacts& facts) {
  try {
    return tagger.Run(image, facts);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("tagger ", tagger.info().name, " failed on a ",
                                            image.width, "x", image.height,
                                            " image: ", e.what()));
  }
}

}  // namespace

absl::StatusOr<std::vector<Tag>> ModelSet::TagImage(
    const RgbImage& image) const {
  ImageFacts facts(image);
  std::vector<const Tagger*> run;
  int with_model = 0;
  for (const auto& tagger : taggers_) {
    if (tagger->info().max_backdrop < 1 &&
        facts.backdrop_share() > tagger->info().max_backdrop) {
      continue;
    }
    run.push_back(tagger.get());
    if (tagger->info().execution != "none") ++with_model;
  }
  // With parallel_taggers, every model tagger but the first runs on its own
  // thread; the rest run here. Results keep the manifest's order.
  std::vector<bool> on_thread(run.size(), false);
  if (parallel_taggers_ && with_model > 1) {
    bool first_model = true;
    for (size_t i = 0; i < run.size(); ++i) {
      if (run[i]->info().execution == "none") continue;
      on_thread[i] = !first_model;
      first_model = false;
    }
  }
  std::vector<absl::StatusOr<std::vector<Tag>>> results(run.size());
  std::vector<double> thread_forward_ms(run.size(), 0);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < run.size(); ++i) {
    if (!on_thread[i]) continue;
    threads.emplace_back([&, i] {
      if (on_thread_start_) on_thread_start_();
      const double before = ForwardMsThisThread();
      results[i] = RunTagger(*run[i], image, facts);
      thread_forward_ms[i] = ForwardMsThisThread() - before;
    });
  }
  const double before = ForwardMsThisThread();
  for (size_t i = 0; i < run.size(); ++i) {
    if (!on_thread[i]) results[i] = RunTagger(*run[i], image, facts);
  }
  for (std::thread& t : threads) t.join();
  // Forward passes on other threads overlap this thread's: the request
  // spent max(here, there) in forward passes.
  const double here = ForwardMsThisThread() - before;
  double there = 0;
  for (double ms : thread_forward_ms) there = std::max(there, ms);
  if (there > here) AddForwardMsThisThread(there - here);
  std::vector<Tag> all;
  for (auto& r : results) {
    if (!r.ok()) return r.status();
    for (Tag& t : *r) all.push_back(std::move(t));
  }
  std::stable_sort(all.begin(), all.end(), [](const Tag& a, const Tag& b) {
    return a.score * a.weight > b.score * b.weight;
  });
  return all;
}

absl::StatusOr<std::vector<Tag>> ModelSet::TagImages(
    const std::vector<RgbImage>& images) const {
  if (images.size() == 1) return TagImage(images[0]);
  struct Seen {
    Tag best;
    std::vector<bool> in;  // per image
  };
  std::vector<Seen> seen;
  for (size_t i = 0; i < images.size(); ++i) {
    ASSIGN_OR_RETURN(std::vector<Tag> tags, TagImage(images[i]));
    for (Tag& t : tags) {
      t.image_index = static_cast<int>(i);
      auto it = std::find_if(seen.begin(), seen.end(), [&](const Seen& s) {
        return s.best.source == t.source && s.best.label == t.label;
      });
      if (it == seen.end()) {
        seen.push_back(Seen{t, std::vector<bool>(images.size(), false)});
        it = seen.end() - 1;
      } else if (t.score * t.weight > it->best.score * it->best.weight) {
        it->best = t;
      }
      it->in[i] = true;
    }
  }
  std::vector<Tag> merged;
  const float n = static_cast<float>(images.size());
  for (Seen& s : seen) {
    s.best.image_count =
        static_cast<int>(std::count(s.in.begin(), s.in.end(), true));
    s.best.score *= 0.5f + 0.5f * s.best.image_count / n;
    merged.push_back(std::move(s.best));
  }
  std::stable_sort(merged.begin(), merged.end(), [](const Tag& a, const Tag& b) {
    return a.score * a.weight > b.score * b.weight;
  });
  return merged;
}

std::vector<Tag> ModelSet::TagText(absl::string_view text, float weight,
                                   int max_words) const {
  std::vector<std::string> tokens;
  Tokenize(text, &tokens);
  std::vector<Tag> tags;
  const int32_t stop = std::min<int32_t>(SongEmbedder::kStopwordRank,
                                         words_->size() / 100);
  for (const std::string& token : tokens) {
    if (int(tags.size()) >= max_words) break;
    int32_t id = words_->FindToken(token);
    if (id == WordVectors::kNoWord || id < stop) continue;
    std::string word(words_->Word(id));
    if (std::any_of(tags.begin(), tags.end(),
                    [&](const Tag& t) { return t.label == word; })) {
      continue;
    }
    Tag t;
    t.label = word;
    t.score = 1;
    t.weight = weight;
    t.source = "text";
    t.words = {word};
    tags.push_back(std::move(t));
  }
  return tags;
}

}  // namespace image2song
