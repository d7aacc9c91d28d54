#include "core/models/image_mood.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

using json = nlohmann::json;

constexpr int kColourCount = 10;

float Clamp1(float x) { return std::max(-1.0f, std::min(1.0f, x)); }

// Weighted mean of the lexicon values of `tags` (those for which `take`).
template <typename Take>
MoodPoint MeanPrior(const std::map<std::string, MoodPoint>& lexicon, const std::vector<Tag>& tags,
                    Take take) {
  double v = 0, a = 0, total = 0;
  for (const Tag& t : tags) {
    if (!take(t)) continue;
    MoodPoint p;
    if (!TagMoodPrior(lexicon, t, &p)) continue;
    const double w = std::max(0.0f, t.score * t.weight);
    v += w * p.valence;
    a += w * p.arousal;
    total += w;
  }
  if (total <= 0) return MoodPoint{};
  return MoodPoint{static_cast<float>(v / total), static_cast<float>(a / total)};
}

void ReadWeights(const json& j, const char* key, std::vector<float>* weights, float* bias) {
  const auto& names = ImageMoodFeatureNames();
  weights->assign(names.size(), 0.0f);
  *bias = 0;
  if (!j.contains(key)) throw std::runtime_error(absl::StrCat(key, " is missing"));
  const json& w = j.at(key);
  if (!w.is_object()) throw std::runtime_error(absl::StrCat(key, " must be an object"));
  for (const auto& [name, value] : w.items()) {
    if (!value.is_number()) {
      throw std::runtime_error(absl::StrCat(key, ".", name, " must be a number"));
    }
    const float f = value.get<float>();
    if (!std::isfinite(f) || std::fabs(f) > 100) {
      throw std::runtime_error(absl::StrCat(key, ".", name, " must be finite, |w| <= 100"));
    }
    if (name == "bias") {
      *bias = f;
      continue;
    }
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      throw std::runtime_error(absl::StrCat(key, ".", name, " is not a feature (known: bias, ",
                                            absl::StrJoin(names, ", "), ")"));
    }
    (*weights)[it - names.begin()] = f;
  }
}

}  // namespace

const std::vector<std::string>& ImageMoodFeatureNames() {
  static const std::vector<std::string> names = {
      "brightness",  "saturation",  "colourfulness",    "dark_share",  "bright_share",
      "warm_share",  "cold_share",  "vegetation_share", "sky_share",   "water_share",
      "tag_valence", "tag_arousal", "face_valence",     "face_arousal"};
  return names;
}

std::vector<int> ImageMoodColourFeatures() {
  std::vector<int> out;
  for (int i = 0; i < kColourCount; ++i) out.push_back(i);
  return out;
}
std::vector<int> ImageMoodTagFeatures() { return {kColourCount, kColourCount + 1}; }
std::vector<int> ImageMoodFaceFeatures() { return {kColourCount + 2, kColourCount + 3}; }

bool TagMoodPrior(const std::map<std::string, MoodPoint>& lexicon, const Tag& tag, MoodPoint* out) {
  auto it = lexicon.find(tag.label);
  if (it != lexicon.end()) {
    *out = it->second;
    return true;
  }
  const size_t core =
      tag.core_words < 0 ? tag.words.size() : std::min(tag.words.size(), size_t(tag.core_words));
  float v = 0, a = 0;
  int n = 0;
  for (size_t i = 0; i < core; ++i) {
    auto w = lexicon.find(tag.words[i]);
    if (w == lexicon.end()) continue;
    v += w->second.valence;
    a += w->second.arousal;
    ++n;
  }
  if (n == 0) return false;
  *out = MoodPoint{v / n, a / n};
  return true;
}

std::vector<float> ImageMoodFeatures(const std::map<std::string, MoodPoint>& lexicon,
                                     const std::vector<Tag>& tags,
                                     const std::map<std::string, float>& colour,
                                     const std::vector<std::string>& face_sources) {
  const auto& names = ImageMoodFeatureNames();
  std::vector<float> f(names.size(), 0.0f);
  for (int i = 0; i < kColourCount; ++i) {
    auto it = colour.find(names[i]);
    if (it != colour.end() && std::isfinite(it->second)) f[i] = it->second;
  }
  auto is_face = [&](const Tag& t) {
    return std::find(face_sources.begin(), face_sources.end(), t.source) != face_sources.end();
  };
  const MoodPoint tag = MeanPrior(lexicon, tags, [&](const Tag& t) { return !is_face(t); });
  const MoodPoint face = MeanPrior(lexicon, tags, is_face);
  f[kColourCount] = tag.valence;
  f[kColourCount + 1] = tag.arousal;
  f[kColourCount + 2] = face.valence;
  f[kColourCount + 3] = face.arousal;
  return f;
}

