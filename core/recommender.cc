#include "core/recommender.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/lexical_query.h"
#include "core/query.h"
#include "util/dot.h"
#include "util/spare_threads.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

double MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Scores candidates against the tags; caches word-tag cosines per request.
class AttentionScorer {
 public:
  // `table` (optional): the lyric words' vectors in one block.
  AttentionScorer(const Bundle& bundle, const WordVectors& words, const std::vector<Tag>& tags,
                  const std::vector<std::vector<float>>& tag_vectors,
                  const RecommendOptions& options, const LyricWordTable* table)
      : bundle_(bundle), words_(words), table_(table), tags_(tags), options_(options) {
    for (size_t j = 0; j < tags.size(); ++j) {
      float c = tags[j].score * tags[j].weight;
      bool known = false;
      for (float x : tag_vectors[j]) known |= x != 0;
      if (known && c > 0) {
        active_.push_back(j);
        weights_.push_back(c);
        vectors_.push_back(&tag_vectors[j]);
        total_weight_ += c;
      }
    }
    const int dim = words.dim();
    columns_stride_ = static_cast<int>((active_.size() + 7) / 8 * 8);
    tag_columns_.assign(size_t(dim) * columns_stride_, 0.0f);
    for (size_t j = 0; j < vectors_.size(); ++j) {
      for (int k = 0; k < dim; ++k)
        tag_columns_[size_t(k) * columns_stride_ + j] = (*vectors_[j])[k];
    }
    fresh_.reserve(8192);  // a request's candidates hold ~4,500 distinct words
    if (table_ == nullptr) {
      cache_index_.reserve(4096);
    } else {
      for (const std::vector<float>* v : vectors_) table_columns_.push_back(table_->Cosines(*v));
      for (const auto& column : table_columns_) columns_.push_back(column->data());
      rows_.resize(table_->rows());
    }
  }

  // A song's lyric words, each once, in the order they first appear: the
  // cache offset of its cosines, its word id and how many tokens it has.
  struct DistinctWords {
    std::vector<size_t> offsets;
    std::vector<uint32_t> words;
    std::vector<float> counts;
    void clear() {
      offsets.clear();
      words.clear();
      counts.clear();
    }
    void reserve(size_t n) {
      offsets.reserve(n);
      words.reserve(n);
      counts.reserve(n);
    }
  };

  // Gives every word of the candidates' lyrics its cosines with the tags up
  // front, in one pass over the distinct words, and collects each
  // candidate's distinct words (one pass over its tokens); AttentionOf then
  // scores the candidates.
  void Prepare(const std::vector<SongScore>& candidates) {
    prepared_begin_.assign(candidates.size() + 1, 0);
    prepared_.clear();
    prepared_.reserve(candidates.size() * 128);  // ~60 distinct words a song
    // A candidate's words come from its list in the lyric word table (the
    // same entries, in the same order, as AddDistinct would collect from its
    // tokens) or from its tokens. The next candidate's are fetched while
    // this one's are read: a song's ~100 tokens are too few cache lines for
    // the hardware prefetcher to catch on before they run out.
    absl::Span<const LyricWordTable::SongWord> list, next_list;
    bool listed = !candidates.empty() && SongWords(candidates[0].song, &list);
    for (size_t i = 0; i < candidates.size(); ++i) {
      prepared_begin_[i] = prepared_.offsets.size();
      bool next_listed = false;
      if (i + 1 < candidates.size()) {
        const int64_t next = candidates[i + 1].song;
        next_listed = SongWords(next, &next_list);
        if (next_listed) {
          Prefetch(next_list.data(), next_list.size() * sizeof(next_list[0]));
        } else {
          absl::Span<const LyricToken> tokens = bundle_.tokens(next);
          Prefetch(tokens.data(), tokens.size() * sizeof(tokens[0]));
        }
      }
      if (listed) {
        AddListed(list, &prepared_);
      } else {
        AddDistinct(bundle_.tokens(candidates[i].song), &prepared_);
      }
      list = next_list;
      listed = next_listed;
    }
    prepared_begin_[candidates.size()] = prepared_.offsets.size();
    FillFresh();
  }

  // The distinct words of candidates[i] of the last Prepare: `words` and
  // `counts` (the same order) for a BM25 score.
  absl::Span<const uint32_t> DistinctWordsOf(size_t i) const {
    return absl::MakeConstSpan(prepared_.words.data() + prepared_begin_[i],
                               prepared_begin_[i + 1] - prepared_begin_[i]);
  }
  absl::Span<const float> DistinctCountsOf(size_t i) const {
    return absl::MakeConstSpan(prepared_.counts.data() + prepared_begin_[i],
                               prepared_begin_[i + 1] - prepared_begin_[i]);
  }

  // Attention() of candidates[i] of the last Prepare.
  float AttentionOf(size_t i) {
    const size_t begin = prepared_begin_[i], n = prepared_begin_[i + 1] - begin;
    if (active_.empty() || n == 0) return 0;
    return Attention(prepared_.offsets.data() + begin, prepared_.counts.data() + begin, n);
  }

