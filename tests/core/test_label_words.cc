// Tests for core/models/label_words.h: label files (LoadLabelFile) and the
// lyric-space words of each label (PrepareLabelWords: unknown words dropped,
// related words, nearest-word expansion) on small in-memory word vectors.
#include "core/models/label_words.h"

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "core/words/word_vectors.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using ::image2song::testing::Assets;
using ::image2song::testing::TempDir;
using ::image2song::testing::WriteWholeFile;

// Seven words in 4 dimensions, in frequency order. Cosines with "sea":
// ocean 0.994, waves 0.936, shore 0.688, fire/flame/ice 0; "flame" is
// 0.976 from "fire".
std::unique_ptr<WordVectors> SmallWords() {
  auto words = WordVectors::FromData({"sea", "fire", "ocean", "flame", "waves", "shore", "ice"},
                                     {1.0f, 0.0f, 0.0f, 0.0f,  //
                                      0.0f, 0.0f, 1.0f, 0.0f,  //
                                      0.9f, 0.1f, 0.0f, 0.0f,  //
                                      0.0f, 0.0f, 0.9f, 0.2f,  //
                                      0.8f, 0.3f, 0.0f, 0.0f,  //
                                      0.6f, 0.6f, 0.2f, 0.0f,  //
                                      0.0f, 1.0f, 0.0f, 0.0f},
                                     4, "small@1");
  INFO(words.status().ToString());
  REQUIRE(words.ok());
  return std::move(*words);
}

LabelEntry Label(const std::string& label, std::vector<std::string> words,
                 std::vector<std::string> related = {}) {
  LabelEntry e;
  e.label = label;
  e.words = std::move(words);
  e.related = std::move(related);
  return e;
}

LabelWordOptions Nearest(int count, float min_cosine) {
  LabelWordOptions options;
  options.count = count;
  options.min_cosine = min_cosine;
  return options;
}

using Words = std::vector<std::string>;

}  // namespace

TEST_CASE("LoadLabelFile reads the production format") {
  auto labels = LoadLabelFile(Assets() + "/labels.tsv");
  REQUIRE(labels.ok());
  REQUIRE(labels->size() == 5);
  CHECK((*labels)[0].label == "background");
  CHECK((*labels)[0].words.empty());
  CHECK((*labels)[1].label == "ocean");
  CHECK((*labels)[1].words == std::vector<std::string>{"sea", "ocean", "waves"});
  CHECK((*labels)[4].label == "snowfield");
}

TEST_CASE("LoadLabelFile errors name the file and line") {
  TempDir tmp;
  const std::string path = tmp.File("labels.tsv");
  SECTION("wrong index") {
    WriteWholeFile(path, "0\tbackground\n2\tocean\tsea\n");
    auto labels = LoadLabelFile(path);
    CHECK(labels.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(labels.status().message(), path + ":2: expected label index 1"));
  }
  SECTION("no label column") {
    WriteWholeFile(path, "0\tbackground\n1\n");
    auto labels = LoadLabelFile(path);
    CHECK(labels.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(labels.status().message(), path + ":2:"));
  }
  SECTION("not a number") {
    WriteWholeFile(path, "zero\tbackground\n");
    CHECK(absl::StrContains(LoadLabelFile(path).status().message(),
                            path + ":1: expected label index 0"));
  }
  SECTION("empty") {
    WriteWholeFile(path, "# only a comment\n\n");
    auto labels = LoadLabelFile(path);
    CHECK(labels.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(labels.status().message(), "no labels"));
  }
  SECTION("missing") {
    auto labels = LoadLabelFile(tmp.File("nope.tsv"));
    CHECK(labels.status().code() == absl::StatusCode::kNotFound);
    CHECK(absl::StrContains(labels.status().message(), "nope.tsv"));
  }
}

