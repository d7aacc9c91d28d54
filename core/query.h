// The query stage: image tags -> one vector in the bundle's song space.
//
// Thread-safety: a pure function.
#ifndef IMAGE2SONG_CORE_QUERY_H_
#define IMAGE2SONG_CORE_QUERY_H_

#include <vector>

#include "core/bundle/embedder.h"
#include "core/models/tagger.h"
#include "core/words/word_vectors.h"

namespace image2song {

// The query for a set of image tags: the score-and-weight-weighted mean of
// each tag's unit word-vector mean (expansion words past Tag::core_words at
// half weight; Tag::cooccurring_words at `cooccurrence_weight`, 0: left
// out), then the bundle's common-component
// transform. `tag_vectors` receives each tag's unit vector (zero when none of
// its words are known). Returns false when no tag has a known word.
bool BuildQuery(const std::vector<Tag>& tags, const WordVectors& words,
                const CommonComponent& common, std::vector<float>* query,
                std::vector<std::vector<float>>* tag_vectors, float cooccurrence_weight = 0);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_QUERY_H_
