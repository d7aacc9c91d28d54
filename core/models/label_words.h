// Label files and the lyric-space words of each label.
//
// A label file line: "index<TAB>display label<TAB>words[<TAB>related words]".
// With `related`, a label's related words (WordNet hypernyms written by
// tools/assets/wordnet_words.py: "goldfinch" -> "finch bird") join its words; with
// `count` > 0, so do up to `count` nearest words of the word vectors (cosine
// >= min_cosine, among the `vocabulary` most frequent; exact search at load,
// labels x vocabulary x dim multiply-adds). Both kinds of expansion count
// half in the query (Tag::core_words).
#ifndef IMAGE2SONG_CORE_MODELS_LABEL_WORDS_H_
#define IMAGE2SONG_CORE_MODELS_LABEL_WORDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/words/word_vectors.h"

namespace image2song {

struct LabelEntry {
  std::string label;
  std::vector<std::string> words;
  std::vector<std::string> related;  // optional 4th column of a label file
  int core_words = -1;               // see Tag::core_words
};

// Reads a label file (64 MiB at most); errors name the file and line.
absl::StatusOr<std::vector<LabelEntry>> LoadLabelFile(const std::string& path);

// The manifest's "expand_words".
struct LabelWordOptions {
  bool related = false;
  int count = 0;
  float min_cosine = 0.6f;
  int vocabulary = 30000;
};

// Keeps the label words the vocabulary knows, then expands them as
// `options` say. Returns how many words were dropped.
absl::StatusOr<size_t> PrepareLabelWords(const WordVectors& words, const LabelWordOptions& options,
                                         std::vector<LabelEntry>* labels);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_MODELS_LABEL_WORDS_H_
