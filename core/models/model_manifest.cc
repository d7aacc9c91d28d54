#include "core/models/model_manifest.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "util/file_util.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

using json = nlohmann::json;

std::string Resolve(const std::string& dir, const std::string& file) {
  return !file.empty() && file[0] == '/' ? file : JoinPath(dir, file);
}

void ReadTriple(const json& j, const char* key, float out[3]) {
  if (!j.contains(key)) return;
  auto v = j.at(key).get<std::vector<float>>();
  if (v.size() != 3) throw std::runtime_error(absl::StrCat("input.", key, " needs 3 values"));
  std::copy(v.begin(), v.end(), out);
}

void ParseGate(const json& w, TaggerGate* gate) {
  if (!w.is_object()) throw std::runtime_error("when must be an object");
  for (const auto& [key, _] : w.items()) {
    if (key != "labels_any" && key != "min_score" && key != "or_top_score_below") {
      throw std::runtime_error(absl::StrCat("when.", key,
                                            " is unknown (known: labels_any, min_score, "
                                            "or_top_score_below)"));
    }
  }
  gate->gated = true;
  gate->labels_any = w.value("labels_any", std::vector<std::string>{});
  gate->min_score = w.value("min_score", 0.0f);
  gate->top_score_below = w.value("or_top_score_below", 0.0f);
  if (!(gate->min_score >= 0 && gate->min_score <= 1) ||
      !(gate->top_score_below >= 0 && gate->top_score_below <= 1)) {
    throw std::runtime_error("when.min_score and when.or_top_score_below must be in [0, 1]");
  }
  if (gate->labels_any.empty() && gate->top_score_below == 0) {
    throw std::runtime_error("when needs labels_any or or_top_score_below");
  }
}

absl::StatusOr<TaggerSpec> ParseTagger(const json& j, const std::string& where,
                                       const std::string& dir) {
  TaggerSpec s;
  try {
    s.info.name = j.at("name").get<std::string>();
    s.info.version = j.value("version", "unversioned");
    s.info.kind = j.value("kind", "classifier");
    s.info.weight = j.value("weight", 1.0f);
    s.info.max_backdrop = j.value("max_backdrop", 1.0f);
    s.top_k = j.value("top_k", 5);
    s.min_score = j.value("min_score", 0.03f);
    if (j.contains("when")) ParseGate(j.at("when"), &s.info.gate);
    if (s.info.kind == "cues") {
      s.rules = Resolve(dir, j.at("rules").get<std::string>());
    } else {
      s.info.file = j.at("file").get<std::string>();
      s.model_path = Resolve(dir, s.info.file);
      s.labels = Resolve(dir, j.at("labels").get<std::string>());
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
      if (s.info.kind == "faces") {
        s.face_min_size = j.value("min_size", s.face_min_size);
        s.face_box_scale = j.value("box_scale", s.face_box_scale);
        if (!(s.face_min_size >= 0 && s.face_min_size <= 1) ||
            !(s.face_box_scale >= 1 && s.face_box_scale <= 4)) {
          throw std::runtime_error("min_size must be in [0, 1] and box_scale in [1, 4]");
        }
        const json& e = j.at("emotion");
        s.emotion_file = e.at("file").get<std::string>();
        s.emotion_path = Resolve(dir, s.emotion_file);
        const json& ein = e.at("input");
        s.emotion_width = ein.at("width").get<int>();
        s.emotion_height = ein.at("height").get<int>();
        ReadTriple(ein, "mean", s.emotion_mean);
        ReadTriple(ein, "std", s.emotion_std);
        for (float f : s.emotion_std) {
          if (!(f > 0)) throw std::runtime_error("emotion.input.std must be > 0");
        }
        s.emotion_min_score = e.value("min_score", s.emotion_min_score);
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
        const std::string from = r.value("from", std::string("crops"));
        if (from != "crops" && from != "features") {
          throw std::runtime_error("regions.from must be \"crops\" or \"features\"");
        }
        s.regions_from_features = from == "features";
        s.features_output = r.value("features_output", 2);
        if (s.features_output < 0 || s.features_output > 16) {
          throw std::runtime_error("regions.features_output must be 0..16");
        }
      }
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": bad tagger entry: ", e.what()));
  }
  if (s.info.kind != "classifier" && s.info.kind != "detector" && s.info.kind != "cues" &&
      s.info.kind != "faces") {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": tagger '", s.info.name, "' has unsupported kind '", s.info.kind,
                     "' (supported: classifier, detector, faces, cues)"));
  }
  if (s.top_k < 1 || s.top_k > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": tagger '", s.info.name, "': top_k must be 1..100"));
  }
  if (s.grid < 0 || s.grid > 4 || s.center < 0 || s.center >= 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": tagger '", s.info.name,
                     "': regions.grid must be 0..4 and regions.center in [0, 1)"));
  }
  return s;
}

}  // namespace