  // The song's attention score alone (no explanation): the same sums as
  // Score's, over the song's distinct words weighted by their counts (lyrics
  // repeat: a chorus is one term, not one exp per token). The softmax is
  // shift-invariant, so each word's exp((s - 1) / temperature) and its
  // product with s are computed once per request (Sims) instead of once per
  // song and tag with the song's best cosine as the shift; a song whose sums
  // underflow (a tiny temperature) is scored the exact way instead.
  // `offsets`, `counts`: the song's n distinct words (AddDistinct), filled.
  float Attention(const size_t* offsets, const float* counts, size_t n) {
    const size_t m = active_.size();
    z_.assign(m, 0.0f);
    match_.assign(m, 0.0f);
    AddWeightedRows(exp_cache_.data(), weighted_cache_.data(), offsets, counts, n,
                    static_cast<int>(m), z_.data(), match_.data());
    float attention = 0;
    for (size_t j = 0; j < m; ++j) {
      if (!(z_[j] > 1e-30f) || !std::isfinite(z_[j])) return AttentionExact(offsets, counts, n);
      attention += weights_[j] / total_weight_ * (match_[j] / z_[j]);
    }
    return attention;
  }

  // With `line_mass` (explained songs): the tags matched and each lyric
  // line's share of the attention mass (line_count entries; all 0 when the
  // song has no attention tokens).
  void Score(SongScore* out, std::vector<float>* line_mass = nullptr) {
    absl::Span<const LyricToken> tokens = bundle_.tokens(out->song);
    const size_t m = active_.size();
    out->attention = 0;
    if (line_mass != nullptr) line_mass->assign(bundle_.line_count(out->song), 0.0f);
    if (tokens.empty() || m == 0) return;
    // Offsets into cache_ (stable while cache_ grows).
    std::vector<size_t> offset(tokens.size());
    for (size_t i = 0; i < tokens.size(); ++i) offset[i] = Slot(tokens[i].word) * m;
    explained_.clear();
    AddDistinct(tokens, &explained_);
    FillFresh();
    // The score comes from Attention() either way (explained songs keep the
    // score they were ranked by); the per-token pass below explains it.
    out->attention =
        Attention(explained_.offsets.data(), explained_.counts.data(), explained_.offsets.size());
    if (line_mass == nullptr) return;
    out->tags.clear();
    auto sim = [&](size_t i, size_t j) { return cache_[offset[i] + j]; };
    std::vector<float> alpha(tokens.size());
    std::vector<std::pair<float, MatchedTagInfo>> matched;
    for (size_t j = 0; j < m; ++j) {
      float best = -2;
      size_t best_i = 0;
      for (size_t i = 0; i < tokens.size(); ++i) {
        if (sim(i, j) > best) {
          best = sim(i, j);
          best_i = i;
        }
      }
      double z = 0;
      for (size_t i = 0; i < tokens.size(); ++i) {
        alpha[i] = std::exp((sim(i, j) - best) / options_.temperature);
        z += alpha[i];
      }
      double match = 0;
      for (size_t i = 0; i < tokens.size(); ++i) {
        alpha[i] = static_cast<float>(alpha[i] / z);
        match += alpha[i] * sim(i, j);
      }
      const float share = weights_[j] / total_weight_;
      for (size_t i = 0; i < tokens.size(); ++i) {
        (*line_mass)[tokens[i].line] += share * alpha[i];
      }
      matched.push_back({share * std::max(0.0f, float(match)),
                         MatchedTagInfo{tags_[active_[j]].label, 0,
                                        std::string(words_.Word(tokens[best_i].word))}});
    }
    float total = 0;
    for (const auto& mt : matched) total += mt.first;
    std::stable_sort(matched.begin(), matched.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (auto& mt : matched) {
      mt.second.weight = total > 0 ? mt.first / total : 0;
      out->tags.push_back(std::move(mt.second));
    }
  }

 private:
  // Starts fetching the first 4 KiB of [data, data + bytes).
  static void Prefetch(const void* data, size_t bytes) {
    const char* p = static_cast<const char*>(data);
    bytes = std::min(bytes, size_t(4096));
    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b);
  }

  bool SongWords(int64_t song, absl::Span<const LyricWordTable::SongWord>* out) const {
    return table_ != nullptr && table_->SongWords(song, out);
  }

  // Appends a song's list of distinct words (LyricWordTable::SongWords) to
  // `out`, giving new words a slot.
  void AddListed(absl::Span<const LyricWordTable::SongWord> list, DistinctWords* out) {
    const size_t m = active_.size();
    for (size_t i = 0; i < list.size(); ++i) {
      if (i + kAhead < list.size()) __builtin_prefetch(&rows_[list[i + kAhead].row], 1);
      const LyricWordTable::SongWord& w = list[i];
      const uint32_t word = table_->WordOfRow(w.row);
      out->offsets.push_back(TableRow(int32_t(w.row), word).slot * m);
      out->words.push_back(word);
      out->counts.push_back(w.count);
    }
  }

