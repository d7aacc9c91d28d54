// Nearest-neighbour search over song vectors (FAISS behind a faiss-free
// header). Scores are inner products of unit vectors, i.e. cosines.
//
// Thread-safety: Search() is safe to call concurrently; Build/Save are not
// meant to run alongside searches.
#ifndef IMAGE2SONG_CORE_INDEX_SONG_INDEX_H_
#define IMAGE2SONG_CORE_INDEX_SONG_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/index/scored_id.h"

namespace faiss {
struct Index;
}

namespace image2song {

struct SongIndexOptions {
  // "flat" (exact), "hnsw" (graph), "ivf" (inverted lists of raw vectors),
  // "ivfpq" (inverted lists of 8-bit product codes, re-scored from an 8-bit
  // scalar-quantised copy), or "auto": flat below hnsw_threshold songs, hnsw
  // below ivfpq_threshold, ivfpq above. Default: "auto". At 1M songs IVF-PQ
  // measured 4x less memory, a faster build and higher recall than HNSW at
  // the same latency (README, "Catalogues at scale").
  std::string type = "auto";
  int64_t hnsw_threshold = 50000;
  int64_t ivfpq_threshold = 500000;
  // HNSW graph degree. Default: 32.
  int hnsw_m = 32;
  // HNSW build-time beam width. Default: 80.
  int ef_construction = 80;
  // HNSW search beam width (raised to k). Default: 300 (recall@10 0.96 at
  // 1M songs with top 200; 128 gave 0.948).
  int ef_search = 300;
  // IVF lists; 0 = 4 * sqrt(songs), within [16, 65536]. Default: 0.
  int ivf_nlist = 0;
  // IVF lists visited per query. Default: 64.
  int ivf_nprobe = 64;
  // Product-quantiser sub-vectors (must divide the dimension); 0 = dim / 4.
  int pq_m = 0;
  // ivfpq: candidates re-scored per requested song. Default: 4.
  int refine_factor = 4;
  // With a filter keeping at most this share of the songs, graph and IVF
  // indexes scan the allowed songs exactly instead. Default: 0.05.
  double exact_filter_share = 0.05;
};

// The index type "auto" picks for `n` songs.
std::string ChooseIndexType(const SongIndexOptions& options, int64_t n);

class SongIndex {
 public:
  // An empty index for about `expected_songs` vectors of dimension `dim`.
  // IVF types need Train() before Add().
  static absl::StatusOr<std::unique_ptr<SongIndex>> Create(int dim, int64_t expected_songs,
                                                           const SongIndexOptions& options);
  // An empty index of `base`'s type and parameters that keeps its training
  // (IVF lists, product codebooks): for incremental rebuilds.
  static absl::StatusOr<std::unique_ptr<SongIndex>> CreateTrainedLike(const SongIndex& base,
                                                                      int64_t expected_songs);
  // Create + Train (on all) + Add: for small sets and tests.
  static absl::StatusOr<std::unique_ptr<SongIndex>> Build(const float* vectors, int64_t n, int dim,
                                                          const SongIndexOptions& options);
  static absl::StatusOr<std::unique_ptr<SongIndex>> Load(const std::string& path,
                                                         const SongIndexOptions& options);
  ~SongIndex();

  bool needs_training() const;
  // Learns the IVF lists (and product codes) from a sample of the vectors.
  absl::Status Train(const float* vectors, int64_t n);
  // Appends vectors; their ids continue from size().
  absl::Status Add(const float* vectors, int64_t n);
  absl::Status Save(const std::string& path) const;

  // The k best songs for `query` (dim floats). When `allowed` is non-null it
  // is a bitmap over song ids (bit i of byte i/8) and only set ids are
  // returned; the filter is applied inside the search. `allowed_count` (set
  // bits; -1 = unknown) lets graph and IVF indexes switch to an exact scan
  // of the allowed songs when they are few (a graph walk or a few IVF lists
  // hold too few of them to fill k).
  absl::StatusOr<std::vector<ScoredId>> Search(const float* query, int k,
                                               const std::vector<uint8_t>* allowed,
                                               int64_t allowed_count = -1) const;

  // Vector `id` as stored (exact for flat, hnsw and ivf; decoded from 8 bits
  // for ivfpq).
  void Reconstruct(int64_t id, float* out) const { Vector(id, out); }
  // Inner products of `query` with the stored vectors of `ids` (what Search
  // scores them: the 8-bit copies for ivfpq), for songs another channel
  // found. Ids out of range are INVALID_ARGUMENT.
  absl::StatusOr<std::vector<float>> Score(const float* query,
                                           const std::vector<int64_t>& ids) const;
  // Exact top k over the stored vectors (8-bit copies for ivfpq): the
  // ground truth of recall measurements.
  std::vector<ScoredId> SearchExact(const float* query, int k) const;

  const std::string& type() const { return type_; }
  int64_t size() const;
  int dim() const;
  // One-line description: type and parameters ("hnsw M=32 efSearch=128").
  std::string Describe() const;

 private:
  SongIndex(std::unique_ptr<faiss::Index> index, SongIndexOptions options);
  // Vector `id` as stored (exact for flat/hnsw/ivf, 8-bit for ivfpq).
  void Vector(int64_t id, float* out) const;
  std::vector<ScoredId> ScanAllowed(const float* query, int k,
                                    const std::vector<uint8_t>& allowed) const;
  std::unique_ptr<faiss::Index> index_;
  SongIndexOptions options_;
  std::string type_;
};

// Exact inner-product search of `nq` queries among `nb` base vectors (row
// major, `dim` floats each): for each query the k best base ids, best first.
absl::StatusOr<std::vector<std::vector<ScoredId>>> ExactNeighbours(const float* base, int64_t nb,
                                                                   const float* queries, int64_t nq,
                                                                   int dim, int k);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_INDEX_SONG_INDEX_H_
