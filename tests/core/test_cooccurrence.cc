// Tests for core/index/cooccurrence.h: normalised PMI on hand-made
// catalogues with known counts, against a brute-force count, the file round
// trip and damaged files.
#include "core/index/cooccurrence.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using ::image2song::testing::ReadWholeFile;
using ::image2song::testing::TempDir;
using ::image2song::testing::WriteWholeFile;

// Songs as lines of word ids.
using Song = std::vector<std::vector<uint32_t>>;

// Interleaved (word, line) tokens of each song, as the bundle stores them.
std::vector<std::vector<uint32_t>> Tokens(const std::vector<Song>& songs) {
  std::vector<std::vector<uint32_t>> out;
  for (const Song& s : songs) {
    out.emplace_back();
    for (uint32_t line = 0; line < s.size(); ++line) {
      for (uint32_t w : s[line]) {
        out.back().push_back(w);
        out.back().push_back(line);
      }
    }
  }
  return out;
}

CooccurrenceTable Build(const std::string& path, const std::vector<Song>& songs, int64_t vocabulary,
                        CooccurrenceOptions options) {
  options.progress_seconds = 0;
  const auto tokens = Tokens(songs);
  auto stats = WriteCooccurrence(
      path, int64_t(songs.size()), vocabulary,
      [&](int64_t s) { return absl::Span<const uint32_t>(tokens[size_t(s)]); }, options);
  INFO(stats.status().ToString());
  REQUIRE(stats.ok());
  auto table = CooccurrenceTable::Open(path, vocabulary);
  INFO(table.status().ToString());
  REQUIRE(table.ok());
  CHECK(table->neighbour_count() == stats->neighbours);
  CHECK(table->word_count() == stats->words);
  return std::move(*table);
}

std::vector<std::pair<uint32_t, float>> Pairs(const CooccurrenceTable& t, uint32_t word) {
  std::vector<std::pair<uint32_t, float>> out;
  for (const CooccurrenceNeighbour& n : t.Neighbours(word)) out.push_back({n.word, n.npmi});
  return out;
}

}  // namespace

TEST_CASE("Co-occurrence by song: normalised PMI with known counts") {
  TempDir tmp;
  // 6 songs; df: 1:4, 2:3, 3:2, 4:2, 5:1. Pairs: (1,2) 3 songs, (1,3),
  // (2,3), (1,4), (2,4), (3,4) one each.
  const std::vector<Song> songs = {{{1, 2, 3}}, {{1, 2, 2}}, {{1, 2, 4}}, {{3, 4}}, {{5}}, {{1}}};
  CooccurrenceOptions o;
  o.min_count = 2;
  CooccurrenceTable t = Build(tmp.File("a.bin"), songs, 8, o);
  CHECK(t.units() == 6);
  CHECK(t.unit() == CooccurrenceUnit::kSong);
  CHECK(t.min_count() == 2);
  // npmi(1, 2) = ln(3 * 6 / (4 * 3)) / -ln(3 / 6) = ln 1.5 / ln 2.
  const float npmi12 = float(std::log(1.5) / std::log(2.0));
  REQUIRE(Pairs(t, 1).size() == 1);
  CHECK(Pairs(t, 1)[0].first == 2);
  CHECK(Pairs(t, 1)[0].second == Approx(npmi12));
  REQUIRE(Pairs(t, 2).size() == 1);
  CHECK(Pairs(t, 2)[0].first == 1);
  CHECK(t.Neighbours(3).empty());  // its pairs are seen once
  CHECK(t.Neighbours(7).empty());  // never seen
  CHECK(t.Neighbours(1000).empty());
  CHECK(t.word_count() == 2);

  SECTION("min count 1: single pairs count, only positive scores are kept") {
    o.min_count = 1;
    CooccurrenceTable t1 = Build(tmp.File("b.bin"), songs, 8, o);
    // Word 3: with 4, ln(1 * 6 / (2 * 2)) / ln 6 > 0; with 2, ln(6 / 6) = 0
    // (independent: left out); with 1, negative.
    REQUIRE(Pairs(t1, 3).size() == 1);
    CHECK(Pairs(t1, 3)[0].first == 4);
    CHECK(Pairs(t1, 3)[0].second == Approx(std::log(1.5) / std::log(6.0)));
    CHECK(Pairs(t1, 1).size() == 1);
  }
  SECTION("neighbours per word are capped, best first") {
    // Word 1 with 2 (always together) and 3 (once together: ln(5 / 4) / ln 5).
    const std::vector<Song> s2 = {{{1, 2, 3}}, {{1, 2}}, {{4}}, {{4}}, {{3}}};
    o.min_count = 1;
    o.neighbours = 2;
    CooccurrenceTable t2 = Build(tmp.File("c.bin"), s2, 8, o);
    REQUIRE(Pairs(t2, 1).size() == 2);
    CHECK(Pairs(t2, 1)[0].first == 2);
    CHECK(Pairs(t2, 1)[0].second == Approx(1.0));  // only ever together
    CHECK(Pairs(t2, 1)[1].first == 3);
    CHECK(Pairs(t2, 1)[1].second == Approx(std::log(1.25) / std::log(5.0)));
    o.neighbours = 1;
    CooccurrenceTable t3 = Build(tmp.File("d.bin"), s2, 8, o);
    REQUIRE(Pairs(t3, 1).size() == 1);
    CHECK(Pairs(t3, 1)[0].first == 2);
  }
}

