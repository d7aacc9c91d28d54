// The retrieval pipeline for one image: tags -> query vector -> first stage
// of two channels, both honouring the filters: dense (FAISS over song
// vectors) and lexical (BM25 over the lyric words, queried with the tags'
// weighted words, core/lexical_query.h) -> reciprocal-rank fusion
// (core/index/fusion.h) to `candidates` songs -> tag-attention rerank ->
// top_k with explanations.
//
// Tag attention (after Image2song, Li et al., ICCV 2017): for tag j with unit
// vector t_j and each lyric token i with unit word vector w_i,
//   s_ij = cos(w_i, t_j),  a_ij = softmax_i(s_ij / temperature),
//   match_j = sum_i a_ij s_ij   (the lyrics "attend" to what the image shows)
//   attention = sum_j c_j match_j / sum_j c_j,  c_j = tag score * tagger weight
//   score = retrieval_weight * cos(query, song) + (1 - retrieval_weight) * attention
//           + bm25_weight * bm25(song) / max bm25 over the candidates
// With sentence_weight w > 0, a bundle with sentence vectors (sentences.bin)
// and models with a sentence encoder (issue 16), `attention` becomes
// (1 - w) * attention + w * sentence, where sentence is the same attention
// with the tags' phrase vectors p_k (core/models/tag_phrases.h; tags of one
// label merged, the `sentence_tags` strongest) over the song's lyric-line
// sentence vectors l_i:
//   u_ik = cos(l_i, p_k),  b_ik = softmax_i(u_ik / sentence_temperature),
//   sentence = sum_k c_k sum_i b_ik u_ik / sum_k c_k
// and a line's explanation weight mixes both attentions' mass by w.
// (the cosine of a song only the lexical channel found is read from the
// index; bm25 is the song's BM25 score for the tags' words). A lyric line's
// explanation weight is the attention mass on its tokens.
#ifndef IMAGE2SONG_CORE_RECOMMENDER_H_
#define IMAGE2SONG_CORE_RECOMMENDER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "core/bundle/bundle.h"
#include "core/index/fusion.h"
#include "core/models/model_set.h"
#include "core/mood_ranking.h"
#include "core/snapshot.h"

