// Tests for core/bundle/embedder.h: song vectors and the common component on
// the generated tiny word vectors.
#include "core/bundle/embedder.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/words/word_vectors.h"
#include "tests/support/tiny_words.h"

namespace image2song {
namespace {

using ::image2song::testing::Dot;
using ::image2song::testing::LoadTiny;
using ::image2song::testing::Norm;
using ::image2song::testing::Record;

}  // namespace

// ------------------------------------------------------------ SongEmbedder

TEST_CASE("SongEmbedder keeps known content words with their line numbers") {
  auto words = LoadTiny();
  SongEmbedder embedder(words.get());
  SongRecord r = Record("e1",
                        "The ocean waves\n"
                        "\n"
                        "   \n"
                        "  Unknownword sailor's boat  \n"
                        "A sea");
  EmbeddedSong song = embedder.Embed(r);
  CHECK(song.lines ==
        std::vector<std::string>{"The ocean waves", "Unknownword sailor's boat", "A sea"});
  // "the" and "a" are the two stopwords of the tiny vocabulary (1% of 240).
  CHECK(song.words_total == 8);
  CHECK(song.words_known == 7);
  struct Expected {
    const char* word;
    uint32_t line;
  };
  const std::vector<Expected> expected = {
      {"ocean", 0}, {"waves", 0}, {"sailor", 1}, {"boat", 1}, {"sea", 2}};
  REQUIRE(song.tokens.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO(i);
    CHECK(words->Word(song.tokens[i].word) == expected[i].word);
    CHECK(song.tokens[i].line == expected[i].line);
  }
  REQUIRE(song.vector.size() == 16);
  CHECK(Norm(song.vector) == Approx(1.0).epsilon(1e-5));
}

TEST_CASE("SongEmbedder: vectors follow the lyrics, title and tags") {
  auto words = LoadTiny();
  SongEmbedder embedder(words.get());
  const float* sea = words->UnitVector(words->Find("sea"));
  const float* fire = words->UnitVector(words->Find("fire"));
  EmbeddedSong sea_song = embedder.Embed(Record("a", "ocean waves shore tide"));
  EmbeddedSong fire_song = embedder.Embed(Record("b", "fire flames burning heat"));
  CHECK(Dot(sea_song.vector.data(), sea, 16) > Dot(sea_song.vector.data(), fire, 16));
  CHECK(Dot(fire_song.vector.data(), fire, 16) > Dot(fire_song.vector.data(), sea, 16));
  // A "sea" tag pulls a fire song towards the sea.
  EmbeddedSong tagged = embedder.Embed(Record("b", "fire flames burning heat", {"Sea"}));
  CHECK(Norm(tagged.vector) == Approx(1.0).epsilon(1e-5));
  CHECK(Dot(tagged.vector.data(), sea, 16) > Dot(fire_song.vector.data(), sea, 16) + 0.05);
  // Tags do not add attention tokens.
  CHECK(tagged.tokens.size() == fire_song.tokens.size());
  // Same input, same output.
  EmbeddedSong again = embedder.Embed(Record("a", "ocean waves shore tide"));
  CHECK(again.vector == sea_song.vector);
}

TEST_CASE("SongEmbedder on lyrics without known words") {
  auto words = LoadTiny();
  SongEmbedder embedder(words.get());
  SongRecord r = Record("u", "qwerty asdfgh\n\nzxcvb");
  r.title = "";
  EmbeddedSong song = embedder.Embed(r);
  CHECK(song.words_total == 3);
  CHECK(song.words_known == 0);
  CHECK(song.tokens.empty());
  CHECK(song.lines.size() == 2);
  for (float x : song.vector) CHECK(std::isfinite(x));
}

// --------------------------------------------------------- CommonComponent

TEST_CASE("CommonComponent Fit finds the mean and the main direction") {
  const int dim = 6, n = 200;
  std::mt19937 rng(1);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::normal_distribution<float> spread(0.0f, 2.0f);
  const std::vector<float> centre = {1, -2, 0.5, 3, 0, -1};
  std::vector<float> dir = {0, 0.6f, 0, 0, 0.8f, 0};
  std::vector<float> data(size_t(n) * dim);
  for (int i = 0; i < n; ++i) {
    const float t = spread(rng);
    for (int d = 0; d < dim; ++d) {
      data[size_t(i) * dim + d] = centre[d] + t * dir[d] + noise(rng);
    }
  }
  CommonComponent c = SongEmbedder::Fit(data.data(), n, dim);
  REQUIRE(c.mean.size() == size_t(dim));
  REQUIRE(c.pc.size() == size_t(dim));
  for (int d = 0; d < dim; ++d) {
    double mean = 0;
    for (int i = 0; i < n; ++i) mean += data[size_t(i) * dim + d];
    CHECK(c.mean[d] == Approx(mean / n).margin(1e-4));
  }
  CHECK(Norm(c.pc) == Approx(1.0).epsilon(1e-5));
  CHECK(std::fabs(Dot(c.pc.data(), dir.data(), dim)) > 0.99);

  // Apply: centre, drop the pc direction, normalise.
  std::vector<float> v = {3, 1, -1, 2, 4, 0};
  std::vector<float> expected(dim);
  for (int d = 0; d < dim; ++d) expected[d] = v[d] - c.mean[d];
  const double along = Dot(expected.data(), c.pc.data(), dim);
  for (int d = 0; d < dim; ++d) expected[d] -= float(along) * c.pc[d];
  const double len = Norm(expected);
  c.Apply(v.data(), dim);
  CHECK(Norm(v) == Approx(1.0).epsilon(1e-5));
  CHECK(Dot(v.data(), c.pc.data(), dim) == Approx(0.0).margin(1e-5));
  for (int d = 0; d < dim; ++d) {
    CHECK(v[d] == Approx(expected[d] / len).margin(1e-5));
  }
}

TEST_CASE("CommonComponent with few vectors has no principal component") {
  const std::vector<float> two = {1, 0, 3, 0};
  CommonComponent c = SongEmbedder::Fit(two.data(), 2, 2);
  CHECK(c.mean == std::vector<float>{2, 0});
  CHECK(c.pc == std::vector<float>{0, 0});
  std::vector<float> v = {2, 5};
  c.Apply(v.data(), 2);
  CHECK(v[0] == Approx(0.0f).margin(1e-6));
  CHECK(v[1] == Approx(1.0f));

  CommonComponent none = SongEmbedder::Fit(nullptr, 0, 3);
  CHECK(none.mean == std::vector<float>{0, 0, 0});
  CHECK(none.pc == std::vector<float>{0, 0, 0});
}

}  // namespace image2song
