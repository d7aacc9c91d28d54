// i2s-eval: relevance benchmark. Ranks the songs of a bundle for every
// picture of an evaluation set (tools/eval/make_eval_set.sh) with each model
// configuration, and reports P@5, nDCG@k and MRR against lyric relevance.
//
// Relevance (the same definition as tools/eval/relevance.py; keep the two in
// step): a song is relevant to a picture when its lyrics (Bundle::song(i)
// .lines, tokenised by Tokenize()) contain a word of the picture's lexicon.
// A token's trailing "'s" is dropped; a lexicon word w matches a token t when
// t == w or one is a simple plural of the other (-s; -es after s/x/z/ch/sh;
// -ies for -y). Gain = distinct lexicon words present, capped at 3. Relevance
// never looks at the ranking; pictures with no relevant song in the bundle
// are excluded (and counted).
//
// Metrics per picture, averaged over pictures (random: also over seeds):
//   P@5     relevant songs among the first 5 / 5
//   nDCG@k  sum_i gain_i / log2(i + 1) over the first k, divided by the same
//           sum for the ideal order of all the bundle's songs
//   MRR     1 / rank of the first relevant song within the first k, else 0
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bench/mood_eval.h"
#include "bench/ranking_flags.h"
#include "core/bundle/bundle.h"
#include "core/image/image.h"
#include "core/models/image_model.h"
#include "core/models/model_set.h"
#include "core/recommender.h"
#include "core/words/word_vectors.h"
#include "util/cli.h"
#include "util/file_util.h"
#include "util/status_macros.h"

#ifndef I2S_VERSION
#define I2S_VERSION "dev"
#endif

ABSL_FLAG(std::string, eval, "",
          "Evaluation set (eval.jsonl; image paths relative to its directory). "
          "Default: $I2S_CACHE/eval/eval.jsonl.");
ABSL_FLAG(std::string, bundle, "", "Index bundle. Default: $I2S_CACHE/bundles/demo.");
ABSL_FLAG(std::string, configs, "",
          "Comma-separated configurations: name=path/to/models.json, or "
          "`random` (seeded uniform random ranking of all songs). Default: "
          "random, v1=<models>/models_v1.json (else models.json), default="
          "<models>/models.json (when models_v1.json exists), full="
          "<models>/models_full.json (when there), <models> = "
          "$I2S_CACHE/models/default.");
ABSL_FLAG(int, limit, 0, "Evaluate only the first N pictures (0 = all).");
ABSL_FLAG(int, top_k, 10, "Songs ranked per picture: the k of nDCG@k and MRR.");
ABSL_FLAG(int, random_seeds, 20, "Seeds averaged for the `random` configuration.");
ABSL_FLAG(bool, json, false, "Print one JSON object instead of a markdown table.");
ABSL_FLAG(std::string, output, "",
          "Write the report (table or JSON) to this file instead of stdout.");
ABSL_FLAG(std::string, details, "", "Also write one JSON line per picture and configuration here.");
ABSL_FLAG(int, torch_threads, 1, "LibTorch intra-op threads.");
ABSL_FLAG(bool, calibrate, false,
          "Fit the query calibration (models.json \"query\" and the cue and region "
          "weights) of the one --configs entry on --calibration_subset by grid search, "
          "with --folds-fold cross-validation, and print the per-fold numbers.");
ABSL_FLAG(std::string, calibration_subset, "photos",
          "Pictures the calibration is fitted on (first directory of the image path).");
ABSL_FLAG(int, folds, 5, "Cross-validation folds of --calibrate and --mood.");
ABSL_FLAG(std::string, calibrated_manifest, "",
          "--calibrate writes the config's models.json with the fitted values here.");
ABSL_FLAG(bool, optimize_models, true, "As i2s-server --optimize_models.");
ABSL_FLAG(std::string, mood, "",
          "Image-mood report instead of relevance: photos labelled with their mood (TSV, e.g. "
          "tools/eval/photo_moods.tsv): valence sign agreement, arousal agreement and "
          "correlations of the fitted model vs colour-only vs tags-only, per fold of --folds "
          "(the first config's models, which must name a mood model).");
ABSL_FLAG(std::string, mood_photos, "",
          "Directory the --mood labels' image paths are relative to (photos/..., "
          "mood_photos/...). Default: $I2S_CACHE/eval.");
ABSL_FLAG(double, mood_ridge, 5.0, "Ridge penalty of the --mood fit (on standardised features).");
ABSL_FLAG(std::string, fit_mood, "",
          "With --mood: also fit the mood weights on all the labelled photos and write the mood "
          "model JSON here (lexicon and words kept from the loaded one).");

namespace image2song {
namespace {

constexpr int kMaxGain = 3;
constexpr int kPrecisionAt = 5;

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- relevance

std::string Base(absl::string_view token) {
  if (token.size() > 2 && absl::EndsWith(token, "'s")) token.remove_suffix(2);
  return std::string(token);
}

// The word and its simple singulars (see the file comment).
std::vector<std::string> Forms(absl::string_view token) {
  std::string w = Base(token);
  std::vector<std::string> out = {w};
  auto ends = [&](absl::string_view s) { return absl::EndsWith(w, s); };
  if (w.size() > 3 && ends("s") && !ends("ss")) {
    out.push_back(w.substr(0, w.size() - 1));
  }
  if (w.size() > 4 && ends("es")) {
    absl::string_view stem = absl::string_view(w).substr(0, w.size() - 2);
    for (absl::string_view e : {"s", "x", "z", "ch", "sh"}) {
      if (absl::EndsWith(stem, e)) {
        out.emplace_back(stem);
        break;
      }
    }
  }
  if (w.size() > 4 && ends("ies")) {
    out.push_back(w.substr(0, w.size() - 3) + "y");
  }
  return out;
}

// The lyric words of one song.
class SongWords {
 public:
  explicit SongWords(const std::vector<std::string>& lines) {
    std::vector<std::string> tokens;
    for (const std::string& line : lines) Tokenize(line, &tokens);
    for (const std::string& t : tokens) {
      raw_.insert(Base(t));
      for (std::string& f : Forms(t)) forms_.insert(std::move(f));
    }
  }
  bool Has(const std::string& word) const {
    if (forms_.contains(word)) return true;
    for (const std::string& f : Forms(word)) {
      if (raw_.contains(f)) return true;
    }
    return false;
  }
  int Gain(const std::vector<std::string>& lexicon) const {
    int n = 0;
    for (const std::string& w : lexicon) n += Has(w) ? 1 : 0;
    return std::min(n, kMaxGain);
  }

