#include "core/bundle/imputation.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "util/status_macros.h"

namespace image2song {

absl::Status CheckImputationOptions(const ImputationOptions& o) {
  if (o.k < 0 || o.k > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("imputation k must be in 0..1000; got ", o.k));
  }
  if (o.vote != "similarity" && o.vote != "majority") {
    return absl::InvalidArgumentError(
        absl::StrCat("imputation vote must be similarity or majority; got '", o.vote, "'"));
  }
  if (!(o.min_confidence >= 0 && o.min_confidence <= 1)) {
    return absl::InvalidArgumentError("imputation min_confidence must be in [0, 1]");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ImputedValue>> ImputeByNeighbours(const SongIndex& index,
                                                             const std::vector<std::string>& known,
                                                             const ImputationOptions& options) {
  RETURN_IF_ERROR(CheckImputationOptions(options));
  const int64_t n = index.size();
  if (int64_t(known.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("imputation: ", known.size(), " values for ", n, " songs"));
  }
  std::vector<ImputedValue> out(n);
  if (options.k == 0) return out;
  std::vector<uint8_t> allowed((n + 7) / 8, 0);
  int64_t allowed_count = 0, missing = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (known[i].empty()) {
      ++missing;
    } else {
      allowed[i >> 3] |= uint8_t(1u << (i & 7));
      ++allowed_count;
    }
  }
  if (allowed_count == 0 || missing == 0) return out;
  const bool by_similarity = options.vote == "similarity";
  std::vector<float> query(index.dim());
  for (int64_t i = 0; i < n; ++i) {
    if (!known[i].empty()) continue;
    index.Reconstruct(i, query.data());
    ASSIGN_OR_RETURN(std::vector<ScoredId> near,
                     index.Search(query.data(), options.k, &allowed, allowed_count));
    // Votes per value; `first` remembers which value a nearer song held, for
    // ties.
    absl::flat_hash_map<absl::string_view, std::pair<double, size_t>> votes;
    double total = 0;
    for (size_t r = 0; r < near.size(); ++r) {
      if (near[r].id < 0 || near[r].id >= n || known[near[r].id].empty()) continue;
      const double w = by_similarity ? std::max(0.0f, near[r].score) : 1.0;
      auto [it, inserted] = votes.try_emplace(known[near[r].id], 0.0, r);
      it->second.first += w;
      total += w;
    }
    if (votes.empty() || total <= 0) continue;
    absl::string_view best;
    double best_w = -1;
    size_t best_rank = 0;
    for (const auto& [value, v] : votes) {
      if (v.first > best_w || (v.first == best_w && v.second < best_rank)) {
        best = value;
        best_w = v.first;
        best_rank = v.second;
      }
    }
    const float confidence = float(std::min(1.0, best_w / total));
    if (confidence < options.min_confidence || confidence <= 0) continue;
    out[i].value = std::string(best);
    out[i].confidence = confidence;
  }
  return out;
}

}  // namespace image2song