  // Appends the distinct words of `tokens` to `out`, giving new words a
  // slot (their cosines come with the next FillFresh).
  void AddDistinct(absl::Span<const LyricToken> tokens, DistinctWords* out) {
    const size_t base = out->offsets.size();
    const size_t m = active_.size();
    ++song_stamp_;
    auto add = [&](Seen& seen, size_t slot, uint32_t word) {
      if (seen.stamp != song_stamp_) {
        seen.stamp = song_stamp_;
        seen.position = static_cast<uint32_t>(out->offsets.size() - base);
        out->offsets.push_back(slot * m);
        out->words.push_back(word);
        out->counts.push_back(1.0f);
      } else {
        out->counts[base + seen.position] += 1.0f;
      }
    };
    const size_t n = tokens.size();
    for (size_t i = 0; i < n; ++i) {
      const LyricToken& t = tokens[i];
      // A table word's slot and "seen" mark share one entry: one random
      // access a token (this loop reads ~20k tokens a request), and the
      // word's row another. Both are fetched ahead: the row index kAhead
      // tokens ahead, the entry of the row kAhead / 2 ahead.
      if (table_ != nullptr) {
        if (i + kAhead < n) table_->PrefetchRow(tokens[i + kAhead].word);
        if (i + kAhead / 2 < n) {
          const int32_t ahead = table_->Row(tokens[i + kAhead / 2].word);
          if (ahead >= 0) __builtin_prefetch(&rows_[size_t(ahead)], 1);
        }
      }
      const int32_t row = table_ != nullptr ? table_->Row(t.word) : -1;
      if (row >= 0) {
        RowState& r = TableRow(row, t.word);
        add(r.seen, r.slot, t.word);
        continue;
      }
      const size_t slot = Slot(t.word);
      if (slot >= seen_.size()) seen_.resize(std::max(slot + 1, seen_.size() * 2));
      add(seen_[slot], slot, t.word);
    }
  }

  // Attention()'s sums the plain way (the song's best cosine as the softmax
  // shift, double sums) over the song's distinct words.
  float AttentionExact(const size_t* offsets, const float* counts, size_t n) const {
    const size_t m = active_.size();
    const float inv_t = 1.0f / options_.temperature;
    float attention = 0;
    for (size_t j = 0; j < m; ++j) {
      float best = -2;
      for (size_t r = 0; r < n; ++r) best = std::max(best, cache_[offsets[r] + j]);
      double z = 0, match = 0;
      for (size_t r = 0; r < n; ++r) {
        const float sim = cache_[offsets[r] + j];
        const double a = counts[r] * std::exp((sim - best) * inv_t);
        z += a;
        match += a * sim;
      }
      attention += weights_[j] / total_weight_ * static_cast<float>(match / z);
    }
    return attention;
  }

  // The slot of `word`: its cosines with the active tags are at
  // cache_[slot * m, (slot + 1) * m) (and the same in exp_cache_,
  // weighted_cache_); for a word not seen before they are computed by the
  // next FillFresh.
  size_t Slot(uint32_t word) {
    // A word of the lyric word table: its row indexes the slots directly,
    // no hashing.
    const int32_t row = table_ != nullptr ? table_->Row(word) : -1;
    if (row >= 0) return TableRow(row, word).slot;
    auto [it, inserted] = cache_index_.try_emplace(word, 0);
    if (inserted) it->second = NewSlot(word, -1);
    return it->second;
  }
  // The slot of a table word (row `row` of table_), given on first use.
  struct Seen {
    uint32_t stamp = 0;     // the AddDistinct call (song) that last saw the word
    uint32_t position = 0;  // and where in its distinct words
  };
  struct RowState {
    uint32_t slot = kNoSlot;
    Seen seen;
  };
  static constexpr uint32_t kNoSlot = 0xffffffffu;
  // Prefetch distance of AddDistinct (tokens) and AddListed (list entries).
  static constexpr size_t kAhead = 16;
  RowState& TableRow(int32_t row, uint32_t word) {
    RowState& r = rows_[size_t(row)];
    if (r.slot == kNoSlot) r.slot = static_cast<uint32_t>(NewSlot(word, row));
    return r;
  }
  // A slot for `word` (`row`: its table row, or -1); cache_ grows to hold
  // it in the next FillFresh.
  size_t NewSlot(uint32_t word, int32_t row) {
    fresh_.push_back(Fresh{word, row});
    return slots_++;
  }

  // The cosines (and softmax terms) of the words Slot added since the last
  // call: read from the lyric word table's cached columns, or computed in
  // one DotColumns call (it fetches the vectors ahead: they come from a
  // table too big for the cache, in no order a prefetcher can guess). When
  // many table words are fresh (a Prepare: ~4,000 of the demo's ~10,000
  // rows) the columns are read in row order, so they stream through the
  // cache instead of being gathered at random (0.19 -> 0.05 ms).
  void FillFresh() {
    if (fresh_.empty()) return;
    const size_t m = active_.size();
    const size_t first_slot = slots_ - fresh_.size();
    cache_.resize(slots_ * m);
    exp_cache_.resize(cache_.size());
    weighted_cache_.resize(cache_.size());
    const float inv_t = 1.0f / options_.temperature;
    const bool by_row = !columns_.empty() && fresh_.size() * 8 >= rows_.size();
    if (by_row) {
      for (size_t r = 0; r < rows_.size(); ++r) {
        const uint32_t slot = rows_[r].slot;
        if (slot == kNoSlot || slot < first_slot) continue;
        float* out = &cache_[size_t(slot) * m];
        for (size_t j = 0; j < m; ++j) out[j] = columns_[j][r];
      }
    }
    // The other words' cosines through DotColumns.
    std::vector<const float*> vectors;
    std::vector<size_t> at;
    for (size_t i = 0; i < fresh_.size(); ++i) {
      const Fresh& f = fresh_[i];
      if (f.row >= 0 && !columns_.empty()) {
        if (by_row) continue;
        float* out = &cache_[(first_slot + i) * m];
        for (size_t j = 0; j < m; ++j) out[j] = columns_[j][size_t(f.row)];
        continue;
      }
      vectors.push_back(table_ != nullptr ? table_->UnitVector(f.word)
                                          : words_.UnitVector(static_cast<int32_t>(f.word)));
      at.push_back(i);
    }
    if (!vectors.empty()) {
      std::vector<float> sims(vectors.size() * m);
      DotColumns(vectors.data(), vectors.size(), tag_columns_.data(), words_.dim(),
                 static_cast<int>(m), columns_stride_, sims.data());
      for (size_t v = 0; v < at.size(); ++v) {
        std::copy_n(sims.data() + v * m, m, &cache_[(first_slot + at[v]) * m]);
      }
    }
    for (size_t k = first_slot * m; k < cache_.size(); ++k) {
      exp_cache_[k] = std::exp((cache_[k] - 1.0f) * inv_t);
      weighted_cache_[k] = exp_cache_[k] * cache_[k];
    }
    fresh_.clear();
  }

