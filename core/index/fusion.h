// Fusion of the two first-stage channels: the dense (FAISS) candidates and
// the lexical (BM25) candidates become one list by reciprocal-rank fusion
// (Cormack, Clarke & Buettcher, SIGIR 2009): a song at 1-based rank r in a
// channel of weight w gets w / (k + r) from it, and the sums rank the union.
// Ranks, not scores, are fused: a cosine and a BM25 sum are on different
// scales, and RRF needs no calibration between them.
//
// Thread-safety: a pure function.
#ifndef IMAGE2SONG_CORE_INDEX_FUSION_H_
#define IMAGE2SONG_CORE_INDEX_FUSION_H_

#include <cstdint>
#include <vector>

#include "core/index/scored_id.h"

namespace image2song {

struct FusionOptions {
  // The RRF constant k: larger values flatten the rank discount. Default: 60
  // (the paper's value; k 20 and 100 and lexical weights 0.5 and 2 gave the
  // same nDCG@10, to 3 decimals, on the eval set over the demo bundle).
  float k = 60;
  // Weight of the dense (FAISS) channel. Default: 1.
  float dense_weight = 1;
  // Weight of the lexical (BM25) channel; 0 leaves its songs out (dense
  // only). Default: 1.
  float lexical_weight = 1;
};

// One song of the fused list and where each channel had it.
struct FusedCandidate {
  int64_t id = 0;
  float fused = 0;          // sum of weight / (k + rank) over the channels
  int dense_rank = 0;       // 1-based; 0: not among the dense candidates
  float dense_score = 0;    // cosine (when dense_rank > 0)
  int lexical_rank = 0;     // 1-based; 0: not among the lexical candidates
  float lexical_score = 0;  // BM25 (when lexical_rank > 0)
};

// The best `limit` songs of the union of `dense` and `lexical` (each best
// first, no repeated ids), by fused score; ties go to the better dense rank
// (a song the dense channel found first), then to the lower id. A channel of
// weight <= 0 contributes no songs (its ranks are still reported for songs
// the other channel brought).
std::vector<FusedCandidate> FuseReciprocalRank(const std::vector<ScoredId>& dense,
                                               const std::vector<ScoredId>& lexical,
                                               const FusionOptions& options, int limit);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_INDEX_FUSION_H_
