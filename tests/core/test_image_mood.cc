// core/models/image_mood.h: the image's mood from tags, faces and colour
// features; its model file; and the ridge fit of bench/mood_eval.h.
#include "core/models/image_mood.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "bench/mood_eval.h"
#include "tests/support/test_util.h"
#include "util/file_util.h"

namespace image2song {
namespace {

Tag MakeTag(const std::string& label, float score, std::vector<std::string> words = {},
            const std::string& source = "scene") {
  Tag t;
  t.label = label;
  t.score = score;
  t.words = std::move(words);
  t.source = source;
  return t;
}

// A dark, grey, colourless picture tagged like a storm, and a bright,
// colourful one tagged like a party.
const std::map<std::string, float> kStormColour = {
    {"brightness", 0.22f},  {"saturation", 0.06f}, {"colourfulness", 0.04f}, {"dark_share", 0.55f},
    {"bright_share", 0.0f}, {"warm_share", 0.0f},  {"cold_share", 0.1f},     {"sky_share", 0.3f}};
const std::map<std::string, float> kPartyColour = {
    {"brightness", 0.78f},  {"saturation", 0.8f},  {"colourfulness", 0.85f}, {"dark_share", 0.02f},
    {"bright_share", 0.4f}, {"warm_share", 0.45f}, {"cold_share", 0.2f}};
std::vector<Tag> StormTags() {
  return {MakeTag("thunderstorm", 0.7f, {"storm", "thunderstorm"}), MakeTag("grey", 0.8f),
          MakeTag("dark", 0.6f)};
}
std::vector<Tag> PartyTags() {
  return {MakeTag("balloon", 0.8f, {"balloon"}), MakeTag("party hat", 0.5f, {"party", "hat"}),
          MakeTag("colourful", 0.9f)};
}

std::string SourceFile(const std::string& rel) {
  return testing::RequiredEnv("I2S_SOURCE_DIR") + "/" + rel;
}

// The hand-set weights the fit started from (the shape of a mood model).
ImageMoodModel HandSetModel() {
  const char kJson[] = R"({"lexicon": "mood_words.tsv",
    "valence": {"bias": -0.2, "brightness": 0.3, "saturation": 0.2, "dark_share": -0.4,
                "tag_valence": 0.8, "face_valence": 0.5},
    "arousal": {"bias": -0.2, "saturation": 0.3, "colourfulness": 0.5, "tag_arousal": 0.8,
                "face_arousal": 0.5},
    "words": [{"word": "festive", "valence": 0.8, "arousal": 0.8},
              {"word": "calm", "valence": 0.25, "arousal": -0.6},
              {"word": "gloomy", "valence": -0.45, "arousal": -0.4},
              {"word": "tense", "valence": -0.5, "arousal": 0.6}]})";
  auto lexicon = ReadFile(SourceFile("tools/assets/data/mood_words.tsv"));
  REQUIRE(lexicon.ok());
  auto m = ParseImageMoodModel(kJson, "/models/image_mood.json", &*lexicon);
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  CHECK(m->lexicon_path == "/models/mood_words.tsv");
  return *m;
}

}  // namespace

TEST_CASE("A storm-like dark grey picture is unpleasant, a bright party pleasant and livelier") {
  const ImageMoodModel model = HandSetModel();
  const ImageMood storm = ComputeImageMood(model, StormTags(), kStormColour);
  const ImageMood party = ComputeImageMood(model, PartyTags(), kPartyColour);
  INFO("storm " << storm.valence << " " << storm.arousal << ", party " << party.valence << " "
                << party.arousal);
  CHECK(storm.valence < 0);
  CHECK(party.valence > 0.3f);
  CHECK(party.arousal > 0.3f);
  REQUIRE_FALSE(party.words.empty());
  CHECK(party.words[0] == "festive");
  REQUIRE_FALSE(storm.words.empty());
  CHECK((storm.words[0] == "tense" || storm.words[0] == "gloomy"));
  for (const ImageMood& m : {storm, party}) {
    CHECK(m.valence >= -1);
    CHECK(m.valence <= 1);
    CHECK(m.arousal >= -1);
    CHECK(m.arousal <= 1);
  }
}