  const Bundle& bundle_;
  const WordVectors& words_;
  const LyricWordTable* table_;
  // Per active tag, its cosines with every row of table_ (cached there).
  std::vector<std::shared_ptr<const std::vector<float>>> table_columns_;
  const std::vector<Tag>& tags_;
  const RecommendOptions& options_;
  std::vector<size_t> active_;
  std::vector<float> weights_;
  std::vector<const std::vector<float>*> vectors_;
  float total_weight_ = 0;
  // The active tags' vectors as the columns of a dim x columns_stride_
  // matrix (DotColumns).
  std::vector<float> tag_columns_;
  int columns_stride_ = 0;
  absl::flat_hash_map<uint32_t, size_t> cache_index_;  // slots of words not in table_
  std::vector<RowState> rows_;                         // per table_ row (sized with table_)
  size_t slots_ = 0;                                   // slots given
  std::vector<float> cache_;                           // active_.size() cosines per cached word
  std::vector<float> exp_cache_;                       // exp((cosine - 1) / temperature)
  std::vector<float> weighted_cache_;                  // exp_cache_ x cosine
  struct Fresh {
    uint32_t word;
    int32_t row;  // in table_, or -1
  };
  std::vector<Fresh> fresh_;           // words given a slot, not yet filled (slots_ - size() on)
  std::vector<const float*> columns_;  // table_columns_' data
  // Prepare(): the candidates' distinct words, candidate i's from
  // prepared_begin_[i]; Score(): the explained song's.
  DistinctWords prepared_, explained_;
  std::vector<size_t> prepared_begin_;
  // AddDistinct: per slot of a word not in table_, the song that last saw
  // it and where (table words keep theirs in rows_).
  std::vector<Seen> seen_;
  uint32_t song_stamp_ = 0;
  std::vector<float> z_, match_;  // Attention()'s sums
};

// Sentence attention (issue 16): the tags' phrase vectors attend over a
// candidate's lyric-line sentence vectors (recommender.h). Tags of one label
// are merged (their weights add up) and the `sentence_tags` strongest kept.
class SentenceScorer {
 public:
  // Null when there is nothing to attend with (no tag of positive weight).
  static absl::StatusOr<std::unique_ptr<SentenceScorer>> Create(const TagPhrases& phrases,
                                                                const SentenceVectors& sentences,
                                                                const std::vector<Tag>& tags,
                                                                const RecommendOptions& options) {
    std::vector<std::string> labels;
    std::vector<float> weights;
    absl::flat_hash_map<std::string, size_t> at;
    for (const Tag& t : tags) {
      const float c = t.score * t.weight;
      if (!(c > 0)) continue;
      auto [it, inserted] = at.try_emplace(t.label, labels.size());
      if (inserted) {
        labels.push_back(t.label);
        weights.push_back(0);
      }
      weights[it->second] += c;
    }
    std::vector<size_t> order(labels.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return weights[a] > weights[b]; });
    if (int(order.size()) > options.sentence_tags) order.resize(std::max(0, options.sentence_tags));
    if (order.empty()) return nullptr;
    std::unique_ptr<SentenceScorer> s(new SentenceScorer(sentences, options));
    for (size_t i : order) {
      s->labels_.push_back(labels[i]);
      s->weights_.push_back(weights[i]);
      s->total_weight_ += weights[i];
    }
    ASSIGN_OR_RETURN(std::vector<float> vectors, phrases.Vectors(s->labels_));
    const int dim = sentences.dim();
    const size_t m = s->labels_.size();
    s->stride_ = static_cast<int>((m + 7) / 8 * 8);
    s->columns_.assign(size_t(dim) * s->stride_, 0.0f);
    for (size_t j = 0; j < m; ++j) {
      for (int k = 0; k < dim; ++k) s->columns_[size_t(k) * s->stride_ + j] = vectors[j * dim + k];
    }
    return s;
  }

  // The song's sentence attention; with `line_mass` and `best` (explained
  // songs), each line's share of the attention mass and its best cosine
  // with a tag's phrase (and which tag).
  float Score(int64_t song, std::vector<float>* line_mass = nullptr,
              std::vector<std::pair<float, int>>* best = nullptr) {
    const int64_t n = sentences_.lines(song);
    const size_t m = labels_.size();
    const int dim = sentences_.dim();
    if (line_mass != nullptr) line_mass->assign(size_t(n), 0.0f);
    if (best != nullptr) best->assign(size_t(n), {-2.0f, 0});
    if (n == 0) return 0;
    lines_.resize(size_t(n) * dim);
    sentences_.Lines(song, lines_.data());
    rows_.clear();
    for (int64_t i = 0; i < n; ++i) rows_.push_back(&lines_[size_t(i) * dim]);
    sims_.resize(size_t(n) * m);
    DotColumns(rows_.data(), rows_.size(), columns_.data(), dim, int(m), stride_, sims_.data());
    const float inv_t = 1.0f / options_.sentence_temperature;
    float score = 0;
    for (size_t j = 0; j < m; ++j) {
      float top = -2;
      for (int64_t i = 0; i < n; ++i) top = std::max(top, sims_[size_t(i) * m + j]);
      double z = 0, match = 0;
      alpha_.resize(size_t(n));
      for (int64_t i = 0; i < n; ++i) {
        const float u = sims_[size_t(i) * m + j];
        alpha_[i] = std::exp((u - top) * inv_t);
        z += alpha_[i];
        match += alpha_[i] * u;
      }
      const float share = weights_[j] / total_weight_;
      score += share * static_cast<float>(match / z);
      if (line_mass != nullptr) {
        for (int64_t i = 0; i < n; ++i) (*line_mass)[i] += share * float(alpha_[i] / z);
      }
      if (best != nullptr) {
        for (int64_t i = 0; i < n; ++i) {
          if (sims_[size_t(i) * m + j] > (*best)[i].first) {
            (*best)[i] = {sims_[size_t(i) * m + j], int(j)};
          }
        }
      }
    }
    return score;
  }

  const std::string& label(int j) const { return labels_[j]; }

 private:
  SentenceScorer(const SentenceVectors& sentences, const RecommendOptions& options)
      : sentences_(sentences), options_(options) {}

  const SentenceVectors& sentences_;
  const RecommendOptions& options_;
  std::vector<std::string> labels_;
  std::vector<float> weights_;
  float total_weight_ = 0;
  std::vector<float> columns_;  // phrase vectors as the columns of dim x stride_
  int stride_ = 0;
  std::vector<float> lines_, sims_;
  std::vector<double> alpha_;
  std::vector<const float*> rows_;
};