 private:
  absl::flat_hash_set<std::string> raw_;
  absl::flat_hash_set<std::string> forms_;
};

// ---------------------------------------------------------------- eval set

struct Picture {
  std::string image;  // as written in eval.jsonl
  std::string path;   // resolved
  std::vector<std::string> lexicon;
  std::string source;
  std::string subset;          // first directory of `image` ("openmoji", "photos"), or "-"
  int expected_relevant = -1;  // "relevant_songs" from the builder, if any
  std::vector<int> gains;      // per bundle song
  int relevant = 0;
  double ideal_dcg = 0;
};

absl::StatusOr<std::vector<Picture>> LoadEvalSet(const std::string& path, int limit) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string dir = ".";
  if (size_t slash = path.rfind('/'); slash != std::string::npos) {
    dir = path.substr(0, slash);
  }
  std::vector<Picture> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (limit > 0 && static_cast<int>(out.size()) >= limit) break;
    auto where = [&] { return absl::StrCat(path, ":", line_no, ": "); };
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(where(), "not a JSON object"));
    }
    Picture p;
    if (!j.contains("image") || !j["image"].is_string() || j["image"].get<std::string>().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where(), "field 'image': missing"));
    }
    p.image = j["image"].get<std::string>();
    p.path = p.image[0] == '/' ? p.image : JoinPath(dir, p.image);
    if (!PathExists(p.path)) {
      return absl::NotFoundError(absl::StrCat(where(), p.path, ": no such image"));
    }
    const size_t slash = p.image.find('/');
    p.subset = slash == std::string::npos || slash == 0 ? "-" : p.image.substr(0, slash);
    if (!j.contains("lexicon") || !j["lexicon"].is_array() || j["lexicon"].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(where(), "field 'lexicon': missing or empty"));
    }
    for (const auto& w : j["lexicon"]) {
      if (!w.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(where(), "lexicon words are strings"));
      }
      std::vector<std::string> tokens;
      Tokenize(w.get<std::string>(), &tokens);
      if (tokens.size() != 1 || tokens[0] != w.get<std::string>()) {
        return absl::InvalidArgumentError(absl::StrCat(
            where(), "lexicon word '", w.get<std::string>(), "' is not one lowercase token"));
      }
      p.lexicon.push_back(tokens[0]);
    }
    if (j.contains("source") && j["source"].is_string()) p.source = j["source"];
    if (j.contains("relevant_songs") && j["relevant_songs"].is_number_integer()) {
      p.expected_relevant = j["relevant_songs"].get<int>();
    }
    out.push_back(std::move(p));
  }
  if (out.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no pictures"));
  }
  return out;
}

double IdealDcg(std::vector<int> gains, int k) {
  std::sort(gains.begin(), gains.end(), std::greater<int>());
  double dcg = 0;
  for (int i = 0; i < k && i < static_cast<int>(gains.size()); ++i) {
    dcg += gains[i] / std::log2(i + 2.0);
  }
  return dcg;
}

// ---------------------------------------------------------------- metrics

struct Metrics {
  double p5 = 0, ndcg = 0, rr = 0;
};

Metrics Score(const Picture& p, const std::vector<int64_t>& ranking, int k) {
  Metrics m;
  double dcg = 0;
  for (int i = 0; i < k && i < static_cast<int>(ranking.size()); ++i) {
    const int g = p.gains[ranking[i]];
    if (g == 0) continue;
    dcg += g / std::log2(i + 2.0);
    if (i < kPrecisionAt) m.p5 += 1.0 / kPrecisionAt;
    if (m.rr == 0) m.rr = 1.0 / (i + 1);
  }
  m.ndcg = p.ideal_dcg > 0 ? dcg / p.ideal_dcg : 0;
  return m;
}

struct ConfigSpec {
  std::string name;
  std::string manifest;  // empty for random
};

struct ConfigResult {
  std::string name;
  std::string manifest;
  std::string model_version;
  std::vector<Metrics> per_picture;  // random: mean over the seeds
  std::vector<bool> tagged;          // >= 1 tag; empty for random
  double ms_per_picture = 0;
};

struct Summary {
  int pictures = 0;
  Metrics mean;
  double tagged = -1;  // share of pictures with >= 1 tag; -1 = not applicable
};

// Means over the pictures of `subset` ("" = all).
Summary Summarize(const ConfigResult& r, const std::vector<Picture>& pictures,
                  const std::string& subset) {
  Summary s;
  int tagged = 0;
  for (size_t i = 0; i < pictures.size(); ++i) {
    if (!subset.empty() && pictures[i].subset != subset) continue;
    ++s.pictures;
    s.mean.p5 += r.per_picture[i].p5;
    s.mean.ndcg += r.per_picture[i].ndcg;
    s.mean.rr += r.per_picture[i].rr;
    if (!r.tagged.empty() && r.tagged[i]) ++tagged;
  }
  if (s.pictures > 0) {
    s.mean.p5 /= s.pictures;
    s.mean.ndcg /= s.pictures;
    s.mean.rr /= s.pictures;
    if (!r.tagged.empty()) s.tagged = double(tagged) / s.pictures;
  }
  return s;
}

// random, v1, the default and the full tagger set as
// tools/assets/setup_assets.sh lays them out: v1 is models_v1.json when there
// (else models.json); the default is models.json when that is not v1; the
// full set is models_full.json when there.
std::string DefaultConfigs() {
  const std::string models = DefaultModelsPath();
  const std::string dir = models.substr(0, models.rfind('/') + 1);
  std::string v1 = dir + "models_v1.json";
  if (!PathExists(v1)) v1 = models;
  std::string out = absl::StrCat("random,v1=", v1);
  if (v1 != models) absl::StrAppend(&out, ",default=", models);
  if (PathExists(dir + "models_full.json")) {
    absl::StrAppend(&out, ",full=", dir, "models_full.json");
  }
  return out;
}

