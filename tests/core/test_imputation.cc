// Tests for core/bundle/imputation.h: missing values imputed from clear
// neighbours in a tiny catalogue, with the vote's confidence; majority and
// similarity votes, the confidence floor, options checked.
#include "core/bundle/imputation.h"

#include <cmath>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace image2song {
namespace {

// Two clusters of unit vectors in 4-d: songs 0-3 near e0, songs 4-7 near e1,
// song 8 between them, a little nearer e0.
std::unique_ptr<SongIndex> TinyIndex() {
  const float raw[9][4] = {{1, 0.1f, 0, 0},      {1, 0, 0.1f, 0},  {1, 0.05f, 0, 0.1f},
                           {1, 0, 0.05f, 0.05f}, {0.1f, 1, 0, 0},  {0, 1, 0.1f, 0},
                           {0.05f, 1, 0, 0.1f},  {0, 1, 0.05f, 0}, {1, 0.8f, 0, 0}};
  std::vector<float> v;
  for (const auto& row : raw) {
    float n = 0;
    for (float x : row) n += x * x;
    for (float x : row) v.push_back(x / std::sqrt(n));
  }
  SongIndexOptions o;
  o.type = "flat";
  auto index = SongIndex::Build(v.data(), 9, 4, o);
  REQUIRE(index.ok());
  return std::move(*index);
}

TEST_CASE("Imputation: missing values come from clear neighbours, marked with confidence") {
  auto index = TinyIndex();
  //                                0       1       2     3    4       5       6     7     8
  const std::vector<std::string> genre = {"rock", "rock", "rock", "", "folk",
                                          "folk", "folk", "",     ""};
  ImputationOptions o;
  o.k = 3;
  auto out = ImputeByNeighbours(*index, genre, o);
  INFO(out.status().ToString());
  REQUIRE(out.ok());
  REQUIRE(out->size() == 9);
  // Songs with a value get none.
  for (int i : {0, 1, 2, 4, 5, 6}) CHECK((*out)[i].value.empty());
  CHECK((*out)[3].value == "rock");
  CHECK((*out)[3].confidence == Approx(1.0f));
  CHECK((*out)[7].value == "folk");
  CHECK((*out)[7].confidence == Approx(1.0f));
  // Song 8 sits between: its 3 nearest are rock, rock, and folk or rock.
  CHECK((*out)[8].value == "rock");
  CHECK((*out)[8].confidence > 0.5f);
  CHECK((*out)[8].confidence <= 1.0f);
}

TEST_CASE("Imputation: majority and similarity votes, confidence floor") {
  auto index = TinyIndex();
  // Song 8's neighbours among the known: rock songs 0-2 and folk songs 4-6.
  const std::vector<std::string> genre = {"rock", "rock", "", "", "folk", "folk", "folk", "", ""};
  ImputationOptions o;
  o.k = 5;
  o.vote = "majority";
  auto majority = ImputeByNeighbours(*index, genre, o);
  REQUIRE(majority.ok());
  // 5 neighbours of song 8: the 2 rock songs and 3 folk songs.
  CHECK((*majority)[8].value == "folk");
  CHECK((*majority)[8].confidence == Approx(0.6f));
  o.vote = "similarity";
  auto similarity = ImputeByNeighbours(*index, genre, o);
  REQUIRE(similarity.ok());
  // Weighted by cosine, the nearer rock songs count more per song.
  CHECK((*similarity)[8].confidence < 0.6f + 1e-6f);
  CHECK((*similarity)[2].value == "rock");
  o.min_confidence = 0.99f;
  auto strict = ImputeByNeighbours(*index, genre, o);
  REQUIRE(strict.ok());
  CHECK((*strict)[8].value.empty());
  CHECK((*strict)[8].confidence == 0);
}

TEST_CASE("Imputation: nothing to vote with, k 0, bad options") {
  auto index = TinyIndex();
  const std::vector<std::string> none(9);
  auto out = ImputeByNeighbours(*index, none, ImputationOptions{});
  REQUIRE(out.ok());
  for (const ImputedValue& v : *out) CHECK(v.value.empty());
  std::vector<std::string> some(9);
  some[0] = "rock";
  ImputationOptions off;
  off.k = 0;
  out = ImputeByNeighbours(*index, some, off);
  REQUIRE(out.ok());
  CHECK((*out)[1].value.empty());
  out = ImputeByNeighbours(*index, some, ImputationOptions{});  // k 10 > 1 known song
  REQUIRE(out.ok());
  CHECK((*out)[8].value == "rock");
  CHECK((*out)[8].confidence == Approx(1.0f));

  CHECK_FALSE(ImputeByNeighbours(*index, std::vector<std::string>(3), ImputationOptions{}).ok());
  ImputationOptions bad;
  bad.vote = "loudest";
  CHECK(ImputeByNeighbours(*index, some, bad).status().code() ==
        absl::StatusCode::kInvalidArgument);
  bad = ImputationOptions{};
  bad.k = -1;
  CHECK_FALSE(CheckImputationOptions(bad).ok());
  bad = ImputationOptions{};
  bad.min_confidence = 1.5f;
  CHECK_FALSE(CheckImputationOptions(bad).ok());
}

}  // namespace
}  // namespace image2song
