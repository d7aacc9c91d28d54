// Tests for core/index/lexical_index.h: build, load, BM25 search against a
// brute-force reference, filters (1 % of the songs), the postings budget,
// and damaged or hostile files refused without a crash.
#include "core/index/lexical_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
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

using Songs = std::vector<std::vector<uint32_t>>;

absl::Status Write(const std::string& path, const Songs& songs, int64_t vocabulary) {
  return WriteLexicalIndex(path, int64_t(songs.size()), vocabulary,
                           [&](int64_t i, std::vector<uint32_t>* w) { *w = songs[size_t(i)]; });
}

LexicalIndex Open(const std::string& path, const Songs& songs, int64_t vocabulary,
                  const LexicalIndexOptions& options = {}) {
  auto x = LexicalIndex::Open(path, int64_t(songs.size()), vocabulary, options);
  INFO(x.status().ToString());
  REQUIRE(x.ok());
  return std::move(*x);
}

// Random songs: word ids by a Zipf-like law over `vocabulary` words.
Songs RandomSongs(int n, int vocabulary, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<double> weights(vocabulary);
  for (int w = 0; w < vocabulary; ++w) weights[w] = 1.0 / (w + 3);
  std::discrete_distribution<uint32_t> word(weights.begin(), weights.end());
  std::uniform_int_distribution<int> length(0, 60);
  Songs songs(n);
  for (auto& s : songs) {
    const int len = length(rng);
    for (int i = 0; i < len; ++i) s.push_back(word(rng));
  }
  return songs;
}

// BM25 by the definition in lexical_index.h, in double.
std::vector<double> BruteForce(const Songs& songs, const std::vector<LexicalTerm>& terms,
                               const LexicalIndexOptions& o, const std::vector<uint8_t>* allowed) {
  const double n = double(songs.size());
  double total = 0;
  for (const auto& s : songs) total += double(s.size());
  const double avg = total > 0 ? total / n : 1;
  std::map<uint32_t, double> df;
  for (const auto& s : songs) {
    std::vector<uint32_t> u(s);
    std::sort(u.begin(), u.end());
    u.erase(std::unique(u.begin(), u.end()), u.end());
    for (uint32_t w : u) df[w] += 1;
  }
  std::vector<double> score(songs.size(), 0.0);
  for (size_t d = 0; d < songs.size(); ++d) {
    if (allowed != nullptr && !((*allowed)[d / 8] & (1u << (d % 8)))) continue;
    for (const LexicalTerm& t : terms) {
      const double tf = double(std::count(songs[d].begin(), songs[d].end(), t.word));
      if (tf == 0 || df[t.word] == 0) continue;
      const double idf = std::log(1 + (n - df[t.word] + 0.5) / (df[t.word] + 0.5));
      const double norm = o.k1 * (1 - o.b + o.b * double(songs[d].size()) / avg);
      score[d] += t.weight * idf * tf * (o.k1 + 1) / (tf + norm);
    }
  }
  return score;
}

std::vector<int64_t> Ids(const std::vector<ScoredId>& hits) {
  std::vector<int64_t> ids;
  for (const ScoredId& h : hits) ids.push_back(h.id);
  return ids;
}

void ExpectDataLoss(const std::string& path, int64_t songs, int64_t vocabulary,
                    absl::string_view what) {
  auto x = LexicalIndex::Open(path, songs, vocabulary, LexicalIndexOptions{});
  INFO(x.status().ToString());
  CHECK(x.status().code() == absl::StatusCode::kDataLoss);
  CHECK(absl::StrContains(x.status().message(), "lexical.bin"));
  CHECK(absl::StrContains(x.status().message(), what));
}

}  // namespace

