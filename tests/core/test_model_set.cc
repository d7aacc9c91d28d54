// Tests for core/models/model_set.h and core/models/image_model.h on the
// generated tiny TorchScript colour classifier (fixture `assets`): loading,
// tagging, label words through a manifest, parallel taggers, load errors.
#include "core/models/model_set.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/image/image.h"
#include "core/models/image_model.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using ::image2song::testing::ReadWholeFile;
using ::image2song::testing::RequiredEnv;
using ::image2song::testing::TempDir;
using ::image2song::testing::WriteWholeFile;

std::string Assets() { return RequiredEnv("I2S_TEST_ASSETS"); }

absl::StatusOr<std::unique_ptr<ModelSet>> LoadManifest(const std::string& path,
                                                       bool optimize = true) {
  ModelSetOptions options;
  options.manifest_path = path;
  options.optimize = optimize;
  return ModelSet::Load(options);
}

RgbImage DecodeAsset(const std::string& name) {
  auto image = DecodeImage(ReadWholeFile(Assets() + "/images/" + name), DecodeOptions{});
  INFO(name << ": " << image.status().ToString());
  REQUIRE(image.ok());
  return std::move(*image);
}

// A models.json in `dir` with the tiny assets referenced by absolute path;
// `tagger_extra` is spliced into the tagger object.
std::string Manifest(const std::string& words_file, const std::string& model_file,
                     const std::string& labels_file, const std::string& tagger_extra = "") {
  return absl::StrCat(R"({"word_vectors": {"file": ")", words_file,
                      R"(", "id": "test-words-16d@1"}, "taggers": [{"name": "tiny_color", )",
                      R"("version": "1", "kind": "classifier", "file": ")", model_file,
                      R"(", "labels": ")", labels_file,
                      R"(", "input": {"width": 32, "height": 32, "mean": [0, 0, 0], )",
                      R"("std": [255, 255, 255]}, "skip_labels": [0], "top_k": 3, )",
                      R"("min_score": 0.05)", tagger_extra, "}]}");
}

std::string DefaultManifest(const std::string& tagger_extra = "") {
  return Manifest(Assets() + "/words.i2sv", Assets() + "/tiny_color.pt", Assets() + "/labels.tsv",
                  tagger_extra);
}

// `s` with the first `from` replaced by `to` (which must be there).
std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

// Loads `manifest` written to a temporary models.json; expects an error.
absl::Status LoadError(const TempDir& tmp, const std::string& manifest) {
  WriteWholeFile(tmp.File("models.json"), manifest);
  auto models = LoadManifest(tmp.File("models.json"));
  REQUIRE_FALSE(models.ok());
  return models.status();
}

}  // namespace

TEST_CASE("ModelSet loads the tiny manifest") {
  auto models = LoadManifest(Assets() + "/models.json");
  INFO(models.status().ToString());
  REQUIRE(models.ok());
  const ModelSet& m = **models;
  CHECK(m.words().id() == "test-words-16d@1");
  CHECK(m.words().size() == 240);
  CHECK(m.version() == "tiny_color@1");
  REQUIRE(m.taggers().size() == 1);
  const TaggerInfo& info = m.taggers()[0]->info();
  CHECK(info.name == "tiny_color");
  CHECK(info.version == "1");
  CHECK(info.kind == "classifier");
  CHECK(info.label_count == 5);
  CHECK(info.input_width == 32);
  CHECK(info.input_height == 32);
  CHECK((info.execution == "optimized" || info.execution == "frozen" || info.execution == "plain"));
}

TEST_CASE("TagImage gives each colour image its label") {
  auto models = LoadManifest(Assets() + "/models.json");
  REQUIRE(models.ok());
  struct Case {
    const char* image;
    const char* label;
    std::vector<std::string> words;
  };
  for (const Case& c : {Case{"blue.png", "ocean", {"sea", "ocean", "waves"}},
                        Case{"red.jpg", "fire", {"fire", "flame"}},
                        Case{"green.webp", "forest", {"forest", "trees", "green"}},
                        Case{"white.bmp", "snowfield", {"snow", "winter", "white"}},
                        Case{"big_blue.jpg", "ocean", {"sea", "ocean", "waves"}}}) {
    INFO(c.image);
    auto tags = (*models)->TagImage(DecodeAsset(c.image));
    INFO(tags.status().ToString());
    REQUIRE(tags.ok());
    REQUIRE(!tags->tags.empty());
    CHECK(tags->tags.size() <= 3);  // top_k
    const Tag& top = tags->tags[0];
    CHECK(top.label == c.label);
    CHECK(top.words == c.words);
    CHECK(top.source == "tiny_color");
    CHECK(top.weight == 1.0f);
    CHECK(top.score > 0.5f);
    CHECK_FALSE(top.has_box);
    for (size_t i = 0; i < tags->tags.size(); ++i) {
      const Tag& t = tags->tags[i];
      CHECK(t.label != "background");  // skip_labels
      CHECK(t.score >= 0.05f);         // min_score
      CHECK(t.score <= 1.0f);
      if (i > 0) CHECK(t.score <= tags->tags[i - 1].score);
    }
  }
}