TEST_CASE("The shipped fitted model ranks the party above the storm on both axes") {
  auto model = ReadImageMoodModel(SourceFile("tools/assets/data/image_mood.json"));
  INFO(model.status().ToString());
  REQUIRE(model.ok());
  CHECK(model->lexicon.size() > 150);
  CHECK(model->words.size() >= 10);
  const ImageMood storm = ComputeImageMood(*model, StormTags(), kStormColour);
  const ImageMood party = ComputeImageMood(*model, PartyTags(), kPartyColour);
  INFO("storm " << storm.valence << " " << storm.arousal << ", party " << party.valence << " "
                << party.arousal);
  CHECK(party.valence > storm.valence + 0.2f);
  CHECK(party.arousal > storm.arousal + 0.2f);
}

TEST_CASE("Tag priors: a label's own entry, else its core words; faces apart") {
  const ImageMoodModel model = HandSetModel();
  MoodPoint p;
  REQUIRE(TagMoodPrior(model.lexicon, MakeTag("smiling face", 0.9f), &p));
  CHECK(p.valence > 0.5f);
  REQUIRE(TagMoodPrior(model.lexicon, MakeTag("seashore", 0.9f, {"beach", "zzz"}), &p));
  CHECK(p.valence == Approx(model.lexicon.at("beach").valence));
  Tag expanded = MakeTag("x", 0.9f, {"sea", "funeral"});
  expanded.core_words = 1;  // "funeral" is an expansion: not counted
  REQUIRE(TagMoodPrior(model.lexicon, expanded, &p));
  CHECK(p.valence == Approx(model.lexicon.at("sea").valence));
  CHECK_FALSE(TagMoodPrior(model.lexicon, MakeTag("zzz", 0.9f, {"qqq"}), &p));

  // A sad face counts in the face features only when its source is a faces
  // tagger.
  const std::vector<Tag> tags = {MakeTag("sad face", 0.9f, {}, "faces")};
  const auto as_face = ImageMoodFeatures(model.lexicon, tags, {}, {"faces"});
  const auto as_tag = ImageMoodFeatures(model.lexicon, tags, {}, {});
  const int fv = ImageMoodFaceFeatures()[0], tv = ImageMoodTagFeatures()[0];
  CHECK(as_face[fv] < -0.5f);
  CHECK(as_face[tv] == 0);
  CHECK(as_tag[tv] < -0.5f);
  CHECK(as_tag[fv] == 0);
  CHECK(ComputeImageMood(model, tags, {}, {"faces"}).valence <
        ComputeImageMood(model, {}, {}, {"faces"}).valence);
}

TEST_CASE("Bad mood model and lexicon files are refused with the reason") {
  const std::string lexicon = "storm\t-0.6\t0.7\n";
  const std::string words = R"("words": [{"word": "calm", "valence": 0.2, "arousal": -0.5}])";
  struct Case {
    std::string json, lexicon, want;
  };
  const std::vector<Case> cases = {
      {"{", lexicon, "not valid JSON"},
      {R"({"valence": {}, "arousal": {}, )" + words + "}", lexicon, "lexicon"},
      {R"({"lexicon": "l.tsv", "valence": {"loudness": 1}, "arousal": {}, )" + words + "}", lexicon,
       "valence.loudness is not a feature"},
      {R"({"lexicon": "l.tsv", "valence": {"bias": "x"}, "arousal": {}, )" + words + "}", lexicon,
       "must be a number"},
      {R"({"lexicon": "l.tsv", "valence": {}, )" + words + "}", lexicon, "arousal is missing"},
      {R"({"lexicon": "l.tsv", "valence": {}, "arousal": {}, "words": []})", lexicon,
       "words must not be empty"},
      {R"({"lexicon": "l.tsv", "valence": {}, "arousal": {}, )" + words + "}", "storm\t2\t0\n",
       "line 1"},
      {R"({"lexicon": "l.tsv", "valence": {}, "arousal": {}, )" + words + "}",
       "storm\t0\t0\nstorm\t0\t0\n", "listed twice"},
      {R"({"lexicon": "l.tsv", "valence": {}, "arousal": {}, )" + words + "}", "# only\n",
       "no entries"},
  };
  for (const Case& c : cases) {
    auto m = ParseImageMoodModel(c.json, "/m/mood.json", &c.lexicon);
    INFO(c.json << " / " << c.lexicon);
    REQUIRE_FALSE(m.ok());
    CHECK(absl::StrContains(m.status().message(), c.want));
  }
  auto ok = ParseImageMoodModel(
      R"({"lexicon": "l.tsv", "valence": {"bias": 0.1}, "arousal": {}, )" + words + "}",
      "/m/mood.json", &lexicon);
  REQUIRE(ok.ok());
  CHECK(ok->valence_bias == Approx(0.1));
  CHECK(ok->lexicon.at("storm").arousal == Approx(0.7));
  CHECK_FALSE(ReadImageMoodModel("/nonexistent/mood.json").ok());
}

