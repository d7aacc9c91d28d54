#include "core/index/song_index.h"

#include <algorithm>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexRefine.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/clone_index.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_io.h>

#include <omp.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "util/dot.h"
#include "util/status_macros.h"

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
  if (dynamic_cast<const faiss::IndexIVFFlat*>(index)) return "ivf";
  if (auto* r = dynamic_cast<const faiss::IndexRefine*>(index)) {
    if (dynamic_cast<const faiss::IndexIVFPQ*>(r->base_index) &&
        dynamic_cast<const faiss::IndexScalarQuantizer*>(r->refine_index)) {
      return "ivfpq";
    }
  }
  return "other";
}

const faiss::IndexIVF* Ivf(const faiss::Index* index, const std::string& type) {
  if (type == "ivf") return static_cast<const faiss::IndexIVF*>(index);
  if (type == "ivfpq") {
    return static_cast<const faiss::IndexIVF*>(
        static_cast<const faiss::IndexRefine*>(index)->base_index);
  }
  return nullptr;
}

// Calls fn(id) for every id < n whose bit is set in `allowed`, in order.
template <typename Fn>
void ForEachAllowed(const std::vector<uint8_t>& allowed, int64_t n, Fn fn) {
  const int64_t bytes = std::min<int64_t>(int64_t(allowed.size()), (n + 7) / 8);
  for (int64_t byte = 0; byte < bytes; ++byte) {
    uint8_t bits = allowed[byte];
    while (bits != 0) {
      const int64_t id = byte * 8 + __builtin_ctz(bits);
      bits &= uint8_t(bits - 1);
      if (id >= n) return;
      fn(id);
    }
  }
}

// FAISS parallelises a single query with OpenMP in places; on the request
// path every worker thread searches alone (under contention the OpenMP
// region cost 30x the search).
void OneOpenMpThread() {
  static thread_local bool set = (omp_set_num_threads(1), true);
  (void)set;
}

// The refine copy of an IVF-PQ index (an 8-bit scalar quantizer), or null.
const faiss::IndexScalarQuantizer* RefineCopy(const faiss::Index* index, const std::string& type) {
  if (type != "ivfpq") return nullptr;
  return dynamic_cast<const faiss::IndexScalarQuantizer*>(
      static_cast<const faiss::IndexRefine*>(index)->refine_index);
}

// Inner products of one query with 8-bit scalar-quantizer codes, without
// decoding them. FAISS's Codec8bit stores x_i = vmin_i + (c_i + 0.5) / 255 *
// vdiff_i (one vmin/vdiff per dimension, or one for all when uniform), so
//   q . x = sum_i q_i vmin_i + 0.5 sum_i w_i + sum_i w_i c_i,  w_i = q_i vdiff_i / 255:
// one byte-by-float dot product per song. FAISS's own reconstruct builds a
// quantizer and enters an OpenMP region per call (~2 us a song: 1.6 ms for
// the 800 refined candidates of a top-200 search at 1M songs).
class Sq8Scorer {
 public:
  // Null when the codes are not 8-bit (another quantizer type).
  static std::unique_ptr<Sq8Scorer> Make(const faiss::IndexScalarQuantizer* sq,
                                         const float* query) {
    if (sq == nullptr) return nullptr;
    const faiss::ScalarQuantizer& q = sq->sq;
    const size_t d = sq->d;
    const bool uniform = q.qtype == faiss::ScalarQuantizer::QT_8bit_uniform;
    if ((q.qtype != faiss::ScalarQuantizer::QT_8bit || q.trained.size() != 2 * d) &&
        (!uniform || q.trained.size() != 2)) {
      return nullptr;
    }
    auto s = std::unique_ptr<Sq8Scorer>(new Sq8Scorer(sq));
    s->w_.resize(d);
    double bias = 0;
    for (size_t i = 0; i < d; ++i) {
      const float vmin = uniform ? q.trained[0] : q.trained[i];
      const float vdiff = uniform ? q.trained[1] : q.trained[d + i];
      s->w_[i] = query[i] * vdiff / 255.0f;
      bias += double(query[i]) * vmin + 0.5 * s->w_[i];
    }
    s->bias_ = float(bias);
    return s;
  }