TEST_CASE("TagImage is deterministic and optimisation does not change it") {
  auto optimized = LoadManifest(Assets() + "/models.json", true);
  auto plain = LoadManifest(Assets() + "/models.json", false);
  REQUIRE(optimized.ok());
  REQUIRE(plain.ok());
  CHECK((*plain)->taggers()[0]->info().execution == "plain");
  const RgbImage image = DecodeAsset("gray.png");
  auto a = (*optimized)->TagImage(image);
  auto b = (*optimized)->TagImage(image);
  auto c = (*plain)->TagImage(image);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(c.ok());
  REQUIRE(a->tags.size() == b->tags.size());
  REQUIRE(a->tags.size() == c->tags.size());
  for (size_t i = 0; i < a->tags.size(); ++i) {
    CHECK(a->tags[i].label == b->tags[i].label);
    CHECK(a->tags[i].score == b->tags[i].score);
    CHECK(a->tags[i].label == c->tags[i].label);
    CHECK(a->tags[i].score == Approx(c->tags[i].score).epsilon(0.01));
  }
}

TEST_CASE("Label words unknown to the word vectors are dropped") {
  TempDir tmp;
  WriteWholeFile(tmp.File("labels.tsv"),
                 "# comment\n0\tbackground\n1\tocean\tsea nosuchword  waves\r\n"
                 "2\tfire\tfire\n3\tforest\tforest\n4\tsnowfield\txyzzy\n");
  WriteWholeFile(tmp.File("models.json"),
                 Manifest(Assets() + "/words.i2sv", Assets() + "/tiny_color.pt",
                          "labels.tsv"));  // relative to the manifest
  auto models = LoadManifest(tmp.File("models.json"));
  INFO(models.status().ToString());
  REQUIRE(models.ok());
  auto tags = (*models)->TagImage(DecodeAsset("blue.png"));
  REQUIRE(tags.ok());
  REQUIRE(!tags->tags.empty());
  CHECK(tags->tags[0].label == "ocean");
  CHECK(tags->tags[0].words == std::vector<std::string>{"sea", "waves"});
  auto white = (*models)->TagImage(DecodeAsset("white.bmp"));
  REQUIRE(white.ok());
  REQUIRE(!white->tags.empty());
  CHECK(white->tags[0].label == "snowfield");
  CHECK(white->tags[0].words.empty());
}

TEST_CASE("Related words (4th label column) join a label's words only when enabled") {
  TempDir tmp;
  WriteWholeFile(tmp.File("labels.tsv"),
                 "0\tbackground\n1\tocean\tsea\twaves nosuchword sea\n"
                 "2\tfire\tfire\n3\tforest\tforest\n4\tsnowfield\tsnow\n");
  auto labels = LoadLabelFile(tmp.File("labels.tsv"));
  REQUIRE(labels.ok());
  CHECK((*labels)[1].words == std::vector<std::string>{"sea"});
  CHECK((*labels)[1].related == std::vector<std::string>{"waves", "nosuchword", "sea"});
  const std::string manifest =
      Manifest(Assets() + "/words.i2sv", Assets() + "/tiny_color.pt", "labels.tsv");
  for (bool related : {false, true}) {
    INFO("related " << related);
    WriteWholeFile(tmp.File("models.json"),
                   related ? Replace(manifest, R"("taggers")",
                                     R"("expand_words": {"related": true}, "taggers")")
                           : manifest);
    auto models = LoadManifest(tmp.File("models.json"));
    INFO(models.status().ToString());
    REQUIRE(models.ok());
    auto tags = (*models)->TagImage(DecodeAsset("blue.png"));
    REQUIRE(tags.ok());
    REQUIRE(!tags->tags.empty());
    const Tag& ocean = tags->tags[0];
    CHECK(ocean.label == "ocean");
    if (related) {
      // Unknown and repeated related words are dropped; "waves" counts half.
      CHECK(ocean.words == std::vector<std::string>{"sea", "waves"});
      CHECK(ocean.core_words == 1);
    } else {
      CHECK(ocean.words == std::vector<std::string>{"sea"});
    }
  }
}

