// The only file of core/text that includes LibTorch (slow to compile).
#include "core/text/sentence_encoder.h"

#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

std::string Short(const std::exception& e, size_t n = 400) {
  std::string what = e.what();
  if (what.size() > n) what.resize(n);
  return what;
}

}  // namespace

struct SentenceEncoder::Model {
  torch::jit::Module module;
};

SentenceEncoder::~SentenceEncoder() = default;

absl::StatusOr<std::unique_ptr<SentenceEncoder>> SentenceEncoder::Create(
    const SentenceEncoderOptions& options) {
  if (options.max_batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("max_batch ", options.max_batch, " < 1"));
  }
  std::unique_ptr<SentenceEncoder> enc(new SentenceEncoder());
  enc->max_batch_ = options.max_batch;
  ASSIGN_OR_RETURN(enc->tokenizer_, SentencePieceTokenizer::Load(options.vocab_path));

  enc->model_ = std::make_unique<Model>();
  torch::jit::ExtraFilesMap extra{{"i2s_meta.json", ""}};
  try {
    c10::InferenceMode guard(false);
    enc->model_->module = torch::jit::load(options.model_path, torch::kCPU, extra);
    enc->model_->module.eval();
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load TorchScript model ", options.model_path, ": ", Short(e, 300)));
  }
  // The converter's metadata: the vocabulary must be the model's.
  const std::string& meta_text = extra["i2s_meta.json"];
  const auto meta = nlohmann::json::parse(meta_text, nullptr, /*allow_exceptions=*/false);
  if (!meta.is_object() || !meta.contains("vocab_size") || !meta.contains("max_len") ||
      !meta.contains("dim") || !meta["vocab_size"].is_number_integer() ||
      !meta["max_len"].is_number_integer() || !meta["dim"].is_number_integer()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.model_path,
                     ": no i2s_meta.json with vocab_size, max_len and dim "
                     "(not written by tools/assets/convert_use.py?)"));
  }
  if (meta["vocab_size"].get<int64_t>() != enc->tokenizer_->size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.model_path, " was converted with ", meta["vocab_size"].get<int64_t>(),
                     " pieces, ", options.vocab_path, " has ", enc->tokenizer_->size()));
  }
  enc->max_tokens_ = meta["max_len"].get<int>();
  enc->dim_ = meta["dim"].get<int>();
  if (enc->max_tokens_ < 1 || enc->dim_ < 1 || enc->dim_ > 65536) {
    return absl::InvalidArgumentError(absl::StrCat(options.model_path, ": bad max_len ",
                                                   enc->max_tokens_, " or dim ", enc->dim_));
  }

  // Warm up on a small batch of two lengths; the vectors must be unit length.
  const std::vector<std::string> probe = {"a cat sleeping by the fire",
                                          "Row, row, row your boat, gently down the stream", ""};
  for (int i = 0; i < std::max(1, options.warmup_runs); ++i) {
    auto v = enc->Encode(probe);
    if (!v.ok()) return WithContext(options.model_path, v.status());
    for (size_t r = 0; r < probe.size(); ++r) {
      double norm = 0;
      for (int k = 0; k < enc->dim_; ++k)
        norm += double((*v)[r * enc->dim_ + k]) * (*v)[r * enc->dim_ + k];
      if (!(std::fabs(norm - 1.0) < 1e-3)) {
        return absl::InvalidArgumentError(absl::StrCat(
            options.model_path, ": output row has squared norm ", norm, ", expected 1"));
      }
    }
  }
  return enc;
}

absl::StatusOr<std::vector<float>> SentenceEncoder::Encode(
    const std::vector<std::string>& sentences) const {
  std::vector<std::vector<int32_t>> ids;
  ids.reserve(sentences.size());
  for (const std::string& s : sentences) ids.push_back(tokenizer_->Encode(s));
  std::vector<float> out(sentences.size() * size_t(dim_));
  RETURN_IF_ERROR(EncodeIds(ids, out.data()));
  return out;
}

absl::Status SentenceEncoder::EncodeIds(const std::vector<std::vector<int32_t>>& ids,
                                        float* out) const {
  const int32_t vocab = tokenizer_->size();
  for (size_t r = 0; r < ids.size(); ++r) {
    for (int32_t id : ids[r]) {
      if (id < 0 || id >= vocab) {
        return absl::InvalidArgumentError(
            absl::StrCat("sentence ", r, ": piece id ", id, " outside [0, ", vocab, ")"));
      }
    }
  }
  // Group by (clipped) length so each pass pads little; stable for equal lengths.
  std::vector<size_t> order(ids.size());
  std::iota(order.begin(), order.end(), 0);
  auto clipped = [&](size_t r) { return std::min<size_t>(ids[r].size(), max_tokens_); };
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return clipped(a) < clipped(b); });
  std::vector<float> rows;
  for (size_t begin = 0; begin < order.size(); begin += max_batch_) {
    const size_t end = std::min(order.size(), begin + size_t(max_batch_));
    std::vector<const std::vector<int32_t>*> batch;
    for (size_t i = begin; i < end; ++i) batch.push_back(&ids[order[i]]);
    rows.resize(batch.size() * size_t(dim_));
    RETURN_IF_ERROR(Forward(batch, rows.data()));
    for (size_t i = begin; i < end; ++i) {
      std::memcpy(out + order[i] * dim_, rows.data() + (i - begin) * dim_, sizeof(float) * dim_);
    }
  }
  return absl::OkStatus();
}

absl::Status SentenceEncoder::Forward(const std::vector<const std::vector<int32_t>*>& rows,
                                      float* out) const {
  const int64_t b = static_cast<int64_t>(rows.size());
  int64_t t = 1;
  for (const auto* r : rows) t = std::max<int64_t>(t, std::min<int64_t>(r->size(), max_tokens_));
  try {
    c10::InferenceMode guard;
    at::Tensor x = torch::full({b, t}, -1, torch::kLong);
    int64_t* p = x.data_ptr<int64_t>();
    for (int64_t i = 0; i < b; ++i) {
      const auto& r = *rows[i];
      const int64_t n = std::min<int64_t>(r.size(), t);
      for (int64_t k = 0; k < n; ++k) p[i * t + k] = r[k];
    }
    // Module::forward is not const; the graph executor is thread-safe, so a
    // shallow copy of the handle is enough (as core/models/torch_model.cc).
    torch::jit::Module m = model_->module;
    at::Tensor y = m.forward({x}).toTensor().to(at::kFloat).contiguous();
    if (y.dim() != 2 || y.size(0) != b || y.size(1) != dim_) {
      return absl::InternalError(absl::StrCat("sentence encoder returned ", c10::str(y.sizes()),
                                              " for ", b, " sentences"));
    }
    std::memcpy(out, y.data_ptr<float>(), sizeof(float) * size_t(b) * dim_);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("sentence encoder forward failed: ", Short(e)));
  }
  return absl::OkStatus();
}

}  // namespace image2song