absl::StatusOr<std::vector<ConfigSpec>> ParseConfigs(const std::string& flag) {
  std::string value = flag.empty() ? DefaultConfigs() : flag;
  std::vector<ConfigSpec> out;
  for (absl::string_view item : absl::StrSplit(value, ',', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    if (item == "random") {
      out.push_back({"random", ""});
      continue;
    }
    std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (kv.first.empty() || kv.second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--configs: '", item, "' is neither `random` nor name=path/to/models.json"));
    }
    out.push_back({kv.first, kv.second});
  }
  if (out.empty()) return absl::InvalidArgumentError("--configs: empty");
  return out;
}

class DetailsWriter {
 public:
  absl::Status Open(const std::string& path) {
    if (path.empty()) return absl::OkStatus();
    out_.open(path);
    if (!out_) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": cannot write"));
    }
    return absl::OkStatus();
  }
  void Write(const std::string& config, const Picture& p, const Metrics& m,
             const std::vector<Tag>& tags, const std::vector<int64_t>& ranking,
             const Bundle& bundle, int k) {
    if (!out_.is_open()) return;
    nlohmann::json j = {{"config", config}, {"image", p.image}, {"relevant_songs", p.relevant},
                        {"p_at_5", m.p5},   {"ndcg", m.ndcg},   {"rr", m.rr}};
    nlohmann::json tag_list = nlohmann::json::array(), sources = nlohmann::json::array();
    for (const Tag& t : tags) {
      tag_list.push_back(absl::StrFormat("%s %.2f", t.label, t.score));
      sources.push_back(t.has_box ? t.source + "/box" : t.source);
    }
    j["tags"] = std::move(tag_list);
    j["tag_sources"] = std::move(sources);  // "<tagger>" or "<tagger>/box" (region, detection)
    nlohmann::json top = nlohmann::json::array();
    for (int i = 0; i < k && i < static_cast<int>(ranking.size()); ++i) {
      top.push_back({{"id", bundle.song(ranking[i]).id}, {"gain", p.gains[ranking[i]]}});
    }
    j["top"] = std::move(top);
    out_ << j.dump() << "\n";
  }

 private:
  std::ofstream out_;
};

absl::StatusOr<ConfigResult> RunRandom(const std::vector<Picture>& pictures, const Bundle& bundle,
                                       int k, int seeds, DetailsWriter* details) {
  ConfigResult r;
  r.name = "random";
  const int64_t n = bundle.size();
  std::vector<int64_t> order(n);
  auto t0 = Clock::now();
  for (size_t pi = 0; pi < pictures.size(); ++pi) {
    Metrics sum;
    for (int s = 0; s < seeds; ++s) {
      std::mt19937_64 rng(uint64_t(s) * 1000003u + pi);
      std::iota(order.begin(), order.end(), 0);
      const int64_t top = std::min<int64_t>(k, n);
      for (int64_t i = 0; i < top; ++i) {  // partial Fisher-Yates
        std::uniform_int_distribution<int64_t> pick(i, n - 1);
        std::swap(order[i], order[pick(rng)]);
      }
      std::vector<int64_t> ranking(order.begin(), order.begin() + top);
      Metrics m = Score(pictures[pi], ranking, k);
      sum.p5 += m.p5;
      sum.ndcg += m.ndcg;
      sum.rr += m.rr;
      if (s == 0) {
        details->Write("random", pictures[pi], m, {}, ranking, bundle, k);
      }
    }
    r.per_picture.push_back({sum.p5 / seeds, sum.ndcg / seeds, sum.rr / seeds});
  }
  r.ms_per_picture =
      std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / pictures.size();
  r.model_version = absl::StrCat("uniform random, ", seeds, " seeds");
  return r;
}

absl::StatusOr<ConfigResult> RunModels(const ConfigSpec& spec, const std::vector<Picture>& pictures,
                                       std::shared_ptr<const Bundle> bundle, int k,
                                       DetailsWriter* details) {
  ModelSetOptions mo;
  mo.manifest_path = spec.manifest;
  mo.optimize = absl::GetFlag(FLAGS_optimize_models);
  mo.sentence_encoder = SentenceEncoderWanted();
  auto models = ModelSet::Load(mo);
  if (!models.ok()) {
    return WithContext(absl::StrCat("config ", spec.name), models.status());
  }
  if (absl::Status s = CheckCompatible(**models, *bundle); !s.ok()) {
    return WithContext(absl::StrCat("config ", spec.name), s);
  }
  Snapshot snap;
  snap.models = std::move(*models);
  snap.bundle = std::move(bundle);
  RecommendOptions ro;
  ro.top_k = k;
  ApplyRankingFlags(&ro);
  ConfigResult r;
  r.name = spec.name;
  r.manifest = spec.manifest;
  r.model_version = snap.models->version();
  double ms = 0;
  // One untimed warm-up call (first-call allocations, lazy init).
  if (!pictures.empty()) {
    auto bytes = ReadFile(pictures[0].path, int64_t{64} << 20);
    if (bytes.ok()) {
      auto image = DecodeImage(*bytes, DecodeOptionsFor(*snap.models));
      if (image.ok()) (void)Recommend(snap, *image, ro);
    }
  }
  for (const Picture& p : pictures) {
    auto bytes = ReadFile(p.path, int64_t{64} << 20);
    if (!bytes.ok()) return bytes.status();
    auto t0 = Clock::now();
    auto image = DecodeImage(*bytes, DecodeOptionsFor(*snap.models));
    if (!image.ok()) {
      return WithContext(p.path, image.status());
    }
    auto rec = Recommend(snap, *image, ro);
    ms += std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!rec.ok()) {
      return WithContext(absl::StrCat("config ", spec.name, ": ", p.path), rec.status());
    }
    r.tagged.push_back(!rec->tags.empty());
    std::vector<int64_t> ranking;
    for (const SongScore& s : rec->songs) ranking.push_back(s.song);
    Metrics m = Score(p, ranking, k);
    r.per_picture.push_back(m);
    details->Write(spec.name, p, m, rec->tags, ranking, *snap.bundle, k);
  }
  r.ms_per_picture = ms / pictures.size();
  return r;
}