TEST_CASE("PrepareLabelWords adds the nearest words best first, down to min_cosine") {
  auto words = SmallWords();
  struct Case {
    int count;
    float min_cosine;
    Words want;
  };
  for (const Case& c :
       {Case{2, 0.6f, {"sea", "ocean", "waves"}}, Case{5, 0.6f, {"sea", "ocean", "waves", "shore"}},
        Case{5, 0.95f, {"sea", "ocean"}}, Case{1, 0.999f, {"sea"}}}) {
    INFO("count " << c.count << ", min_cosine " << c.min_cosine);
    std::vector<LabelEntry> labels = {Label("ocean", {"sea"})};
    auto dropped = PrepareLabelWords(*words, Nearest(c.count, c.min_cosine), &labels);
    INFO(dropped.status().ToString());
    REQUIRE(dropped.ok());
    CHECK(*dropped == 0);
    CHECK(labels[0].words == c.want);
    CHECK(labels[0].core_words == 1);  // the expansions count half
  }
}

TEST_CASE("PrepareLabelWords never repeats a label's words, and expands each label on its own") {
  auto words = SmallWords();
  std::vector<LabelEntry> labels = {Label("ocean", {"ocean", "sea"}), Label("fire", {"fire"})};
  auto dropped = PrepareLabelWords(*words, Nearest(1, 0.6f), &labels);
  REQUIRE(dropped.ok());
  // "sea" and "ocean" are the query's nearest words: skipped, not counted.
  CHECK(labels[0].words == Words{"ocean", "sea", "waves"});
  CHECK(labels[0].core_words == 2);
  CHECK(labels[1].words == Words{"fire", "flame"});
  CHECK(labels[1].core_words == 1);
}

TEST_CASE("PrepareLabelWords drops and counts unknown words") {
  auto words = SmallWords();
  SECTION("without expansion") {
    std::vector<LabelEntry> labels = {Label("ocean", {"sea", "nosuchword"}),
                                      Label("nothing", {"xyzzy"})};
    auto dropped = PrepareLabelWords(*words, LabelWordOptions{}, &labels);
    REQUIRE(dropped.ok());
    CHECK(*dropped == 2);
    CHECK(labels[0].words == Words{"sea"});
    CHECK(labels[0].core_words == -1);  // no expansion: all words count fully
    CHECK(labels[1].words.empty());
  }
  SECTION("with expansion: a label left without words gets none") {
    std::vector<LabelEntry> labels = {Label("ocean", {"sea", "nosuchword"}),
                                      Label("nothing", {"xyzzy"})};
    auto dropped = PrepareLabelWords(*words, Nearest(1, 0.6f), &labels);
    REQUIRE(dropped.ok());
    CHECK(*dropped == 2);
    CHECK(labels[0].words == Words{"sea", "ocean"});
    CHECK(labels[1].words.empty());
    CHECK(labels[1].core_words == -1);
  }
}

TEST_CASE("PrepareLabelWords: related words, then nearest words of the core words") {
  auto words = SmallWords();
  LabelWordOptions options = Nearest(1, 0.6f);
  options.related = true;
  std::vector<LabelEntry> labels = {Label("ocean", {"sea"}, {"shore", "nosuchword", "sea"})};
  auto dropped = PrepareLabelWords(*words, options, &labels);
  REQUIRE(dropped.ok());
  CHECK(*dropped == 1);  // the unknown related word; the repeated one is skipped
  // The query is the core word "sea" alone: "ocean" is its nearest word
  // ("waves" would be nearest to sea + shore).
  CHECK(labels[0].words == Words{"sea", "shore", "ocean"});
  CHECK(labels[0].core_words == 1);
}

TEST_CASE("PrepareLabelWords looks only among the `vocabulary` most frequent words") {
  auto words = SmallWords();
  for (int vocabulary : {2, 3, 100}) {
    INFO("vocabulary " << vocabulary);
    LabelWordOptions options = Nearest(3, 0.6f);
    options.vocabulary = vocabulary;
    std::vector<LabelEntry> labels = {Label("ocean", {"sea"})};
    REQUIRE(PrepareLabelWords(*words, options, &labels).ok());
    // Rows: sea, fire, ocean, flame, waves, shore, ice.
    const Words want = vocabulary == 2   ? Words{"sea"}
                       : vocabulary == 3 ? Words{"sea", "ocean"}
                                         : Words{"sea", "ocean", "waves", "shore"};
    CHECK(labels[0].words == want);
    CHECK(labels[0].core_words == 1);
  }
}

}  // namespace image2song
