#include "core/lyric_word_table.h"

#include <algorithm>
#include <numeric>

namespace image2song {

std::unique_ptr<LyricWordTable> LyricWordTable::Build(const Bundle& bundle,
                                                      const WordVectors& words, size_t max_bytes,
                                                      int64_t max_tokens) {
  const int64_t songs = bundle.size();
  const size_t vocab = static_cast<size_t>(std::max<int32_t>(words.size(), 0));
  if (songs <= 0 || vocab == 0) return nullptr;
  // Songs evenly spaced until max_tokens are counted (a frequency estimate:
  // a 1M-song bundle holds ~100M tokens).
  std::vector<uint32_t> count(vocab, 0);
  int64_t counted = 0, step = 1;
  for (int64_t i = 0; i < songs; i += step) {
    for (const LyricToken& t : bundle.tokens(i)) {
      if (t.word < vocab) ++count[t.word];
    }
    counted += static_cast<int64_t>(bundle.tokens(i).size());
    if (counted > 0 && i == 63) {
      // Tokens per song from the first 64 songs set the stride.
      const double per_song = double(counted) / 64;
      step = std::max<int64_t>(1, static_cast<int64_t>(per_song * songs / double(max_tokens)));
    }
  }
  std::vector<int32_t> order;
  for (size_t w = 0; w < vocab; ++w) {
    if (count[w] > 0) order.push_back(static_cast<int32_t>(w));
  }
  if (order.empty()) return nullptr;
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return count[a] > count[b]; });
  std::unique_ptr<LyricWordTable> t(new LyricWordTable(words));
  t->dim_ = words.dim();
  t->distinct_ = order.size();
  const size_t row_bytes = sizeof(float) * size_t(t->dim_);
  const size_t index_bytes = vocab * sizeof(int32_t);
  const size_t fit = max_bytes > index_bytes ? (max_bytes - index_bytes) / row_bytes : 0;
  t->rows_ = std::min(order.size(), fit);
  if (t->rows_ == 0) return nullptr;
  t->row_of_.assign(vocab, -1);
  t->block_.resize(t->rows_ * size_t(t->dim_));
  for (size_t r = 0; r < t->rows_; ++r) {
    t->row_of_[order[r]] = static_cast<int32_t>(r);
    std::copy_n(words.UnitVector(order[r]), t->dim_, t->block_.data() + r * size_t(t->dim_));
  }
  return t;
}

}  // namespace image2song