// ---------------------------------------------------------------- calibration

// One point of the calibration grid: QueryCalibration plus multipliers of the
// cue taggers' and the region tags' manifest weights.
struct Calibration {
  QueryCalibration query;
  float cue_scale = 1, region_scale = 1;
  std::string Name() const {
    return absl::StrFormat("score_power %.2g, damping %.2g, cues x%.2g, regions x%.2g",
                           query.score_power, query.damping, cue_scale, region_scale);
  }
};

std::vector<Tag> Calibrated(std::vector<Tag> tags, const Calibration& c) {
  for (Tag& t : tags) {
    if (t.role == TagRole::kCue) t.weight *= c.cue_scale;
    if (t.role == TagRole::kRegion) t.weight *= c.region_scale;
  }
  CalibrateTags(c.query, &tags);
  return tags;
}

// Tags every picture of `subset` once (uncalibrated), ranks them under every
// grid point, and cross-validates the choice: for each fold, the point with
// the best mean nDCG on the other folds, scored on the fold. Picture i is in
// fold i % folds (eval.jsonl's order is a fixed shuffle).
absl::Status RunCalibration(const ConfigSpec& spec, const std::vector<Picture>& all,
                            std::shared_ptr<const Bundle> bundle, int k) {
  const std::string subset = absl::GetFlag(FLAGS_calibration_subset);
  const int folds = absl::GetFlag(FLAGS_folds);
  if (folds < 2) return absl::InvalidArgumentError("--folds must be >= 2");
  std::vector<const Picture*> pictures;
  for (const Picture& p : all) {
    if (subset.empty() || p.subset == subset) pictures.push_back(&p);
  }
  if (int(pictures.size()) < 2 * folds) {
    return absl::FailedPreconditionError(
        absl::StrCat("--calibrate: ", pictures.size(), " pictures in subset '", subset, "'"));
  }
  ModelSetOptions mo;
  mo.manifest_path = spec.manifest;
  mo.optimize = absl::GetFlag(FLAGS_optimize_models);
  mo.sentence_encoder = SentenceEncoderWanted();
  ASSIGN_OR_RETURN(auto models, ModelSet::Load(mo));
  RETURN_IF_ERROR(CheckCompatible(*models, *bundle));
  const QueryCalibration fitted_before = models->calibration();
  models->set_calibration(QueryCalibration{});
  Snapshot snap;
  snap.models = std::move(models);
  snap.bundle = std::move(bundle);
  std::vector<std::vector<Tag>> tags;
  for (const Picture* p : pictures) {
    ASSIGN_OR_RETURN(std::string bytes, ReadFile(p->path, int64_t{64} << 20));
    ASSIGN_OR_RETURN(RgbImage image, DecodeImage(bytes, DecodeOptionsFor(*snap.models)));
    ASSIGN_OR_RETURN(ImageTags t, snap.models->TagImage(image));
    tags.push_back(std::move(t.tags));
  }
  std::vector<Calibration> grid;
  for (float power : {0.5f, 1.0f, 2.0f, 3.0f}) {
    for (float damping : {0.0f, 0.25f, 0.5f, 1.0f, 2.0f, 4.0f}) {
      for (float cues : {0.5f, 1.0f, 2.0f, 3.0f, 4.0f, 6.0f}) {
        for (float regions : {0.5f, 1.0f, 2.0f}) {
          grid.push_back(Calibration{{power, damping}, cues, regions});
        }
      }
    }
  }
  Calibration manifest_point;
  manifest_point.query = fitted_before;
  grid.push_back(manifest_point);  // last: what the manifest says now
  RecommendOptions ro;
  ro.top_k = k;
  ro.explain = false;
  ApplyRankingFlags(&ro);
  std::vector<std::vector<double>> ndcg(grid.size(), std::vector<double>(pictures.size()));
  const auto t0 = Clock::now();
  for (size_t g = 0; g < grid.size(); ++g) {
    for (size_t i = 0; i < pictures.size(); ++i) {
      ASSIGN_OR_RETURN(Recommendation rec,
                       RecommendForTags(snap, Calibrated(tags[i], grid[g]), ro));
      std::vector<int64_t> ranking;
      for (const SongScore& s : rec.songs) ranking.push_back(s.song);
      ndcg[g][i] = Score(*pictures[i], ranking, k).ndcg;
    }
  }
  std::cout << absl::StrFormat(
      "calibration of %s on %zu '%s' pictures: %zu grid points ranked in %.0f s\n\n", spec.manifest,
      pictures.size(), subset, grid.size(),
      std::chrono::duration<double>(Clock::now() - t0).count());
  auto mean = [&](size_t g, int fold, bool in_fold) {
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < pictures.size(); ++i) {
      if ((int(i % folds) == fold) != in_fold) continue;
      sum += ndcg[g][i];
      ++n;
    }
    return n > 0 ? sum / n : 0.0;
  };
  auto best_on = [&](int fold, bool in_fold) {
    size_t best = grid.size() - 1;
    for (size_t g = 0; g < grid.size(); ++g) {
      if (mean(g, fold, in_fold) > mean(best, fold, in_fold) + 1e-12) best = g;
    }
    return best;
  };
  std::cout << absl::StrFormat(
      "| fold | pictures | nDCG@%d as the manifest | nDCG@%d fitted on the "
      "other folds | fitted point |\n|---:|---:|---:|---:|---|\n",
      k, k);
  double held = 0, base = 0;
  for (int f = 0; f < folds; ++f) {
    const size_t g = best_on(f, /*in_fold=*/false);
    int n = 0;
    for (size_t i = 0; i < pictures.size(); ++i) n += int(i % folds) == f ? 1 : 0;
    const double a = mean(grid.size() - 1, f, true), b = mean(g, f, true);
    held += b * n;
    base += a * n;
    std::cout << absl::StrFormat("| %d | %d | %.3f | %.3f | %s |\n", f + 1, n, a, b,
                                 grid[g].Name());
  }
  const size_t chosen = best_on(-1, /*in_fold=*/false);  // fold -1: every picture
  std::cout << absl::StrFormat(
      "| all | %zu | %.3f | %.3f (held-out folds) | |\n\nfitted on all pictures: %s "
      "(nDCG@%d %.3f in-sample)\n",
      pictures.size(), base / pictures.size(), held / pictures.size(), grid[chosen].Name(), k,
      mean(chosen, -1, false));
  const std::string out = absl::GetFlag(FLAGS_calibrated_manifest);
  if (out.empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(std::string text, ReadFile(spec.manifest, int64_t{1} << 20));
  nlohmann::json m = nlohmann::json::parse(text);
  const Calibration& c = grid[chosen];
  m["query"] = {{"score_power", c.query.score_power}, {"damping", c.query.damping}};
  for (auto& t : m["taggers"]) {
    if (t.value("kind", "") == "cues") t["weight"] = t.value("weight", 1.0f) * c.cue_scale;
    if (t.contains("regions")) {
      t["regions"]["weight"] = t["regions"].value("weight", 0.6f) * c.region_scale;
    }
  }
  RETURN_IF_ERROR(WriteFile(out, m.dump(1) + "\n"));
  std::cout << "wrote " << out << "\n";
  return absl::OkStatus();
}

