// The lexical channel's query: the image tags' words as weighted word ids
// for the bundle's BM25 index (core/index/lexical_index.h).
//
// Thread-safety: a pure function.
#ifndef IMAGE2SONG_CORE_LEXICAL_QUERY_H_
#define IMAGE2SONG_CORE_LEXICAL_QUERY_H_

#include <cstddef>
#include <vector>

#include "core/index/cooccurrence.h"
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
// A tag's Tag::cooccurring_words come on top, each at `cooccurrence_weight`
// times a core word's share (they do not take weight from the tag's own
// words, so 0 gives exactly the query without them).
LexicalQuery BuildLexicalQuery(const std::vector<Tag>& tags, const WordVectors& words,
                               float cooccurrence_weight = 0);

// Fills each tag's cooccurring_words: for each of its core words (the first
// Tag::core_words, or all), up to `per_word` of the words the catalogue's
// lyrics use with it (`table`, best first), leaving out the tag's own words,
// stopwords and repeats. Returns how many words were added.
size_t AddCooccurringWords(const CooccurrenceTable& table, const WordVectors& words, int per_word,
                           std::vector<Tag>* tags);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_LEXICAL_QUERY_H_
