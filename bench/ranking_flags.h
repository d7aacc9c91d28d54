// The ranking flags i2s-bench and i2s-eval share with i2s-server (same
// names, same defaults): the candidates reranked, the lexical channel and
// fusion, BM25 in the score and the co-occurrence expansion.
#ifndef IMAGE2SONG_BENCH_RANKING_FLAGS_H_
#define IMAGE2SONG_BENCH_RANKING_FLAGS_H_

#include "core/recommender.h"

namespace image2song {

// Sets the options' candidates, lexical_candidates, fusion.k,
// fusion.lexical_weight, bm25_weight and cooccurrence_* from the flags of
// the same names (--candidates, --lexical_candidates, --fusion_k,
// --lexical_weight, --bm25_weight, --cooccurrence_weight,
// --cooccurrence_dense_weight, --cooccurrence_words) and sentence_*
// (--sentence_weight, --sentence_temperature, --sentence_tags).
void ApplyRankingFlags(RecommendOptions* options);

// Whether the ranking flags use the models' sentence encoder
// (ModelSetOptions::sentence_encoder): --sentence_weight > 0.
bool SentenceEncoderWanted();

// --lexical_min_term_share (a bundle load option: LexicalIndexOptions).
float LexicalMinTermShareFlag();

}  // namespace image2song

#endif  // IMAGE2SONG_BENCH_RANKING_FLAGS_H_
