// Colour cue features and the production rule file (tools/assets/data/colour_cues.json).
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "core/image/colour_cues.h"
#include "core/models/model_set.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

RgbImage Solid(uint8_t r, uint8_t g, uint8_t b, int w = 64, int h = 48) {
  RgbImage img;
  img.width = w;
  img.height = h;
  img.pixels.resize(size_t(w) * h * 3);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    img.pixels[i] = r;
    img.pixels[i + 1] = g;
    img.pixels[i + 2] = b;
  }
  return img;
}

std::vector<CueRule> ProductionRules() {
  auto rules =
      LoadCueRules(testing::RequiredEnv("I2S_SOURCE_DIR") + "/tools/assets/data/colour_cues.json");
  INFO(rules.status().ToString());
  REQUIRE(rules.ok());
  return *rules;
}

std::vector<std::string> Tags(const RgbImage& img) {
  static const std::vector<CueRule> rules = ProductionRules();
  std::vector<std::string> out;
  for (const CueMatch& m : MatchCueRules(rules, ColourFeatures(img))) {
    CHECK(m.score >= 0.5f);
    CHECK(m.score <= 1.0f);
    out.push_back(m.rule->tag);
  }
  return out;
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_CASE("colour features of solid images") {
  auto black = ColourFeatures(Solid(0, 0, 0));
  CHECK(black["brightness"] == Approx(0));
  CHECK(black["dark_share"] == Approx(1));
  auto white = ColourFeatures(Solid(255, 255, 255));
  CHECK(white["brightness"] == Approx(1));
  CHECK(white["saturation"] == Approx(0));
  CHECK(white["bright_share"] == Approx(1));
  auto red = ColourFeatures(Solid(230, 30, 20));
  CHECK(red["warm_share"] == Approx(1));
  CHECK(red["cold_share"] == Approx(0));
  auto blue = ColourFeatures(Solid(20, 40, 230));
  CHECK(blue["cold_share"] == Approx(1));
  CHECK(blue["water_share"] == Approx(1));
  CHECK(blue["sky_share"] == Approx(1));
  auto green = ColourFeatures(Solid(30, 200, 40));
  CHECK(green["vegetation_share"] == Approx(1));
  for (const auto& [name, value] : green) {
    INFO(name);
    CHECK(value >= 0.0f);
    CHECK(value <= 1.0f);
  }
}

TEST_CASE("production rules tag typical scenes") {
  auto night = Tags(Solid(10, 10, 14));
  CHECK(Has(night, "night"));
  CHECK(Has(night, "dark"));
  CHECK_FALSE(Has(night, "bright"));
  auto fire = Tags(Solid(240, 120, 20));
  CHECK(Has(fire, "warm"));
  CHECK(Has(fire, "sunny"));
  CHECK_FALSE(Has(fire, "cold"));
  auto sea = Tags(Solid(20, 60, 200));
  CHECK(Has(sea, "cold"));
  CHECK(Has(sea, "water"));
  auto fog = Tags(Solid(140, 140, 145));
  CHECK(Has(fog, "grey"));
  CHECK_FALSE(Has(fog, "night"));
  CHECK(Has(Tags(Solid(40, 180, 50)), "green"));
  // Half red, half blue: colourful.
  RgbImage mixed = Solid(230, 20, 20);
  for (int y = 0; y < mixed.height; ++y) {
    for (int x = mixed.width / 2; x < mixed.width; ++x) {
      uint8_t* p = &mixed.pixels[(size_t(y) * mixed.width + x) * 3];
      p[0] = 20;
      p[1] = 200;
      p[2] = 40;
    }
  }
  CHECK(Has(Tags(mixed), "colourful"));
}

// A subject (a filled circle) on a plain backdrop, like an emoji or icon.
RgbImage Disc(uint8_t r, uint8_t g, uint8_t b, uint8_t bg, int side = 96) {
  RgbImage img = Solid(bg, bg, bg, side, side);
  const int c = side / 2, radius = side / 3;
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      if ((x - c) * (x - c) + (y - c) * (y - c) > radius * radius) continue;
      uint8_t* p = &img.pixels[(size_t(y) * side + x) * 3];
      p[0] = r;
      p[1] = g;
      p[2] = b;
    }
  }
  return img;
}