TEST_CASE("A tagger with max_backdrop skips icons on a plain backdrop") {
  // Blue disc on white (backdrop ~65 % of the image) and a blue frame.
  RgbImage disc = DecodeAsset("blue.png");
  const int side = std::min(disc.width, disc.height);
  for (int y = 0; y < disc.height; ++y) {
    for (int x = 0; x < disc.width; ++x) {
      const int dx = x - disc.width / 2, dy = y - disc.height / 2;
      if (dx * dx + dy * dy <= side * side / 9) continue;
      uint8_t* p = &disc.pixels[(size_t(y) * disc.width + x) * 3];
      p[0] = p[1] = p[2] = 255;
    }
  }
  TempDir tmp;
  for (const char* limit : {"1.0", "0.2"}) {
    INFO("max_backdrop " << limit);
    WriteWholeFile(tmp.File("models.json"),
                   DefaultManifest(absl::StrCat(R"(, "max_backdrop": )", limit)));
    auto models = LoadManifest(tmp.File("models.json"));
    INFO(models.status().ToString());
    REQUIRE(models.ok());
    auto icon = (*models)->TagImage(disc);
    REQUIRE(icon.ok());
    CHECK(icon->tags.empty() == (std::string(limit) == "0.2"));
    auto scene = (*models)->TagImage(DecodeAsset("blue.png"));
    REQUIRE(scene.ok());
    REQUIRE(!scene->tags.empty());
    CHECK(scene->tags[0].label == "ocean");
  }
}

// A tagger that records the threads it ran on and tags every image "x<n>".
class ThreadRecordingTagger : public Tagger {
 public:
  explicit ThreadRecordingTagger(std::string name) {
    info_.name = std::move(name);
    info_.execution = "plain";  // counts as a model tagger
  }
  const TaggerInfo& info() const override { return info_; }
  absl::StatusOr<ImageTags> Run(const RgbImage& image, ImageFacts&) const override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads_.insert(std::this_thread::get_id());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ImageTags out;
    Tag t;
    t.label = absl::StrCat(info_.name, "-", image.width);
    t.score = 0.5f;
    t.source = info_.name;
    out.tags.push_back(t);
    out.forward_ms = 2;
    return out;
  }
  std::set<std::thread::id> threads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return threads_;
  }

 private:
  TaggerInfo info_;
  mutable std::mutex mu_;
  mutable std::set<std::thread::id> threads_;
};

TEST_CASE("Parallel taggers run on long-lived tagger threads, never one per request") {
  std::vector<std::unique_ptr<Tagger>> taggers;
  taggers.push_back(std::make_unique<ThreadRecordingTagger>("first"));
  taggers.push_back(std::make_unique<ThreadRecordingTagger>("second"));
  auto* first = static_cast<ThreadRecordingTagger*>(taggers[0].get());
  auto* second = static_cast<ThreadRecordingTagger*>(taggers[1].get());
  std::atomic<int> starts{0};
  auto words = WordVectors::FromData({"a"}, {1.0f, 0.0f}, 2, "w@1");
  REQUIRE(words.ok());
  ModelSet models(
      std::move(*words), std::move(taggers), /*parallel_taggers=*/true, [&] { ++starts; },
      /*tagger_threads=*/2);
  CHECK(starts == 2);  // started (and warmed: both taggers ran on them) at load
  const std::set<std::thread::id> warm = second->threads();
  CHECK(warm.size() == 2);
  CHECK(first->threads().empty());  // the first model tagger is never handed off: not warmed
  RgbImage image;
  image.width = 8;
  image.height = 8;
  image.pixels.assign(8 * 8 * 3, 100);
  // Four callers at once, 25 images each.
  std::vector<std::thread> callers;
  std::atomic<int> ok{0};
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto tags = models.TagImage(image);
        if (tags.ok() && tags->tags.size() == 2 && tags->tags[0].source == "first" &&
            tags->tags[1].source == "second" && tags->forward_ms >= 2) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : callers) t.join();
  CHECK(ok == 100);
  CHECK(starts == 2);  // no thread was started for a request
  // "second" ran on the two tagger threads or, when both were busy, on a
  // caller's thread; "first" always on the caller's (or warm-up) threads.
  std::set<std::thread::id> callers_and_tagger_threads = warm;
  for (const auto& id : first->threads()) callers_and_tagger_threads.insert(id);
  for (const auto& id : second->threads()) CHECK(callers_and_tagger_threads.count(id) == 1);
  for (const auto& id : first->threads()) CHECK(warm.count(id) == 0);  // always on a caller
  CHECK(second->threads().size() <= 2 + 4);
}

// Writes `manifest` as models.json in `tmp` and loads it with default
// options (set in *options).
std::unique_ptr<ModelSet> WriteAndLoad(const TempDir& tmp, const std::string& manifest,
                                       ModelSetOptions* options) {
  WriteWholeFile(tmp.File("models.json"), manifest);
  options->manifest_path = tmp.File("models.json");
  auto models = ModelSet::Load(*options);
  INFO(models.status().ToString());
  REQUIRE(models.ok());
  return std::move(*models);
}

// The manifest fields of the tiny classifier (a tagger entry without name
// and braces).
std::string TinyClassifierFields(const std::string& a) {
  return absl::StrCat(R"("kind": "classifier", "file": ")", a, R"(/tiny_color.pt", "labels": ")", a,
                      R"(/labels.tsv", "input": {"width": 32, "height": 32, )",
                      R"("mean": [0, 0, 0], "std": [255, 255, 255]}, "skip_labels": [0], )",
                      R"("top_k": 3, "min_score": 0.05)");
}

