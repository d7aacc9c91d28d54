// The retrieval pipeline for one image: tags -> query vector -> FAISS
// candidates (filters applied inside the search) -> tag-attention rerank ->
// top_k with explanations.
//
// Tag attention (after Image2song, Li et al., ICCV 2017): for tag j with unit
// vector t_j and each lyric token i with unit word vector w_i,
//   s_ij = cos(w_i, t_j),  a_ij = softmax_i(s_ij / temperature),
//   match_j = sum_i a_ij s_ij   (the lyrics "attend" to what the image shows)
//   attention = sum_j c_j match_j / sum_j c_j,  c_j = tag score * tagger weight
//   score = retrieval_weight * cos(query, song) + (1 - retrieval_weight) * attention
// A lyric line's explanation weight is the attention mass on its tokens.
#ifndef IMAGE2SONG_CORE_RECOMMENDER_H_
#define IMAGE2SONG_CORE_RECOMMENDER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "core/bundle/bundle.h"
#include "core/models/model_set.h"
#include "core/snapshot.h"

namespace image2song {

struct RecommendOptions {
  // Songs to return. Default: 10.
  int top_k = 10;
  // Fill explanations. Default: false.
  bool explain = false;
  Filters filters;
  // First-stage candidates (at least 4 * top_k). Default: 200.
  int candidates = 200;
  // Weight of the first-stage cosine in the final score. Default: 0.5.
  float retrieval_weight = 0.5f;
  // Softmax temperature of tag attention over cosines. Default: 0.1.
  float temperature = 0.1f;
  // Lyric lines per explanation. Default: 3.
  int explain_lines = 3;
  // Weight of text-hint tags in the query. Default: 0.7.
  float text_weight = 0.7f;
};

struct MatchedTagInfo {
  std::string label;
  float weight = 0;
  std::string lyric_word;
};

struct LineInfo {
  int line = 0;
  std::string text;
  float weight = 0;
};

struct SongScore {
  int64_t song = 0;
  float score = 0;
  float retrieval = 0;
  float attention = 0;
  std::vector<MatchedTagInfo> tags;  // when explained
  std::vector<LineInfo> lines;       // when explained
};

struct Recommendation {
  std::vector<Tag> tags;
  std::vector<SongScore> songs;
  // Milliseconds per stage; forward_ms is the part of model_ms spent in
  // model forward passes.
  double model_ms = 0, forward_ms = 0, search_ms = 0, rerank_ms = 0;
};

// Ranks songs for already-computed image tags (no model call).
absl::StatusOr<Recommendation> RecommendForTags(const Snapshot& snapshot, std::vector<Tag> tags,
                                                const RecommendOptions& options);

// Tags the image with the snapshot's models, then RecommendForTags().
absl::StatusOr<Recommendation> Recommend(const Snapshot& snapshot, const RgbImage& image,
                                         const RecommendOptions& options);

// Several images (ModelSet::TagImages) plus an optional text hint
// (ModelSet::TagText) for one answer.
absl::StatusOr<Recommendation> Recommend(const Snapshot& snapshot,
                                         const std::vector<RgbImage>& images,
                                         absl::string_view text, const RecommendOptions& options);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_RECOMMENDER_H_
