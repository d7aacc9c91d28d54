// Tests with the downloaded default models (CTest label `models`): the
// converted MobileNetV2 tags real photos with the expected ImageNet labels,
// and the whole pipeline ranks demo songs for them. Exits 77 (skipped) when
// the asset cache has not been prepared (tools/assets/setup_assets.sh).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/bundle/bundle.h"
#include "core/image/image.h"
#include "core/models/model_set.h"
#include "core/recommender.h"
#include "tests/support/test_util.h"
#include "util/file_util.h"

namespace image2song {
namespace {

std::string CacheDir() { return DefaultCacheDir(); }
std::string ModelsPath() { return DefaultModelsPath(); }

struct Sample {
  std::string file;
  std::vector<std::string> accept;  // label index or label substring
};

std::vector<Sample> Samples() {
  std::vector<Sample> out;
  std::ifstream in(CacheDir() + "/samples/expected.tsv");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    if (cols.size() < 2) continue;
    out.push_back({cols[0], absl::StrSplit(cols[1], ',')});
  }
  return out;
}

const ModelSet* LoadOrDie(const std::string& path) {
  ModelSetOptions o;
  o.manifest_path = path;
  auto m = ModelSet::Load(o);
  if (!m.ok()) {
    std::cerr << m.status() << "\n";
    std::abort();
  }
  return m->release();
}

// The default set (models.json: the classifier with regions from its
// feature map, colour cues).
const ModelSet& Models() {
  static const ModelSet* models = LoadOrDie(ModelsPath());
  return *models;
}

// The earlier default (models_full.json: cropped regions, CenterNet, cues).
const ModelSet& FullModels() {
  static const ModelSet* models = LoadOrDie(CacheDir() + "/models/default/models_full.json");
  return *models;
}

RgbImage Decode(const std::string& path) {
  std::string bytes = testing::ReadWholeFile(path);
  auto image = DecodeImage(bytes, DecodeOptions{});
  INFO(path << ": " << image.status());
  REQUIRE(image.ok());
  return std::move(*image);
}

TEST_CASE("converted MobileNetV2 gives the expected labels on sample photos") {
  const ModelSet& models = Models();
  REQUIRE(models.taggers().size() == 2);
  const TaggerInfo& info = models.taggers()[0]->info();
  CHECK(info.name == "mobilenet_v2");
  CHECK(info.label_count == 1001);
  CHECK(info.input_width == 224);
  CHECK(models.taggers()[1]->info().kind == "cues");
  const ModelSet& full = FullModels();
  REQUIRE(full.taggers().size() == 3);
  CHECK(full.taggers()[1]->info().kind == "detector");
  CHECK(full.taggers()[1]->info().label_count == 80);
  CHECK(full.taggers()[2]->info().kind == "cues");
  auto labels = LoadLabelFile(CacheDir() + "/models/default/imagenet_words.tsv");
  REQUIRE(labels.ok());
  std::vector<Sample> samples = Samples();
  REQUIRE(samples.size() >= 4);
  for (const Sample& s : samples) {
    auto tags = models.TagImage(Decode(CacheDir() + "/samples/" + s.file));
    REQUIRE(tags.ok());
    std::string seen;
    bool found = false;
    for (const Tag& t : tags->tags) {
      if (t.source != "mobilenet_v2") continue;
      seen += t.label + " ";
      for (const std::string& a : s.accept) {
        int index = 0;
        std::string want = absl::SimpleAtoi(a, &index) ? (*labels)[index].label : a;
        found |= absl::StrContains(absl::AsciiStrToLower(t.label), absl::AsciiStrToLower(want));
      }
    }
    INFO(s.file << ": tags " << seen);
    CHECK(found);
    CHECK(!tags->tags.empty());
    CHECK(!tags->tags[0].words.empty());
  }
}

TEST_CASE("the detector finds the person and the motorcycle") {
  const ModelSet& models = FullModels();
  struct Want {
    const char* file;
    const char* label;
  };
  for (const Want& w :
       {Want{"grace_hopper.jpg", "person"}, Want{"motorcycle_left.png", "motorcycle"}}) {
    auto tags = models.TagImage(Decode(CacheDir() + "/samples/" + w.file));
    REQUIRE(tags.ok());
    const Tag* found = nullptr;
    for (const Tag& t : tags->tags) {
      if (t.source == "centernet" && t.label == w.label) found = &t;
    }
    INFO(w.file);
    REQUIRE(found != nullptr);
    CHECK(found->has_box);
    CHECK(found->box.x1 > found->box.x0);
    CHECK(found->box.y1 > found->box.y0);
    CHECK(found->score >= 0.3f);
  }
}

// Every geometry through the default models: the classifier with its grid
// and centre regions, CenterNet, the backdrop check and colour cues (a 1x300
// image used to stop the server: issue 13).
TEST_CASE("images of any aspect ratio are tagged by the default and the full models") {
  for (const ModelSet* models : {&Models(), &FullModels()})
    for (auto [w, h] : std::vector<std::pair<int, int>>{{1, 1},
                                                        {1, 300},
                                                        {300, 1},
                                                        {450, 1},
                                                        {10000, 10},
                                                        {10, 10000},
                                                        {2, 3},
                                                        {1, 20000},
                                                        {3, 5000},
                                                        {640, 480}}) {
      INFO(w << "x" << h);
      RgbImage img;
      img.width = w;
      img.height = h;
      img.pixels.resize(size_t(w) * h * 3);
      for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t(i * 37 % 251);
      absl::StatusOr<std::string> png = EncodeImage(img, ".png");
      REQUIRE(png.ok());
      absl::StatusOr<RgbImage> decoded = DecodeImage(*png, DecodeOptions{});
      REQUIRE(decoded.ok());
      absl::StatusOr<ImageTags> tags = models->TagImage(*decoded);
      INFO(tags.status());
      CHECK(tags.ok());
    }
}

// LibTorch warnings (CenterNet's graph resizes an out= tensor) are logged
// once per process, not once per request.
TEST_CASE("a LibTorch warning is not logged on every request") {
  const ModelSet& models = FullModels();
  const RgbImage image = Decode(CacheDir() + "/samples/grace_hopper.jpg");
  REQUIRE(models.TagImage(image).ok());  // whatever is logged once
  testing::TempDir tmp;
  std::fflush(stderr);
  const int saved = ::dup(2);
  const int file = ::open(tmp.File("stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(file >= 0);
  ::dup2(file, 2);
  for (int i = 0; i < 3; ++i) CHECK(models.TagImage(image).ok());
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(file);
  ::close(saved);
  const std::string logged = testing::ReadWholeFile(tmp.File("stderr"));
  INFO(logged);
  CHECK_FALSE(absl::StrContains(logged, "Warning"));
  CHECK_FALSE(absl::StrContains(logged, "resized"));
}

// The default's regions come from the classifier's feature map (one pass);
// models_full.json crops them (five more passes). On the cat photo both
// find the cat in a region; over the 270 eval photos 34 % of the cropped
// regions' labels are found from the feature map too (docs/models.md).
TEST_CASE("regions from the feature map find what cropped regions find on a fixed photo") {
  const RgbImage cat = Decode(CacheDir() + "/samples/chelsea.png");
  auto regions = [&](const ModelSet& models) {
    auto tags = models.TagImage(cat);
    REQUIRE(tags.ok());
    std::vector<std::string> out;
    for (const Tag& t : tags->tags) {
      if (t.source == "mobilenet_v2" && t.has_box) out.push_back(t.label);
    }
    return out;
  };
  const std::vector<std::string> features = regions(Models()), crops = regions(FullModels());
  INFO("features: " << absl::StrJoin(features, ", ") << "; crops: " << absl::StrJoin(crops, ", "));
  bool shared_cat = false;
  for (const std::string& label : features) {
    shared_cat |= absl::StrContains(label, "cat") &&
                  std::find(crops.begin(), crops.end(), label) != crops.end();
  }
  CHECK(shared_cat);
}

TEST_CASE("demo catalogue: photos get ranked songs with reasons") {
  const std::string catalogue =
      testing::RequiredEnv("I2S_SOURCE_DIR") + "/../shared/data/catalog/pd-songs.jsonl";
  if (!std::ifstream(catalogue)) {
    WARN("no demo catalogue at " << catalogue << "; skipped");
    return;
  }
  testing::TempDir dir;
  std::string out;
  int code = testing::RunCommand(
      {testing::RequiredEnv("I2S_INDEX_BIN"), "--quiet", "--catalogue=" + catalogue,
       "--models=" + ModelsPath(), "--output=" + dir.File("bundle")},
      &out);
  INFO(out);
  REQUIRE(code == 0);
  CHECK(absl::StrContains(out, "1192 songs"));
  auto bundle = Bundle::Load(dir.File("bundle"), BundleLoadOptions{});
  REQUIRE(bundle.ok());
  Snapshot snap;
  snap.models = std::shared_ptr<const ModelSet>(&Models(), [](const ModelSet*) {});
  snap.bundle = std::move(*bundle);
  REQUIRE(CheckCompatible(*snap.models, *snap.bundle).ok());
  RecommendOptions ro;
  ro.explain = true;
  for (const Sample& s : Samples()) {
    auto rec = Recommend(snap, Decode(CacheDir() + "/samples/" + s.file), ro);
    REQUIRE(rec.ok());
    INFO(s.file);
    REQUIRE(rec->songs.size() == 10);
    for (size_t i = 1; i < rec->songs.size(); ++i) {
      CHECK(rec->songs[i].score <= rec->songs[i - 1].score);
    }
    CHECK(!rec->songs[0].lines.empty());
    CHECK(!rec->songs[0].tags.empty());
  }
}

}  // namespace
}  // namespace image2song

int main(int argc, char* argv[]) {
  if (!std::ifstream(image2song::ModelsPath()) ||
      !std::ifstream(image2song::CacheDir() + "/samples/expected.tsv")) {
    std::cout << "default models not prepared in " << image2song::CacheDir()
              << " (run tools/assets/setup_assets.sh): skipped\n";
    return 77;
  }
  return Catch::Session().run(argc, argv);
}
