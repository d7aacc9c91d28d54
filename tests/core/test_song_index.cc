// Tests for core/index/song_index.h: every index type (recall, save/load,
// filtered search) against ExactNeighbours.
#include "core/index/song_index.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using ::image2song::testing::TempDir;

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
      auto exact = ExactNeighbours(kept_vectors.data(), int64_t(kept_ids.size()), query, 1, dim, k);
      REQUIRE(exact.ok());
      std::vector<ScoredId> want;
      for (const ScoredId& e : (*exact)[0]) want.push_back({kept_ids[e.id], e.score});
      for (const ScoredId& g : *got) CHECK(g.id % 100 == 0);
      // ivfpq re-scores from 8-bit codes: near-ties may swap.
      CHECK(Overlap(*got, want) >= (std::string(type) == "ivfpq" ? 0.9 : 1.0));
    }
    // Scores equal the dot product with the stored (for ivfpq: decoded 8-bit)
    // vectors: ivfpq scores its codes without decoding them.
    {
      const float* query = queries.data();
      std::vector<int64_t> ids = {0, 1, 4999, 12345, n - 1};
      auto scores = (*index)->Score(query, ids);
      REQUIRE(scores.ok());
      std::vector<float> v(dim);
      for (size_t i = 0; i < ids.size(); ++i) {
        (*index)->Reconstruct(ids[i], v.data());
        double want = 0;
        for (int d = 0; d < dim; ++d) want += double(v[d]) * query[d];
        CHECK((*scores)[i] == Approx(want).margin(1e-5));
      }
      auto top = (*index)->Search(query, 5, nullptr);
      REQUIRE(top.ok());
      for (const ScoredId& t : *top) {
        (*index)->Reconstruct(t.id, v.data());
        double want = 0;
        for (int d = 0; d < dim; ++d) want += double(v[d]) * query[d];
        CHECK(t.score == Approx(want).margin(1e-5));
      }
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