TEST_CASE("Parallel taggers and dynamic batching give the sequential tags") {
  // Two model taggers (the second with regions: a batch of 6 per image) and
  // the colour cues.
  const std::string a = Assets();
  const std::string tagger = TinyClassifierFields(a);
  const std::string manifest = absl::StrCat(
      R"({"word_vectors": {"file": ")", a, R"(/words.i2sv", "id": "test-words-16d@1"}, )",
      R"("taggers": [{"name": "one", )", tagger, R"(}, {"name": "two", )", tagger,
      R"(, "regions": {"grid": 2, "center": 0.5, "min_score": 0.3}, "weight": 0.5, )",
      R"("batching": {"max_batch": 6}}, {"name": "colour", "kind": "cues", "rules": ")", a,
      R"(/cues.json"}]})");
  TempDir tmp;
  ModelSetOptions plain;
  std::unique_ptr<ModelSet> sequential = WriteAndLoad(tmp, manifest, &plain);
  CHECK_FALSE(sequential->taggers()[0]->info().batching);
  ModelSetOptions fast = plain;
  fast.batching = true;
  fast.batching_options.max_batch = 8;
  fast.batching_options.max_delay_us = 20000;
  fast.parallel_taggers = true;
  std::atomic<int> thread_starts{0}, batches{0}, largest{0};
  fast.on_thread_start = [&] { ++thread_starts; };
  fast.on_batch = [&](const std::string& model, int images, int calls, double) {
    CHECK((model == "one" || model == "two"));
    CHECK(images <= (model == "two" ? 6 : 8));
    ++batches;
    if (calls > 1) largest = std::max(largest.load(), images);
  };
  auto parallel = ModelSet::Load(fast);
  INFO(parallel.status().ToString());
  REQUIRE(parallel.ok());
  CHECK((*parallel)->taggers()[0]->info().batching);
  CHECK((*parallel)->taggers()[0]->info().max_batch == 8);
  CHECK((*parallel)->taggers()[1]->info().max_batch == 6);
  CHECK_FALSE((*parallel)->taggers()[2]->info().batching);  // cues: no model
  const int starts_after_load = thread_starts;
  // One batch executor per model and the two tagger threads, all at load.
  CHECK(starts_after_load == 2 + fast.tagger_threads);

  std::vector<RgbImage> images;
  for (const char* name : {"blue.png", "red.jpg", "green.webp", "white.bmp", "gray.png"}) {
    images.push_back(DecodeAsset(name));
  }
  // Concurrent callers, so batches form.
  std::vector<absl::StatusOr<ImageTags>> got(images.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < images.size(); ++i) {
    threads.emplace_back([&, i] { got[i] = (*parallel)->TagImage(images[i]); });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < images.size(); ++i) {
    INFO("image " << i);
    auto want = sequential->TagImage(images[i]);
    REQUIRE(want.ok());
    REQUIRE(got[i].ok());
    REQUIRE(got[i]->tags.size() == want->tags.size());
    for (size_t k = 0; k < want->tags.size(); ++k) {
      CHECK(got[i]->tags[k].label == want->tags[k].label);
      CHECK(got[i]->tags[k].source == want->tags[k].source);
      CHECK(got[i]->tags[k].has_box == want->tags[k].has_box);
      CHECK(got[i]->tags[k].score == Approx(want->tags[k].score).margin(1e-4));
    }
  }
  CHECK(batches > 0);
  CHECK(largest > 1);                         // five callers at once share passes of model one
  CHECK(thread_starts == starts_after_load);  // no thread was started for a request
}

TEST_CASE("One model tagger with spare threads: the colour features beside its pass") {
  // A classifier whose regions are gated on the backdrop (read after the
  // forward pass) and the colour cues: with spare threads the colour
  // features are computed on one while the classifier runs.
  const std::string a = Assets();
  const std::string manifest = absl::StrCat(
      R"({"word_vectors": {"file": ")", a, R"(/words.i2sv", "id": "test-words-16d@1"}, )",
      R"("taggers": [{"name": "one", )", TinyClassifierFields(a),
      R"(, "regions": {"grid": 2, "center": 0.5, "min_score": 0.3, "max_backdrop": 0.5}}, )",
      R"({"name": "colour", "kind": "cues", "rules": ")", a, R"(/cues.json"}]})");
  TempDir tmp;
  ModelSetOptions plain;
  std::unique_ptr<ModelSet> sequential = WriteAndLoad(tmp, manifest, &plain);
  ModelSetOptions spare = plain;
  spare.parallel_taggers = true;
  std::atomic<int> thread_starts{0};
  spare.on_thread_start = [&] { ++thread_starts; };
  auto with_spare = ModelSet::Load(spare);
  INFO(with_spare.status().ToString());
  REQUIRE(with_spare.ok());
  CHECK(thread_starts == spare.tagger_threads);  // started at load, one model tagger or not
  for (int round = 0; round < 3; ++round) {
    for (const char* name : {"blue.png", "red.jpg", "green.webp", "white.bmp", "gray.png"}) {
      INFO(name);
      const RgbImage image = DecodeAsset(name);
      auto want = sequential->TagImage(image);
      auto got = (*with_spare)->TagImage(image);
      REQUIRE(want.ok());
      REQUIRE(got.ok());
      REQUIRE(got->tags.size() == want->tags.size());
      for (size_t k = 0; k < want->tags.size(); ++k) {
        CHECK(got->tags[k].label == want->tags[k].label);
        CHECK(got->tags[k].source == want->tags[k].source);
        CHECK(got->tags[k].has_box == want->tags[k].has_box);
        CHECK(got->tags[k].score == want->tags[k].score);
      }
    }
  }
  CHECK(thread_starts == spare.tagger_threads);  // none started for a request
}

