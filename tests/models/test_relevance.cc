// Tests of i2s-eval, the relevance benchmark (bench/i2s_eval.cc).
//
//   [tiny]    the generated tiny models and bundle (fixture `bundle`): lyric
//             relevance and the metrics against values computed here by hand.
//   [models]  the downloaded default models, the evaluation set
//             (tools/eval/make_eval_set.sh) and a bundle of the demo catalogue
//             indexed here: v1 must rank better than random and stay above a
//             floor. Run with --needs-cache first: exits 77 (skipped) when the
//             models, the catalogue or the set are missing.
#define CATCH_CONFIG_RUNNER
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/bundle/bundle.h"
#include "tests/support/test_util.h"
#include "util/file_util.h"

namespace image2song {
namespace {

using nlohmann::json;

// Measured on the whole evaluation set (2026-12, 568 pictures: 298 emoji,
// 270 photos; dense + lexical channels): nDCG@10 v1 0.158, default 0.172,
// full 0.179; on the photos v1 0.275, default 0.301, full 0.315. The floors
// leave ~15% margin; on the photos the default and the full set must beat
// v1 (where their extra taggers run: they are off on icons).
constexpr int kMinPictures = 500;
constexpr double kV1NdcgFloor = 0.135;
constexpr double kDefaultNdcgFloor = 0.146;
constexpr double kFullNdcgFloor = 0.152;
// How far the default may fall below v1 on one subset (float noise only).
constexpr double kSubsetSlack = 0.0005;

// As tools/eval/make_eval_set.sh: $I2S_SHARED, else <source>/../shared.
std::string DemoCatalogue() {
  const char* shared = std::getenv("I2S_SHARED");
  return (shared != nullptr && *shared != '\0'
              ? std::string(shared)
              : testing::RequiredEnv("I2S_SOURCE_DIR") + "/../shared") +
         "/data/catalog/pd-songs.jsonl";
}

std::string EvalBin() {
  const char* v = std::getenv("I2S_EVAL_BIN");
  if (v != nullptr && *v != '\0') return v;
  std::string server = testing::RequiredEnv("I2S_SERVER_BIN");
  return server.substr(0, server.rfind('/')) + "/../bench/i2s-eval";
}

// Runs i2s-eval --json --output=<tmp> with `args`; returns the parsed report
// (null on a non-zero exit, with the output logged).
json RunEval(const testing::TempDir& tmp, std::vector<std::string> args, int* rc = nullptr,
             std::string* output = nullptr) {
  const std::string report = tmp.File("report.json");
  std::vector<std::string> argv = {EvalBin(), "--json", "--output=" + report};
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  int code = testing::RunCommand(argv, &out);
  if (rc != nullptr) *rc = code;
  if (output != nullptr) *output = out;
  if (code != 0) {
    UNSCOPED_INFO("i2s-eval exit " << code << ":\n" << out);
    return json();
  }
  return json::parse(testing::ReadWholeFile(report));
}

const json& Config(const json& report, const std::string& name) {
  for (const json& c : report["configs"]) {
    if (c["name"] == name) return c;
  }
  FAIL("no config " << name << " in the report");
  static const json kNone;
  return kNone;
}

// The tiny catalogue (tests/testdata/make_test_assets.py) has sea, fire,
// forest and snow songs plus fillers; gains below are counted by hand from
// its lyrics. "wave" matches "waves", "cities" matches "city" (plural
// rules); "volcano" is in no song, so that picture is excluded.
struct TinyPicture {
  const char* image;
  std::vector<std::string> lexicon;
  std::map<std::string, int> gains;  // song id -> gain (others 0)
};

std::vector<TinyPicture> TinyPictures() {
  return {
      {"blue.png", {"sea", "wave", "tide"}, {{"sea-01", 3}, {"sea-02", 1}}},
      {"red.jpg", {"flame", "smoke"}, {{"fire-01", 2}, {"fire-02", 2}}},
      {"green.webp", {"tree", "leaves"}, {{"forest-01", 2}, {"forest-02", 2}}},
      {"white.bmp", {"snow", "frost"}, {{"snow-01", 2}, {"snow-02", 1}}},
      {"gray.png", {"volcano"}, {}},
      {"big_blue.jpg", {"cities"}, {{"filler-01", 1}, {"filler-02", 1}, {"filler-04", 1}}},
  };
}

std::string WriteTinyEvalSet(const testing::TempDir& tmp) {
  const std::string images = JoinPath(testing::RequiredEnv("I2S_TEST_ASSETS"), "images");
  std::string lines;
  for (const TinyPicture& p : TinyPictures()) {
    json j = {{"image", JoinPath(images, p.image)},
              {"lexicon", p.lexicon},
              {"source", "tiny"},
              {"relevant_songs", p.gains.size()}};
    lines += j.dump() + "\n";
  }
  const std::string path = tmp.File("eval.jsonl");
  testing::WriteWholeFile(path, lines);
  return path;
}

double Dcg(const std::vector<int>& gains) {
  double dcg = 0;
  for (size_t i = 0; i < gains.size() && i < 10; ++i) {
    dcg += gains[i] / std::log2(i + 2.0);
  }
  return dcg;
}

TEST_CASE("i2s-eval: relevance and metrics on the tiny models", "[tiny]") {
  testing::TempDir tmp;
  const std::string eval = WriteTinyEvalSet(tmp);
  const std::string assets = testing::RequiredEnv("I2S_TEST_ASSETS");
  const std::string details = tmp.File("details.jsonl");
  json r =
      RunEval(tmp, {"--eval=" + eval, "--bundle=" + testing::RequiredEnv("I2S_TEST_BUNDLE"),
                    "--configs=random,tiny=" + assets + "/models.json", "--details=" + details});
  REQUIRE(r.is_object());
  CHECK(r["pictures"] == 5);
  CHECK(r["excluded_no_relevant_song"] == 1);
  // The relevant-song counts computed here by hand agree with i2s-eval's.
  CHECK(r["relevant_count_mismatches"] == 0);
  CHECK(r["top_k"] == 10);

  std::map<std::string, TinyPicture> by_image;
  for (const TinyPicture& p : TinyPictures()) by_image[p.image] = p;
  // Every detail line: the metrics follow from the listed gains, the gains
  // from the lyrics.
  std::map<std::string, std::vector<json>> rows;
  for (absl::string_view line : absl::StrSplit(testing::ReadWholeFile(details), '\n')) {
    if (line.empty()) continue;
    json d = json::parse(line);
    std::string image = d["image"];
    const TinyPicture& p = by_image.at(image.substr(image.rfind('/') + 1));
    std::vector<int> gains;
    int hits5 = 0;
    double rr = 0;
    for (const json& t : d["top"]) {
      const std::string id = t["id"];
      const int want = p.gains.count(id) ? p.gains.at(id) : 0;
      INFO(image << " " << id);
      CHECK(t["gain"] == want);
      gains.push_back(want);
      if (want > 0 && gains.size() <= 5) ++hits5;
      if (want > 0 && rr == 0) rr = 1.0 / gains.size();
    }
    std::vector<int> ideal;
    for (const auto& [id, g] : p.gains) ideal.push_back(g);
    std::sort(ideal.rbegin(), ideal.rend());
    INFO(d.dump());
    CHECK(d["relevant_songs"] == p.gains.size());
    CHECK(d["p_at_5"].get<double>() == Approx(hits5 / 5.0));
    CHECK(d["rr"].get<double>() == Approx(rr));
    CHECK(d["ndcg"].get<double>() == Approx(Dcg(gains) / Dcg(ideal)));
    rows[d["config"]].push_back(d);
  }
  REQUIRE(rows["tiny"].size() == 5);
  REQUIRE(rows["random"].size() == 5);

  const json& tiny = Config(r, "tiny");
  const json& random = Config(r, "random");
  double ndcg = 0;
  for (const json& d : rows["tiny"]) ndcg += d["ndcg"].get<double>();
  CHECK(tiny["ndcg_at_k"].get<double>() == Approx(ndcg / 5));
  CHECK(tiny["tag_coverage"] == 1.0);
  CHECK(random["tag_coverage"].is_null());
  // The colour model finds the sea, fire, forest and snow songs first.
  for (const json& d : rows["tiny"]) {
    if (d["image"].get<std::string>().find("big_blue") != std::string::npos) {
      continue;
    }
    INFO(d.dump());
    CHECK(d["ndcg"] == 1.0);
    CHECK(d["rr"] == 1.0);
  }
  CHECK(tiny["ndcg_at_k"] > random["ndcg_at_k"]);
  for (const char* m : {"p_at_5", "ndcg_at_k", "mrr"}) {
    CHECK(random[m].get<double>() > 0);
    CHECK(random[m].get<double>() < 1);
  }
  CHECK(tiny["subsets"].contains("-"));
}

TEST_CASE("i2s-eval: --limit and the markdown table", "[tiny]") {
  testing::TempDir tmp;
  const std::string eval = WriteTinyEvalSet(tmp);
  const std::string bundle = "--bundle=" + testing::RequiredEnv("I2S_TEST_BUNDLE");
  json r =
      RunEval(tmp, {"--eval=" + eval, bundle, "--configs=random", "--limit=2", "--random_seeds=3"});
  REQUIRE(r.is_object());
  CHECK(r["pictures"] == 2);
  CHECK(r["random_seeds"] == 3);

  std::string out;
  int rc = testing::RunCommand({EvalBin(), "--eval=" + eval, bundle, "--configs=random"}, &out);
  CHECK(rc == 0);
  CHECK(out.find("| config | pictures | P@5 | nDCG@10 | MRR |") != std::string::npos);
  CHECK(out.find("| random | 5 |") != std::string::npos);
}

TEST_CASE("i2s-eval: bad inputs fail with a message", "[tiny]") {
  testing::TempDir tmp;
  const std::string eval = WriteTinyEvalSet(tmp);
  const std::string bundle = "--bundle=" + testing::RequiredEnv("I2S_TEST_BUNDLE");
  const std::string tiny =
      "--configs=random,tiny=" + testing::RequiredEnv("I2S_TEST_ASSETS") + "/models.json";
  const std::string image = JoinPath(testing::RequiredEnv("I2S_TEST_ASSETS"), "images/blue.png");
  struct Case {
    std::vector<std::string> args;
    std::string eval_text;  // replaces eval.jsonl when set
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"--configs=nonsense"}, "", "neither `random` nor name=path"},
      {{"--configs=x=/nonexistent/models.json"}, "", "config x"},
      {{"--top_k=3"}, "", "--top_k"},
      {{}, "{\"image\": \"missing.png\", \"lexicon\": [\"sea\"]}\n", "missing.png: no such image"},
      {{},
       "{\"image\": \"" + image + "\", \"lexicon\": [\"Two Words\"]}\n",
       "not one lowercase token"},
      {{}, "{\"image\": \"" + image + "\"}\n", "field 'lexicon'"},
      {{}, "not json\n", ":1: not a JSON object"},
      {{}, "{\"image\": \"" + image + "\", \"lexicon\": [\"volcano\"]}\n", "no picture"},
      // An image that is not one (the eval file itself).
      {{}, "{\"image\": \"bad.jsonl\", \"lexicon\": [\"sea\"]}\n", "bad.jsonl"},
  };
  for (const Case& c : cases) {
    std::string path = eval;
    if (!c.eval_text.empty()) {
      path = tmp.File("bad.jsonl");
      testing::WriteWholeFile(path, c.eval_text);
    }
    std::vector<std::string> args = {"--eval=" + path, bundle, tiny};
    args.insert(args.end(), c.args.begin(), c.args.end());
    int rc = 0;
    std::string out;
    RunEval(tmp, args, &rc, &out);
    INFO(absl::StrJoin(args, " ") << "\n" << out);
    CHECK(rc == 1);
    CHECK(out.find(c.message) != std::string::npos);
  }
  int rc = testing::RunCommand({EvalBin(), "stray-argument"}, nullptr);
  CHECK(rc == 2);
}