TEST_CASE("a plain backdrop is left out of the features") {
  // Orange disc on white: a third of the image is the subject.
  auto f = ColourFeatures(Disc(240, 120, 20, 255));
  CHECK(f["background_share"] == Approx(1 - 3.14159 / 9).margin(0.03));
  CHECK(f["warm_share"] == Approx(1).margin(0.02));  // the disc only
  CHECK(f["saturation"] > 0.85f);                    // the white backdrop would halve it
  // Scene rules (bright, sunny) stay off icons; the same colour filling the
  // frame is a scene.
  auto icon = Tags(Disc(240, 120, 20, 255));
  CHECK_FALSE(Has(icon, "bright"));
  CHECK_FALSE(Has(icon, "sunny"));
  CHECK(Has(Tags(Solid(240, 120, 20)), "sunny"));
  // A photo-like image with a varied border has no backdrop.
  RgbImage noisy = Solid(0, 0, 0);
  for (size_t i = 0; i < noisy.pixels.size(); ++i) {
    noisy.pixels[i] = uint8_t((i * 2654435761u) >> 24);
  }
  CHECK(ColourFeatures(noisy)["background_share"] == Approx(0));
  CHECK(ColourFeatures(Solid(255, 255, 255))["background_share"] == Approx(0));
}

TEST_CASE("bad rule files are refused with the reason") {
  testing::TempDir dir;
  auto load = [&](const std::string& text) {
    testing::WriteWholeFile(dir.File("r.json"), text);
    return LoadCueRules(dir.File("r.json")).status();
  };
  absl::Status s = load(R"({"rules": [{"tag": "x", "when": {"hue_min": 0.1}}]})");
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(s.message(), "unknown feature 'hue'"));
  s = load(R"({"rules": [{"tag": "x", "when": {"brightness": 0.1}}]})");
  CHECK(absl::StrContains(s.message(), "_min or _max"));
  s = load(R"({"rules": [{"tag": "x", "when": {}}]})");
  CHECK(absl::StrContains(s.message(), "no conditions"));
  CHECK_FALSE(load("not json").ok());
  CHECK(LoadCueRules(dir.File("missing.json")).status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("full manifest: cues tagger, region batch, expanded label words") {
  ModelSetOptions o;
  o.manifest_path = testing::RequiredEnv("I2S_TEST_ASSETS") + "/models_full.json";
  auto models = ModelSet::Load(o);
  INFO(models.status().ToString());
  REQUIRE(models.ok());
  REQUIRE((*models)->taggers().size() == 2);
  CHECK((*models)->taggers()[1]->info().kind == "cues");
  CHECK((*models)->taggers()[1]->info().label_count == 11);
  auto tags = (*models)->TagImage(Solid(20, 40, 230));
  REQUIRE(tags.ok());
  const Tag* ocean = nullptr;
  for (const Tag& t : tags->tags) {
    if (t.label == "ocean" && !t.has_box) ocean = &t;
  }
  REQUIRE(ocean != nullptr);
  // labels.tsv gives "sea ocean waves"; expansion adds near words.
  CHECK(ocean->words.size() > 3);
  CHECK(ocean->words[0] == "sea");
  // Text hints: known content words, once each.
  auto text = (*models)->TagText("Fire, FIRE and snow! zzzunknown", 0.7f);
  std::vector<std::string> labels;
  for (const Tag& t : text) {
    labels.push_back(t.label);
    CHECK(t.source == "text");
    CHECK(t.weight == Approx(0.7));
  }
  CHECK(Has(labels, "fire"));
  CHECK(Has(labels, "snow"));
  CHECK(std::count(labels.begin(), labels.end(), "fire") == 1);
  CHECK_FALSE(Has(labels, "zzzunknown"));
}

}  // namespace
}  // namespace image2song