TEST_CASE("LexicalIndex: a word finds the songs that contain it, ranked by BM25") {
  TempDir tmp;
  const std::string path = tmp.File("lexical.bin");
  // Words: 1 fire, 2 sea, 3 snow, 4 filler, 5 only in song 5, 9 in no song.
  const Songs songs = {
      {1, 4, 4, 4, 4, 4, 4, 4},  // 0: fire once in a long song
      {1, 1, 4},                 // 1: fire twice in a short song
      {2, 2, 2, 4},              // 2: sea
      {3},                       // 3: snow
      {},                        // 4: no words
      {1, 4, 5},                 // 5: fire once in a short song, and word 5
  };
  REQUIRE(Write(path, songs, 10).ok());
  LexicalIndex x = Open(path, songs, 10);
  CHECK(x.size() == 6);
  CHECK(x.term_count() == 5);  // words 1..5
  CHECK(x.DocumentFrequency(1) == 3);
  CHECK(x.DocumentFrequency(4) == 4);
  CHECK(x.DocumentFrequency(9) == 0);
  CHECK(x.DocumentFrequency(12345) == 0);
  CHECK(x.Length(0) == 8);
  CHECK(x.Length(4) == 0);
  CHECK(x.average_length() == Approx(19.0 / 6));
  CHECK(x.Idf(5) > x.Idf(1));  // rarer words weigh more
  CHECK(x.Idf(1) > x.Idf(4));
  CHECK(x.Idf(9) == 0);

  const std::vector<LexicalTerm> fire = {{1, 1.0f}};
  auto hits = x.Search(fire, 10, nullptr);
  // Twice in a short song, then once in a short song, then once in a long one.
  CHECK(Ids(hits) == std::vector<int64_t>{1, 5, 0});
  for (const ScoredId& h : hits) {
    CHECK(h.score == Approx(x.TermScore(fire[0], h.id == 1 ? 2 : 1, h.id)));
  }
  CHECK(Ids(x.Search({{2, 1.0f}}, 10, nullptr)) == std::vector<int64_t>{2});
  CHECK(Ids(x.Search({{1, 1.0f}}, 2, nullptr)) == std::vector<int64_t>{1, 5});
  // Unknown words, absent words, zero and negative weights find nothing.
  CHECK(x.Search({{9, 1.0f}}, 10, nullptr).empty());
  CHECK(x.Search({{77777, 1.0f}}, 10, nullptr).empty());
  CHECK(x.Search({{1, 0.0f}, {2, -1.0f}}, 10, nullptr).empty());
  CHECK(x.Search({}, 10, nullptr).empty());
  CHECK(x.Search(fire, 0, nullptr).empty());
  // Two words: the song with both comes first; weights matter.
  CHECK(Ids(x.Search({{1, 1.0f}, {5, 1.0f}}, 1, nullptr)) == std::vector<int64_t>{5});
  CHECK(Ids(x.Search({{1, 0.01f}, {2, 1.0f}}, 1, nullptr)) == std::vector<int64_t>{2});
  // A repeated word adds its weights: the same as one term of weight 2.
  auto twice = x.Search({{1, 1.0f}, {1, 1.0f}}, 10, nullptr);
  auto doubled = x.Search({{1, 2.0f}}, 10, nullptr);
  REQUIRE(twice.size() == doubled.size());
  for (size_t i = 0; i < twice.size(); ++i) {
    CHECK(twice[i].id == doubled[i].id);
    CHECK(twice[i].score == Approx(doubled[i].score));
  }
  // Filter: only allowed songs.
  std::vector<uint8_t> allowed(1, 0);
  allowed[0] |= 1u << 0;
  allowed[0] |= 1u << 2;
  CHECK(Ids(x.Search(fire, 10, &allowed)) == std::vector<int64_t>{0});
  std::vector<uint8_t> none(1, 0);
  CHECK(x.Search(fire, 10, &none).empty());
}

TEST_CASE("LexicalIndex: search equals brute-force BM25 on a random catalogue") {
  TempDir tmp;
  const std::string path = tmp.File("lexical.bin");
  const int kVocabulary = 400;
  const Songs songs = RandomSongs(3000, kVocabulary, 7);
  REQUIRE(Write(path, songs, kVocabulary).ok());
  LexicalIndexOptions options;
  options.k1 = 1.5f;
  options.b = 0.6f;
  options.min_term_share = 0;  // every term: exact BM25
  LexicalIndex x = Open(path, songs, kVocabulary, options);
  std::mt19937 rng(11);
  for (int q = 0; q < 30; ++q) {
    std::vector<LexicalTerm> terms;
    const int nt = 1 + int(rng() % 5);
    for (int t = 0; t < nt; ++t) {
      terms.push_back({uint32_t(rng() % kVocabulary), 0.1f + float(rng() % 100) / 50});
    }
    const std::vector<double> truth = BruteForce(songs, terms, options, nullptr);
    const int k = 1 + int(rng() % 50);
    auto hits = x.Search(terms, k, nullptr);
    const int64_t matching =
        std::count_if(truth.begin(), truth.end(), [](double s) { return s > 0; });
    REQUIRE(int64_t(hits.size()) == std::min<int64_t>(k, matching));
    std::vector<double> sorted(truth);
    std::sort(sorted.rbegin(), sorted.rend());
    for (size_t i = 0; i < hits.size(); ++i) {
      INFO("query " << q << " rank " << i);
      CHECK(hits[i].score == Approx(truth[size_t(hits[i].id)]).epsilon(1e-4));
      // The i-th hit has the i-th best score of all songs.
      CHECK(hits[i].score == Approx(sorted[i]).epsilon(1e-4));
      if (i > 0) CHECK(hits[i].score <= hits[i - 1].score);
    }
  }
}

