#include "core/model_set.h"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/file_util.h"
#include "core/image_model.h"
#include "core/log.h"
#include "core/status_macros.h"

namespace image2song {
namespace {

using json = nlohmann::json;

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string Resolve(const std::string& dir, const std::string& file) {
  return !file.empty() && file[0] == '/' ? file : JoinPath(dir, file);
}

struct ClassifierSpec {
  TaggerInfo info;
  std::string file;
  std::string labels;
  float mean[3] = {0, 0, 0};
  float std[3] = {1, 1, 1};
  std::vector<int> skip_labels;
  int scores_output = 0;
  int top_k = 5;
  float min_score = 0.03f;
  float weight = 1.0f;
};

// Whole-image classifier: top labels above a threshold become tags.
class ClassifierTagger : public Tagger {
 public:
  ClassifierTagger(ClassifierSpec spec, std::vector<LabelEntry> labels,
                   std::unique_ptr<ImageModel> model)
      : spec_(std::move(spec)),
        labels_(std::move(labels)),
        model_(std::move(model)) {
    spec_.info.execution = model_->execution();
    skip_.assign(labels_.size(), false);
    for (int i : spec_.skip_labels) {
      if (i >= 0 && i < int(skip_.size())) skip_[i] = true;
    }
  }

  const TaggerInfo& info() const override { return spec_.info; }

  absl::StatusOr<std::vector<Tag>> Run(const RgbImage& image) const override {
    const int w = spec_.info.input_width, h = spec_.info.input_height;
    std::vector<float> input(size_t(3) * w * h);
    PreprocessToChw(image, CropBox{}, w, h, spec_.mean, spec_.std,
                    input.data());
    ASSIGN_OR_RETURN(std::vector<ModelOutput> outputs,
                     model_->Run(input.data(), 1));
    if (spec_.scores_output >= int(outputs.size())) {
      return absl::InternalError(absl::StrCat(
          spec_.info.name, ": model has no output ", spec_.scores_output));
    }
    const ModelOutput& scores = outputs[spec_.scores_output];
    if (scores.data.size() != labels_.size()) {
      return absl::InternalError(absl::StrCat(
          spec_.info.name, ": model returns ", scores.data.size(),
          " scores for ", labels_.size(), " labels"));
    }
    std::vector<int> order;
    for (int i = 0; i < int(scores.data.size()); ++i) {
      if (!skip_[i] && scores.data[i] >= spec_.min_score) order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](int a, int b) {
      return scores.data[a] != scores.data[b] ? scores.data[a] > scores.data[b]
                                              : a < b;
    });
    if (int(order.size()) > spec_.top_k) order.resize(spec_.top_k);
    std::vector<Tag> tags;
    for (int i : order) {
      Tag t;
      t.label = labels_[i].label;
      t.score = std::clamp(scores.data[i], 0.0f, 1.0f);
      t.weight = spec_.weight;
      t.source = spec_.info.name;
      t.words = labels_[i].words;
      tags.push_back(std::move(t));
    }
    return tags;
  }

 private:
  ClassifierSpec spec_;
  std::vector<LabelEntry> labels_;
  std::vector<bool> skip_;
  std::unique_ptr<ImageModel> model_;
};

absl::StatusOr<ClassifierSpec> ParseClassifier(const json& j,
                                               const std::string& where) {
  ClassifierSpec s;
  try {
    s.info.name = j.at("name").get<std::string>();
    s.info.version = j.value("version", "unversioned");
    s.info.kind = j.value("kind", "classifier");
    s.file = j.at("file").get<std::string>();
    s.labels = j.at("labels").get<std::string>();
    const json& in = j.at("input");
    s.info.input_width = in.at("width").get<int>();
    s.info.input_height = in.at("height").get<int>();
    if (in.contains("mean")) {
      auto m = in.at("mean").get<std::vector<float>>();
      if (m.size() != 3) throw std::runtime_error("input.mean needs 3 values");
      std::copy(m.begin(), m.end(), s.mean);
    }
    if (in.contains("std")) {
      auto v = in.at("std").get<std::vector<float>>();
      if (v.size() != 3) throw std::runtime_error("input.std needs 3 values");
      for (float f : v) {
        if (!(f > 0)) throw std::runtime_error("input.std must be > 0");
      }
      std::copy(v.begin(), v.end(), s.std);
    }
    s.skip_labels = j.value("skip_labels", std::vector<int>{});
    s.scores_output = j.value("scores_output", 0);
    s.top_k = j.value("top_k", 5);
    s.min_score = j.value("min_score", 0.03f);
    s.weight = j.value("weight", 1.0f);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": bad tagger entry: ", e.what()));
  }
  if (s.info.kind != "classifier") {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": tagger '", s.info.name, "' has unsupported kind '",
        s.info.kind, "' (supported: classifier)"));
  }
  if (s.top_k < 1 || s.top_k > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": top_k must be 1..100"));
  }
  return s;
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
    labels.push_back(std::move(e));
  }
  if (labels.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no labels"));
  }
  return labels;
}

ModelSet::ModelSet(std::unique_ptr<WordVectors> words,
                   std::vector<std::unique_ptr<Tagger>> taggers)
    : words_(std::move(words)), taggers_(std::move(taggers)) {
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
  const std::string dir = DirName(path);
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
    for (const json& j : manifest["taggers"]) {
      ASSIGN_OR_RETURN(ClassifierSpec spec, ParseClassifier(j, path));
      ASSIGN_OR_RETURN(std::vector<LabelEntry> labels,
                       LoadLabelFile(Resolve(dir, spec.labels)));
      // Keep only words the vector space knows.
      size_t dropped = 0;
      for (LabelEntry& e : labels) {
        std::vector<std::string> kept;
        for (std::string& w : e.words) {
          if (words->Find(w) != WordVectors::kNoWord) {
            kept.push_back(std::move(w));
          } else {
            ++dropped;
          }
        }
        e.words = std::move(kept);
      }
      spec.info.label_count = static_cast<int>(labels.size());
      ImageModelOptions mo;
      mo.path = Resolve(dir, spec.file);
      mo.input_width = spec.info.input_width;
      mo.input_height = spec.info.input_height;
      mo.optimize = options.optimize;
      ASSIGN_OR_RETURN(auto model, ImageModel::Load(mo));
      I2S_LOG(INFO) << "loaded tagger " << spec.info.name << "@"
                    << spec.info.version << " (" << spec.info.kind << ", "
                    << labels.size() << " labels, " << spec.info.input_width
                    << "x" << spec.info.input_height << ", "
                    << model->execution() << ") from " << mo.path
                    << (dropped ? absl::StrCat("; ", dropped,
                                               " label words not in the "
                                               "vocabulary")
                                : "");
      taggers.push_back(std::make_unique<ClassifierTagger>(
          std::move(spec), std::move(labels), std::move(model)));
    }
  }
  return std::make_unique<ModelSet>(std::move(words), std::move(taggers));
}

absl::StatusOr<std::vector<Tag>> ModelSet::TagImage(
    const RgbImage& image) const {
  std::vector<Tag> all;
  for (const auto& tagger : taggers_) {
    ASSIGN_OR_RETURN(std::vector<Tag> tags, tagger->Run(image));
    for (Tag& t : tags) all.push_back(std::move(t));
  }
  std::stable_sort(all.begin(), all.end(), [](const Tag& a, const Tag& b) {
    return a.score * a.weight > b.score * b.weight;
  });
  return all;
}

}  // namespace image2song
