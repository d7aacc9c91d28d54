// A song number with a score: what the retrieval channels return (the dense
// FAISS index, core/index/song_index.h, and the lexical BM25 index,
// core/index/lexical_index.h).
#ifndef IMAGE2SONG_CORE_INDEX_SCORED_ID_H_
#define IMAGE2SONG_CORE_INDEX_SCORED_ID_H_

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace image2song {

struct ScoredId {
  int64_t id = 0;
  float score = 0;
};

// Keeps the k best (score, id) pairs pushed; ties go to the lower id.
class TopK {
 public:
  explicit TopK(int k) : k_(k) { heap_.reserve(k + 1); }
  void Push(int64_t id, float score) {
    if (int(heap_.size()) < k_) {
      heap_.push_back({id, score});
      std::push_heap(heap_.begin(), heap_.end(), Better);
    } else if (k_ > 0 && Better({id, score}, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), Better);
      heap_.back() = {id, score};
      std::push_heap(heap_.begin(), heap_.end(), Better);
    }
  }
  // Best first.
  std::vector<ScoredId> Take() {
    std::sort_heap(heap_.begin(), heap_.end(), Better);
    return std::move(heap_);
  }

 private:
  // "a ranks before b": the heap keeps the worst on top.
  static bool Better(const ScoredId& a, const ScoredId& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  }
  int k_;
  std::vector<ScoredId> heap_;
};

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_INDEX_SCORED_ID_H_
