#include "core/models/label_words.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

struct ScoredRow {
  int64_t id = 0;
  float score = 0;
};

// The k rows of `base` (n x dim) with the largest inner product with each
// query (nq x dim), best first (ties: lower row first). Exact; used once at
// load on at most a few thousand labels.
std::vector<std::vector<ScoredRow>> NearestRows(const float* base, int64_t n, const float* queries,
                                                size_t nq, int dim, int k) {
  std::vector<std::vector<ScoredRow>> out(nq);
  std::vector<ScoredRow> all(n);
  for (size_t q = 0; q < nq; ++q) {
    const float* qv = queries + q * dim;
    for (int64_t i = 0; i < n; ++i) {
      const float* row = base + i * dim;
      float s = 0;
      for (int d = 0; d < dim; ++d) s += qv[d] * row[d];
      all[i] = ScoredRow{i, s};
    }
    const int64_t keep = std::min<int64_t>(k, n);
    auto better = [](const ScoredRow& a, const ScoredRow& b) {
      return a.score != b.score ? a.score > b.score : a.id < b.id;
    };
    std::partial_sort(all.begin(), all.begin() + keep, all.end(), better);
    out[q].assign(all.begin(), all.begin() + keep);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<LabelEntry>> LoadLabelFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, int64_t{64} << 20));
  std::vector<LabelEntry> labels;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols = absl::StrSplit(line, '\t');
    if (cols.size() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": expected index<TAB>label<TAB>words"));
    }
    int index = 0;
    if (!absl::SimpleAtoi(cols[0], &index) || index != int(labels.size())) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": expected label index ", labels.size()));
    }
    LabelEntry e;
    e.label = cols[1];
    if (cols.size() > 2) {
      e.words = absl::StrSplit(cols[2], ' ', absl::SkipEmpty());
    }
    if (cols.size() > 3) {
      e.related = absl::StrSplit(cols[3], ' ', absl::SkipEmpty());
    }
    labels.push_back(std::move(e));
  }
  if (labels.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no labels"));
  }
  return labels;
}

absl::StatusOr<size_t> PrepareLabelWords(const WordVectors& words, const LabelWordOptions& options,
                                         std::vector<LabelEntry>* labels) {
  size_t dropped = 0;
  for (LabelEntry& e : *labels) {
    std::vector<std::string> kept;
    for (std::string& w : e.words) {
      if (words.Find(w) != WordVectors::kNoWord) {
        kept.push_back(std::move(w));
      } else {
        ++dropped;
      }
    }
    e.words = std::move(kept);
  }
  if (options.related) {
    for (LabelEntry& e : *labels) {
      if (e.words.empty()) continue;
      e.core_words = static_cast<int>(e.words.size());
      for (std::string& w : e.related) {
        if (words.Find(w) == WordVectors::kNoWord) {
          ++dropped;
        } else if (std::find(e.words.begin(), e.words.end(), w) == e.words.end()) {
          e.words.push_back(std::move(w));
        }
      }
    }
  }
  const int count = options.count;
  if (count <= 0) return dropped;
  const float min_cosine = options.min_cosine;
  const int32_t vocab = std::min<int32_t>(options.vocabulary, words.size());
  // Skip the most frequent words ("the", "and"): never useful expansions.
  const int32_t first = std::min<int32_t>(150, vocab / 100);
  const int dim = words.dim();
  std::vector<float> queries;
  std::vector<size_t> which;
  for (size_t i = 0; i < labels->size(); ++i) {
    if ((*labels)[i].words.empty()) continue;
    std::vector<float> q(dim, 0.0f);
    const LabelEntry& e = (*labels)[i];
    const size_t core = e.core_words >= 0 ? size_t(e.core_words) : e.words.size();
    for (size_t k = 0; k < core; ++k) {
      const std::string& w = e.words[k];
      const float* u = words.UnitVector(words.Find(w));
      for (int d = 0; d < dim; ++d) q[d] += u[d];
    }
    queries.insert(queries.end(), q.begin(), q.end());
    which.push_back(i);
  }
  if (which.empty() || vocab <= first) return dropped;
  const auto neighbours = NearestRows(words.UnitVector(first), vocab - first, queries.data(),
                                      which.size(), dim, count + 8);
  for (size_t q = 0; q < which.size(); ++q) {
    LabelEntry& e = (*labels)[which[q]];
    if (e.core_words < 0) e.core_words = static_cast<int>(e.words.size());
    // Cosine with the normalised query = inner product / |query|.
    double norm = 0;
    for (int d = 0; d < dim; ++d) norm += double(queries[q * dim + d]) * queries[q * dim + d];
    norm = std::sqrt(norm);
    int added = 0;
    for (const ScoredRow& n : neighbours[q]) {
      if (added >= count || norm <= 0 || n.score / norm < min_cosine) break;
      std::string word(words.Word(static_cast<int32_t>(n.id + first)));
      if (std::find(e.words.begin(), e.words.end(), word) != e.words.end()) continue;
      e.words.push_back(std::move(word));
      ++added;
    }
  }
  return dropped;
}

}  // namespace image2song