int Fail(const absl::Status& s) {
  std::cerr << "i2s-eval: " << s << "\n";
  return 1;
}

// Prints the report to stdout or --output.
int Emit(const std::string& report) {
  const std::string path = absl::GetFlag(FLAGS_output);
  if (path.empty()) {
    std::cout << report << std::flush;
    return 0;
  }
  if (absl::Status s = WriteFile(path, report); !s.ok()) return Fail(s);
  return 0;
}

// ----------------------------------------------------------------- mood

// The song side of the mood evaluation (issue 17, items 4 and 6): for each
// labelled photo, the mean lyric valence of its top 10 with the pictures'
// mood steering the ranking at several weights against weight 0, and
// whether a requested mood moves the top 10 the way it names. Appends a
// markdown section to *report and its numbers to *out. Skipped (a line
// says why) when the bundle has no lyric moods.
absl::Status SongMoodReport(std::shared_ptr<const ModelSet> models,
                            const std::vector<MoodLabel>& labels, const std::string& photos,
                            std::string* report, nlohmann::json* out) {
  const std::string bundle_dir =
      absl::GetFlag(FLAGS_bundle).empty() ? DefaultBundleDir() : absl::GetFlag(FLAGS_bundle);
  auto loaded = Bundle::Load(bundle_dir, BundleLoadOptions{});
  if (!loaded.ok()) return loaded.status();
  if ((*loaded)->moods() == nullptr || (*loaded)->moods()->stats().songs == 0) {
    absl::StrAppendFormat(report, "\nsong side: bundle %s has no lyric moods (moods.bin)\n",
                          bundle_dir);
    return absl::OkStatus();
  }
  Snapshot snap;
  snap.models = std::move(models);
  snap.bundle = std::move(*loaded);
  const SongMoods& moods = *snap.bundle->moods();
  RecommendOptions base;
  base.top_k = 10;
  ApplyRankingFlags(&base);
  // Mean lyric valence and arousal of a ranking's songs with a lyric mood.
  auto means = [&](const Recommendation& rec, float* valence, float* arousal) {
    double v = 0, a = 0;
    int n = 0;
    for (const SongScore& s : rec.songs) {
      const MoodRecord r = moods.Get(s.song);
      if (!(r.flags & kHasLyricMood)) continue;
      v += r.valence;
      a += r.arousal;
      ++n;
    }
    *valence = n > 0 ? float(v / n) : 0;
    *arousal = n > 0 ? float(a / n) : 0;
  };
  const std::vector<float> weights = {0, 0.1f, 0.2f, 0.3f, 0.5f, 1.0f};
  // Per photo: mean top-10 valence at each weight; requested happy/sad and
  // lively/calm.
  std::vector<std::vector<float>> valence(labels.size());
  std::vector<float> happy(labels.size()), sad(labels.size()), lively(labels.size()),
      calm(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    auto bytes = ReadFile(JoinPath(photos, labels[i].image), int64_t{64} << 20);
    if (!bytes.ok()) return bytes.status();
    ASSIGN_OR_RETURN(const RgbImage image, DecodeImage(*bytes, DecodeOptionsFor(*snap.models)));
    // The models run once a photo; each weight and word ranks their tags.
    ASSIGN_OR_RETURN(const ImageTags tagged, snap.models->TagImage(image));
    ImageMood mood;
    const ImageMood* image_mood = snap.models->ImageMoodOf(tagged, &mood) ? &mood : nullptr;
    float v = 0, a = 0;
    for (float w : weights) {
      RecommendOptions ro = base;
      ro.mood_weight = w;
      ASSIGN_OR_RETURN(const Recommendation rec,
                       RecommendForTags(snap, tagged.tags, ro, image_mood));
      means(rec, &v, &a);
      valence[i].push_back(v);
    }
    for (const char* word : {"happy", "sad", "lively", "calm"}) {
      RecommendOptions ro = base;
      ro.mood_weight = 0;
      ro.mood = word;
      ASSIGN_OR_RETURN(const Recommendation rec,
                       RecommendForTags(snap, tagged.tags, ro, image_mood));
      means(rec, &v, &a);
      const std::string w = word;
      if (w == "happy") happy[i] = v;
      if (w == "sad") sad[i] = v;
      if (w == "lively") lively[i] = a;
      if (w == "calm") calm[i] = a;
    }
  }
  const LyricMoodStats& st = moods.stats();
  absl::StrAppendFormat(
      report,
      "\nsong side: bundle %s, %d of %d songs with a lyric mood (valence mean %.3f sd %.3f, "
      "arousal mean %.3f sd %.3f); top 10 per photo; a photo 'moves the right way' when the "
      "top 10's mean lyric valence rises (pleasant label) or falls (unpleasant label) against "
      "weight 0\n\n| image-mood weight | pleasant photos: mean top-10 valence | unpleasant "
      "photos: mean top-10 valence | moved the right way | the wrong way | unchanged |\n"
      "|---:|---:|---:|---:|---:|---:|\n",
      snap.bundle->manifest().version, int(st.songs), int(snap.bundle->size()), st.valence_mean,
      st.valence_sd, st.arousal_mean, st.arousal_sd);
  nlohmann::json rows = nlohmann::json::array();
  for (size_t k = 0; k < weights.size(); ++k) {
    double pos = 0, neg = 0;
    int n_pos = 0, n_neg = 0, right = 0, same = 0;
    for (size_t i = 0; i < labels.size(); ++i) {
      if (labels[i].valence == 0) continue;
      const float delta = valence[i][k] - valence[i][0];
      if (labels[i].valence > 0) {
        pos += valence[i][k];
        ++n_pos;
      } else {
        neg += valence[i][k];
        ++n_neg;
      }
      if (std::abs(delta) < 1e-6f) {
        ++same;
      } else if ((delta > 0) == (labels[i].valence > 0)) {
        ++right;
      }
    }
    const int n = n_pos + n_neg;
    const int wrong = k == 0 ? 0 : n - right - same;
    absl::StrAppendFormat(report, "| %.1f | %.4f (%d) | %.4f (%d) | %d / %d | %d | %d |\n",
                          weights[k], n_pos ? pos / n_pos : 0, n_pos, n_neg ? neg / n_neg : 0,
                          n_neg, k == 0 ? 0 : right, n, wrong, k == 0 ? n : same);
    rows.push_back({{"weight", weights[k]},
                    {"pleasant_mean_valence", n_pos ? pos / n_pos : 0},
                    {"unpleasant_mean_valence", n_neg ? neg / n_neg : 0},
                    {"moved_right", k == 0 ? 0 : right},
                    {"moved_wrong", wrong},
                    {"unchanged", k == 0 ? n : same},
                    {"photos", n}});
  }
  int happier = 0, livelier = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    happier += happy[i] > sad[i] ? 1 : 0;
    livelier += lively[i] > calm[i] ? 1 : 0;
  }
  absl::StrAppendFormat(
      report,
      "\nrequested moods (RecommendRequest.mood, weight %s): top 10 happier "
      "with mood=happy than with mood=sad on %d of %zu photos; livelier "
      "(arousal) with mood=lively than with mood=calm on %d of %zu\n",
      base.requested_mood_weight >= 0
          ? absl::StrFormat("%.2f", base.requested_mood_weight)
          : absl::StrFormat("%.2f (manifest)", snap.models->requested_mood_weight()),
      happier, labels.size(), livelier, labels.size());
  *out = {{"bundle", snap.bundle->manifest().version},
          {"image_mood_weights", rows},
          {"requested", {{"happier", happier}, {"livelier", livelier}, {"photos", labels.size()}}}};
  return absl::OkStatus();
}