TEST_CASE("The model JSON round-trips through ImageMoodModelJson") {
  ImageMoodModel m = HandSetModel();
  m.valence_weights[0] = 0.25f;
  const std::string json = ImageMoodModelJson(m, "mood_words.tsv", R"({"photos": 3})");
  auto back = ParseImageMoodModel(json, "/models/image_mood.json");
  INFO(back.status().ToString());
  REQUIRE(back.ok());
  CHECK(back->valence_weights == m.valence_weights);
  CHECK(back->arousal_bias == Approx(m.arousal_bias));
  CHECK(back->words.size() == m.words.size());
}

TEST_CASE("Ridge fit recovers a linear rule; cross-validation and metrics") {
  // valence = 2 * brightness - 1 (exactly), arousal = saturation's third.
  std::vector<std::vector<float>> x;
  std::vector<MoodLabel> labels;
  for (int i = 0; i < 40; ++i) {
    std::vector<float> f(ImageMoodFeatureNames().size(), 0.0f);
    f[0] = (i % 10) / 9.0f;       // brightness
    f[1] = ((i / 3) % 3) / 2.0f;  // saturation
    x.push_back(f);
    MoodLabel l;
    l.valence = 2 * f[0] - 1;
    l.arousal = f[1] * 2 - 1;
    labels.push_back(l);
  }
  std::vector<float> w;
  float bias = 0;
  std::vector<float> y;
  for (const MoodLabel& l : labels) y.push_back(l.valence);
  FitRidge(x, y, ImageMoodColourFeatures(), 0.0, &w, &bias);
  CHECK(w[0] == Approx(2).margin(1e-3));
  CHECK(bias == Approx(-1).margin(1e-3));
  CHECK(w[2] == 0);  // constant column: no weight

  const auto variants = CrossValidateMood(HandSetModel(), x, labels, 4, 0.01);
  REQUIRE(variants.size() == 5);
  CHECK(variants[0].name == "fitted");
  CHECK(variants[0].per_fold.size() == 4);
  CHECK(variants[1].name == "colour-only");
  CHECK(variants[1].pooled.valence_r > 0.99);
  CHECK(variants[1].pooled.arousal_agree > 0.95);
  CHECK(variants[3].name == "constant");
  CHECK(variants[3].pooled.valence_r < 0.5);

  const auto folds = MoodFolds(10, 3);
  CHECK(std::count(folds.begin(), folds.end(), 0) == 4);
  CHECK(std::count(folds.begin(), folds.end(), 2) == 3);

  auto parsed = ParseMoodLabels("# c\na.jpg\t-2\thigh\tstorm\treason\nb.jpg\t1\tlow\tcalm\n", "p");
  REQUIRE(parsed.ok());
  REQUIRE(parsed->size() == 2);
  CHECK((*parsed)[0].valence == -1);
  CHECK((*parsed)[0].arousal == 1);
  CHECK_FALSE(ParseMoodLabels("a.jpg\t3\thigh\tx\n", "p").ok());
  CHECK_FALSE(ParseMoodLabels("a.jpg\t1\tloud\tx\n", "p").ok());
}

}  // namespace image2song
