// Tests for core/query.h: BuildQuery on the generated tiny word vectors.
#include "core/query.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/bundle/embedder.h"
#include "core/words/word_vectors.h"
#include "tests/support/tiny_words.h"

namespace image2song {
namespace {

using ::image2song::testing::LoadTiny;
using ::image2song::testing::MakeTag;
using ::image2song::testing::Norm;

}  // namespace

// -------------------------------------------------------------- BuildQuery

TEST_CASE("BuildQuery averages the tags' unit word vectors") {
  auto words = LoadTiny();
  const int dim = words->dim();
  CommonComponent identity;  // empty: Apply only normalises
  std::vector<float> query;
  std::vector<std::vector<float>> tag_vectors;

  SECTION("one tag: the normalised sum of its words' unit vectors") {
    REQUIRE(BuildQuery({MakeTag("ocean", {"sea", "ocean", "nosuchword"})}, *words, identity, &query,
                       &tag_vectors));
    std::vector<float> expected(dim);
    for (const char* w : {"sea", "ocean"}) {
      const float* u = words->UnitVector(words->Find(w));
      for (int d = 0; d < dim; ++d) expected[d] += u[d];
    }
    const double len = Norm(expected);
    REQUIRE(tag_vectors.size() == 1);
    for (int d = 0; d < dim; ++d) {
      CHECK(query[d] == Approx(expected[d] / len).margin(1e-5));
      CHECK(tag_vectors[0][d] == Approx(expected[d] / len).margin(1e-5));
    }
  }
  SECTION("tags are weighted by score * weight; unknown tags are zero") {
    Tag unknown = MakeTag("?", {"nosuchword"});
    Tag muted = MakeTag("fire", {"fire"}, 0.0f);
    Tag sea = MakeTag("sea", {"sea"}, 0.7f);
    sea.weight = 0.5f;
    REQUIRE(BuildQuery({unknown, muted, sea}, *words, identity, &query, &tag_vectors));
    REQUIRE(tag_vectors.size() == 3);
    CHECK(Norm(tag_vectors[0]) == 0.0);
    CHECK(Norm(tag_vectors[1]) == Approx(1.0));
    const float* u = words->UnitVector(words->Find("sea"));
    for (int d = 0; d < dim; ++d) CHECK(query[d] == Approx(u[d]).margin(1e-5));
  }
  SECTION("no known word: false") {
    CHECK_FALSE(BuildQuery({MakeTag("x", {"nosuchword"}), MakeTag("y", {})}, *words, identity,
                           &query, &tag_vectors));
    CHECK_FALSE(BuildQuery({}, *words, identity, &query, &tag_vectors));
    // Tag words are looked up as given (lowercase).
    CHECK_FALSE(BuildQuery({MakeTag("x", {"SEA"})}, *words, identity, &query, &tag_vectors));
  }
  SECTION("the common component is applied") {
    CommonComponent c;
    c.mean.assign(dim, 0.0f);
    c.pc.assign(dim, 0.0f);
    c.pc[0] = 1.0f;
    REQUIRE(BuildQuery({MakeTag("sea", {"sea"})}, *words, c, &query, &tag_vectors));
    CHECK(query[0] == Approx(0.0f).margin(1e-6));
    CHECK(Norm(query) == Approx(1.0).epsilon(1e-5));
  }
}

}  // namespace image2song