// A fresh demo bundle in `tmp`, so that the current indexer is measured; the
// cached demo bundle when the clone has no ../shared next to it.
std::string FreshDemoBundle(const testing::TempDir& tmp) {
  if (!PathExists(DemoCatalogue())) return DefaultBundleDir();
  std::string out;
  const int rc = testing::RunCommand(
      {testing::RequiredEnv("I2S_INDEX_BIN"), "--quiet", "--catalogue=" + DemoCatalogue(),
       "--models=" + DefaultModelsPath(), "--output=" + tmp.File("bundle")},
      &out);
  INFO(out);
  REQUIRE(rc == 0);
  return tmp.File("bundle");
}

TEST_CASE("i2s-eval: v1 and the full tagger set rank lyrics above their floors", "[models]") {
  testing::TempDir tmp;
  const std::string cache = DefaultCacheDir();
  const std::string bundle = FreshDemoBundle(tmp);
  // v1 is models_v1.json when there; models.json is then the default.
  const std::string dir = JoinPath(cache, "models/default");
  std::string v1_path = JoinPath(dir, "models_v1.json");
  if (!PathExists(v1_path)) v1_path = DefaultModelsPath();
  std::string full = JoinPath(dir, "models_full.json");
  if (!PathExists(full)) full.clear();
  std::string configs = "random,v1=" + v1_path;
  const bool with_default = v1_path != DefaultModelsPath();
  if (with_default) configs += ",default=" + DefaultModelsPath();
  if (!full.empty()) configs += ",full=" + full;
  json r = RunEval(tmp, {"--eval=" + JoinPath(cache, "eval/eval.jsonl"), "--bundle=" + bundle,
                         "--configs=" + configs});
  REQUIRE(r.is_object());
  CHECK(r["pictures"].get<int>() >= kMinPictures);
  // The Python recipe (tools/eval/relevance.py) and i2s-eval agree.
  CHECK(r["relevant_count_mismatches"] == 0);
  for (const json& c : r["configs"]) {
    std::cout << absl::StrFormat("%-7s P@5 %.3f  nDCG@10 %.3f  MRR %.3f  %.1f ms/picture\n",
                                 c["name"].get<std::string>(), c["p_at_5"].get<double>(),
                                 c["ndcg_at_k"].get<double>(), c["mrr"].get<double>(),
                                 c["ms_per_picture"].get<double>());
  }
  const json& random = Config(r, "random");
  const json& v1 = Config(r, "v1");
  CHECK(v1["ndcg_at_k"] > random["ndcg_at_k"]);
  CHECK(v1["p_at_5"] > random["p_at_5"]);
  CHECK(v1["mrr"] > random["mrr"]);
  CHECK(v1["ndcg_at_k"].get<double>() >= kV1NdcgFloor);
  CHECK(v1["tag_coverage"] == 1.0);
  auto check_set = [&](const char* name, double floor) {
    INFO(name);
    const json& f = Config(r, name);
    CHECK(f["tag_coverage"].get<double>() > 0.9);
    CHECK(f["ndcg_at_k"] > random["ndcg_at_k"]);
    CHECK(f["p_at_5"] > random["p_at_5"]);
    CHECK(f["mrr"] > random["mrr"]);
    CHECK(f["ndcg_at_k"].get<double>() >= floor);
    REQUIRE(f["subsets"].contains("photos"));
    CHECK(f["subsets"]["photos"]["ndcg_at_k"].get<double>() >
          v1["subsets"]["photos"]["ndcg_at_k"].get<double>());
  };
  if (with_default) {
    check_set("default", kDefaultNdcgFloor);
    // Issue 15: the default is not below v1 on any subset (photos and each
    // emoji set). Measured 2026-12-06: fluent3d 0.0683 vs 0.0676 is the
    // narrowest; kSubsetSlack absorbs float differences between machines.
    const json& d = Config(r, "default");
    for (const auto& [subset, v] : v1["subsets"].items()) {
      INFO(subset);
      REQUIRE(d["subsets"].contains(subset));
      CHECK(d["subsets"][subset]["ndcg_at_k"].get<double>() >=
            v["ndcg_at_k"].get<double>() - kSubsetSlack);
    }
  }
  if (!full.empty()) check_set("full", kFullNdcgFloor);
}

