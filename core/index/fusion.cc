#include "core/index/fusion.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"

namespace image2song {

std::vector<FusedCandidate> FuseReciprocalRank(const std::vector<ScoredId>& dense,
                                               const std::vector<ScoredId>& lexical,
                                               const FusionOptions& options, int limit) {
  std::vector<FusedCandidate> out;
  if (limit <= 0) return out;
  const float k = std::max(0.0f, options.k);
  absl::flat_hash_map<int64_t, size_t> at;
  at.reserve(dense.size() + lexical.size());
  auto add = [&](const std::vector<ScoredId>& list, float weight, bool is_dense) {
    for (size_t r = 0; r < list.size(); ++r) {
      auto [it, inserted] = at.try_emplace(list[r].id, out.size());
      if (inserted) {
        if (weight <= 0) {  // an unweighted channel brings no songs
          at.erase(it);
          continue;
        }
        out.push_back(FusedCandidate{});
        out.back().id = list[r].id;
      }
      FusedCandidate& c = out[it->second];
      int& rank = is_dense ? c.dense_rank : c.lexical_rank;
      if (rank != 0) continue;  // a repeated id keeps its first rank
      rank = int(r) + 1;
      (is_dense ? c.dense_score : c.lexical_score) = list[r].score;
      if (weight > 0) c.fused += weight / (k + float(rank));
    }
  };
  add(dense, options.dense_weight, true);
  add(lexical, options.lexical_weight, false);
  auto dense_order = [](const FusedCandidate& c) {
    return c.dense_rank > 0 ? c.dense_rank : 1 << 30;
  };
  auto better = [&](const FusedCandidate& a, const FusedCandidate& b) {
    if (a.fused != b.fused) return a.fused > b.fused;
    if (dense_order(a) != dense_order(b)) return dense_order(a) < dense_order(b);
    return a.id < b.id;
  };
  if (int(out.size()) > limit) {
    std::partial_sort(out.begin(), out.begin() + limit, out.end(), better);
    out.resize(limit);
  } else {
    std::sort(out.begin(), out.end(), better);
  }
  return out;
}

}  // namespace image2song
