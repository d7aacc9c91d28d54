// The lexical channel's query: the image tags' words as weighted word ids
// for the bundle's BM25 index (core/index/lexical_index.h).
//
// Thread-safety: a pure function.
#ifndef IMAGE2SONG_CORE_LEXICAL_QUERY_H_
#define IMAGE2SONG_CORE_LEXICAL_QUERY_H_

#include <cstddef>
#include <vector>

#include "core/index/lexical_index.h"
#include "core/models/tagger.h"
#include "core/words/word_vectors.h"

namespace image2song {

struct LexicalQuery {
  // One term per distinct word, strongest first (ties: lower word id).
  std::vector<LexicalTerm> terms;
  // For each term, the indices (into the tags) of the tags it came from.
  std::vector<std::vector<size_t>> tags;
};

// Each tag of weight c = score x tagger weight spreads c over its known
// words in proportion to their word weights (core words 1, expansion words
// past Tag::core_words 0.5, as BuildQuery weighs them), so a tag counts as
// much however many words it has, as in the dense query, where each tag is
// one unit vector. A word of several tags adds up. Stopwords (frequency rank
// below StopwordRank) are left out: the index does not hold them.
LexicalQuery BuildLexicalQuery(const std::vector<Tag>& tags, const WordVectors& words);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_LEXICAL_QUERY_H_
