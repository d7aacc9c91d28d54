// Tests for core/lexical_query.h: BuildLexicalQuery on the generated tiny
// word vectors.
#include "core/lexical_query.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "tests/support/test_util.h"
#include "tests/support/tiny_words.h"

namespace image2song {
namespace {

using ::image2song::testing::LoadTiny;
using ::image2song::testing::MakeTag;
using ::image2song::testing::TempDir;

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

// A co-occurrence table over the tiny words where "sea" goes with "ship",
// "waves" and "sail" (in that order: npmi 1, 1, 0.63...) and "fire" with "smoke".
CooccurrenceTable SeaTable(const WordVectors& words, const std::string& path) {
  auto id = [&](const char* w) {
    const int32_t i = words.Find(w);
    REQUIRE(i >= 0);
    return uint32_t(i);
  };
  const uint32_t sea = id("sea"), ship = id("ship"), waves = id("waves"), sail = id("sail"),
                 fire = id("fire"), smoke = id("smoke"), snow = id("snow");
  // Songs as word lists (one line each).
  const std::vector<std::vector<uint32_t>> songs = {{sea, ship, waves, sail},
                                                    {sea, ship, waves, sail},
                                                    {sea, ship, waves},
                                                    {sail, snow},
                                                    {fire, smoke},
                                                    {fire, smoke},
                                                    {fire, smoke},
                                                    {snow}};
  std::vector<std::vector<uint32_t>> tokens;
  for (const auto& s : songs) {
    tokens.emplace_back();
    for (uint32_t w : s) tokens.back().insert(tokens.back().end(), {w, 0});
  }
  CooccurrenceOptions o;
  o.min_count = 2;
  o.progress_seconds = 0;
  auto stats = WriteCooccurrence(
      path, int64_t(songs.size()), words.size(),
      [&](int64_t s) { return absl::Span<const uint32_t>(tokens[size_t(s)]); }, o);
  REQUIRE(stats.ok());
  auto table = CooccurrenceTable::Open(path, words.size());
  REQUIRE(table.ok());
  return std::move(*table);
}

}  // namespace

TEST_CASE("Co-occurring words join a tag's words in the lexical query") {
  auto words = LoadTiny();
  TempDir tmp;
  CooccurrenceTable table = SeaTable(*words, tmp.File("cooccur.bin"));
  auto first = table.Neighbours(uint32_t(words->Find("sea")));
  REQUIRE(first.size() == 3);
  std::vector<Tag> tags = {MakeTag("seashore", {"sea", "ocean", "waves"}, 0.8f),
                           MakeTag("fire", {"fire"}, 0.5f)};
  tags[0].core_words = 1;  // "sea" is the core word; ocean, waves expansions
  SECTION("AddCooccurringWords takes the core words' best neighbours, not the tag's own") {
    CHECK(AddCooccurringWords(table, *words, 3, &tags) == 3);
    // sea -> ship, waves (already a word of the tag), sail.
    CHECK(tags[0].cooccurring_words == std::vector<std::string>{"ship", "sail"});
    CHECK(tags[1].cooccurring_words == std::vector<std::string>{"smoke"});
    CHECK(AddCooccurringWords(table, *words, 1, &tags) == 2);
    CHECK(tags[0].cooccurring_words == std::vector<std::string>{"ship"});
    CHECK(AddCooccurringWords(table, *words, 0, &tags) == 0);
    // Only core words are expanded.
    std::vector<Tag> expansion_only = {MakeTag("x", {"snow", "sea"})};
    expansion_only[0].core_words = 1;
    AddCooccurringWords(table, *words, 3, &expansion_only);
    CHECK(expansion_only[0].cooccurring_words.empty());
  }
  SECTION("at the given weight relative to a core word, without diluting the tag's words") {
    AddCooccurringWords(table, *words, 3, &tags);
    const LexicalQuery off = BuildLexicalQuery(tags, *words);
    const LexicalQuery zero = BuildLexicalQuery(tags, *words, 0.0f);
    REQUIRE(off.terms.size() == 4);  // sea, ocean, waves, fire
    REQUIRE(zero.terms.size() == off.terms.size());
    for (size_t i = 0; i < off.terms.size(); ++i) {
      CHECK(zero.terms[i].word == off.terms[i].word);
      CHECK(zero.terms[i].weight == off.terms[i].weight);
    }
    const LexicalQuery q = BuildLexicalQuery(tags, *words, 0.25f);
    REQUIRE(q.terms.size() == 7);
    // Tag 0: core 1 + two expansions at 0.5 = 2; c = 0.8.
    CHECK(TermOf(q, *words, "sea")->weight == Approx(0.8 * 1 / 2.0));
    CHECK(TermOf(q, *words, "ocean")->weight == Approx(0.8 * 0.5 / 2.0));
    size_t i = 0;
    const LexicalTerm* ship = TermOf(q, *words, "ship", &i);
    REQUIRE(ship != nullptr);
    CHECK(ship->weight == Approx(0.8 * 0.25 / 2.0));
    CHECK(q.tags[i] == std::vector<size_t>{0});  // explained as the seashore tag's
    CHECK(TermOf(q, *words, "sail")->weight == Approx(0.8 * 0.25 / 2.0));
    const LexicalTerm* smoke = TermOf(q, *words, "smoke", &i);
    REQUIRE(smoke != nullptr);
    CHECK(smoke->weight == Approx(0.5 * 0.25));
    CHECK(q.tags[i] == std::vector<size_t>{1});
    CHECK(TermOf(q, *words, "fire")->weight == Approx(0.5));
  }
}

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