TEST_CASE("ModelSet manifest errors") {
  TempDir tmp;
  SECTION("missing manifest") {
    auto models = LoadManifest(tmp.File("absent/models.json"));
    CHECK(models.status().code() == absl::StatusCode::kNotFound);
    CHECK(absl::StrContains(models.status().message(), tmp.File("absent/models.json")));
  }
  SECTION("invalid JSON") {
    absl::Status s = LoadError(tmp, "{\"word_vectors\": ");
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "not valid JSON"));
    CHECK(absl::StrContains(s.message(), tmp.File("models.json")));
  }
  SECTION("no word vectors entry") {
    absl::Status s = LoadError(tmp, R"({"taggers": []})");
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "word_vectors"));
  }
  SECTION("missing word vectors file") {
    absl::Status s = LoadError(tmp, Manifest(tmp.File("nowords.i2sv"), Assets() + "/tiny_color.pt",
                                             Assets() + "/labels.tsv"));
    CHECK(s.code() == absl::StatusCode::kNotFound);
    CHECK(absl::StrContains(s.message(), tmp.File("nowords.i2sv")));
  }
  SECTION("no taggers") {
    absl::Status s = LoadError(tmp, absl::StrCat(R"({"word_vectors": {"file": ")", Assets(),
                                                 R"(/words.i2sv", "id": "w"}, "taggers": []})"));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "lists no taggers"));
    // The indexer needs only the word vectors.
    ModelSetOptions options;
    options.manifest_path = tmp.File("models.json");
    options.words_only = true;
    auto words_only = ModelSet::Load(options);
    REQUIRE(words_only.ok());
    CHECK((*words_only)->taggers().empty());
    CHECK((*words_only)->words().id() == "w");
  }
  SECTION("unknown kind") {
    absl::Status s = LoadError(
        tmp, Replace(DefaultManifest(), "\"kind\": \"classifier\"", "\"kind\": \"segmenter\""));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "unsupported kind 'segmenter'"));
    CHECK(absl::StrContains(s.message(), "tiny_color"));
  }
  SECTION("missing model file field") {
    absl::Status s = LoadError(
        tmp, Replace(DefaultManifest(), "\"file\": \"" + Assets() + "/tiny_color.pt\", ", ""));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "bad tagger entry"));
  }
  SECTION("bad input std") {
    absl::Status s = LoadError(tmp, Replace(DefaultManifest(), "[255, 255, 255]", "[255, 0, 255]"));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "input.std must be > 0"));
  }
  SECTION("top_k out of range") {
    absl::Status s = LoadError(tmp, Replace(DefaultManifest(), "\"top_k\": 3", "\"top_k\": 0"));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "top_k must be 1..100"));
  }
  SECTION("a label file with a wrong index") {
    WriteWholeFile(tmp.File("labels.tsv"), "0\tbackground\n1\tocean\n3\tfire\n");
    absl::Status s = LoadError(tmp, Manifest(Assets() + "/words.i2sv", Assets() + "/tiny_color.pt",
                                             tmp.File("labels.tsv")));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), tmp.File("labels.tsv") + ":3: expected label index 2"));
  }
  SECTION("a corrupt TorchScript file") {
    std::mt19937 rng(7);
    std::string junk(4096, '\0');
    for (char& c : junk) c = static_cast<char>(rng() & 0xFF);
    WriteWholeFile(tmp.File("junk.pt"), junk);
    absl::Status s = LoadError(
        tmp, Manifest(Assets() + "/words.i2sv", tmp.File("junk.pt"), Assets() + "/labels.tsv"));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "cannot load TorchScript model"));
    CHECK(absl::StrContains(s.message(), tmp.File("junk.pt")));
  }
  SECTION("a missing TorchScript file") {
    absl::Status s = LoadError(
        tmp, Manifest(Assets() + "/words.i2sv", tmp.File("absent.pt"), Assets() + "/labels.tsv"));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), tmp.File("absent.pt")));
  }
  SECTION("regions from features on a model without a head") {
    absl::Status s =
        LoadError(tmp, DefaultManifest(R"(, "regions": {"from": "features", "grid": 2})"));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "regions.from \"features\" needs a model with a head"));
    CHECK(absl::StrContains(s.message(), "tiny_color.pt has no head"));
  }
  SECTION("an unknown regions.from") {
    absl::Status s = LoadError(tmp, DefaultManifest(R"(, "regions": {"from": "pixels"})"));
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "regions.from must be \"crops\" or \"features\""));
  }
  SECTION("labels and model outputs disagree") {
    // Loads (the model is only run at request time), but tagging fails with
    // an error instead of reading past the scores.
    WriteWholeFile(tmp.File("labels.tsv"), "0\tbackground\n1\tocean\tsea\n");
    WriteWholeFile(
        tmp.File("models.json"),
        Manifest(Assets() + "/words.i2sv", Assets() + "/tiny_color.pt", tmp.File("labels.tsv")));
    auto models = LoadManifest(tmp.File("models.json"));
    REQUIRE(models.ok());
    auto tags = (*models)->TagImage(DecodeAsset("blue.png"));
    CHECK(tags.status().code() == absl::StatusCode::kInternal);
    CHECK(absl::StrContains(tags.status().message(), "5 scores per image for 2 labels"));
  }
}