absl::StatusOr<ModelManifest> ParseModelManifest(absl::string_view text, const std::string& path) {
  json manifest;
  try {
    manifest = json::parse(text);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("model manifest ", path, " is not valid JSON: ", e.what()));
  }
  ModelManifest m;
  m.path = path;
  const std::string dir = ParentDir(path);
  try {
    m.word_vectors_file = Resolve(dir, manifest.at("word_vectors").at("file").get<std::string>());
    m.word_vectors_id = manifest.at("word_vectors").at("id").get<std::string>();
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("model manifest ", path, ": word_vectors.file/id: ", e.what()));
  }
  try {
    const json expand = manifest.value("expand_words", json::object());
    m.expand_words.related = expand.value("related", false);
    m.expand_words.count = expand.value("count", 0);
    m.expand_words.min_cosine = expand.value("min_cosine", 0.6f);
    m.expand_words.vocabulary = expand.value("vocabulary", 30000);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("model manifest ", path, ": expand_words: ", e.what()));
  }
  try {
    const json query = manifest.value("query", json::object());
    m.query.score_power = query.value("score_power", 1.0f);
    m.query.damping = query.value("damping", 0.0f);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("model manifest ", path, ": query: ", e.what()));
  }
  if (!(m.query.score_power > 0 && m.query.score_power <= 8) ||
      !(m.query.damping >= 0 && m.query.damping <= 16)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model manifest ", path,
                     ": query.score_power must be in (0, 8], query.damping in [0, 16]"));
  }
  if (manifest.contains("sentence_encoder")) {
    try {
      const json& e = manifest.at("sentence_encoder");
      m.sentence_encoder.model_path = Resolve(dir, e.at("file").get<std::string>());
      m.sentence_encoder.vocab_path = Resolve(dir, e.at("vocab").get<std::string>());
      m.sentence_encoder.id = e.at("id").get<std::string>();
      m.sentence_encoder.phrase = e.value("phrase", std::string("{label}"));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model manifest ", path, ": sentence_encoder (file, vocab, id): ", e.what()));
    }
    if (m.sentence_encoder.id.empty() ||
        m.sentence_encoder.phrase.find("{label}") == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model manifest ", path, ": sentence_encoder needs an id and a phrase holding {label}"));
    }
  }
  if (manifest.contains("mood")) {
    try {
      const json& mood = manifest.at("mood");
      for (const auto& [key, _] : mood.items()) {
        if (key != "file" && key != "weight" && key != "request_weight") {
          throw std::runtime_error(
              absl::StrCat(key, " is unknown (known: file, weight, request_weight)"));
        }
      }
      const std::string file = mood.at("file").get<std::string>();
      if (file.empty()) throw std::runtime_error("file must name a file");
      m.mood.file = Resolve(dir, file);
      m.mood.weight = mood.value("weight", 0.0f);
      m.mood.request_weight = mood.value("request_weight", 0.3f);
      for (float w : {m.mood.weight, m.mood.request_weight}) {
        if (!(w >= 0 && w <= 2)) throw std::runtime_error("weights must be in [0, 2]");
      }
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model manifest ", path, ": mood (file, weight, request_weight): ", e.what()));
    }
  }
  if (manifest.contains("mood_lexicon")) {
    try {
      const json& e = manifest.at("mood_lexicon");
      m.mood_lexicon.path = Resolve(dir, e.at("file").get<std::string>());
      m.mood_lexicon.id = e.at("id").get<std::string>();
      m.mood_lexicon.valence_threshold = e.value("valence_threshold", 0.05f);
      m.mood_lexicon.arousal_threshold = e.value("arousal_threshold", 0.22f);
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("model manifest ", path, ": mood_lexicon (file, id): ", e.what()));
    }
    const MoodLexiconSpec& l = m.mood_lexicon;
    if (l.id.empty() || !(l.valence_threshold >= 0 && l.valence_threshold <= 1) ||
        !(l.arousal_threshold >= 0 && l.arousal_threshold <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model manifest ", path, ": mood_lexicon needs an id, and thresholds in [0, 1]"));
    }
  }
  if (manifest.contains("imputation")) {
    try {
      const json& e = manifest.at("imputation");
      m.imputation.k = e.value("k", 10);
      m.imputation.vote = e.value("vote", std::string("similarity"));
      m.imputation.min_confidence = e.value("min_confidence", 0.0f);
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model manifest ", path, ": imputation (k, vote, min_confidence): ", e.what()));
    }
    const ImputationSpec& i = m.imputation;
    if (i.k < 0 || i.k > 1000 || (i.vote != "similarity" && i.vote != "majority") ||
        !(i.min_confidence >= 0 && i.min_confidence <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model manifest ", path,
          ": imputation.k must be in 0..1000, vote similarity or majority, min_confidence in "
          "[0, 1]"));
    }
  }
  if (manifest.contains("taggers")) {
    if (!manifest["taggers"].is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model manifest ", path, ": taggers must be an array"));
    }
    for (const json& j : manifest["taggers"]) {
      ASSIGN_OR_RETURN(TaggerSpec spec, ParseTagger(j, path, dir));
      for (const TaggerSpec& t : m.taggers) {
        if (t.info.name == spec.info.name) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, ": two taggers are named '", spec.info.name, "'"));
        }
      }
      m.taggers.push_back(std::move(spec));
    }
  }
  return m;
}

