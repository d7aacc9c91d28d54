#include "core/song_index.h"

#include <algorithm>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_io.h>

#include "absl/strings/str_cat.h"

namespace image2song {
namespace {

absl::Status FaissError(absl::string_view what, const std::exception& e) {
  std::string msg = e.what();
  if (msg.size() > 300) msg.resize(300);
  return absl::InternalError(absl::StrCat(what, ": ", msg));
}

std::string TypeOf(const faiss::Index* index) {
  if (dynamic_cast<const faiss::IndexHNSW*>(index)) return "hnsw";
  if (dynamic_cast<const faiss::IndexFlat*>(index)) return "flat";
  return "other";
}

}  // namespace

SongIndex::SongIndex(std::unique_ptr<faiss::Index> index,
                     SongIndexOptions options)
    : index_(std::move(index)), options_(std::move(options)) {
  type_ = TypeOf(index_.get());
}

SongIndex::~SongIndex() = default;

int64_t SongIndex::size() const { return index_->ntotal; }
int SongIndex::dim() const { return index_->d; }

absl::StatusOr<std::unique_ptr<SongIndex>> SongIndex::Build(
    const float* vectors, int64_t n, int dim, const SongIndexOptions& options) {
  std::string type = options.type;
  if (type == "auto") type = n >= options.hnsw_threshold ? "hnsw" : "flat";
  std::unique_ptr<faiss::Index> index;
  try {
    if (type == "flat") {
      index = std::make_unique<faiss::IndexFlatIP>(dim);
    } else if (type == "hnsw") {
      auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(
          dim, options.hnsw_m, faiss::METRIC_INNER_PRODUCT);
      hnsw->hnsw.efConstruction = options.ef_construction;
      hnsw->hnsw.efSearch = options.ef_search;
      index = std::move(hnsw);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown index type '", type, "' (use auto, flat or hnsw)"));
    }
    index->add(n, vectors);
  } catch (const std::exception& e) {
    return FaissError("building the index failed", e);
  }
  return std::unique_ptr<SongIndex>(new SongIndex(std::move(index), options));
}

absl::StatusOr<std::unique_ptr<SongIndex>> SongIndex::Load(
    const std::string& path, const SongIndexOptions& options) {
  try {
    std::unique_ptr<faiss::Index> index(faiss::read_index(path.c_str()));
    if (index->metric_type != faiss::METRIC_INNER_PRODUCT) {
      return absl::DataLossError(
          absl::StrCat(path, ": index does not use inner-product metric"));
    }
    return std::unique_ptr<SongIndex>(new SongIndex(std::move(index), options));
  } catch (const std::exception& e) {
    return FaissError(absl::StrCat("cannot read index ", path), e);
  }
}

absl::Status SongIndex::Save(const std::string& path) const {
  try {
    faiss::write_index(index_.get(), path.c_str());
  } catch (const std::exception& e) {
    return FaissError(absl::StrCat("cannot write index ", path), e);
  }
  return absl::OkStatus();
}

// Exact top k of `query` among the set bits of `allowed`, over the raw
// vectors `xb` (n x dim).
static std::vector<ScoredId> ExactAllowed(const float* xb, int64_t n, int dim,
                                   const float* query, int k,
                                   const std::vector<uint8_t>& allowed) {
  auto worse = [](const ScoredId& a, const ScoredId& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  };
  std::vector<ScoredId> heap;  // min-heap by score (worst on top)
  heap.reserve(k + 1);
  const int64_t bytes = std::min<int64_t>(int64_t(allowed.size()), (n + 7) / 8);
  for (int64_t byte = 0; byte < bytes; ++byte) {
    uint8_t bits = allowed[byte];
    while (bits != 0) {
      const int bit = __builtin_ctz(bits);
      bits &= uint8_t(bits - 1);
      const int64_t id = byte * 8 + bit;
      if (id >= n) break;
      const float* v = xb + id * dim;
      float score = 0;
      for (int d = 0; d < dim; ++d) score += v[d] * query[d];
      if (int(heap.size()) < k) {
        heap.push_back({id, score});
        std::push_heap(heap.begin(), heap.end(), worse);
      } else if (score > heap.front().score) {
        std::pop_heap(heap.begin(), heap.end(), worse);
        heap.back() = {id, score};
        std::push_heap(heap.begin(), heap.end(), worse);
      }
    }
  }
  std::sort_heap(heap.begin(), heap.end(), worse);
  return heap;
}

absl::StatusOr<std::vector<ScoredId>> SongIndex::Search(
    const float* query, int k, const std::vector<uint8_t>* allowed,
    int64_t allowed_count) const {
  std::vector<ScoredId> out;
  k = static_cast<int>(std::min<int64_t>(k, index_->ntotal));
  if (k <= 0) return out;
  if (allowed != nullptr && allowed_count >= 0 && type_ == "hnsw" &&
      allowed_count <= options_.exact_filter_share * double(index_->ntotal)) {
    const auto* hnsw = static_cast<const faiss::IndexHNSW*>(index_.get());
    const auto* flat = dynamic_cast<const faiss::IndexFlat*>(hnsw->storage);
    if (flat != nullptr) {
      return ExactAllowed(flat->get_xb(), flat->ntotal, flat->d, query, k,
                          *allowed);
    }
  }
  std::vector<float> distances(k);
  std::vector<faiss::Index::idx_t> labels(k, -1);
  try {
    std::unique_ptr<faiss::IDSelectorBitmap> selector;
    if (allowed != nullptr) {
      selector = std::make_unique<faiss::IDSelectorBitmap>(allowed->size(),
                                                           allowed->data());
    }
    if (type_ == "hnsw") {
      faiss::SearchParametersHNSW params;
      params.efSearch = std::max(options_.ef_search, k);
      params.sel = selector.get();
      index_->search(1, query, k, distances.data(), labels.data(), &params);
    } else {
      faiss::SearchParameters params;
      params.sel = selector.get();
      index_->search(1, query, k, distances.data(), labels.data(), &params);
    }
  } catch (const std::exception& e) {
    return FaissError("index search failed", e);
  }
  for (int i = 0; i < k; ++i) {
    if (labels[i] < 0) break;
    out.push_back(ScoredId{labels[i], distances[i]});
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<ScoredId>>> ExactNeighbours(
    const float* base, int64_t nb, const float* queries, int64_t nq, int dim,
    int k) {
  std::vector<std::vector<ScoredId>> out(nq);
  k = static_cast<int>(std::min<int64_t>(k, nb));
  if (k <= 0 || nq <= 0) return out;
  std::vector<float> distances(size_t(nq) * k);
  std::vector<faiss::Index::idx_t> labels(size_t(nq) * k, -1);
  try {
    faiss::IndexFlatIP index(dim);
    index.add(nb, base);
    index.search(nq, queries, k, distances.data(), labels.data());
  } catch (const std::exception& e) {
    return FaissError("neighbour search failed", e);
  }
  for (int64_t q = 0; q < nq; ++q) {
    for (int i = 0; i < k; ++i) {
      const size_t at = size_t(q) * k + i;
      if (labels[at] >= 0) out[q].push_back(ScoredId{labels[at], distances[at]});
    }
  }
  return out;
}

}  // namespace image2song
