#include "bench/ranking_flags.h"

#include "absl/flags/flag.h"
#include "core/index/lexical_index.h"

ABSL_FLAG(float, lexical_weight, image2song::RecommendOptions().fusion.lexical_weight,
          "As i2s-server --lexical_weight (0: dense channel only).");
ABSL_FLAG(float, lexical_min_term_share, image2song::LexicalIndexOptions().min_term_share,
          "As i2s-server --lexical_min_term_share.");
ABSL_FLAG(float, bm25_weight, image2song::RecommendOptions().bm25_weight,
          "As i2s-server --bm25_weight (0: BM25 only picks candidates; with "
          "--lexical_weight=0 as well: the dense channel alone).");
ABSL_FLAG(float, cooccurrence_weight, image2song::RecommendOptions().cooccurrence_weight,
          "As i2s-server --cooccurrence_weight (0: no co-occurrence expansion in "
          "the lexical query).");
ABSL_FLAG(float, cooccurrence_dense_weight,
          image2song::RecommendOptions().cooccurrence_dense_weight,
          "As i2s-server --cooccurrence_dense_weight.");
ABSL_FLAG(int, cooccurrence_words, image2song::RecommendOptions().cooccurrence_words,
          "As i2s-server --cooccurrence_words.");

ABSL_FLAG(float, sentence_weight, image2song::RecommendOptions().sentence_weight,
          "As i2s-server --sentence_weight (0: word vectors only; the models' "
          "sentence encoder is loaded only when > 0).");
ABSL_FLAG(float, sentence_temperature, image2song::RecommendOptions().sentence_temperature,
          "As i2s-server --sentence_temperature.");
ABSL_FLAG(int, sentence_tags, image2song::RecommendOptions().sentence_tags,
          "As i2s-server --sentence_tags.");

ABSL_FLAG(float, mood_weight, image2song::RecommendOptions().mood_weight,
          "As i2s-server --mood_weight (-1: the models manifest's).");
ABSL_FLAG(float, requested_mood_weight, image2song::RecommendOptions().requested_mood_weight,
          "As i2s-server --requested_mood_weight (-1: the models manifest's).");

ABSL_FLAG(int, candidates, image2song::RecommendOptions().candidates,
          "As i2s-server --candidates (first-stage candidates reranked).");
ABSL_FLAG(int, lexical_candidates, image2song::RecommendOptions().lexical_candidates,
          "As i2s-server --lexical_candidates.");
ABSL_FLAG(float, fusion_k, image2song::RecommendOptions().fusion.k, "As i2s-server --fusion_k.");

namespace image2song {

void ApplyRankingFlags(RecommendOptions* options) {
  options->candidates = absl::GetFlag(FLAGS_candidates);
  options->lexical_candidates = absl::GetFlag(FLAGS_lexical_candidates);
  options->fusion.k = absl::GetFlag(FLAGS_fusion_k);
  options->fusion.lexical_weight = absl::GetFlag(FLAGS_lexical_weight);
  options->bm25_weight = absl::GetFlag(FLAGS_bm25_weight);
  options->cooccurrence_weight = absl::GetFlag(FLAGS_cooccurrence_weight);
  options->cooccurrence_dense_weight = absl::GetFlag(FLAGS_cooccurrence_dense_weight);
  options->cooccurrence_words = absl::GetFlag(FLAGS_cooccurrence_words);
  options->sentence_weight = absl::GetFlag(FLAGS_sentence_weight);
  options->sentence_temperature = absl::GetFlag(FLAGS_sentence_temperature);
  options->sentence_tags = absl::GetFlag(FLAGS_sentence_tags);
  options->mood_weight = absl::GetFlag(FLAGS_mood_weight);
  options->requested_mood_weight = absl::GetFlag(FLAGS_requested_mood_weight);
}

bool SentenceEncoderWanted() { return absl::GetFlag(FLAGS_sentence_weight) > 0; }

float LexicalMinTermShareFlag() { return absl::GetFlag(FLAGS_lexical_min_term_share); }

}  // namespace image2song