TEST_CASE("i2s-eval: the lexical channel lifts the default models on the photos", "[models]") {
  testing::TempDir tmp;
  const std::string cache = DefaultCacheDir();
  const std::string bundle = FreshDemoBundle(tmp);
  const std::vector<std::string> common = {"--eval=" + JoinPath(cache, "eval/eval.jsonl"),
                                           "--bundle=" + bundle,
                                           "--configs=default=" + DefaultModelsPath()};
  auto photos = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = common;
    args.insert(args.end(), extra.begin(), extra.end());
    json r = RunEval(tmp, args);
    REQUIRE(r.is_object());
    const json& c = Config(r, "default");
    REQUIRE(c["subsets"].contains("photos"));
    return c["subsets"]["photos"]["ndcg_at_k"].get<double>();
  };
  const double dense_only = photos({"--lexical_weight=0", "--bm25_weight=0"});
  const double fused = photos({});  // the defaults: lexical channel, RRF, bm25_weight 0.5
  std::cout << absl::StrFormat("photos nDCG@10: dense only %.3f, with the lexical channel %.3f\n",
                               dense_only, fused);
  // Measured 0.182 -> 0.301 on the 270 photos (docs/models.md).
  CHECK(fused >= dense_only + 0.05);
}

}  // namespace
}  // namespace image2song