TEST_CASE("Regions from the feature map agree with cropped regions, in one forward pass") {
  // models_full.json crops each region and classifies the batch (1 + 4 + 1
  // images); models_cam.json pools the cells of tiny_color_cam's feature map
  // under each box and runs its head: the same tags from one pass.
  auto crops = LoadManifest(Assets() + "/models_full.json");
  auto cam = LoadManifest(Assets() + "/models_cam.json");
  REQUIRE(crops.ok());
  REQUIRE(cam.ok());
  const RgbImage split = DecodeAsset("split.png");  // left half blue, right half red
  auto by_crops = (*crops)->TagImage(split);
  auto by_cam = (*cam)->TagImage(split);
  REQUIRE(by_crops.ok());
  REQUIRE(by_cam.ok());
  auto boxed = [](const ImageTags& tags) {
    std::map<std::string, const Tag*> out;
    for (const Tag& t : tags.tags) {
      if (t.has_box) out[t.label] = &t;
    }
    return out;
  };
  const auto a = boxed(*by_crops), b = boxed(*by_cam);
  REQUIRE(a.count("ocean") == 1);
  REQUIRE(a.count("fire") == 1);
  REQUIRE(b.size() == a.size());
  for (const auto& [label, tag] : a) {
    INFO(label);
    REQUIRE(b.count(label) == 1);
    const Tag& t = *b.at(label);
    CHECK(t.score == Approx(tag->score).margin(0.05));
    // The same column of the grid (top and bottom cells of a half tie up to
    // the pixel noise, so either may win).
    CHECK(t.box.x0 == tag->box.x0);
    CHECK(t.box.x1 == tag->box.x1);
    CHECK(t.box.y1 - t.box.y0 == tag->box.y1 - tag->box.y0);
    CHECK(t.weight == Approx(tag->weight));
  }
  CHECK(b.at("ocean")->box.x1 <= 0.5f);
  CHECK(b.at("fire")->box.x0 >= 0.5f);
  // The whole-image tags are the same model on the same input.
  for (const Tag& t : by_cam->tags) {
    if (t.has_box || t.source != "tiny_color") continue;
    auto same = std::find_if(by_crops->tags.begin(), by_crops->tags.end(), [&](const Tag& u) {
      return !u.has_box && u.label == t.label && u.source == t.source;
    });
    REQUIRE(same != by_crops->tags.end());
    CHECK(t.score == Approx(same->score).margin(1e-4));
  }
  // One pass, not six: the model sees a batch of one image.
  std::atomic<int> images{0}, passes{0};
  ModelSetOptions options;
  options.manifest_path = Assets() + "/models_cam.json";
  options.batching = true;
  options.on_batch = [&](const std::string&, int n, int, double) {
    images += n;
    ++passes;
  };
  auto counted = ModelSet::Load(options);
  REQUIRE(counted.ok());
  images = 0;
  passes = 0;
  REQUIRE((*counted)->TagImage(split).ok());
  CHECK(passes == 1);
  CHECK(images == 1);
}