  float Score(int64_t id) const {
    return bias_ + DotU8(w_.data(), codes_ + id * code_size_, int(w_.size()));
  }

 private:
  explicit Sq8Scorer(const faiss::IndexScalarQuantizer* sq)
      : codes_(sq->codes.data()), code_size_(int64_t(sq->code_size)) {}

  const uint8_t* codes_;
  int64_t code_size_;
  std::vector<float> w_;
  float bias_ = 0;
};

}  // namespace

std::string ChooseIndexType(const SongIndexOptions& o, int64_t n) {
  if (o.type != "auto") return o.type;
  if (n < o.hnsw_threshold) return "flat";
  if (n < o.ivfpq_threshold) return "hnsw";
  return "ivfpq";
}

SongIndex::SongIndex(std::unique_ptr<faiss::Index> index, SongIndexOptions options)
    : index_(std::move(index)), options_(std::move(options)) {
  type_ = TypeOf(index_.get());
  if (type_ == "hnsw") {
    // Debian's FAISS 1.7.3 sizes the level-0 beam from the index's own
    // efSearch (max(efSearch, k)) whatever SearchParametersHNSW says: set it
    // here, once, before any search (measured: recall@10 did not move with
    // the per-call parameter).
    static_cast<faiss::IndexHNSW*>(index_.get())->hnsw.efSearch = options_.ef_search;
  }
}

SongIndex::~SongIndex() = default;

int64_t SongIndex::size() const { return index_->ntotal; }
int SongIndex::dim() const { return index_->d; }

std::string SongIndex::Describe() const {
  if (type_ == "hnsw") {
    const auto* h = static_cast<const faiss::IndexHNSW*>(index_.get());
    return absl::StrCat("hnsw M=", h->hnsw.nb_neighbors(1), " efSearch=", options_.ef_search);
  }
  if (const faiss::IndexIVF* ivf = Ivf(index_.get(), type_)) {
    std::string d = absl::StrCat(type_, " nlist=", ivf->nlist, " nprobe=", options_.ivf_nprobe);
    if (type_ == "ivfpq") {
      const auto* pq = static_cast<const faiss::IndexIVFPQ*>(ivf);
      absl::StrAppend(&d, " M=", pq->pq.M, " refine=sq8x", options_.refine_factor);
    }
    return d;
  }
  return type_;
}

absl::StatusOr<std::unique_ptr<SongIndex>> SongIndex::Create(int dim, int64_t expected,
                                                             const SongIndexOptions& options) {
  const std::string type = ChooseIndexType(options, expected);
  std::unique_ptr<faiss::Index> index;
  try {
    if (type == "flat") {
      index = std::make_unique<faiss::IndexFlatIP>(dim);
    } else if (type == "hnsw") {
      auto hnsw =
          std::make_unique<faiss::IndexHNSWFlat>(dim, options.hnsw_m, faiss::METRIC_INNER_PRODUCT);
      hnsw->hnsw.efConstruction = options.ef_construction;
      hnsw->hnsw.efSearch = options.ef_search;
      index = std::move(hnsw);
    } else if (type == "ivf" || type == "ivfpq") {
      int nlist = options.ivf_nlist;
      if (nlist <= 0) {
        nlist = int(std::clamp<double>(4 * std::sqrt(double(expected)), 16, 65536));
      }
      auto* quantizer = new faiss::IndexFlatIP(dim);
      if (type == "ivf") {
        auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer, dim, nlist,
                                                         faiss::METRIC_INNER_PRODUCT);
        ivf->own_fields = true;
        // Exact scans under selective filters read vectors by id.
        ivf->set_direct_map_type(faiss::DirectMap::Array);
        index = std::move(ivf);
      } else {
        const int m = options.pq_m > 0 ? options.pq_m : std::max(1, dim / 4);
        if (dim % m != 0) {
          delete quantizer;
          return absl::InvalidArgumentError(
              absl::StrCat("pq_m ", m, " does not divide the dimension ", dim));
        }
        auto* pq = new faiss::IndexIVFPQ(quantizer, dim, nlist, m, 8, faiss::METRIC_INNER_PRODUCT);
        pq->own_fields = true;
        auto* sq = new faiss::IndexScalarQuantizer(dim, faiss::ScalarQuantizer::QT_8bit,
                                                   faiss::METRIC_INNER_PRODUCT);
        auto refine = std::make_unique<faiss::IndexRefine>(pq, sq);
        refine->own_fields = true;
        refine->own_refine_index = true;
        refine->k_factor = options.refine_factor;
        index = std::move(refine);
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown index type '", type, "' (use auto, flat, hnsw, ivf or ivfpq)"));
    }
  } catch (const std::exception& e) {
    return FaissError("creating the index failed", e);
  }
  return std::unique_ptr<SongIndex>(new SongIndex(std::move(index), options));
}

