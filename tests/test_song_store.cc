// The memory-mapped song store (core/bundle/song_store.h) and filtered search in a
// graph index (core/index/song_index.h).
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/index/song_index.h"
#include "core/bundle/song_store.h"
#include "tests/test_util.h"

namespace image2song {
namespace {

using ::image2song::testing::ReadWholeFile;
using ::image2song::testing::TempDir;
using ::image2song::testing::WriteWholeFile;

constexpr int kSongs = 5000;
const char* const kGenres[] = {"Rock", "pop", "Folk", "jazz"};
const char* const kLicenses[] = {"standard", "ads", "cc-by"};

// Song i: genre i % 4, license "ads" for every 100th song (1 %), explicit
// every 7th, duration 100 + i % 200 s (0 = unknown for every 50th).
SongRecord Record(int i) {
  SongRecord r;
  r.id = absl::StrCat("song-", i);
  r.title = absl::StrCat("Title ", i);
  r.artist = absl::StrCat("Artist ", i % 17);
  r.genre = kGenres[i % 4];
  r.mood = i % 2 ? "happy" : "calm";
  r.language = i % 10 ? "en" : "es";
  r.license = i % 100 == 0 ? "ads" : kLicenses[i % 2 == 0 ? 0 : 2];
  r.explicit_lyrics = i % 7 == 0;
  r.duration_seconds = i % 50 == 0 ? 0 : float(100 + i % 200);
  r.tags = {absl::StrCat("t", i % 3)};
  return r;
}

std::vector<std::string> Lines(int i) {
  return {absl::StrCat("line one of ", i), "", absl::StrCat("line three ", i)};
}

std::string WriteStore(const TempDir& tmp) {
  const std::string dir = tmp.path();
  auto w = SongStoreWriter::Create(dir);
  REQUIRE(w.ok());
  for (int i = 0; i < kSongs; ++i) {
    REQUIRE(w->Add(Record(i), Lines(i)).ok());
  }
  REQUIRE(w->Finish().ok());
  return dir;
}

bool Has(const std::vector<uint8_t>& bits, int64_t i) {
  return (bits[i >> 3] >> (i & 7)) & 1;
}

TEST_CASE("SongStore round trip and O(1) id lookup") {
  TempDir tmp;
  const std::string dir = WriteStore(tmp);
  auto store = SongStore::Open(dir, kSongs);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  CHECK(store->size() == kSongs);
  for (int i : {0, 1, 49, 50, 777, kSongs - 1}) {
    INFO(i);
    const SongRecord want = Record(i);
    const SongMeta got = store->Get(i);
    CHECK(got.id == want.id);
    CHECK(got.title == want.title);
    CHECK(got.artist == want.artist);
    CHECK(got.genre == want.genre);  // original case kept for display
    CHECK(got.license == want.license);
    CHECK(got.explicit_lyrics == want.explicit_lyrics);
    CHECK(got.duration_seconds == want.duration_seconds);
    CHECK(got.tags == want.tags);
    CHECK(got.lines == Lines(i));  // the empty line survives
    CHECK(store->LineCount(i) == 3);
  }
  for (int i = 0; i < kSongs; ++i) REQUIRE(store->Find(absl::StrCat("song-", i)) == i);
  CHECK(store->Find("song-5000") == -1);
  CHECK(store->Find("") == -1);
  CHECK(store->Find("Song-1") == -1);  // ids are case-sensitive
}

TEST_CASE("SongStore::Select applies every filter from the columns") {
  TempDir tmp;
  auto store = SongStore::Open(WriteStore(tmp), kSongs);
  REQUIRE(store.ok());
  int64_t kept = -1;
  auto expect = [&](const Filters& f, auto pred) {
    std::vector<uint8_t> bits = store->Select(f, &kept);
    int64_t want = 0;
    for (int i = 0; i < kSongs; ++i) {
      const bool pass = pred(Record(i));
      want += pass;
      if (Has(bits, i) != pass) {
        FAIL_CHECK("song " << i << " expected " << pass);
        break;
      }
    }
    CHECK(kept == want);
  };
  Filters none;
  expect(none, [](const SongRecord&) { return true; });
  Filters rock;
  rock.genres = {"rock"};  // lowercase filter values match "Rock"
  expect(rock, [](const SongRecord& r) { return r.genre == "Rock"; });
  Filters ads;
  ads.licenses = {"ads"};
  expect(ads, [](const SongRecord& r) { return r.license == "ads"; });
  CHECK(kept == kSongs / 100);
  Filters combo;
  combo.genres = {"rock", "pop"};
  combo.languages = {"en"};
  combo.exclude_explicit = true;
  combo.min_duration_seconds = 150;
  combo.max_duration_seconds = 250;
  expect(combo, [](const SongRecord& r) {
    return (r.genre == "Rock" || r.genre == "pop") && r.language == "en" &&
           !r.explicit_lyrics && r.duration_seconds >= 150 &&
           r.duration_seconds <= 250;
  });
  Filters open_max;
  open_max.max_duration_seconds = 120;  // unknown durations (0) are left out
  expect(open_max, [](const SongRecord& r) {
    return r.duration_seconds > 0 && r.duration_seconds <= 120;
  });
  Filters excl;
  excl.exclude_ids = {"song-3", "song-4", "no-such-song"};
  expect(excl, [](const SongRecord& r) {
    return r.id != "song-3" && r.id != "song-4";
  });
  Filters nothing;
  nothing.genres = {"polka"};
  expect(nothing, [](const SongRecord&) { return false; });
  CHECK(kept == 0);
}

TEST_CASE("SongStore::Open refuses damaged files with DATA_LOSS") {
  TempDir tmp;
  const std::string dir = WriteStore(tmp);
  auto expect = [&](const std::string& file, const std::string& data,
                    const std::string& needle) {
    const std::string path = dir + "/" + file;
    const std::string saved = ReadWholeFile(path);
    WriteWholeFile(path, data);
    auto s = SongStore::Open(dir, kSongs);
    WriteWholeFile(path, saved);
    INFO(file << ": " << s.status().ToString());
    CHECK(s.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(s.status().message(), file));
    CHECK(absl::StrContains(s.status().message(), needle));
  };
  const std::string songs = ReadWholeFile(dir + "/songs.bin");
  const std::string columns = ReadWholeFile(dir + "/columns.bin");
  expect("songs.bin", songs.substr(0, songs.size() - 9), "truncated");
  expect("songs.bin", "XXXX" + songs.substr(4), "bad header");
  expect("columns.bin", columns.substr(0, columns.size() - 8), "truncated");
  std::string bad_code = columns;
  bad_code[24] = '\x7f';  // genre code of song 0 past the dictionary
  expect("columns.bin", bad_code, "genre code out of range");
  CHECK(SongStore::Open(dir, kSongs + 1).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(SongStore::Open(dir, kSongs).ok());
}

// Unit vectors in clusters, like song embeddings.
std::vector<float> Vectors(int n, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> centres(256 * dim);
  for (float& c : centres) c = g(rng);
  std::vector<float> v(size_t(n) * dim);
  for (int i = 0; i < n; ++i) {
    float norm = 0;
    for (int d = 0; d < dim; ++d) {
      float x = centres[(i % 256) * dim + d] + 0.35f * g(rng);
      v[size_t(i) * dim + d] = x;
      norm += x * x;
    }
    for (int d = 0; d < dim; ++d) v[size_t(i) * dim + d] /= std::sqrt(norm);
  }
  return v;
}

// Share of `want`'s ids found in `got`.
double Overlap(const std::vector<ScoredId>& got, const std::vector<ScoredId>& want) {
  int hit = 0;
  for (const ScoredId& w : want) {
    for (const ScoredId& g : got) hit += g.id == w.id;
  }
  return want.empty() ? 1.0 : double(hit) / double(want.size());
}

TEST_CASE("Every index type: recall, save/load, a 1 % filter still fills top_k") {
  const int n = 20000, dim = 32, k = 50;
  std::vector<float> base = Vectors(n, dim, 7);
  // Queries near songs, as image queries land near the songs they match.
  std::vector<float> queries(size_t(20) * dim);
  {
    std::mt19937 rng(99);
    std::normal_distribution<float> g(0, 0.1f);
    for (int q = 0; q < 20; ++q) {
      for (int d = 0; d < dim; ++d) {
        queries[size_t(q) * dim + d] = base[size_t(q * 997) * dim + d] + g(rng);
      }
    }
  }
  auto exact_all = ExactNeighbours(base.data(), n, queries.data(), 20, dim, k);
  REQUIRE(exact_all.ok());
  // Keep every 100th song: 200 of 20,000.
  std::vector<uint8_t> bits((n + 7) / 8, 0);
  std::vector<float> kept_vectors;
  std::vector<int64_t> kept_ids;
  for (int i = 0; i < n; i += 100) {
    bits[i >> 3] |= uint8_t(1u << (i & 7));
    kept_ids.push_back(i);
    kept_vectors.insert(kept_vectors.end(), base.begin() + size_t(i) * dim,
                        base.begin() + size_t(i + 1) * dim);
  }
  for (const char* type : {"flat", "hnsw", "ivf", "ivfpq"}) {
    INFO(type);
    SongIndexOptions o;
    o.type = type;
    o.hnsw_m = 16;
    o.ef_construction = 40;
    o.ef_search = 64;
    o.ivf_nprobe = 32;
    auto built = SongIndex::Build(base.data(), n, dim, o);
    INFO(built.status().ToString());
    REQUIRE(built.ok());
    CHECK((*built)->type() == type);
    TempDir tmp;
    REQUIRE((*built)->Save(tmp.File("i.faiss")).ok());
    auto index = SongIndex::Load(tmp.File("i.faiss"), o);
    REQUIRE(index.ok());
    CHECK((*index)->type() == type);
    CHECK((*index)->size() == n);
    CHECK(absl::StartsWith((*index)->Describe(), type));
    // Unfiltered recall@10 against exact search.
    double recall = 0;
    for (int q = 0; q < 20; ++q) {
      auto got = (*index)->Search(queries.data() + q * dim, 10, nullptr);
      REQUIRE(got.ok());
      REQUIRE(got->size() == 10);
      std::vector<ScoredId> want((*exact_all)[q].begin(), (*exact_all)[q].begin() + 10);
      recall += Overlap(*got, want) / 20;
    }
    INFO("recall@10 " << recall);
    CHECK(recall >= (std::string(type) == "ivfpq" ? 0.85 : 0.95));
    // 1 % filter: k results, all allowed, the exact best ones.
    for (int q = 0; q < 10; ++q) {
      INFO("query " << q);
      const float* query = queries.data() + q * dim;
      auto got = (*index)->Search(query, k, &bits, int64_t(kept_ids.size()));
      REQUIRE(got.ok());
      REQUIRE(got->size() == size_t(k));
      auto exact = ExactNeighbours(kept_vectors.data(), int64_t(kept_ids.size()),
                                   query, 1, dim, k);
      REQUIRE(exact.ok());
      std::vector<ScoredId> want;
      for (const ScoredId& e : (*exact)[0]) want.push_back({kept_ids[e.id], e.score});
      for (const ScoredId& g : *got) CHECK(g.id % 100 == 0);
      // ivfpq re-scores from 8-bit codes: near-ties may swap.
      CHECK(Overlap(*got, want) >= (std::string(type) == "ivfpq" ? 0.9 : 1.0));
    }
    // An empty filter gives no songs, not an error.
    std::vector<uint8_t> none((n + 7) / 8, 0);
    auto empty = (*index)->Search(queries.data(), k, &none, 0);
    REQUIRE(empty.ok());
    CHECK(empty->empty());
    // A 10 % filter (above the exact-scan share) on a deliberately narrow
    // search (1 IVF list, small graph beam) still fills k: the approximate
    // result comes back short and the exact scan completes it.
    {
      SongIndexOptions narrow = o;
      narrow.ivf_nprobe = 1;
      narrow.ef_search = 16;
      auto small = SongIndex::Load(tmp.File("i.faiss"), narrow);
      REQUIRE(small.ok());
      std::vector<uint8_t> tenth((n + 7) / 8, 0);
      for (int i = 0; i < n; i += 10) tenth[i >> 3] |= uint8_t(1u << (i & 7));
      auto filled = (*small)->Search(queries.data(), 200, &tenth, n / 10);
      REQUIRE(filled.ok());
      CHECK(filled->size() == 200);
      for (const ScoredId& s : *filled) CHECK(s.id % 10 == 0);
    }
    // A broad filter (half the songs) stays in the approximate search.
    std::vector<uint8_t> half((n + 7) / 8, 0x55);
    auto broad = (*index)->Search(queries.data(), k, &half, n / 2);
    REQUIRE(broad.ok());
    CHECK(broad->size() == size_t(k));
    for (const ScoredId& s : *broad) CHECK(s.id % 2 == 0);
  }
}

}  // namespace
}  // namespace image2song