TEST_CASE("LexicalIndex: a 1 % filter returns exactly the allowed songs holding the word") {
  TempDir tmp;
  const std::string path = tmp.File("lexical.bin");
  const int kVocabulary = 300;
  const Songs songs = RandomSongs(5000, kVocabulary, 3);
  REQUIRE(Write(path, songs, kVocabulary).ok());
  LexicalIndex x = Open(path, songs, kVocabulary);
  std::vector<uint8_t> one_percent((songs.size() + 7) / 8, 0);
  for (size_t i = 0; i < songs.size(); i += 100) one_percent[i / 8] |= uint8_t(1u << (i % 8));
  for (uint32_t word : {0u, 5u, 40u}) {
    INFO("word " << word);
    std::vector<int64_t> expected;
    for (size_t i = 0; i < songs.size(); i += 100) {
      if (std::count(songs[i].begin(), songs[i].end(), word) > 0) expected.push_back(int64_t(i));
    }
    REQUIRE(!expected.empty());
    std::vector<int64_t> got = Ids(x.Search({{word, 1.0f}}, 200, &one_percent));
    std::sort(got.begin(), got.end());
    CHECK(got == expected);
    const std::vector<double> truth = BruteForce(songs, {{word, 1.0f}}, {}, &one_percent);
    for (const ScoredId& h : x.Search({{word, 1.0f}}, 200, &one_percent)) {
      CHECK(h.score == Approx(truth[size_t(h.id)]).epsilon(1e-4));
    }
  }
  // A bitmap shorter than the index allows nothing past its end.
  std::vector<uint8_t> first_byte(1, 0xff);
  for (const ScoredId& h : x.Search({{0, 1.0f}}, 100, &first_byte)) CHECK(h.id < 8);
}

TEST_CASE("LexicalIndex: the postings budget leaves out the commonest terms") {
  TempDir tmp;
  const std::string path = tmp.File("lexical.bin");
  // Word 1 in every song, word 2 in songs 0 and 1.
  Songs songs(100, std::vector<uint32_t>{1});
  songs[0].push_back(2);
  songs[1].push_back(2);
  REQUIRE(Write(path, songs, 3).ok());
  LexicalIndexOptions tight;
  tight.max_postings = 50;
  LexicalIndex bounded = Open(path, songs, 3, tight);
  // Word 2 (2 postings, rare: strongest) fits; word 1 (100) would not.
  CHECK(Ids(bounded.Search({{1, 1.0f}, {2, 1.0f}}, 10, nullptr)) == std::vector<int64_t>{0, 1});
  CHECK(bounded.Search({{1, 1.0f}}, 10, nullptr).empty());
  LexicalIndexOptions none;
  none.max_postings = 0;
  LexicalIndex unbounded = Open(path, songs, 3, none);
  CHECK(unbounded.Search({{1, 1.0f}}, 200, nullptr).size() == 100);
}