// The explanation's lyric lines: the strongest by attention mass; a
// repeated line (a chorus) counts once, at its first position, with the
// mass of all its repeats. `best` (optional): per line the best sentence
// cosine and the tag index in `scorer`.
std::vector<LineInfo> PickLines(const SongMeta& song, std::vector<float> line_mass,
                                const std::vector<std::pair<float, int>>* best,
                                const SentenceScorer* scorer, int explain_lines) {
  absl::flat_hash_map<absl::string_view, int> first_of;
  for (int i = 0; i < int(line_mass.size()); ++i) {
    auto [it, inserted] = first_of.try_emplace(song.lines[i], i);
    if (!inserted) {
      line_mass[it->second] += line_mass[i];
      line_mass[i] = 0;
    }
  }
  std::vector<int> order(line_mass.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return line_mass[a] > line_mass[b]; });
  std::vector<LineInfo> lines;
  for (int k = 0; k < int(order.size()) && k < explain_lines; ++k) {
    const int i = order[k];
    if (line_mass[i] <= 0) break;
    LineInfo info;
    info.line = i;
    info.text = song.lines[i];
    info.weight = line_mass[i];
    if (best != nullptr && scorer != nullptr && size_t(i) < best->size()) {
      info.sentence_similarity = (*best)[i].first;
      info.sentence_tag = scorer->label((*best)[i].second);
    }
    lines.push_back(std::move(info));
  }
  return lines;
}

// BM25 scores of candidate songs for the lexical query, counted from their
// attention tokens (the words the lexical index holds): exact for every
// candidate, whichever channel found it and whatever the postings budget
// left out of the channel's own search.
class LexicalScorer {
 public:
  LexicalScorer(const LexicalIndex& index, const LexicalQuery& query)
      : index_(index), query_(query), counts_(query.terms.size(), 0) {
    for (size_t i = 0; i < query.terms.size(); ++i) {
      term_of_[query.terms[i].word] = i;
      const uint32_t bit = query.terms[i].word & (kFilterBits - 1);
      filter_[bit / 64] |= uint64_t{1} << (bit % 64);
    }
  }

  // The song's BM25 score; with `words`, the terms it holds, strongest
  // first (tags: the labels of `tags` they came from).
  float Score(int64_t song, absl::Span<const LyricToken> tokens, const WordVectors& vectors,
              const std::vector<Tag>& tags, std::vector<ChannelWordInfo>* words) {
    if (term_of_.empty()) return 0;
    held_.clear();
    for (const LyricToken& t : tokens) Count(t.word, 1);
    return Total(song, vectors, tags, words);
  }
  // The same score from the song's distinct words and their token counts.
  float Score(int64_t song, absl::Span<const uint32_t> distinct, absl::Span<const float> counts,
              const WordVectors& vectors, const std::vector<Tag>& tags) {
    if (term_of_.empty()) return 0;
    held_.clear();
    for (size_t i = 0; i < distinct.size(); ++i) {
      Count(distinct[i], static_cast<uint32_t>(counts[i]));
    }
    return Total(song, vectors, tags, nullptr);
  }

  static bool Stronger(const ChannelWordInfo& a, const ChannelWordInfo& b) {
    return a.score != b.score ? a.score > b.score : a.word < b.word;
  }

 private:
  void Count(uint32_t word, uint32_t count) {
    // Most lyric words are not query words: an 8 KB bitmap (in L1) turns
    // them away before the hash lookup.
    const uint32_t bit = word & (kFilterBits - 1);
    if (!(filter_[bit / 64] >> (bit % 64) & 1)) return;
    auto it = term_of_.find(word);
    if (it == term_of_.end()) return;
    if (counts_[it->second] == 0) held_.push_back(it->second);
    counts_[it->second] += count;
  }