absl::StatusOr<std::unique_ptr<SongIndex>> SongIndex::CreateTrainedLike(const SongIndex& base,
                                                                        int64_t expected) {
  if (base.type_ == "flat" || base.type_ == "hnsw") {
    SongIndexOptions o = base.options_;
    o.type = base.type_;
    if (base.type_ == "hnsw") {
      const auto* h = static_cast<const faiss::IndexHNSW*>(base.index_.get());
      o.hnsw_m = h->hnsw.nb_neighbors(1);
      o.ef_construction = h->hnsw.efConstruction;
    }
    return Create(base.dim(), expected, o);
  }
  // IVF types: a deep copy without the vectors. Serialising the whole
  // index would copy every list; clone the parts that hold the training.
  try {
    const faiss::IndexIVF* ivf = Ivf(base.index_.get(), base.type_);
    faiss::Index* quantizer = faiss::clone_index(ivf->quantizer);
    std::unique_ptr<faiss::Index> index;
    if (base.type_ == "ivf") {
      auto copy = std::make_unique<faiss::IndexIVFFlat>(quantizer, ivf->d, ivf->nlist,
                                                        faiss::METRIC_INNER_PRODUCT);
      copy->own_fields = true;
      copy->is_trained = true;
      copy->set_direct_map_type(faiss::DirectMap::Array);
      index = std::move(copy);
    } else {
      const auto* pq = static_cast<const faiss::IndexIVFPQ*>(ivf);
      auto* copy = new faiss::IndexIVFPQ(quantizer, pq->d, pq->nlist, pq->pq.M, pq->pq.nbits,
                                         faiss::METRIC_INNER_PRODUCT);
      copy->own_fields = true;
      copy->pq = pq->pq;
      copy->by_residual = pq->by_residual;
      copy->use_precomputed_table = pq->use_precomputed_table;
      copy->is_trained = true;
      copy->precompute_table();
      const auto* refine = static_cast<const faiss::IndexRefine*>(base.index_.get());
      const auto* sq = static_cast<const faiss::IndexScalarQuantizer*>(refine->refine_index);
      auto* sq_copy =
          new faiss::IndexScalarQuantizer(sq->d, sq->sq.qtype, faiss::METRIC_INNER_PRODUCT);
      sq_copy->sq = sq->sq;
      sq_copy->is_trained = true;
      auto r = std::make_unique<faiss::IndexRefine>(copy, sq_copy);
      r->own_fields = true;
      r->own_refine_index = true;
      r->k_factor = refine->k_factor;
      index = std::move(r);
    }
    return std::unique_ptr<SongIndex>(new SongIndex(std::move(index), base.options_));
  } catch (const std::exception& e) {
    return FaissError("copying the index training failed", e);
  }
}

absl::StatusOr<std::unique_ptr<SongIndex>> SongIndex::Build(const float* vectors, int64_t n,
                                                            int dim,
                                                            const SongIndexOptions& options) {
  ASSIGN_OR_RETURN(auto index, Create(dim, n, options));
  if (index->needs_training()) RETURN_IF_ERROR(index->Train(vectors, n));
  RETURN_IF_ERROR(index->Add(vectors, n));
  return index;
}

