// Nearest-neighbour search over song vectors (FAISS behind a faiss-free
// header). Scores are inner products of unit vectors, i.e. cosines.
//
// Thread-safety: Search() is safe to call concurrently; Build/Save are not
// meant to run alongside searches.
#ifndef IMAGE2SONG_CORE_SONG_INDEX_H_
#define IMAGE2SONG_CORE_SONG_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace faiss {
struct Index;
}

namespace image2song {

struct SongIndexOptions {
  // "flat" (exact), "hnsw", or "auto": flat below hnsw_threshold songs.
  // Default: "auto".
  std::string type = "auto";
  // Songs from which "auto" picks HNSW. Default: 50000.
  int64_t hnsw_threshold = 50000;
  // HNSW graph degree. Default: 32.
  int hnsw_m = 32;
  // HNSW build-time beam width. Default: 80.
  int ef_construction = 80;
  // HNSW search beam width (>= k is raised to k). Default: 128.
  int ef_search = 128;
  // With a filter keeping at most this share of the songs, a graph index
  // scans the allowed songs exactly instead. Default: 0.05.
  double exact_filter_share = 0.05;
};

struct ScoredId {
  int64_t id = 0;
  float score = 0;
};

class SongIndex {
 public:
  static absl::StatusOr<std::unique_ptr<SongIndex>> Build(
      const float* vectors, int64_t n, int dim,
      const SongIndexOptions& options);
  static absl::StatusOr<std::unique_ptr<SongIndex>> Load(
      const std::string& path, const SongIndexOptions& options);
  ~SongIndex();

  absl::Status Save(const std::string& path) const;

  // The k best songs for `query` (dim floats). When `allowed` is non-null it
  // is a bitmap over song ids (bit i of byte i/8) and only set ids are
  // returned; the filter is applied inside the search. `allowed_count` (set
  // bits; -1 = unknown) lets a graph index switch to an exact scan of the
  // allowed songs when they are few (a graph walk over a 1 % filter runs
  // out of allowed neighbours and returns too few songs).
  absl::StatusOr<std::vector<ScoredId>> Search(
      const float* query, int k, const std::vector<uint8_t>* allowed,
      int64_t allowed_count = -1) const;

  const std::string& type() const { return type_; }
  int64_t size() const;
  int dim() const;

 private:
  SongIndex(std::unique_ptr<faiss::Index> index, SongIndexOptions options);
  std::unique_ptr<faiss::Index> index_;
  SongIndexOptions options_;
  std::string type_;
};

// Exact inner-product search of `nq` queries among `nb` base vectors (row
// major, `dim` floats each): for each query the k best base ids, best first.
absl::StatusOr<std::vector<std::vector<ScoredId>>> ExactNeighbours(
    const float* base, int64_t nb, const float* queries, int64_t nq, int dim,
    int k);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_SONG_INDEX_H_