TEST_CASE("ImageModel runs the TorchScript model") {
  ImageModelOptions options;
  options.path = Assets() + "/tiny_color.pt";
  options.input_width = 32;
  options.input_height = 32;
  SECTION("optimize=false keeps the plain module") {
    options.optimize = false;
    auto model = ImageModel::Load(options);
    INFO(model.status().ToString());
    REQUIRE(model.ok());
    CHECK((*model)->execution() == "plain");
    // Batch of two: all blue, all red (inputs in [0, 1]).
    std::vector<float> input(2 * 3 * 32 * 32, 0.0f);
    const size_t plane = 32 * 32;
    std::fill(input.begin() + 2 * plane, input.begin() + 3 * plane, 1.0f);
    std::fill(input.begin() + 3 * plane, input.begin() + 4 * plane, 1.0f);
    auto out = (*model)->Run(input.data(), 2);
    REQUIRE(out.ok());
    REQUIRE(out->size() == 2);  // (scores, pooled)
    CHECK((*out)[0].shape == std::vector<int64_t>{2, 5});
    CHECK((*out)[1].shape == std::vector<int64_t>{2, 3});
    const std::vector<float>& s = (*out)[0].data;
    for (int b = 0; b < 2; ++b) {
      float sum = 0;
      for (int k = 0; k < 5; ++k) sum += s[b * 5 + k];
      CHECK(sum == Approx(1.0f).epsilon(1e-4));
    }
    CHECK(std::max_element(s.begin(), s.begin() + 5) - s.begin() == 1);  // ocean
    CHECK(std::max_element(s.begin() + 5, s.end()) - (s.begin() + 5) == 2);
    CHECK((*out)[1].data[2] == Approx(1.0f));  // pooled blue of image 0
  }
  SECTION("optimize=true keeps a variant that matches") {
    auto model = ImageModel::Load(options);
    REQUIRE(model.ok());
    CHECK(((*model)->execution() == "optimized" || (*model)->execution() == "frozen" ||
           (*model)->execution() == "plain"));
  }
  SECTION("bad input size") {
    options.input_width = 0;
    CHECK(ImageModel::Load(options).status().code() == absl::StatusCode::kInvalidArgument);
  }
  SECTION("a file that is not a model") {
    options.path = Assets() + "/labels.tsv";
    auto model = ImageModel::Load(options);
    CHECK(model.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(model.status().message(), "cannot load TorchScript model"));
  }
}

}  // namespace image2song

namespace image2song {
namespace {

// A 128x96 grey picture with a square "face" of colour (r, g, b): side 32 at
// (40, 24). The tiny face detector finds saturated pixels.
RgbImage FacePicture(uint8_t r, uint8_t g, uint8_t b, bool face = true) {
  RgbImage image;
  image.width = 128;
  image.height = 96;
  image.pixels.assign(size_t(128) * 96 * 3, 128);
  for (int y = 24; face && y < 56; ++y) {
    for (int x = 40; x < 72; ++x) {
      uint8_t* p = &image.pixels[(size_t(y) * 128 + x) * 3];
      p[0] = r;
      p[1] = g;
      p[2] = b;
    }
  }
  return image;
}

// A tagger that returns fixed tags (source: its name), with a gate, and
// counts its runs.
class FixedTagger : public Tagger {
 public:
  FixedTagger(std::string name, std::vector<Tag> tags, TaggerGate gate = {})
      : tags_(std::move(tags)) {
    info_.name = std::move(name);
    info_.execution = "plain";  // a model tagger
    info_.gate = std::move(gate);
    for (Tag& t : tags_) t.source = info_.name;
  }
  const TaggerInfo& info() const override { return info_; }
  absl::StatusOr<ImageTags> Run(const RgbImage&, ImageFacts&) const override {
    ++runs_;
    ImageTags out;
    out.tags = tags_;
    out.forward_ms = 1;
    return out;
  }
  int runs() const { return runs_; }