  // The BM25 sum over the terms Count() found (in the order it found them),
  // which it clears.
  float Total(int64_t song, const WordVectors& vectors, const std::vector<Tag>& tags,
              std::vector<ChannelWordInfo>* words) {
    float total = 0;
    for (size_t i : held_) {
      const LexicalTerm& term = query_.terms[i];
      const float score = index_.TermScore(term, counts_[i], song);
      total += score;
      if (words != nullptr) {
        ChannelWordInfo w;
        w.word = std::string(vectors.Word(static_cast<int32_t>(term.word)));
        w.score = score;
        w.count = int(counts_[i]);
        for (size_t tag : query_.tags[i]) w.tags.push_back(tags[tag].label);
        words->push_back(std::move(w));
      }
      counts_[i] = 0;
    }
    if (words != nullptr) std::sort(words->begin(), words->end(), Stronger);
    return total;
  }

  const LexicalIndex& index_;
  const LexicalQuery& query_;
  absl::flat_hash_map<uint32_t, size_t> term_of_;
  static constexpr uint32_t kFilterBits = 1 << 16;
  uint64_t filter_[kFilterBits / 64] = {};  // bit (word mod 2^16): maybe a term
  std::vector<uint32_t> counts_;
  std::vector<size_t> held_;  // query terms the song holds
};

// The song's lyric words behind the dense channel's match (explained
// songs): the song vector is the unit SIF-weighted mean of its lyric word
// vectors (plus title and tags) under the common-component transform, and
// `query` is orthogonal to the removed component, so a lyric word adds
// count x SIF weight x (word vector . query), up to a positive factor, to
// the song's cosine. The 5 strongest, as shares of the positive pulls.
std::vector<ChannelWordInfo> DenseWords(absl::Span<const LyricToken> tokens,
                                        const WordVectors& words, const std::vector<float>& query) {
  constexpr size_t kDenseWords = 5;
  // Words in the order they first appear, so that the sum below (and the
  // shares) come out the same bits in every process (a hash map's order
  // follows its per-process seed).
  absl::flat_hash_map<uint32_t, size_t> at;
  std::vector<std::pair<uint32_t, int>> counts;
  for (const LyricToken& t : tokens) {
    auto [it, inserted] = at.try_emplace(t.word, counts.size());
    if (inserted) counts.push_back({t.word, 0});
    ++counts[it->second].second;
  }
  std::vector<ChannelWordInfo> out;
  float positive = 0;
  for (const auto& [word, count] : counts) {
    const int32_t id = static_cast<int32_t>(word);
    const float pull =
        float(count) * words.SifWeight(id) * Dot(words.Vector(id), query.data(), words.dim());
    if (pull <= 0) continue;
    positive += pull;
    out.push_back(ChannelWordInfo{std::string(words.Word(id)), pull, count, {}});
  }
  std::sort(out.begin(), out.end(), LexicalScorer::Stronger);
  if (out.size() > kDenseWords) out.resize(kDenseWords);
  for (ChannelWordInfo& w : out) w.score /= positive;
  return out;
}

}  // namespace

absl::StatusOr<bool> ResolveMoodTarget(const Snapshot& snapshot, const RecommendOptions& options,
                                       const ImageMood* image_mood, MoodTarget* out) {
  const ModelSet& models = *snapshot.models;
  const SongMoods* moods = snapshot.bundle->moods();
  const bool lyric_moods = moods != nullptr && moods->stats().songs > 0;
  if (!options.mood.empty()) {
    if (models.mood() == nullptr) {
      return absl::FailedPreconditionError(
          "mood: the models have no mood model (models.json \"mood\")");
    }
    ASSIGN_OR_RETURN(const MoodPoint point, MoodWordPoint(*models.mood(), options.mood));
    if (!lyric_moods) {
      return absl::FailedPreconditionError(
          absl::StrCat("mood: bundle ", snapshot.bundle->manifest().version,
                       " has no lyric moods (moods.bin: index it with a mood_lexicon)"));
    }
    out->source = "request";
    out->word = absl::AsciiStrToLower(options.mood);
    out->point = point;
    out->weight = options.requested_mood_weight >= 0 ? options.requested_mood_weight
                                                     : models.requested_mood_weight();
    return out->weight > 0;
  }
  const float weight = options.mood_weight >= 0 ? options.mood_weight : models.mood_weight();
  if (image_mood == nullptr || !(weight > 0) || !lyric_moods) return false;
  out->source = "image";
  out->word = image_mood->words.empty() ? "" : image_mood->words[0];
  out->point = MoodPoint{image_mood->valence, image_mood->arousal};
  out->weight = weight;
  return true;
}

namespace {

// A request's mood word is checked before the models run.
absl::Status CheckRequestMood(const Snapshot& snapshot, const RecommendOptions& options) {
  if (options.mood.empty()) return absl::OkStatus();
  MoodTarget target;
  return ResolveMoodTarget(snapshot, options, nullptr, &target).status();
}

}  // namespace