int main(int argc, char* argv[]) {
  std::vector<char*> args(argv, argv + argc);
  if (argc > 1 && std::string(argv[1]) == "--needs-cache") {
    args.erase(args.begin() + 1);
    const std::string cache = image2song::DefaultCacheDir();
    std::string catalogue = image2song::DemoCatalogue();
    if (!image2song::PathExists(catalogue)) {
      // The cached demo bundle instead: it must be of this build's format
      // (tools/assets/demo_bundle.sh refreshes it where the catalogue exists).
      catalogue = image2song::JoinPath(image2song::DefaultBundleDir(), "manifest.json");
      auto text = image2song::ReadFile(catalogue, 1 << 24);
      if (text.ok() && nlohmann::json::parse(*text, nullptr, false).value("format_version", 0) !=
                           image2song::kBundleFormatVersion) {
        std::cout << catalogue << " is of another bundle format and " << image2song::DemoCatalogue()
                  << " is missing: skipped\n";
        return 77;
      }
    }
    for (const std::string& need : {image2song::DefaultModelsPath(), catalogue,
                                    image2song::JoinPath(cache, "eval/eval.jsonl")}) {
      if (!image2song::PathExists(need)) {
        std::cout << need
                  << " missing (run tools/assets/setup_assets.sh and "
                     "tools/eval/make_eval_set.sh): skipped\n";
        return 77;
      }
    }
  }
  return Catch::Session().run(static_cast<int>(args.size()), args.data());
}