int RunMood(const ConfigSpec& spec) {
  const std::string labels_path = absl::GetFlag(FLAGS_mood);
  auto text = ReadFile(labels_path, int64_t{1} << 20);
  if (!text.ok()) return Fail(text.status());
  auto labels = ParseMoodLabels(*text, labels_path);
  if (!labels.ok()) return Fail(labels.status());
  const int folds = absl::GetFlag(FLAGS_folds);
  if (folds < 2 || folds > static_cast<int>(labels->size())) {
    return Fail(absl::InvalidArgumentError("--folds must be in 2..number of labelled photos"));
  }
  const double lambda = absl::GetFlag(FLAGS_mood_ridge);
  const std::string photos = absl::GetFlag(FLAGS_mood_photos).empty()
                                 ? JoinPath(DefaultCacheDir(), "eval")
                                 : absl::GetFlag(FLAGS_mood_photos);
  ModelSetOptions mo;
  mo.manifest_path = spec.manifest;
  mo.optimize = absl::GetFlag(FLAGS_optimize_models);
  mo.sentence_encoder = false;
  auto models = ModelSet::Load(mo);
  if (!models.ok()) return Fail(WithContext(absl::StrCat("config ", spec.name), models.status()));
  auto x = MoodFeaturesOf(**models, *labels, photos);
  if (!x.ok()) return Fail(x.status());
  const ImageMoodModel& base = *(*models)->mood();
  const std::vector<MoodVariant> variants = CrossValidateMood(base, *x, *labels, folds, lambda);

  std::string report;
  int by_valence[5] = {0, 0, 0, 0, 0}, by_arousal[3] = {0, 0, 0};
  for (const MoodLabel& l : *labels) {
    ++by_valence[static_cast<int>(std::lround(l.valence * 2)) + 2];
    ++by_arousal[static_cast<int>(l.arousal) + 1];
  }
  absl::StrAppendFormat(&report,
                        "image mood: %zu labelled photos (%s; valence -2..2: %d %d %d %d %d; "
                        "arousal low/mid/high: %d %d %d), models %s, %d folds, ridge %.3g\n",
                        labels->size(), labels_path, by_valence[0], by_valence[1], by_valence[2],
                        by_valence[3], by_valence[4], by_arousal[0], by_arousal[1], by_arousal[2],
                        spec.manifest, folds, lambda);
  absl::StrAppendFormat(&report,
                        "\n| variant | fold | photos | valence sign | arousal agree | valence r | "
                        "arousal r |\n|---|---|---:|---:|---:|---:|---:|\n");
  nlohmann::json jv = nlohmann::json::array();
  auto metrics_json = [](const MoodMetrics& m) {
    return nlohmann::json{{"photos", m.photos},
                          {"valence_sign", m.valence_sign},
                          {"arousal_agree", m.arousal_agree},
                          {"valence_r", m.valence_r},
                          {"arousal_r", m.arousal_r}};
  };
  auto row = [&](const std::string& name, const std::string& fold, const MoodMetrics& m) {
    absl::StrAppendFormat(&report, "| %s | %s | %d | %.2f | %.2f | %.2f | %.2f |\n", name, fold,
                          m.photos, m.valence_sign, m.arousal_agree, m.valence_r, m.arousal_r);
  };
  for (const MoodVariant& v : variants) {
    nlohmann::json f = nlohmann::json::array();
    for (size_t i = 0; i < v.per_fold.size(); ++i) {
      row(v.name, std::to_string(i + 1), v.per_fold[i]);
      f.push_back(metrics_json(v.per_fold[i]));
    }
    row(v.name, "all (held out)", v.pooled);
    jv.push_back({{"name", v.name}, {"folds", f}, {"pooled", metrics_json(v.pooled)}});
  }
  absl::StrAppendFormat(&report,
                        "\n(loaded: the model file's weights as they are; not held out when the "
                        "file was fitted on these photos.)\n");
  const std::string fit_path = absl::GetFlag(FLAGS_fit_mood);
  if (!fit_path.empty()) {
    std::vector<int> all_rows(labels->size());
    std::iota(all_rows.begin(), all_rows.end(), 0);
    std::vector<int> columns = ImageMoodColourFeatures();
    for (int c : ImageMoodTagFeatures()) columns.push_back(c);
    for (int c : ImageMoodFaceFeatures()) columns.push_back(c);
    const ImageMoodModel fitted = FitImageMood(base, *x, *labels, all_rows, columns, lambda, true);
    nlohmann::json held_out = nlohmann::json::object();
    for (const MoodVariant& v : variants) {
      if (v.name == "loaded") continue;
      held_out[v.name] = {{"valence_sign", std::round(v.pooled.valence_sign * 1000) / 1000},
                          {"arousal_agree", std::round(v.pooled.arousal_agree * 1000) / 1000},
                          {"valence_r", std::round(v.pooled.valence_r * 1000) / 1000},
                          {"arousal_r", std::round(v.pooled.arousal_r * 1000) / 1000}};
    }
    nlohmann::json fit = {{"by", "i2s-eval --mood --fit_mood"},
                          {"labels", labels_path.substr(labels_path.rfind('/') + 1)},
                          {"photos", labels->size()},
                          {"folds", folds},
                          {"ridge", lambda},
                          {"models", (*models)->version()},
                          {"held_out", held_out}};
    const std::string lexicon = base.lexicon_path.substr(base.lexicon_path.rfind('/') + 1);
    if (absl::Status s = WriteFile(fit_path, ImageMoodModelJson(fitted, lexicon, fit.dump()));
        !s.ok()) {
      return Fail(s);
    }
    absl::StrAppendFormat(&report, "fitted on all %zu photos: %s\n", labels->size(), fit_path);
  }
  nlohmann::json song_side;
  if (absl::Status s = SongMoodReport(std::shared_ptr<const ModelSet>(std::move(*models)), *labels,
                                      photos, &report, &song_side);
      !s.ok()) {
    return Fail(s);
  }
  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json j = {{"labels", labels_path},   {"photos", labels->size()},
                        {"models", spec.manifest}, {"folds", folds},
                        {"ridge", lambda},         {"variants", jv},
                        {"song_side", song_side}};
    return Emit(j.dump(1) + "\n");
  }
  return Emit(report);
}

