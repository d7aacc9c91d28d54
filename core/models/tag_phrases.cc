#include "core/models/tag_phrases.h"

#include <cstring>
#include <mutex>

#include "absl/strings/str_replace.h"
#include "core/text/sentence_encoder.h"
#include "util/status_macros.h"

namespace image2song {

TagPhrases::~TagPhrases() = default;

absl::StatusOr<std::unique_ptr<TagPhrases>> TagPhrases::Load(
    const SentenceEncoderSpec& spec, const std::vector<std::string>& labels) {
  SentenceEncoderOptions eo;
  eo.model_path = spec.model_path;
  eo.vocab_path = spec.vocab_path;
  std::unique_ptr<TagPhrases> p(new TagPhrases());
  ASSIGN_OR_RETURN(p->encoder_, SentenceEncoder::Create(eo));
  p->id_ = spec.id;
  p->phrase_ = spec.phrase;
  p->dim_ = p->encoder_->dim();
  RETURN_IF_ERROR(p->Vectors(labels).status());
  return p;
}

std::string TagPhrases::Phrase(const std::string& label) const {
  return absl::StrReplaceAll(phrase_, {{"{label}", label}});
}

size_t TagPhrases::cached() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return row_.size();
}

absl::StatusOr<std::vector<float>> TagPhrases::Vectors(
    const std::vector<std::string>& labels) const {
  std::vector<float> out(labels.size() * size_t(dim_));
  std::vector<size_t> missing;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    for (size_t i = 0; i < labels.size(); ++i) {
      auto it = row_.find(labels[i]);
      if (it == row_.end()) {
        missing.push_back(i);
      } else {
        std::memcpy(&out[i * dim_], &table_[it->second * dim_], sizeof(float) * dim_);
      }
    }
  }
  if (missing.empty()) return out;
  // Distinct new labels, embedded outside the lock.
  absl::flat_hash_map<std::string, size_t> fresh;
  std::vector<std::string> phrases;
  for (size_t i : missing) {
    if (fresh.try_emplace(labels[i], phrases.size()).second) phrases.push_back(Phrase(labels[i]));
  }
  ASSIGN_OR_RETURN(std::vector<float> vectors, encoder_->Encode(phrases));
  for (size_t i : missing) {
    std::memcpy(&out[i * dim_], &vectors[fresh[labels[i]] * dim_], sizeof(float) * dim_);
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  for (const auto& [label, r] : fresh) {
    if (row_.size() >= kMaxCached) break;
    if (!row_.try_emplace(label, row_.size()).second) continue;
    table_.insert(table_.end(), vectors.begin() + r * dim_, vectors.begin() + (r + 1) * dim_);
  }
  return out;
}

}  // namespace image2song