bool GateOpen(const TaggerGate& gate, const std::vector<Tag>& earlier) {
  if (!gate.gated) return true;
  float best_object = 0;
  for (const Tag& t : earlier) {
    if (t.role == TagRole::kObject) best_object = std::max(best_object, t.score);
    if (t.score >= gate.min_score && std::find(gate.labels_any.begin(), gate.labels_any.end(),
                                               t.label) != gate.labels_any.end()) {
      return true;
    }
  }
  return best_object < gate.top_score_below;
}

void CalibrateTags(const QueryCalibration& calibration, std::vector<Tag>* tags) {
  if (calibration.identity()) return;
  float best_object = 0;
  for (const Tag& t : *tags) {
    if (t.role == TagRole::kObject) best_object = std::max(best_object, t.score);
  }
  const float damp = std::pow(std::max(0.0f, 1 - best_object), calibration.damping);
  for (Tag& t : *tags) {
    if ((t.role == TagRole::kObject || t.role == TagRole::kRegion) && t.score > 0) {
      t.weight *= std::pow(t.score, calibration.score_power - 1);
    }
    if (t.role == TagRole::kRegion || t.role == TagRole::kCue) t.weight *= damp;
  }
}

absl::StatusOr<ModelManifest> ReadModelManifest(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, int64_t{1} << 20));
  return ParseModelManifest(text, path);
}

absl::StatusOr<std::unique_ptr<WordVectors>> LoadManifestWordVectors(
    const ModelManifest& manifest) {
  ASSIGN_OR_RETURN(auto words,
                   WordVectors::Load(manifest.word_vectors_file, manifest.word_vectors_id));
  I2S_LOG(INFO) << "loaded word vectors " << manifest.word_vectors_id << ": " << words->size()
                << " words, " << words->dim() << " dimensions";
  return words;
}

absl::StatusOr<std::unique_ptr<WordVectors>> LoadManifestWordVectors(const std::string& path) {
  ASSIGN_OR_RETURN(ModelManifest manifest, ReadModelManifest(path));
  return LoadManifestWordVectors(manifest);
}

}  // namespace image2song