int Run() {
  if (!absl::GetFlag(FLAGS_mood).empty()) {
    // Default: the default models (their manifest names the mood model).
    if (absl::GetFlag(FLAGS_configs).empty()) {
      return RunMood(ConfigSpec{"default", DefaultModelsPath()});
    }
    auto configs = ParseConfigs(absl::GetFlag(FLAGS_configs));
    if (!configs.ok()) return Fail(configs.status());
    for (const ConfigSpec& spec : *configs) {
      if (!spec.manifest.empty()) return RunMood(spec);
    }
    return Fail(absl::InvalidArgumentError("--mood needs a config with a models.json"));
  }
  const int k = absl::GetFlag(FLAGS_top_k);
  if (k < kPrecisionAt || k > 100) {
    return Fail(absl::InvalidArgumentError("--top_k must be in 5..100"));
  }
  const int seeds = absl::GetFlag(FLAGS_random_seeds);
  if (seeds < 1) {
    return Fail(absl::InvalidArgumentError("--random_seeds must be >= 1"));
  }
  auto configs = ParseConfigs(absl::GetFlag(FLAGS_configs));
  if (!configs.ok()) return Fail(configs.status());
  const int threads = std::max(1, absl::GetFlag(FLAGS_torch_threads));
  SetTorchThreads(threads, 1);
  omp_set_num_threads(threads);

  const std::string eval_path = absl::GetFlag(FLAGS_eval).empty()
                                    ? JoinPath(DefaultCacheDir(), "eval/eval.jsonl")
                                    : absl::GetFlag(FLAGS_eval);
  auto all = LoadEvalSet(eval_path, absl::GetFlag(FLAGS_limit));
  if (!all.ok()) return Fail(all.status());
  const std::string bundle_dir =
      absl::GetFlag(FLAGS_bundle).empty() ? DefaultBundleDir() : absl::GetFlag(FLAGS_bundle);
  BundleLoadOptions load_options;
  load_options.lexical.min_term_share = LexicalMinTermShareFlag();
  auto loaded = Bundle::Load(bundle_dir, load_options);
  if (!loaded.ok()) return Fail(loaded.status());
  std::shared_ptr<const Bundle> bundle = std::move(*loaded);

  // Relevance from the lyrics alone, before any ranking.
  std::vector<SongWords> songs;
  songs.reserve(bundle->size());
  for (int64_t i = 0; i < bundle->size(); ++i) {
    songs.emplace_back(bundle->song(i).lines);
  }
  std::vector<Picture> pictures;
  int excluded = 0, mismatches = 0;
  for (Picture& p : *all) {
    p.gains.resize(songs.size());
    for (size_t i = 0; i < songs.size(); ++i) {
      p.gains[i] = songs[i].Gain(p.lexicon);
      p.relevant += p.gains[i] > 0 ? 1 : 0;
    }
    if (p.expected_relevant >= 0 && p.expected_relevant != p.relevant) {
      ++mismatches;
    }
    if (p.relevant == 0) {
      ++excluded;
      continue;
    }
    p.ideal_dcg = IdealDcg(p.gains, k);
    pictures.push_back(std::move(p));
  }
  if (pictures.empty()) {
    return Fail(absl::FailedPreconditionError(
        absl::StrCat("no picture of ", eval_path, " has a relevant song in ", bundle_dir)));
  }

  if (absl::GetFlag(FLAGS_calibrate)) {
    if (configs->size() != 1 || configs->front().manifest.empty()) {
      return Fail(absl::InvalidArgumentError("--calibrate takes one name=models.json config"));
    }
    absl::Status s = RunCalibration(configs->front(), pictures, bundle, k);
    return s.ok() ? 0 : Fail(s);
  }
  DetailsWriter details;
  if (absl::Status s = details.Open(absl::GetFlag(FLAGS_details)); !s.ok()) {
    return Fail(s);
  }
  std::vector<ConfigResult> results;
  for (const ConfigSpec& spec : *configs) {
    auto r = spec.manifest.empty() ? RunRandom(pictures, *bundle, k, seeds, &details)
                                   : RunModels(spec, pictures, bundle, k, &details);
    if (!r.ok()) return Fail(r.status());
    results.push_back(std::move(*r));
  }

  std::string report;
  double mean_relevant = 0;
  std::vector<std::string> subsets;
  for (const Picture& p : pictures) {
    mean_relevant += p.relevant;
    if (std::find(subsets.begin(), subsets.end(), p.subset) == subsets.end()) {
      subsets.push_back(p.subset);
    }
  }
  std::sort(subsets.begin(), subsets.end());
  mean_relevant /= pictures.size();
  auto to_json = [](const Summary& s) {
    nlohmann::json c = {{"pictures", s.pictures},
                        {"p_at_5", s.mean.p5},
                        {"ndcg_at_k", s.mean.ndcg},
                        {"mrr", s.mean.rr}};
    c["tag_coverage"] = s.tagged < 0 ? nlohmann::json(nullptr) : nlohmann::json(s.tagged);
    return c;
  };
  if (absl::GetFlag(FLAGS_json)) {
    nlohmann::json j = {{"eval", eval_path},
                        {"bundle", bundle_dir},
                        {"bundle_version", bundle->manifest().version},
                        {"songs", bundle->size()},
                        {"pictures", pictures.size()},
                        {"excluded_no_relevant_song", excluded},
                        {"relevant_count_mismatches", mismatches},
                        {"mean_relevant_songs", mean_relevant},
                        {"top_k", k},
                        {"random_seeds", seeds}};
    nlohmann::json arr = nlohmann::json::array();
    for (const ConfigResult& r : results) {
      nlohmann::json c = to_json(Summarize(r, pictures, ""));
      c["name"] = r.name;
      c["models"] = r.manifest;
      c["model_version"] = r.model_version;
      c["ms_per_picture"] = r.ms_per_picture;
      nlohmann::json by = nlohmann::json::object();
      for (const std::string& subset : subsets) {
        by[subset] = to_json(Summarize(r, pictures, subset));
      }
      c["subsets"] = std::move(by);
      arr.push_back(std::move(c));
    }
    j["configs"] = std::move(arr);
    return Emit(j.dump(1) + "\n");
  }
  absl::StrAppendFormat(&report,
                        "%zu pictures from %s (%d excluded: no relevant song), bundle %s "
                        "(%lld songs), top_k %d; relevant songs per picture: %.1f on average\n",
                        pictures.size(), eval_path.c_str(), excluded,
                        bundle->manifest().version.c_str(), static_cast<long long>(bundle->size()),
                        k, mean_relevant);
  if (mismatches > 0) {
    absl::StrAppendFormat(&report,
                          "note: %d pictures have another relevant-song count than eval.jsonl "
                          "records "
                          "(another catalogue than the one the set was built for?)\n",
                          mismatches);
  }
  // ms = nullptr: no ms/picture column.
  auto row = [&](const std::string& name, const Summary& s, const char* ms) {
    absl::StrAppendFormat(&report, "| %s | %d | %.3f | %.3f | %.3f |%s%s %s |\n", name.c_str(),
                          s.pictures, s.mean.p5, s.mean.ndcg, s.mean.rr, ms == nullptr ? "" : " ",
                          ms == nullptr ? "" : absl::StrCat(ms, " |").c_str(),
                          s.tagged < 0 ? "-" : absl::StrFormat("%.0f%%", 100 * s.tagged).c_str());
  };
  absl::StrAppendFormat(&report,
                        "\n| config | pictures | P@5 | nDCG@%d | MRR | ms/picture | tagged |\n", k);
  absl::StrAppendFormat(&report, "|---|---:|---:|---:|---:|---:|---:|\n");
  for (const ConfigResult& r : results) {
    row(r.name, Summarize(r, pictures, ""),
        r.tagged.empty() ? "-" : absl::StrFormat("%.1f", r.ms_per_picture).c_str());
  }
  if (subsets.size() > 1) {
    absl::StrAppendFormat(&report, "\nby subset (first directory of the image path):\n\n");
    absl::StrAppendFormat(&report,
                          "| config / subset | pictures | P@5 | nDCG@%d | MRR | tagged |\n", k);
    absl::StrAppendFormat(&report, "|---|---:|---:|---:|---:|---:|\n");
    for (const std::string& subset : subsets) {
      for (const ConfigResult& r : results) {
        row(absl::StrCat(r.name, " / ", subset), Summarize(r, pictures, subset), nullptr);
      }
    }
  }
  absl::StrAppendFormat(&report, "\n");
  for (const ConfigResult& r : results) {
    absl::StrAppendFormat(&report, "%s: %s%s%s\n", r.name.c_str(), r.model_version.c_str(),
                          r.manifest.empty() ? "" : "  ", r.manifest.c_str());
  }
  return Emit(report);
}

}  // namespace
}  // namespace image2song

int main(int argc, char** argv) {
  std::vector<char*> args = image2song::ParseCommandLineOrHelp(
      argc, argv,
      {"i2s-eval",
       "relevance benchmark: P@5, nDCG@k and MRR of each model configuration "
       "on an evaluation set (tools/eval/make_eval_set.sh), relevance from "
       "the lyrics.\n\nusage: i2s-eval [flags]",
       "server/i2s_eval", I2S_VERSION});
  if (args.size() > 1) {
    std::cerr << "i2s-eval: unexpected argument '" << args[1] << "' (see --help)\n";
    return 2;
  }
  return image2song::Run();
}
