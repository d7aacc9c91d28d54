#include "core/words/word_vectors.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

constexpr char kMagic[8] = {'I', '2', 'S', 'W', 'V', 'E', 'C', '1'};
constexpr size_t kHeaderBytes = 8 + 4 * 4;
// SIF's "a": 1e-3 as in Arora et al. 2017.
constexpr double kSifA = 1e-3;

uint32_t ReadU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<WordVectors>> WordVectors::Load(const std::string& path,
                                                               const std::string& id) {
  ASSIGN_OR_RETURN(MappedFile file, MappedFile::Open(path));
  const char* p = file.data();
  size_t size = file.size();
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("word vectors ", path, " are invalid: ", why));
  };
  if (size < kHeaderBytes || std::memcmp(p, kMagic, 8) != 0) {
    return bad("missing I2SWVEC1 header");
  }
  uint32_t version = ReadU32(p + 8);
  uint32_t dim = ReadU32(p + 12);
  uint32_t count = ReadU32(p + 16);
  uint32_t words_bytes = ReadU32(p + 20);
  if (version != 1) return bad(absl::StrCat("unsupported version ", version));
  if (dim == 0 || dim > 4096) return bad(absl::StrCat("dimension ", dim));
  if (count == 0) return bad("no words");
  size_t vec_offset = (kHeaderBytes + words_bytes + 3) / 4 * 4;
  size_t expected = vec_offset + size_t(count) * dim * sizeof(float);
  if (size != expected) {
    return bad(absl::StrCat("size ", size, " != expected ", expected));
  }
  auto wv = std::unique_ptr<WordVectors>(new WordVectors());
  wv->id_ = id;
  wv->dim_ = static_cast<int>(dim);
  absl::string_view blob(p + kHeaderBytes, words_bytes);
  wv->words_.reserve(count);
  size_t start = 0;
  for (size_t i = 0; i < blob.size(); ++i) {
    if (blob[i] == '\n') {
      wv->words_.push_back(blob.substr(start, i - start));
      start = i + 1;
    }
  }
  if (wv->words_.size() != count || start != blob.size()) {
    return bad(absl::StrCat("word list holds ", wv->words_.size(), " words, header says ", count));
  }
  wv->vectors_ = reinterpret_cast<const float*>(p + vec_offset);
  wv->file_ = std::move(file);
  absl::Status indexed = wv->Index();
  if (!indexed.ok()) return bad(indexed.message());
  return wv;
}

absl::StatusOr<std::unique_ptr<WordVectors>> WordVectors::FromData(std::vector<std::string> words,
                                                                   std::vector<float> vectors,
                                                                   int dim, const std::string& id) {
  if (dim <= 0 || words.empty() || vectors.size() != words.size() * dim) {
    return absl::InvalidArgumentError("word vectors: shape mismatch");
  }
  auto wv = std::unique_ptr<WordVectors>(new WordVectors());
  wv->id_ = id;
  wv->dim_ = dim;
  wv->owned_words_ = std::move(words);
  wv->owned_ = std::move(vectors);
  for (const std::string& w : wv->owned_words_) wv->words_.push_back(w);
  wv->vectors_ = wv->owned_.data();
  RETURN_IF_ERROR(wv->Index());
  return wv;
}

absl::Status WordVectors::Index() {
  const size_t n = words_.size();
  by_word_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    by_word_.emplace(words_[i], static_cast<int32_t>(i));  // first one wins
  }
  unit_.resize(n * dim_);
  for (size_t i = 0; i < n; ++i) {
    const float* v = vectors_ + i * dim_;
    double norm = 0;
    for (int d = 0; d < dim_; ++d) norm += double(v[d]) * v[d];
    norm = std::sqrt(norm);
    if (!std::isfinite(norm)) {
      return absl::DataLossError(absl::StrCat("word vector of '", words_[i], "' is not finite"));
    }
    float inv = norm > 0 ? static_cast<float>(1.0 / norm) : 0.0f;
    for (int d = 0; d < dim_; ++d) unit_[i * dim_ + d] = v[d] * inv;
  }
  // Zipf: p(rank r) = 1 / ((r + 1) * H_n), H_n the n-th harmonic number.
  double harmonic = 0;
  for (size_t r = 1; r <= n; ++r) harmonic += 1.0 / double(r);
  sif_.resize(n);
  for (size_t r = 0; r < n; ++r) {
    double p = 1.0 / (double(r + 1) * harmonic);
    sif_[r] = static_cast<float>(kSifA / (kSifA + p));
  }
  return absl::OkStatus();
}

int32_t WordVectors::Find(absl::string_view word) const {
  auto it = by_word_.find(word);
  return it == by_word_.end() ? kNoWord : it->second;
}

int32_t WordVectors::FindToken(absl::string_view token) const {
  int32_t id = Find(token);
  if (id != kNoWord) return id;
  size_t apos = token.find('\'');
  if (apos == absl::string_view::npos) return kNoWord;
  if (apos > 0) {
    id = Find(token.substr(0, apos));
    if (id != kNoWord) return id;
  }
  std::string joined;
  for (char c : token) {
    if (c != '\'') joined.push_back(c);
  }
  return Find(joined);
}

void Tokenize(absl::string_view text, std::vector<std::string>* out) {
  std::string cur;
  auto flush = [&]() {
    while (!cur.empty() && cur.back() == '\'') cur.pop_back();
    size_t lead = 0;
    while (lead < cur.size() && cur[lead] == '\'') ++lead;
    if (lead < cur.size()) out->push_back(cur.substr(lead));
    cur.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    // U+2019 RIGHT SINGLE QUOTATION MARK (E2 80 99) is an apostrophe too.
    if (c == '\xE2' && i + 2 < text.size() && text[i + 1] == '\x80' && text[i + 2] == '\x99') {
      c = '\'';
      i += 2;
    }
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      cur.push_back(c);
    } else if ((c == '\'') && !cur.empty()) {
      cur.push_back(c);
    } else {
      flush();
    }
  }
  flush();
}

int32_t StopwordRank(const WordVectors& words) {
  return std::min<int32_t>(kStopwordRank, words.size() / 100);
}

void Normalize(float* v, int dim) {
  double s = 0;
  for (int d = 0; d < dim; ++d) s += double(v[d]) * v[d];
  if (s <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(s));
  for (int d = 0; d < dim; ++d) v[d] *= inv;
}

}  // namespace image2song
