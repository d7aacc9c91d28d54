#include "core/lyric_word_table.h"

#include <algorithm>
#include <chrono>

#include "util/dot.h"

namespace image2song {

std::unique_ptr<LyricWordTable> LyricWordTable::Build(const Bundle& bundle,
                                                      const WordVectors& words, size_t max_bytes,
                                                      int64_t max_tokens, size_t max_list_bytes) {
  const auto start = std::chrono::steady_clock::now();
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
  t->word_of_row_.resize(t->rows_);
  t->block_.resize(t->rows_ * size_t(t->dim_));
  for (size_t r = 0; r < t->rows_; ++r) {
    t->row_of_[order[r]] = static_cast<int32_t>(r);
    t->word_of_row_[r] = static_cast<uint32_t>(order[r]);
    std::copy_n(words.UnitVector(order[r]), t->dim_, t->block_.data() + r * size_t(t->dim_));
  }
  t->ListSongs(bundle, max_list_bytes);
  t->build_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - start)
                     .count();
  return t;
}

void LyricWordTable::ListSongs(const Bundle& bundle, size_t max_bytes) {
  // Entries are counted in uint32 (ListRange). A song's list is never longer
  // than its tokens: every song's list or none (a 1M-song bundle's ~100M
  // tokens would fill the budget with a seventh of the songs and speed up
  // only that share of the candidates).
  const size_t max_entries = std::min<size_t>(max_bytes / sizeof(SongWord), kNoList - 1);
  size_t tokens = 0;
  for (int64_t i = 0; i < bundle.size() && tokens <= max_entries; ++i) {
    tokens += bundle.tokens(i).size();
  }
  if (tokens > max_entries) return;
  lists_.reserve(tokens);
  list_of_.reserve(size_t(bundle.size()));
  // Per row: the song that last saw it and where in that song's list.
  std::vector<int64_t> seen_by(rows_, -1);
  std::vector<uint32_t> position(rows_, 0);
  for (int64_t i = 0; i < bundle.size(); ++i) {
    const size_t begin = lists_.size();
    bool complete = true;
    for (const LyricToken& t : bundle.tokens(i)) {
      const int32_t row = Row(t.word);
      if (row < 0) {
        complete = false;  // a word past the table's budget
        break;
      }
      if (seen_by[size_t(row)] != i) {
        seen_by[size_t(row)] = i;
        position[size_t(row)] = static_cast<uint32_t>(lists_.size() - begin);
        lists_.push_back(SongWord{static_cast<uint32_t>(row), 1.0f});
      } else {
        lists_[begin + position[size_t(row)]].count += 1.0f;
      }
    }
    ListRange range{static_cast<uint32_t>(begin), kNoList};
    if (complete) {
      range.size = static_cast<uint32_t>(lists_.size() - begin);
      ++listed_songs_;
    } else {
      lists_.resize(begin);
    }
    list_of_.push_back(range);
  }
  lists_.shrink_to_fit();
}

std::shared_ptr<const std::vector<float>> LyricWordTable::Cosines(
    const std::vector<float>& tag) const {
  std::string key(reinterpret_cast<const char*>(tag.data()), tag.size() * sizeof(float));
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cosines_.find(key);
    if (it != cosines_.end()) return it->second;
  }
  // The tag as column 0 of a dim x 8 matrix: DotColumns' vector path, the
  // same arithmetic per column whatever the other columns are.
  constexpr int kStride = 8;
  std::vector<float> column(size_t(dim_) * kStride, 0.0f);
  for (int k = 0; k < dim_ && k < int(tag.size()); ++k) column[size_t(k) * kStride] = tag[k];
  std::vector<const float*> rows(rows_);
  for (size_t r = 0; r < rows_; ++r) rows[r] = block_.data() + r * size_t(dim_);
  auto out = std::make_shared<std::vector<float>>(rows_);
  DotColumns(rows.data(), rows.size(), column.data(), dim_, 1, kStride, out->data());
  std::lock_guard<std::mutex> lock(mu_);
  ++computed_;
  const size_t column_bytes = rows_ * sizeof(float) + key.size();
  if ((cosines_.size() + 1) * column_bytes > max_cache_bytes_) cosines_.clear();
  return cosines_.try_emplace(std::move(key), std::move(out)).first->second;
}

size_t LyricWordTable::cached_columns() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cosines_.size();
}

int64_t LyricWordTable::computed_columns() const {
  std::lock_guard<std::mutex> lock(mu_);
  return computed_;
}

}  // namespace image2song