namespace image2song {

struct RecommendOptions {
  // Songs to return. Default: 10.
  int top_k = 10;
  // Fill explanations. Default: false.
  bool explain = false;
  Filters filters;
  // First-stage candidates reranked (at least 4 * top_k): the dense channel
  // returns this many, the fused list is cut to this many. Default: 200.
  int candidates = 200;
  // Songs the lexical channel returns before fusion; 0: as many as
  // `candidates`. Default: 0.
  int lexical_candidates = 0;
  // Bundles of at least this many songs run the lexical search beside the
  // dense one when a core is free (util/spare_threads.h); in smaller ones
  // the dense search takes less than waking a helper (~0.1 ms; 1,192 songs:
  // 0.02 ms). Default: 50,000.
  int64_t side_search_min_songs = 50'000;
  // Reciprocal-rank fusion of the two channels (k and channel weights);
  // fusion.lexical_weight = 0: the lexical channel brings no candidates
  // (with bm25_weight 0 as well the ranking is the dense-only one of bundle
  // format 2). Defaults: k 60, weights 1.
  FusionOptions fusion;
  // Weight of the first-stage cosine in the final score. Default: 0.5.
  float retrieval_weight = 0.5f;
  // Weight of the song's BM25 score for the tags' words, divided by the
  // best candidate's (so in [0, 1]), added to the final score: exact tag
  // words in the lyrics count beyond what attention gives them. 0: the
  // lexical channel only brings candidates. Default: 0.5 (chosen by 5-fold
  // cross-validation on the eval set, docs/models.md).
  float bm25_weight = 0.5f;
  // Words the catalogue's lyrics use with each tag's core words (the
  // bundle's cooccur.bin, normalised PMI): up to `cooccurrence_words` per
  // core word join the tag, at `cooccurrence_weight` times a core word's
  // weight in the lexical query and `cooccurrence_dense_weight` in the dense
  // query and tag vectors. 0 (or a bundle without cooccur.bin): no
  // expansion. Defaults: 0.25, 0, 8 (5-fold cross-validation on the eval
  // set picked 0.25 x 8 words in every fold, held-out photo nDCG@10 0.300
  // -> 0.324; the dense query lost 0.001-0.003: docs/models.md).
  float cooccurrence_weight = 0.25f;
  float cooccurrence_dense_weight = 0.0f;
  int cooccurrence_words = 8;
  // Softmax temperature of tag attention over cosines. Default: 0.1.
  float temperature = 0.1f;
  // Lyric lines per explanation. Default: 3.
  int explain_lines = 3;
  // Weight of text-hint tags in the query. Default: 0.7.
  float text_weight = 0.7f;
  // Share of the sentence-vector attention in the attention score (0: word
  // vectors only, today's ranking; 1: sentence vectors only). Needs a bundle
  // with sentences.bin and models with a sentence encoder; otherwise 0.
  // Default: 0. Weight 1 at temperature 0.01 ranks better on the eval
  // (photos nDCG@10 0.324 -> 0.338, 5-fold held out) but costs ~3-5 ms a
  // request and a bundle with sentences.bin (docs/models.md).
  float sentence_weight = 0.0f;
  // Softmax temperature of the sentence attention over lines. Default: 0.01
  // (5-fold cross-validation on the eval's photos picked it in every fold).
  float sentence_temperature = 0.01f;
  // Distinct tag labels whose phrases attend (the strongest). Default: 8.
  int sentence_tags = 8;
  // Mood-aware ranking (issue 17 item 4, core/mood_ranking.h): a candidate's
  // score gains weight x the agreement of its lyric mood with a target mood:
  // `mood` (a word of the image mood model, case-insensitive) when set, at
  // `requested_mood_weight`; otherwise the pictures' mood, at
  // `mood_weight`. A negative weight means the models manifest's ("mood":
  // {"weight", "request_weight"}); 0 turns that target off. Without lyric
  // moods in the bundle (moods.bin) or a mood model nothing steers, and a
  // request naming a mood is FAILED_PRECONDITION. Defaults: "", -1, -1.
  std::string mood;
  float mood_weight = -1;
  float requested_mood_weight = -1;
};

// What mood-aware ranking steers towards (RecommendOptions::mood).
struct MoodTarget {
  std::string source;  // "request" or "image"
  std::string word;    // the request's word, or the pictures' nearest word
  MoodPoint point;
  float weight = 0;
};

struct MatchedTagInfo {
  std::string label;
  float weight = 0;
  std::string lyric_word;
};

// A lyric word behind one channel's match of a song.
struct ChannelWordInfo {
  std::string word;
  // Dense: the word's share of the song's lyric pull towards the query
  // (count x SIF weight x word vector . query, over the sum of the positive
  // ones). Lexical: its BM25 term score (they add up to lexical_score).
  float score = 0;
  // Occurrences in the song's lyric words (attention tokens).
  int count = 0;
  // Lexical: labels of the tags whose words include it.
  std::vector<std::string> tags;
};

struct LineInfo {
  int line = 0;
  std::string text;
  float weight = 0;
  // With sentence attention: the line's best cosine with a tag's phrase
  // vector and that tag's label (empty: not computed).
  float sentence_similarity = 0;
  std::string sentence_tag;
};

struct SongScore {
  int64_t song = 0;
  float score = 0;
  float retrieval = 0;
  float attention = 0;
  // Sentence-vector attention (0 when sentence_weight is 0 or unavailable).
  float sentence = 0;
  // First stage: 1-based rank in each channel (0: not among its songs) and
  // the song's BM25 score for the tags' words (0 when the lexical channel
  // is off: fusion.lexical_weight and bm25_weight both 0).
  int dense_rank = 0;
  int lexical_rank = 0;
  float lexical_score = 0;
  std::vector<MatchedTagInfo> tags;  // when explained
  std::vector<LineInfo> lines;       // when explained
  // When explained: the lyric words behind each channel's match, strongest
  // first (dense: at most 5; lexical: every tag word in the lyrics).
  std::vector<ChannelWordInfo> dense_words, lexical_words;
  // The song's lyric mood (moods.bin; has_lyric_mood false when the bundle
  // has none for it), its agreement with the mood target and what that
  // added to the score (0 without a target).
  bool has_lyric_mood = false;
  MoodRecord lyric_mood;
  float mood_agreement = 0;
  float mood_score = 0;
};

struct Recommendation {
  std::vector<Tag> tags;
  std::vector<SongScore> songs;
  // Milliseconds per stage; forward_ms is the part of model_ms spent in
  // model forward passes, lexical_ms the part of search_ms spent in the
  // lexical channel.
  double model_ms = 0, forward_ms = 0, search_ms = 0, lexical_ms = 0, rerank_ms = 0;
  // The part of rerank_ms spent on sentence attention (phrase vectors,
  // line vectors, explanations); 0 when it is off.
  double sentence_ms = 0;
  // The pictures' mood (image_mood.h: from their tags, faces and colour;
  // not from a text hint), when the models have a mood model and the
  // request has a picture. It does not enter the ranking.
  bool has_mood = false;
  ImageMood mood;
  // The mood the ranking was steered towards, if any.
  bool has_mood_target = false;
  MoodTarget mood_target;
};

// Ranks songs for already-computed image tags (no model call); with
// `image_mood` (the pictures' mood) that mood may steer the ranking
// (RecommendOptions::mood_weight).
absl::StatusOr<Recommendation> RecommendForTags(const Snapshot& snapshot, std::vector<Tag> tags,
                                                const RecommendOptions& options,
                                                const ImageMood* image_mood = nullptr);

// The mood target of a request (RecommendOptions::mood, else `image_mood`
// when not null): true and *out filled when something steers, false when
// nothing does. Errors: an unknown mood word (INVALID_ARGUMENT, naming the
// known ones); a request mood without a mood model or without lyric moods in
// the bundle (FAILED_PRECONDITION).
absl::StatusOr<bool> ResolveMoodTarget(const Snapshot& snapshot, const RecommendOptions& options,
                                       const ImageMood* image_mood, MoodTarget* out);

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
