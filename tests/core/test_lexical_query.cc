// Tests for core/lexical_query.h: BuildLexicalQuery on the generated tiny
// word vectors.
#include "core/lexical_query.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/tiny_words.h"

namespace image2song {
namespace {

using ::image2song::testing::LoadTiny;
using ::image2song::testing::MakeTag;

// The term of `word`, or null.
const LexicalTerm* TermOf(const LexicalQuery& q, const WordVectors& words, const char* word,
                          size_t* index = nullptr) {
  for (size_t i = 0; i < q.terms.size(); ++i) {
    if (int32_t(q.terms[i].word) == words.Find(word)) {
      if (index != nullptr) *index = i;
      return &q.terms[i];
    }
  }
  return nullptr;
}

}  // namespace

TEST_CASE("BuildLexicalQuery spreads each tag's weight over its known words") {
  auto words = LoadTiny();
  SECTION("equal core words share the tag's score x weight") {
    Tag ocean = MakeTag("ocean", {"sea", "ocean", "waves", "nosuchword"}, 0.9f);
    ocean.weight = 0.5f;
    LexicalQuery q = BuildLexicalQuery({ocean}, *words);
    REQUIRE(q.terms.size() == 3);
    REQUIRE(q.tags.size() == 3);
    for (const char* w : {"sea", "ocean", "waves"}) {
      INFO(w);
      size_t i = 0;
      const LexicalTerm* t = TermOf(q, *words, w, &i);
      REQUIRE(t != nullptr);
      CHECK(t->weight == Approx(0.9 * 0.5 / 3));
      CHECK(q.tags[i] == std::vector<size_t>{0});
    }
  }
  SECTION("expansion words count half") {
    Tag t = MakeTag("sea", {"sea", "ocean", "tide"}, 1.0f);
    t.core_words = 1;  // sea 1, ocean and tide 0.5: 2 in all
    LexicalQuery q = BuildLexicalQuery({t}, *words);
    REQUIRE(q.terms.size() == 3);
    CHECK(q.terms[0].word == uint32_t(words->Find("sea")));  // strongest first
    CHECK(q.terms[0].weight == Approx(0.5));
    CHECK(TermOf(q, *words, "ocean")->weight == Approx(0.25));
    CHECK(TermOf(q, *words, "tide")->weight == Approx(0.25));
  }
  SECTION("a word of several tags adds up and names them all") {
    LexicalQuery q = BuildLexicalQuery(
        {MakeTag("fire", {"fire", "smoke"}, 0.8f), MakeTag("smoke", {"smoke"}, 0.3f)}, *words);
    REQUIRE(q.terms.size() == 2);
    size_t i = 0;
    const LexicalTerm* smoke = TermOf(q, *words, "smoke", &i);
    REQUIRE(smoke != nullptr);
    CHECK(smoke->weight == Approx(0.4 + 0.3));
    CHECK(q.tags[i] == std::vector<size_t>{0, 1});
    CHECK(q.terms[0].word == smoke->word);
    CHECK(TermOf(q, *words, "fire")->weight == Approx(0.4));
  }
  SECTION("stopwords, unknown words and muted tags are left out") {
    Tag muted = MakeTag("snow", {"snow"}, 0.0f);
    LexicalQuery q = BuildLexicalQuery(
        {MakeTag("x", {"the", "nosuchword"}), muted, MakeTag("empty", {}, 1.0f)}, *words);
    CHECK(q.terms.empty());
    CHECK(q.tags.empty());
    // "the" (a stopword) takes no share of its tag's weight.
    q = BuildLexicalQuery({MakeTag("sea", {"the", "sea"}, 0.6f)}, *words);
    REQUIRE(q.terms.size() == 1);
    CHECK(q.terms[0].weight == Approx(0.6));
  }
}

}  // namespace image2song
