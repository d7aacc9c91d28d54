#include "core/lexical_query.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace image2song {

LexicalQuery BuildLexicalQuery(const std::vector<Tag>& tags, const WordVectors& words,
                               float cooccurrence_weight) {
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
    if (cooccurrence_weight > 0 && total > 0) {
      for (const std::string& word : tag.cooccurring_words) {
        const int32_t id = words.Find(word);
        if (id == WordVectors::kNoWord || id < stopword_rank) continue;
        known.push_back({id, cooccurrence_weight});  // not in `total`
      }
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

size_t AddCooccurringWords(const CooccurrenceTable& table, const WordVectors& words, int per_word,
                           std::vector<Tag>* tags) {
  if (per_word <= 0) return 0;
  const int32_t stopword_rank = StopwordRank(words);
  size_t added = 0;
  absl::flat_hash_set<int32_t> have;
  for (Tag& tag : *tags) {
    tag.cooccurring_words.clear();
    have.clear();
    for (const std::string& w : tag.words) have.insert(words.Find(w));
    const size_t core =
        tag.core_words >= 0 ? std::min(tag.words.size(), size_t(tag.core_words)) : tag.words.size();
    for (size_t k = 0; k < core; ++k) {
      const int32_t id = words.Find(tag.words[k]);
      if (id == WordVectors::kNoWord || id < stopword_rank) continue;
      int taken = 0;
      for (const CooccurrenceNeighbour& n : table.Neighbours(uint32_t(id))) {
        if (taken == per_word) break;
        const int32_t nid = int32_t(n.word);
        if (nid < stopword_rank || nid >= words.size() || !have.insert(nid).second) continue;
        tag.cooccurring_words.emplace_back(words.Word(nid));
        ++taken;
        ++added;
      }
    }
  }
  return added;
}

}  // namespace image2song
