#include "core/bundle/embedder.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace image2song {
namespace {

// Adds the SIF-weighted mean of `tokens`' vectors, unit-normalised and
// scaled by `weight`, to `acc`. Returns whether any word was known.
bool AddSifMean(const WordVectors& words, const std::vector<std::string>& tokens, float weight,
                std::vector<float>* acc) {
  const int dim = words.dim();
  std::vector<float> sum(dim, 0.0f);
  bool any = false;
  for (const std::string& t : tokens) {
    int32_t id = words.FindToken(t);
    if (id == WordVectors::kNoWord) continue;
    any = true;
    float w = words.SifWeight(id);
    const float* v = words.Vector(id);
    for (int d = 0; d < dim; ++d) sum[d] += w * v[d];
  }
  if (!any) return false;
  Normalize(sum.data(), dim);
  for (int d = 0; d < dim; ++d) (*acc)[d] += weight * sum[d];
  return true;
}

}  // namespace

void CommonComponent::Apply(float* v, int dim) const {
  if (int(mean.size()) == dim) {
    for (int d = 0; d < dim; ++d) v[d] -= mean[d];
  }
  if (int(pc.size()) == dim) {
    double dot = 0;
    for (int d = 0; d < dim; ++d) dot += double(v[d]) * pc[d];
    for (int d = 0; d < dim; ++d) v[d] -= static_cast<float>(dot) * pc[d];
  }
  Normalize(v, dim);
}

SongEmbedder::SongEmbedder(const WordVectors* words)
    : words_(words), stopword_rank_(StopwordRank(*words)) {}

EmbeddedSong SongEmbedder::Embed(const SongRecord& record) const {
  const int dim = words_->dim();
  EmbeddedSong out;
  out.vector.assign(dim, 0.0f);
  std::vector<std::string> lyric_tokens, line_tokens;
  for (absl::string_view raw : absl::StrSplit(record.lyrics, '\n')) {
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty()) continue;
    const uint32_t line_no = static_cast<uint32_t>(out.lines.size());
    out.lines.emplace_back(line);
    line_tokens.clear();
    Tokenize(line, &line_tokens);
    for (const std::string& t : line_tokens) {
      ++out.words_total;
      int32_t id = words_->FindToken(t);
      if (id == WordVectors::kNoWord) continue;
      ++out.words_known;
      if (id >= stopword_rank_ && out.tokens.size() < kMaxTokens) {
        out.tokens.push_back(LyricToken{static_cast<uint32_t>(id), line_no});
      }
    }
    lyric_tokens.insert(lyric_tokens.end(), line_tokens.begin(), line_tokens.end());
  }
  AddSifMean(*words_, lyric_tokens, 1.0f, &out.vector);
  std::vector<std::string> title_tokens;
  Tokenize(record.title, &title_tokens);
  AddSifMean(*words_, title_tokens, kTitleWeight, &out.vector);
  std::vector<std::string> tag_tokens;
  for (const std::string& tag : record.tags) Tokenize(tag, &tag_tokens);
  AddSifMean(*words_, tag_tokens, kTagWeight, &out.vector);
  Normalize(out.vector.data(), dim);
  return out;
}

CommonComponent SongEmbedder::Fit(const float* vectors, int64_t n, int dim) {
  CommonComponent c;
  c.mean.assign(dim, 0.0f);
  c.pc.assign(dim, 0.0f);
  if (n == 0) return c;
  std::vector<double> mean(dim, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int d = 0; d < dim; ++d) mean[d] += vectors[i * dim + d];
  }
  for (int d = 0; d < dim; ++d) c.mean[d] = static_cast<float>(mean[d] / n);
  if (n < 3) return c;
  // Covariance of the centred vectors (dim x dim), then power iteration.
  std::vector<double> cov(size_t(dim) * dim, 0.0);
  std::vector<double> x(dim);
  for (int64_t i = 0; i < n; ++i) {
    for (int d = 0; d < dim; ++d) x[d] = vectors[i * dim + d] - c.mean[d];
    for (int a = 0; a < dim; ++a) {
      double xa = x[a];
      double* row = &cov[size_t(a) * dim];
      for (int b = 0; b < dim; ++b) row[b] += xa * x[b];
    }
  }
  std::vector<double> v(dim), next(dim);
  for (int d = 0; d < dim; ++d) v[d] = 1.0 / std::sqrt(double(dim)) + 1e-3 * d;
  for (int iter = 0; iter < 200; ++iter) {
    double norm = 0;
    for (int a = 0; a < dim; ++a) {
      double s = 0;
      for (int b = 0; b < dim; ++b) s += cov[size_t(a) * dim + b] * v[b];
      next[a] = s;
      norm += s * s;
    }
    norm = std::sqrt(norm);
    if (norm <= 0) return c;
    double change = 0;
    for (int d = 0; d < dim; ++d) {
      next[d] /= norm;
      change += std::fabs(next[d] - v[d]);
    }
    v.swap(next);
    if (change < 1e-9) break;
  }
  for (int d = 0; d < dim; ++d) c.pc[d] = static_cast<float>(v[d]);
  return c;
}

}  // namespace image2song