bool SongIndex::needs_training() const { return !index_->is_trained; }

absl::Status SongIndex::Train(const float* vectors, int64_t n) {
  if (const faiss::IndexIVF* ivf = Ivf(index_.get(), type_)) {
    if (n < int64_t(ivf->nlist)) {
      return absl::InvalidArgumentError(absl::StrCat(type_, " index with ", ivf->nlist,
                                                     " lists needs at least that many "
                                                     "training vectors; got ",
                                                     n, " (use a smaller ivf_nlist or type flat)"));
    }
  }
  try {
    index_->train(n, vectors);
  } catch (const std::exception& e) {
    return FaissError("training the index failed", e);
  }
  return absl::OkStatus();
}

absl::Status SongIndex::Add(const float* vectors, int64_t n) {
  try {
    index_->add(n, vectors);
  } catch (const std::exception& e) {
    return FaissError("adding to the index failed", e);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SongIndex>> SongIndex::Load(const std::string& path,
                                                           const SongIndexOptions& options) {
  try {
    std::unique_ptr<faiss::Index> index(faiss::read_index(path.c_str()));
    if (index->metric_type != faiss::METRIC_INNER_PRODUCT) {
      return absl::DataLossError(absl::StrCat(path, ": index does not use inner-product metric"));
    }
    if (TypeOf(index.get()) == "other") {
      return absl::DataLossError(absl::StrCat(path, ": unsupported index type"));
    }
    if (TypeOf(index.get()) == "ivf") {
      auto* ivf = static_cast<faiss::IndexIVF*>(index.get());
      if (ivf->direct_map.type == faiss::DirectMap::NoMap) ivf->make_direct_map(true);
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

void SongIndex::Vector(int64_t id, float* out) const {
  if (type_ == "ivfpq") {
    static_cast<const faiss::IndexRefine*>(index_.get())->refine_index->reconstruct(id, out);
  } else {
    index_->reconstruct(id, out);
  }
}

std::vector<ScoredId> SongIndex::ScanAllowed(const float* query, int k,
                                             const std::vector<uint8_t>& allowed) const {
  const int dim = index_->d;
  const int64_t n = index_->ntotal;
  // Raw vectors in one array for flat and hnsw; by id otherwise.
  const float* xb = nullptr;
  if (auto* flat = dynamic_cast<const faiss::IndexFlat*>(index_.get())) {
    xb = flat->get_xb();
  } else if (type_ == "hnsw") {
    auto* storage = static_cast<const faiss::IndexHNSW*>(index_.get())->storage;
    if (auto* flat = dynamic_cast<const faiss::IndexFlat*>(storage)) xb = flat->get_xb();
  }
  TopK top(k);
  std::vector<float> buf(dim);
  // IVF-PQ: the allowed songs' 8-bit copies, scored without decoding.
  if (const auto sq8 = Sq8Scorer::Make(RefineCopy(index_.get(), type_), query)) {
    ForEachAllowed(allowed, n, [&](int64_t id) { top.Push(id, sq8->Score(id)); });
    return top.Take();
  }
  ForEachAllowed(allowed, n, [&](int64_t id) {
    const float* v = xb ? xb + id * dim : (Vector(id, buf.data()), buf.data());
    top.Push(id, Dot(v, query, dim));
  });
  return top.Take();
}

absl::StatusOr<std::vector<float>> SongIndex::Score(const float* query,
                                                    const std::vector<int64_t>& ids) const {
  std::vector<float> out;
  out.reserve(ids.size());
  std::vector<float> v(index_->d);
  const auto sq8 = Sq8Scorer::Make(RefineCopy(index_.get(), type_), query);
  try {
    for (int64_t id : ids) {
      if (id < 0 || id >= index_->ntotal) {
        return absl::InvalidArgumentError(absl::StrCat("song ", id, " is not in the index"));
      }
      if (sq8 != nullptr) {
        out.push_back(sq8->Score(id));
        continue;
      }
      Vector(id, v.data());
      out.push_back(Dot(v.data(), query, index_->d));
    }
  } catch (const std::exception& e) {
    return FaissError("reading vectors from the index failed", e);
  }
  return out;
}

std::vector<ScoredId> SongIndex::SearchExact(const float* query, int k) const {
  std::vector<uint8_t> all((index_->ntotal + 7) / 8, 0xff);
  return ScanAllowed(query, k, all);
}

absl::StatusOr<std::vector<ScoredId>> SongIndex::Search(const float* query, int k,
                                                        const std::vector<uint8_t>* allowed,
                                                        int64_t allowed_count) const {
  OneOpenMpThread();
  std::vector<ScoredId> out;
  k = static_cast<int>(std::min<int64_t>(k, index_->ntotal));
  if (k <= 0) return out;
  try {
    // A flat index is an exact scan either way: util/dot.h's (AVX2) instead
    // of the Debian FAISS build's scalar one.
    if (type_ == "flat") {
      return allowed != nullptr ? ScanAllowed(query, k, *allowed) : SearchExact(query, k);
    }
    if (allowed != nullptr && allowed_count >= 0 &&
        allowed_count <= options_.exact_filter_share * double(index_->ntotal)) {
      return ScanAllowed(query, k, *allowed);
    }
    std::unique_ptr<faiss::IDSelectorBitmap> selector;
    if (allowed != nullptr) {
      selector = std::make_unique<faiss::IDSelectorBitmap>(allowed->size(), allowed->data());
    }
    // ivfpq: k * refine_factor candidates from the product codes, re-scored
    // from the 8-bit copy.
    const int fetch = type_ == "ivfpq" ? k * std::max(1, options_.refine_factor) : k;
    std::vector<float> distances(fetch);
    std::vector<faiss::Index::idx_t> labels(fetch, -1);
    if (type_ == "hnsw") {
      faiss::SearchParametersHNSW params;
      params.efSearch = std::max(options_.ef_search, k);
      params.sel = selector.get();
      index_->search(1, query, k, distances.data(), labels.data(), &params);
    } else if (const faiss::IndexIVF* ivf = Ivf(index_.get(), type_)) {
      faiss::SearchParametersIVF params;
      params.nprobe = std::max(1, options_.ivf_nprobe);
      params.sel = selector.get();
      ivf->search(1, query, fetch, distances.data(), labels.data(), &params);
    } else {
      faiss::SearchParameters params;
      params.sel = selector.get();
      index_->search(1, query, k, distances.data(), labels.data(), &params);
    }
    if (type_ == "ivfpq") {
      TopK top(k);
      const auto sq8 = Sq8Scorer::Make(RefineCopy(index_.get(), type_), query);
      std::vector<float> v(index_->d);
      for (int i = 0; i < fetch && labels[i] >= 0; ++i) {
        if (sq8 != nullptr) {
          top.Push(labels[i], sq8->Score(labels[i]));
        } else {
          Vector(labels[i], v.data());
          top.Push(labels[i], Dot(v.data(), query, index_->d));
        }
      }
      out = top.Take();
    } else {
      for (int i = 0; i < k; ++i) {
        if (labels[i] < 0) break;
        out.push_back(ScoredId{labels[i], distances[i]});
      }
      // Best first (FAISS's order; explicit and deterministic for ties).
      std::sort(out.begin(), out.end(), [](const ScoredId& a, const ScoredId& b) {
        return a.score != b.score ? a.score > b.score : a.id < b.id;
      });
    }
    // A filter above the exact-scan share can still leave the probed lists
    // or the graph walk short of allowed songs: then scan them exactly, so
    // that top_k songs come back whenever they exist.
    if (allowed != nullptr && allowed_count >= 0 &&
        int64_t(out.size()) < std::min<int64_t>(k, allowed_count)) {
      return ScanAllowed(query, k, *allowed);
    }
  } catch (const std::exception& e) {
    return FaissError("index search failed", e);
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<ScoredId>>> ExactNeighbours(const float* base, int64_t nb,
                                                                   const float* queries, int64_t nq,
                                                                   int dim, int k) {
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
