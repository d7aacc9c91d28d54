// A song number with a score: what the retrieval channels return (the dense
// FAISS index, core/index/song_index.h, and the lexical BM25 index,
// core/index/lexical_index.h).
#ifndef IMAGE2SONG_CORE_INDEX_SCORED_ID_H_
#define IMAGE2SONG_CORE_INDEX_SCORED_ID_H_

#include <cstdint>

namespace image2song {

struct ScoredId {
  int64_t id = 0;
  float score = 0;
};

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_INDEX_SCORED_ID_H_