TEST_CASE("Co-occurrence by line counts lines, not songs") {
  TempDir tmp;
  // Song 0: "1 2" / "3"; song 1: "1 3". By song, 1 and 3 are always
  // together; by line, 1 and 2 are.
  const std::vector<Song> songs = {{{1, 2}, {3}}, {{1, 3}}};
  CooccurrenceOptions o;
  o.min_count = 1;
  CooccurrenceTable by_song = Build(tmp.File("s.bin"), songs, 4, o);
  REQUIRE(Pairs(by_song, 1).size() == 1);
  CHECK(Pairs(by_song, 1)[0].first == 3);
  CHECK(Pairs(by_song, 1)[0].second == Approx(1.0));
  o.unit = CooccurrenceUnit::kLine;
  CooccurrenceTable by_line = Build(tmp.File("l.bin"), songs, 4, o);
  CHECK(by_line.units() == 3);
  CHECK(by_line.unit() == CooccurrenceUnit::kLine);
  // Lines: df 1:2, 2:1, 3:2; (1,2) on 1 line: ln(3 / 2) / ln 3; (1,3) on 1
  // line: ln(3 / 4) < 0.
  REQUIRE(Pairs(by_line, 1).size() == 1);
  CHECK(Pairs(by_line, 1)[0].first == 2);
  CHECK(Pairs(by_line, 1)[0].second == Approx(std::log(1.5) / std::log(3.0)));
}

TEST_CASE("Co-occurrence matches a brute-force count on a random catalogue") {
  TempDir tmp;
  std::mt19937 rng(15);
  const uint32_t V = 40;
  std::vector<Song> songs(300);
  for (Song& s : songs) {
    s.resize(1 + rng() % 4);
    for (auto& line : s) {
      const int n = 1 + int(rng() % 6);
      for (int i = 0; i < n; ++i) line.push_back(uint32_t(std::min(rng() % V, rng() % V)));
    }
  }
  for (CooccurrenceUnit unit : {CooccurrenceUnit::kSong, CooccurrenceUnit::kLine}) {
    // Units as sets of words.
    std::vector<std::set<uint32_t>> units;
    for (const Song& s : songs) {
      if (unit == CooccurrenceUnit::kSong) units.emplace_back();
      for (const auto& line : s) {
        if (unit == CooccurrenceUnit::kLine) units.emplace_back();
        units.back().insert(line.begin(), line.end());
      }
    }
    std::map<uint32_t, double> df;
    std::map<std::pair<uint32_t, uint32_t>, double> c;
    for (const auto& u : units) {
      for (uint32_t a : u) {
        df[a] += 1;
        for (uint32_t b : u) c[{a, b}] += a != b ? 1 : 0;
      }
    }
    CooccurrenceOptions o;
    o.unit = unit;
    o.min_count = 3;
    o.neighbours = 5;
    o.max_songs_per_word = 0;
    CooccurrenceTable t = Build(tmp.File("r.bin"), songs, V, o);
    const double n = double(units.size());
    CHECK(t.units() == int64_t(units.size()));
    for (uint32_t a = 0; a < V; ++a) {
      std::vector<std::pair<float, uint32_t>> want;
      for (uint32_t b = 0; b < V; ++b) {
        const double ab = c[{a, b}];
        if (a == b || ab < 3) continue;
        const double npmi = std::log(ab * n / (df[a] * df[b])) / -std::log(ab / n);
        if (npmi > 0) want.push_back({float(npmi), b});
      }
      std::sort(want.begin(), want.end(), [](const auto& x, const auto& y) {
        return x.first != y.first ? x.first > y.first : x.second < y.second;
      });
      if (want.size() > 5) want.resize(5);
      auto got = t.Neighbours(a);
      INFO("word " << a << " unit " << int(unit));
      REQUIRE(got.size() == want.size());
      for (size_t k = 0; k < want.size(); ++k) {
        CHECK(got[k].npmi == Approx(want[k].first).epsilon(1e-4));
        CHECK(got[k].count == uint32_t(c[{a, want[k].second}]));
      }
    }
  }
}

TEST_CASE("CooccurrenceTable::Open refuses damaged files, naming them") {
  TempDir tmp;
  const std::string path = tmp.File("cooccur.bin");
  const std::vector<Song> songs = {{{1, 2, 3}}, {{1, 2}}, {{1, 2, 3}}, {{3, 4}}, {{4, 5}}};
  CooccurrenceOptions o;
  o.min_count = 1;
  Build(path, songs, 8, o);
  const std::string good = ReadWholeFile(path);
  auto expect_refused = [&](const std::string& data, int64_t vocabulary = 8) {
    WriteWholeFile(path, data);
    auto t = CooccurrenceTable::Open(path, vocabulary);
    INFO(t.status().ToString());
    CHECK(t.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(t.status().message(), "cooccur.bin"));
  };
  expect_refused(good.substr(0, good.size() - 4));  // truncated
  expect_refused(good + std::string(12, '\0'));     // extra neighbour bytes
  expect_refused(good.substr(0, 20));               // cut header
  expect_refused("I2SLEX01" + good.substr(8));      // another file's magic
  expect_refused(good, 7);                          // a smaller vocabulary
  // Every single flipped byte is refused or still a valid table (a flip in
  // a score's low bits can keep it in range), never a crash.
  int refused = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = char(bad[i] ^ 0x80);
    WriteWholeFile(path, bad);
    auto t = CooccurrenceTable::Open(path, 8);
    if (!t.ok()) {
      ++refused;
      CHECK(t.status().code() == absl::StatusCode::kDataLoss);
    }
  }
  CHECK(refused > int(good.size()) / 2);
  WriteWholeFile(path, good);
  CHECK(CooccurrenceTable::Open(path, 8).ok());
  // Bad options are refused before writing.
  o.neighbours = 0;
  auto s = WriteCooccurrence(
      tmp.File("x.bin"), 1, 8, [](int64_t) { return absl::Span<const uint32_t>(); }, o);
  CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace image2song
