#include "core/lexical_query.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace image2song {

LexicalQuery BuildLexicalQuery(const std::vector<Tag>& tags, const WordVectors& words) {
  const int32_t stopword_rank = StopwordRank(words);
  absl::flat_hash_map<int32_t, size_t> at;  // word id -> term
  LexicalQuery q;
  std::vector<std::pair<int32_t, float>> known;
  for (size_t i = 0; i < tags.size(); ++i) {
    const Tag& tag = tags[i];
    const float c = tag.score * tag.weight;
    if (!(c > 0)) continue;
    known.clear();
    float total = 0;
    for (size_t k = 0; k < tag.words.size(); ++k) {
      const int32_t id = words.Find(tag.words[k]);
      if (id == WordVectors::kNoWord || id < stopword_rank) continue;
      const float ww = tag.core_words >= 0 && int(k) >= tag.core_words ? 0.5f : 1.0f;
      known.push_back({id, ww});
      total += ww;
    }
    for (const auto& [id, ww] : known) {
      auto [it, inserted] = at.try_emplace(id, q.terms.size());
      if (inserted) {
        q.terms.push_back(LexicalTerm{uint32_t(id), 0.0f});
        q.tags.emplace_back();
      }
      q.terms[it->second].weight += c * ww / total;
      std::vector<size_t>& from = q.tags[it->second];
      if (from.empty() || from.back() != i) from.push_back(i);
    }
  }
  // Strongest first.
  std::vector<size_t> order(q.terms.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return q.terms[a].weight != q.terms[b].weight ? q.terms[a].weight > q.terms[b].weight
                                                  : q.terms[a].word < q.terms[b].word;
  });
  LexicalQuery sorted;
  for (size_t i : order) {
    sorted.terms.push_back(q.terms[i]);
    sorted.tags.push_back(std::move(q.tags[i]));
  }
  return sorted;
}

}  // namespace image2song