 private:
  TaggerInfo info_;
  std::vector<Tag> tags_;
  mutable std::atomic<int> runs_{0};
};

Tag ObjectTag(const std::string& label, float score) {
  Tag t;
  t.label = label;
  t.score = score;
  return t;
}

}  // namespace

TEST_CASE("The faces tagger tags each face's expression with its square box") {
  auto models = LoadManifest(Assets() + "/models_faces.json");
  INFO(models.status().ToString());
  REQUIRE(models.ok());
  const TaggerInfo& info = (*models)->taggers()[0]->info();
  CHECK(info.kind == "faces");
  CHECK(info.label_count == 7);
  CHECK(info.input_width == 32);
  CHECK((*models)->working_size() == 0);  // it does not raise the set's decode size

  struct Case {
    RgbImage image;
    const char* label;
    std::vector<std::string> words;
  };
  for (const Case& c : {Case{FacePicture(230, 20, 20), "smiling face", {"love", "heart", "dance"}},
                        Case{FacePicture(20, 20, 230), "sad face", {"rain", "cold"}}}) {
    INFO(c.label);
    auto tags = (*models)->TagImage(c.image);
    INFO(tags.status().ToString());
    REQUIRE(tags.ok());
    // The detector's second box (5 % of the picture, score 0.8) is under
    // min_size (0.1 of the shorter side): one face, one label over 0.4.
    REQUIRE(tags->tags.size() == 1);
    const Tag& t = tags->tags[0];
    CHECK(t.label == c.label);
    CHECK(t.words == c.words);
    CHECK(t.source == "faces");
    CHECK(t.weight == 0.5f);
    CHECK(t.role == TagRole::kObject);
    CHECK(t.score > 0.9f * 0.6f);  // face score 0.9 x expression probability
    CHECK(t.score <= 0.9f);
    // The face (40..72 x 24..57 after the detector's 32 px grid) enlarged
    // 1.4x and squared in pixels: side ~46 px about its centre (56, 40.5).
    REQUIRE(t.has_box);
    CHECK(std::abs((t.box.x0 + t.box.x1) / 2 * 128 - 56) <= 1.0f);
    CHECK(std::abs((t.box.y0 + t.box.y1) / 2 * 96 - 40.5f) <= 1.0f);
    CHECK(std::abs((t.box.x1 - t.box.x0) * 128 - 46) <= 1.0f);
    CHECK(std::abs((t.box.y1 - t.box.y0) * 96 - 46) <= 1.5f);  // ends rounded apart
  }
  // No face: nothing (the small box is under min_size).
  auto none = (*models)->TagImage(FacePicture(0, 0, 0, /*face=*/false));
  REQUIRE(none.ok());
  CHECK(none->tags.empty());

  // min_size 0 keeps the small box: its grey crop is "face" (neutral).
  TempDir tmp;
  std::string manifest = ReadWholeFile(Assets() + "/models_faces.json");
  manifest = Replace(manifest, R"("min_size": 0.1)", R"("min_size": 0)");
  for (const char* file : {"tiny_faces.pt", "tiny_emotion.pt", "face_words.tsv", "words.i2sv"}) {
    WriteWholeFile(tmp.File(file), ReadWholeFile(Assets() + "/" + file));
  }
  WriteWholeFile(tmp.File("models.json"), manifest);
  auto small = LoadManifest(tmp.File("models.json"));
  INFO(small.status().ToString());
  REQUIRE(small.ok());
  auto grey = (*small)->TagImage(FacePicture(0, 0, 0, /*face=*/false));
  REQUIRE(grey.ok());
  REQUIRE(grey->tags.size() == 1);
  CHECK(grey->tags[0].label == "face");
  CHECK(grey->tags[0].words == std::vector<std::string>{"friend"});
  CHECK(grey->tags[0].score == Approx(0.8f * 0.69f).epsilon(0.05));
  // (0.9, 0.9)-(0.95, 0.95) of 128x96, enlarged 1.4x and squared: 114..123 x 84..93.
  CHECK(grey->tags[0].box.x0 * 128 == Approx(114));
  CHECK(grey->tags[0].box.y1 * 96 == Approx(93));
}

TEST_CASE("A gated tagger runs after the others, only when the taggers before it open its gate") {
  RgbImage image = FacePicture(230, 20, 20);
  TaggerGate gate;
  gate.gated = true;
  gate.labels_any = {"suit"};
  gate.min_score = 0.2f;
  struct Case {
    std::vector<Tag> before;  // the first tagger's tags
    float top_score_below;
    bool runs;
  };
  for (const Case& c :
       {Case{{ObjectTag("suit", 0.5f)}, 0, true},
        Case{{ObjectTag("cat", 0.9f), ObjectTag("suit", 0.1f)}, 0, false},
        Case{{ObjectTag("cat", 0.9f)}, 0.3f, false}, Case{{ObjectTag("cat", 0.25f)}, 0.3f, true},
        Case{{}, 0.3f, true}, Case{{}, 0, false}}) {
    for (bool parallel : {false, true}) {
      INFO("first tagger's tags: " << c.before.size() << ", or_top_score_below "
                                   << c.top_score_below << ", parallel " << parallel);
      gate.top_score_below = c.top_score_below;
      std::vector<std::unique_ptr<Tagger>> taggers;
      taggers.push_back(std::make_unique<FixedTagger>("scene", c.before));
      taggers.push_back(
          std::make_unique<FixedTagger>("faces", std::vector<Tag>{ObjectTag("face", 0.7f)}, gate));
      // Listed after the gated tagger: its "suit" does not open the gate.
      taggers.push_back(
          std::make_unique<FixedTagger>("later", std::vector<Tag>{ObjectTag("suit", 0.9f)}));
      auto* faces = static_cast<FixedTagger*>(taggers[1].get());
      auto words = WordVectors::FromData({"a"}, {1.0f, 0.0f}, 2, "w@1");
      REQUIRE(words.ok());
      ModelSet models(std::move(*words), std::move(taggers), parallel, nullptr, 2);
      CHECK(faces->runs() == 0);  // a gated tagger is not warmed on tagger threads
      auto tags = models.TagImage(image);
      INFO(tags.status().ToString());
      REQUIRE(tags.ok());
      CHECK(faces->runs() == (c.runs ? 1 : 0));
      const bool has_face = std::any_of(tags->tags.begin(), tags->tags.end(),
                                        [](const Tag& t) { return t.source == "faces"; });
      CHECK(has_face == c.runs);
      CHECK(tags->tags.size() == c.before.size() + 1 + (c.runs ? 1 : 0));
      CHECK(tags->forward_ms >= (c.runs ? 2 : 1));
    }
  }
}

}  // namespace image2song