TEST_CASE("LexicalIndex: terms far weaker than the strongest are left out") {
  TempDir tmp;
  const std::string path = tmp.File("lexical.bin");
  // Word 1 in songs 0..49, word 2 in songs 50 and 51.
  Songs songs(100);
  for (int i = 0; i < 50; ++i) songs[size_t(i)] = {1};
  songs[50] = {2};
  songs[51] = {2};
  REQUIRE(Write(path, songs, 3).ok());
  LexicalIndexOptions options;
  options.min_term_share = 0.1f;
  LexicalIndex x = Open(path, songs, 3, options);
  // idf(2) / idf(1) = ln(1 + 98.5 / 2.5) / ln(1 + 50.5 / 50.5) = 5.4: weights 1 : 1 keep both.
  CHECK(x.Search({{1, 1.0f}, {2, 1.0f}}, 200, nullptr).size() == 52);
  // Word 1 at weight 0.01 adds at most 0.01 / 5.4 of what word 2 does: left out.
  CHECK(Ids(x.Search({{1, 0.01f}, {2, 1.0f}}, 200, nullptr)) == std::vector<int64_t>{50, 51});
  // Alone it is the strongest term.
  CHECK(x.Search({{1, 0.01f}}, 200, nullptr).size() == 50);
  options.min_term_share = 0;
  LexicalIndex all = Open(path, songs, 3, options);
  CHECK(all.Search({{1, 0.01f}, {2, 1.0f}}, 200, nullptr).size() == 52);
  options.min_term_share = 2;
  CHECK(LexicalIndex::Open(path, 100, 3, options).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("LexicalIndex: writer limits and edge cases") {
  TempDir tmp;
  const std::string path = tmp.File("lexical.bin");
  SECTION("no songs") {
    REQUIRE(Write(path, {}, 10).ok());
    LexicalIndex x = Open(path, {}, 10);
    CHECK(x.size() == 0);
    CHECK(x.Search({{1, 1.0f}}, 5, nullptr).empty());
  }
  SECTION("songs without words") {
    const Songs empty(4);
    REQUIRE(Write(path, empty, 10).ok());
    LexicalIndex x = Open(path, empty, 10);
    CHECK(x.term_count() == 0);
    CHECK(x.Search({{1, 1.0f}}, 5, nullptr).empty());
  }
  SECTION("a word id past the vocabulary") {
    absl::Status s = Write(path, {{1, 2}, {10}}, 10);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "word id 10"));
  }
  SECTION("a song of more than 65535 words") {
    absl::Status s = Write(path, {std::vector<uint32_t>(70000, 1)}, 10);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(s.message(), "70000 words"));
  }
  SECTION("large counts and song gaps round-trip") {
    Songs songs(1000);
    songs[0] = std::vector<uint32_t>(3000, 7);
    songs[999] = {7, 8};
    REQUIRE(Write(path, songs, 10).ok());
    LexicalIndex x = Open(path, songs, 10);
    CHECK(x.Length(0) == 3000);
    CHECK(Ids(x.Search({{7, 1.0f}}, 5, nullptr)) == std::vector<int64_t>{0, 999});
  }
  SECTION("BM25 options out of range") {
    REQUIRE(Write(path, {{1}}, 10).ok());
    LexicalIndexOptions bad;
    bad.b = 2;
    CHECK(LexicalIndex::Open(path, 1, 10, bad).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("LexicalIndex::Open refuses damaged and hostile files") {
  TempDir tmp;
  const std::string path = tmp.File("lexical.bin");
  const Songs songs = RandomSongs(200, 50, 5);
  REQUIRE(Write(path, songs, 50).ok());
  const std::string good = ReadWholeFile(path);
  auto put_u64 = [&](size_t at, uint64_t v) {
    std::string data = good;
    std::memcpy(&data[at], &v, 8);
    WriteWholeFile(path, data);
  };
  SECTION("another song count or vocabulary than the manifest") {
    ExpectDataLoss(path, 201, 50, "201");
    ExpectDataLoss(path, 200, 49, "vocabulary");
    CHECK(LexicalIndex::Open(path, 200, 51, LexicalIndexOptions{}).ok());
  }
  SECTION("not a lexical index") {
    WriteWholeFile(path, "I2STOK01" + good.substr(8));
    ExpectDataLoss(path, 200, 50, "bad header");
    WriteWholeFile(path, "short");
    ExpectDataLoss(path, 200, 50, "bad header");
  }
  SECTION("truncated") {
    WriteWholeFile(path, good.substr(0, good.size() - 1));
    ExpectDataLoss(path, 200, 50, "truncated");
  }
  SECTION("hostile sizes in the header") {
    put_u64(24, uint64_t{1} << 62);  // terms
    ExpectDataLoss(path, 200, 50, "");
    put_u64(32, ~uint64_t{0});  // postings bytes
    ExpectDataLoss(path, 200, 50, "");
    put_u64(8, ~uint64_t{0});  // songs
    ExpectDataLoss(path, 200, 50, "");
  }
  SECTION("a wrong token total") {
    uint64_t tokens = 0;
    std::memcpy(&tokens, &good[40], 8);
    put_u64(40, tokens + 1);
    ExpectDataLoss(path, 200, 50, "token total");
  }
  SECTION("damaged postings") {
    // The last posting byte: a continuation bit cuts the list.
    std::string data = good;
    data.back() = char(uint8_t(data.back()) | 0x80);
    WriteWholeFile(path, data);
    ExpectDataLoss(path, 200, 50, "malformed");
  }
  SECTION("no single flipped byte crashes a load or a search") {
    const Songs few = RandomSongs(12, 20, 9);
    REQUIRE(Write(path, few, 20).ok());
    const std::string small = ReadWholeFile(path);
    int refused = 0;
    for (size_t at = 0; at < small.size(); ++at) {
      std::string data = small;
      data[at] = char(uint8_t(data[at]) ^ 0x5a);
      WriteWholeFile(path, data);
      auto x = LexicalIndex::Open(path, 12, 20, LexicalIndexOptions{});
      if (!x.ok()) {
        CHECK(x.status().code() == absl::StatusCode::kDataLoss);
        ++refused;
        continue;
      }
      for (uint32_t w = 0; w < 20; w += 3) (void)x->Search({{w, 1.0f}}, 10, nullptr);
    }
    // Nearly all are caught by the structure checks (the bundle's sha256
    // catches the rest: e.g. a flip in the padding).
    CHECK(refused > int(small.size()) * 8 / 10);
  }
}

}  // namespace image2song