absl::StatusOr<Recommendation> RecommendForTags(const Snapshot& snapshot, std::vector<Tag> tags,
                                                const RecommendOptions& options,
                                                const ImageMood* image_mood) {
  if (options.top_k < 1 || options.candidates < 1) {
    return absl::InvalidArgumentError("top_k and candidates must be >= 1");
  }
  MoodTarget mood_target;
  ASSIGN_OR_RETURN(const bool steer,
                   ResolveMoodTarget(snapshot, options, image_mood, &mood_target));
  const Bundle& bundle = *snapshot.bundle;
  const WordVectors& words = snapshot.models->words();
  Recommendation rec;
  rec.tags = std::move(tags);
  rec.has_mood_target = steer;
  if (steer) rec.mood_target = mood_target;
  auto start = std::chrono::steady_clock::now();
  std::vector<float> query;
  std::vector<std::vector<float>> tag_vectors;
  if ((options.cooccurrence_weight > 0 || options.cooccurrence_dense_weight > 0) &&
      bundle.cooccurrence() != nullptr) {
    AddCooccurringWords(*bundle.cooccurrence(), words, options.cooccurrence_words, &rec.tags);
  }
  if (!BuildQuery(rec.tags, words, bundle.manifest().common, &query, &tag_vectors,
                  options.cooccurrence_dense_weight)) {
    return rec;  // nothing recognisable in the image: no songs
  }
  std::vector<uint8_t> bitmap;
  const std::vector<uint8_t>* allowed = nullptr;
  int64_t kept = -1;
  if (!options.filters.empty()) {
    bitmap = bundle.Select(options.filters, &kept);
    if (kept == 0) return rec;  // nothing passes: no songs, not an error
    allowed = &bitmap;
  }
  const int n = std::max(options.candidates, 4 * options.top_k);
  // The lexical channel's query, then both channels' searches (the lexical
  // one beside the dense one when a core is free), then fusion; songs only
  // the lexical channel found get their cosine from the index.
  std::vector<ScoredId> lexical;
  LexicalQuery lexical_query;
  const bool lexical_brings_candidates = options.fusion.lexical_weight > 0;
  const bool use_lexical = lexical_brings_candidates || options.bm25_weight > 0;
  if (use_lexical) {
    const auto lexical_start = std::chrono::steady_clock::now();
    lexical_query = BuildLexicalQuery(rec.tags, words, options.cooccurrence_weight);
    rec.lexical_ms = MsSince(lexical_start);
  }
  const int lexical_k = options.lexical_candidates > 0 ? options.lexical_candidates : n;
  double lexical_search_ms = 0;
  bool lexical_failed = false;  // beside: an exception is not thrown across threads
  auto lexical_search = [&] {
    const auto lexical_start = std::chrono::steady_clock::now();
    lexical = bundle.lexical().Search(lexical_query.terms, lexical_k, allowed);
    lexical_search_ms = MsSince(lexical_start);
  };
  absl::StatusOr<std::vector<ScoredId>> dense_or;
  auto dense_search = [&] { dense_or = bundle.index().Search(query.data(), n, allowed, kept); };
  if (lexical_brings_candidates) {
    SpareThreads* threads =
        bundle.size() >= options.side_search_min_songs ? snapshot.models->spare_threads() : nullptr;
    const bool searched_beside = TrySideBySide(threads, dense_search, [&] {
      try {
        lexical_search();
      } catch (const std::exception&) {
        lexical_failed = true;  // searched again below, where it may throw
      }
    });
    if (!searched_beside || lexical_failed) lexical_search();
  } else {
    dense_search();
  }
  rec.lexical_ms += lexical_search_ms;
  if (!dense_or.ok()) return dense_or.status();
  const std::vector<ScoredId>& dense = *dense_or;
  std::vector<FusedCandidate> fused = FuseReciprocalRank(dense, lexical, options.fusion, n);
  std::vector<int64_t> lexical_only;
  for (const FusedCandidate& c : fused) {
    if (c.dense_rank == 0) lexical_only.push_back(c.id);
  }
  ASSIGN_OR_RETURN(std::vector<float> cosines, bundle.index().Score(query.data(), lexical_only));
  rec.search_ms = MsSince(start);

  start = std::chrono::steady_clock::now();
  // Sentence attention when asked for and both sides have sentence vectors
  // of the same encoder (CheckCompatible refuses other encoders).
  std::unique_ptr<SentenceScorer> sentence_scorer;
  const TagPhrases* phrases = snapshot.models->phrases();
  if (options.sentence_weight > 0 && phrases != nullptr && bundle.sentences() != nullptr &&
      phrases->dim() == bundle.sentences()->dim()) {
    const auto sentence_start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(sentence_scorer,
                     SentenceScorer::Create(*phrases, *bundle.sentences(), rec.tags, options));
    rec.sentence_ms += MsSince(sentence_start);
  }
  const float sentence_weight = sentence_scorer != nullptr ? options.sentence_weight : 0.0f;
  std::vector<SongScore> scored(fused.size());
  size_t next_cosine = 0;
  for (size_t i = 0; i < fused.size(); ++i) {
    const FusedCandidate& c = fused[i];
    SongScore& s = scored[i];
    s.song = c.id;
    s.retrieval = c.dense_rank > 0 ? c.dense_score : cosines[next_cosine++];
    s.dense_rank = c.dense_rank;
    s.lexical_rank = c.lexical_rank;
  }
  // Every candidate word's cosines first (from the snapshot's lyric word
  // table when it was built from these models' words), then the
  // candidates' scores. Scoring half of the candidates on a spare core was
  // measured and not kept: 0.33 ms serial, 0.65 ms split (the hand-off and
  // a second lexical scorer cost more than the half saves).
  const LyricWordTable* table =
      snapshot.lyric_words != nullptr && &snapshot.lyric_words->words() == &words
          ? snapshot.lyric_words.get()
          : nullptr;
  AttentionScorer scorer(bundle, words, rec.tags, tag_vectors, options, table);
  scorer.Prepare(scored);
  LexicalScorer lexical_scorer(bundle.lexical(), lexical_query);
  float best_bm25 = 0;
  for (size_t i = 0; i < scored.size(); ++i) {
    SongScore& s = scored[i];
    s.attention = scorer.AttentionOf(i);
    if (sentence_scorer != nullptr) {
      const auto sentence_start = std::chrono::steady_clock::now();
      s.sentence = sentence_scorer->Score(s.song);
      rec.sentence_ms += MsSince(sentence_start);
    }
    if (use_lexical) {
      s.lexical_score = lexical_scorer.Score(s.song, scorer.DistinctWordsOf(i),
                                             scorer.DistinctCountsOf(i), words, rec.tags);
      best_bm25 = std::max(best_bm25, s.lexical_score);
    }
  }
  const SongMoods* moods = bundle.moods();
  for (SongScore& s : scored) {
    const float attention = (1 - sentence_weight) * s.attention + sentence_weight * s.sentence;
    s.score = options.retrieval_weight * s.retrieval + (1 - options.retrieval_weight) * attention;
    if (best_bm25 > 0) s.score += options.bm25_weight * s.lexical_score / best_bm25;
    if (moods != nullptr) {
      s.lyric_mood = moods->Get(s.song);
      s.has_lyric_mood = (s.lyric_mood.flags & kHasLyricMood) != 0;
      MoodPoint point;
      if (steer && SongMoodPoint(s.lyric_mood, moods->stats(), &point)) {
        s.mood_agreement = MoodAgreement(mood_target.point, point);
        s.mood_score = mood_target.weight * s.mood_agreement;
        s.score += s.mood_score;
      }
    }
  }
  std::sort(scored.begin(), scored.end(), [](const SongScore& a, const SongScore& b) {
    return a.score != b.score ? a.score > b.score : a.song < b.song;
  });
  if (int(scored.size()) > options.top_k) scored.resize(options.top_k);
  if (options.explain) {
    std::vector<float> line_mass, sentence_mass;
    std::vector<std::pair<float, int>> best;
    for (SongScore& s : scored) {
      scorer.Score(&s, &line_mass);
      if (sentence_scorer != nullptr) {
        const auto sentence_start = std::chrono::steady_clock::now();
        sentence_scorer->Score(s.song, &sentence_mass, &best);
        for (size_t i = 0; i < line_mass.size() && i < sentence_mass.size(); ++i) {
          line_mass[i] = (1 - sentence_weight) * line_mass[i] + sentence_weight * sentence_mass[i];
        }
        rec.sentence_ms += MsSince(sentence_start);
      }
      s.lines =
          PickLines(bundle.song(s.song), line_mass, sentence_scorer != nullptr ? &best : nullptr,
                    sentence_scorer.get(), options.explain_lines);
      s.dense_words = DenseWords(bundle.tokens(s.song), words, query);
      if (use_lexical) {
        lexical_scorer.Score(s.song, bundle.tokens(s.song), words, rec.tags, &s.lexical_words);
      }
    }
  }
  rec.songs = std::move(scored);
  rec.rerank_ms = MsSince(start);
  return rec;
}

