// The generated tiny word vectors (fixture `assets`) and small builders of
// songs and tags, shared by the embedder, query and bundle tests.
// Header-only; links nothing by itself.
#ifndef IMAGE2SONG_TESTS_SUPPORT_TINY_WORDS_H_
#define IMAGE2SONG_TESTS_SUPPORT_TINY_WORDS_H_

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/bundle/catalogue.h"
#include "core/models/tagger.h"
#include "core/words/word_vectors.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace testing {

// The tiny word vectors: 240 words, 16 dimensions.
inline std::unique_ptr<WordVectors> LoadTiny() {
  auto wv = WordVectors::Load(Assets() + "/words.i2sv", "test-words-16d@1");
  INFO(wv.status().ToString());
  REQUIRE(wv.ok());
  return std::move(*wv);
}

inline double Dot(const float* a, const float* b, int dim) {
  double s = 0;
  for (int d = 0; d < dim; ++d) s += double(a[d]) * b[d];
  return s;
}
inline double Norm(const std::vector<float>& v) {
  return std::sqrt(Dot(v.data(), v.data(), int(v.size())));
}

inline SongRecord Record(const std::string& id, const std::string& lyrics,
                         std::vector<std::string> tags = {}) {
  SongRecord r;
  r.id = id;
  r.title = "Title " + id;
  r.artist = "Artist";
  r.lyrics = lyrics;
  r.tags = std::move(tags);
  return r;
}

inline Tag MakeTag(const std::string& label, std::vector<std::string> words, float score = 1.0f) {
  Tag t;
  t.label = label;
  t.score = score;
  t.words = std::move(words);
  return t;
}

}  // namespace testing
}  // namespace image2song

#endif  // IMAGE2SONG_TESTS_SUPPORT_TINY_WORDS_H_
