// Tests for core/index/fusion.h: reciprocal-rank fusion of the dense and
// lexical candidate lists.
#include "core/index/fusion.h"

#include <vector>

#include <catch2/catch.hpp>

namespace image2song {
namespace {

std::vector<ScoredId> List(std::vector<int64_t> ids) {
  std::vector<ScoredId> out;
  float score = 1;
  for (int64_t id : ids) {
    out.push_back({id, score});
    score -= 0.01f;
  }
  return out;
}

std::vector<int64_t> Ids(const std::vector<FusedCandidate>& fused) {
  std::vector<int64_t> ids;
  for (const FusedCandidate& c : fused) ids.push_back(c.id);
  return ids;
}

}  // namespace

TEST_CASE("FuseReciprocalRank: songs found by both channels come first") {
  const auto dense = List({10, 11, 12, 13});
  const auto lexical = List({20, 12, 21});
  FusionOptions o;  // k 60, weights 1
  auto fused = FuseReciprocalRank(dense, lexical, o, 100);
  // 12: 1/63 + 1/62; 10: 1/61; 20: 1/61 (tie: the dense song first); 11:
  // 1/62; 21: 1/63; 13: 1/64.
  CHECK(Ids(fused) == std::vector<int64_t>{12, 10, 20, 11, 21, 13});
  const FusedCandidate& both = fused[0];
  CHECK(both.dense_rank == 3);
  CHECK(both.lexical_rank == 2);
  CHECK(both.dense_score == dense[2].score);
  CHECK(both.lexical_score == lexical[1].score);
  CHECK(both.fused == Approx(1.0 / 63 + 1.0 / 62));
  CHECK(fused[1].lexical_rank == 0);
  CHECK(fused[2].dense_rank == 0);
  CHECK(fused[2].lexical_rank == 1);
  // The limit keeps the best.
  CHECK(Ids(FuseReciprocalRank(dense, lexical, o, 2)) == std::vector<int64_t>{12, 10});
  CHECK(FuseReciprocalRank(dense, lexical, o, 0).empty());
}

TEST_CASE("FuseReciprocalRank: weights and k") {
  const auto dense = List({1, 2, 3});
  const auto lexical = List({4, 5, 6});
  FusionOptions o;
  SECTION("lexical weight 0: the dense list as it was, lexical ranks still reported") {
    o.lexical_weight = 0;
    auto fused = FuseReciprocalRank(dense, List({3, 4}), o, 10);
    CHECK(Ids(fused) == std::vector<int64_t>{1, 2, 3});
    CHECK(fused[2].lexical_rank == 1);
  }
  SECTION("dense weight 0: the lexical list") {
    o.dense_weight = 0;
    CHECK(Ids(FuseReciprocalRank(dense, lexical, o, 10)) == std::vector<int64_t>{4, 5, 6});
  }
  SECTION("a heavier lexical channel leads") {
    o.lexical_weight = 2;
    CHECK(Ids(FuseReciprocalRank(dense, lexical, o, 10)) == std::vector<int64_t>{4, 5, 6, 1, 2, 3});
  }
  SECTION("equal weights interleave, dense first on ties") {
    CHECK(Ids(FuseReciprocalRank(dense, lexical, o, 10)) == std::vector<int64_t>{1, 4, 2, 5, 3, 6});
  }
  SECTION("a small k lets a top rank outweigh two middling ones") {
    // Song 9: rank 1 lexical only; song 7: rank 3 in both.
    const auto d = List({1, 2, 7});
    const auto l = List({9, 8, 7});
    o.k = 0;  // 1/1 vs 1/3 + 1/3
    CHECK(FuseReciprocalRank(d, l, o, 10)[0].id == 1);
    CHECK(Ids(FuseReciprocalRank(d, l, o, 2)) == std::vector<int64_t>{1, 9});
    o.k = 1000;  // 2/1003 > 1/1001
    CHECK(FuseReciprocalRank(d, l, o, 10)[0].id == 7);
  }
  SECTION("empty channels") {
    CHECK(Ids(FuseReciprocalRank({}, lexical, o, 10)) == std::vector<int64_t>{4, 5, 6});
    CHECK(Ids(FuseReciprocalRank(dense, {}, o, 10)) == std::vector<int64_t>{1, 2, 3});
    CHECK(FuseReciprocalRank({}, {}, o, 10).empty());
  }
}

}  // namespace image2song