absl::StatusOr<Recommendation> Recommend(const Snapshot& snapshot,
                                         const std::vector<RgbImage>& images,
                                         absl::string_view text, const RecommendOptions& options) {
  RETURN_IF_ERROR(CheckRequestMood(snapshot, options));
  auto start = std::chrono::steady_clock::now();
  ImageTags tagged;
  if (!images.empty()) {
    ASSIGN_OR_RETURN(tagged, snapshot.models->TagImages(images));
  }
  double model_ms = MsSince(start);
  ImageMood mood;
  const bool has_mood = !images.empty() && snapshot.models->ImageMoodOf(tagged, &mood);
  for (Tag& t : snapshot.models->TagText(text, options.text_weight)) {
    tagged.tags.push_back(std::move(t));
  }
  ASSIGN_OR_RETURN(Recommendation rec, RecommendForTags(snapshot, std::move(tagged.tags), options,
                                                        has_mood ? &mood : nullptr));
  rec.model_ms = model_ms;
  rec.forward_ms = tagged.forward_ms;
  rec.has_mood = has_mood;
  rec.mood = std::move(mood);
  return rec;
}

absl::StatusOr<Recommendation> Recommend(const Snapshot& snapshot, const RgbImage& image,
                                         const RecommendOptions& options) {
  RETURN_IF_ERROR(CheckRequestMood(snapshot, options));
  auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(ImageTags tagged, snapshot.models->TagImage(image));
  double model_ms = MsSince(start);
  ImageMood mood;
  const bool has_mood = snapshot.models->ImageMoodOf(tagged, &mood);
  ASSIGN_OR_RETURN(Recommendation rec, RecommendForTags(snapshot, std::move(tagged.tags), options,
                                                        has_mood ? &mood : nullptr));
  rec.model_ms = model_ms;
  rec.forward_ms = tagged.forward_ms;
  rec.has_mood = has_mood;
  rec.mood = std::move(mood);
  return rec;
}

}  // namespace image2song
