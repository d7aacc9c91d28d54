// Tests for core/models/label_words.h: label files (LoadLabelFile).
#include "core/models/label_words.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using ::image2song::testing::Assets;
using ::image2song::testing::TempDir;
using ::image2song::testing::WriteWholeFile;

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
    CHECK(absl::StrContains(labels.status().message(),
                            path + ":2: expected label index 1"));
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

}  // namespace image2song