std::vector<std::string> MoodWordsFor(const std::vector<MoodWord>& words, MoodPoint point) {
  std::vector<std::pair<float, const MoodWord*>> by;
  for (const MoodWord& w : words) {
    const float dv = w.point.valence - point.valence, da = w.point.arousal - point.arousal;
    by.emplace_back(std::sqrt(dv * dv + da * da), &w);
  }
  std::stable_sort(by.begin(), by.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  if (by.empty()) return out;
  out.push_back(by[0].second->word);
  if (by.size() > 1 && by[1].first <= 1.25f * by[0].first) out.push_back(by[1].second->word);
  return out;
}

ImageMood ImageMoodFromFeatures(const ImageMoodModel& model, const std::vector<float>& features) {
  double v = model.valence_bias, a = model.arousal_bias;
  const size_t n = std::min(features.size(), model.valence_weights.size());
  for (size_t i = 0; i < n; ++i) {
    v += model.valence_weights[i] * features[i];
    a += model.arousal_weights[i] * features[i];
  }
  ImageMood mood;
  mood.valence = Clamp1(static_cast<float>(v));
  mood.arousal = Clamp1(static_cast<float>(a));
  mood.words = MoodWordsFor(model.words, MoodPoint{mood.valence, mood.arousal});
  return mood;
}

ImageMood ComputeImageMood(const ImageMoodModel& model, const std::vector<Tag>& tags,
                           const std::map<std::string, float>& colour,
                           const std::vector<std::string>& face_sources) {
  return ImageMoodFromFeatures(model, ImageMoodFeatures(model.lexicon, tags, colour, face_sources));
}

absl::StatusOr<std::map<std::string, MoodPoint>> ParseMoodLexicon(absl::string_view text,
                                                                  const std::string& path) {
  std::map<std::string, MoodPoint> lexicon;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripTrailingAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> cols = absl::StrSplit(line, '\t');
    MoodPoint p;
    if (cols.size() < 3 || cols[0].empty() || !absl::SimpleAtof(cols[1], &p.valence) ||
        !absl::SimpleAtof(cols[2], &p.arousal) || !(std::fabs(p.valence) <= 1) ||
        !(std::fabs(p.arousal) <= 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("mood lexicon ", path, " line ", line_no,
                       ": want word<TAB>valence<TAB>arousal with values in [-1, 1]"));
    }
    if (!lexicon.emplace(std::string(cols[0]), p).second) {
      return absl::InvalidArgumentError(absl::StrCat("mood lexicon ", path, " line ", line_no,
                                                     ": '", cols[0], "' is listed twice"));
    }
  }
  if (lexicon.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("mood lexicon ", path, " has no entries"));
  }
  return lexicon;
}

absl::StatusOr<ImageMoodModel> ParseImageMoodModel(absl::string_view text, const std::string& path,
                                                   const std::string* lexicon_text) {
  ImageMoodModel m;
  m.path = path;
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("image mood model ", path, " is not valid JSON: ", e.what()));
  }
  try {
    if (!j.is_object()) throw std::runtime_error("must be an object");
    const std::string lexicon = j.at("lexicon").get<std::string>();
    m.lexicon_path =
        !lexicon.empty() && lexicon[0] == '/' ? lexicon : JoinPath(ParentDir(path), lexicon);
    ReadWeights(j, "valence", &m.valence_weights, &m.valence_bias);
    ReadWeights(j, "arousal", &m.arousal_weights, &m.arousal_bias);
    for (const json& w : j.at("words")) {
      MoodWord mw;
      mw.word = w.at("word").get<std::string>();
      mw.point.valence = w.at("valence").get<float>();
      mw.point.arousal = w.at("arousal").get<float>();
      if (mw.word.empty() || !(std::fabs(mw.point.valence) <= 1) ||
          !(std::fabs(mw.point.arousal) <= 1)) {
        throw std::runtime_error("each of words needs a word and valence, arousal in [-1, 1]");
      }
      m.words.push_back(std::move(mw));
    }
    if (m.words.empty()) throw std::runtime_error("words must not be empty");
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("image mood model ", path, ": ", e.what()));
  }
  if (lexicon_text != nullptr) {
    ASSIGN_OR_RETURN(m.lexicon, ParseMoodLexicon(*lexicon_text, m.lexicon_path));
  }
  return m;
}

absl::StatusOr<ImageMoodModel> ReadImageMoodModel(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, int64_t{1} << 20));
  ASSIGN_OR_RETURN(ImageMoodModel m, ParseImageMoodModel(text, path));
  ASSIGN_OR_RETURN(std::string lexicon, ReadFile(m.lexicon_path, int64_t{4} << 20));
  ASSIGN_OR_RETURN(m.lexicon, ParseMoodLexicon(lexicon, m.lexicon_path));
  return m;
}

std::string ImageMoodModelJson(const ImageMoodModel& model, const std::string& lexicon_file,
                               const std::string& fit_json) {
  const auto& names = ImageMoodFeatureNames();
  auto weights = [&](const std::vector<float>& w, float bias) {
    json o = json::object();
    o["bias"] = std::round(bias * 1e4) / 1e4;
    for (size_t i = 0; i < names.size() && i < w.size(); ++i) {
      o[names[i]] = std::round(w[i] * 1e4) / 1e4;
    }
    return o;
  };
  json j;
  j["lexicon"] = lexicon_file;
  j["valence"] = weights(model.valence_weights, model.valence_bias);
  j["arousal"] = weights(model.arousal_weights, model.arousal_bias);
  json words = json::array();
  for (const MoodWord& w : model.words) {
    words.push_back({{"word", w.word}, {"valence", w.point.valence}, {"arousal", w.point.arousal}});
  }
  j["words"] = std::move(words);
  j["fit"] = fit_json.empty() ? json::object() : json::parse(fit_json, nullptr, false);
  return j.dump(1) + "\n";
}

}  // namespace image2song
