// The only translation unit that includes LibTorch (slow to compile).
#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/models/image_model.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

// Collects a forward() result (tensor or tuple/list of tensors) as floats.
absl::StatusOr<std::vector<ModelOutput>> ToOutputs(const c10::IValue& value) {
  std::vector<at::Tensor> tensors;
  if (value.isTensor()) {
    tensors.push_back(value.toTensor());
  } else if (value.isTuple()) {
    for (const auto& v : value.toTupleRef().elements()) {
      if (!v.isTensor()) {
        return absl::InvalidArgumentError("model output tuple holds a non-tensor");
      }
      tensors.push_back(v.toTensor());
    }
  } else if (value.isTensorList()) {
    for (const at::Tensor& t : value.toTensorVector()) tensors.push_back(t);
  } else {
    return absl::InvalidArgumentError("model output must be a tensor or a tuple of tensors");
  }
  std::vector<ModelOutput> outputs;
  outputs.reserve(tensors.size());
  for (const at::Tensor& t : tensors) {
    at::Tensor c = t.to(at::kFloat).contiguous();
    ModelOutput out;
    out.shape.assign(c.sizes().begin(), c.sizes().end());
    out.data.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    outputs.push_back(std::move(out));
  }
  return outputs;
}

// LibTorch's default handler logs a warning every time an op issues it: a
// converted graph that resizes an out= tensor ("An output with one or more
// elements was resized...") wrote a line per request. This one logs each
// distinct warning once (and says so); later ones are dropped.
class LogOnceWarningHandler : public c10::WarningHandler {
 public:
  void process(const c10::SourceLocation& where, const std::string& msg,
               bool /*verbatim*/) override {
    std::string key = absl::StrCat(where.file, ":", where.line, " ", msg.substr(0, 120));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (seen_.size() >= 64 || !seen_.insert(std::move(key)).second) return;
    }
    I2S_LOG(WARNING) << "LibTorch (" << where.file << ":" << where.line
                     << "; logged once): " << msg;
  }

 private:
  std::mutex mu_;
  std::set<std::string> seen_;
};

// LibTorch 1.13 keeps the handler per thread: set on every forward pass.
c10::WarningHandler* WarningHandler() {
  static LogOnceWarningHandler* handler = new LogOnceWarningHandler();
  return handler;
}

class TorchImageModel : public ImageModel {
 public:
  TorchImageModel(torch::jit::Module module, std::string execution)
      : module_(std::move(module)), execution_(std::move(execution)) {
    has_head_ = module_.find_method("head").has_value();
  }

  using ImageModel::Run;
  absl::StatusOr<std::vector<ModelOutput>> Run(const float* input, int batch,
                                               double* forward_ms) const override {
    return Forward(module_, input, batch, h_, w_, forward_ms);
  }
  const std::string& execution() const override { return execution_; }

  bool has_head() const override { return has_head_; }
  absl::StatusOr<ModelOutput> RunHead(const float* features, int rows, int cols) const override {
    if (!has_head_) return ImageModel::RunHead(features, rows, cols);
    try {
      c10::Warning::WarningHandlerGuard warnings(WarningHandler());
      c10::InferenceMode guard;
      at::Tensor x = torch::from_blob(const_cast<float*>(features), {rows, cols}, at::kFloat);
      torch::jit::Module m = module_;
      ASSIGN_OR_RETURN(std::vector<ModelOutput> out, ToOutputs(m.run_method("head", x)));
      if (out.size() != 1 || out[0].shape.size() != 2 || out[0].shape[0] != rows) {
        return absl::InternalError("model head must return one [rows, labels] tensor");
      }
      return std::move(out[0]);
    } catch (const std::exception& e) {
      std::string what = e.what();
      if (what.size() > 400) what.resize(400);
      return absl::InternalError(absl::StrCat("model head failed: ", what));
    }
  }

  static absl::StatusOr<std::vector<ModelOutput>> Forward(const torch::jit::Module& module,
                                                          const float* input, int batch, int h,
                                                          int w, double* forward_ms = nullptr) {
    try {
      c10::Warning::WarningHandlerGuard warnings(WarningHandler());
      c10::InferenceMode guard;
      at::Tensor x = torch::from_blob(const_cast<float*>(input), {batch, 3, h, w}, at::kFloat);
      // Module::forward is not const; the underlying graph executor is
      // thread-safe, so a shallow copy of the handle is enough.
      torch::jit::Module m = module;
      const auto start = std::chrono::steady_clock::now();
      c10::IValue out = m.forward({x});
      auto outputs = ToOutputs(out);
      if (forward_ms != nullptr) {
        *forward_ms +=
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
      }
      return outputs;
    } catch (const std::exception& e) {
      std::string what = e.what();
      if (what.size() > 400) what.resize(400);
      return absl::InternalError(absl::StrCat("model forward failed: ", what));
    }
  }

  int h_ = 0, w_ = 0;

 private:
  torch::jit::Module module_;
  std::string execution_;
  bool has_head_ = false;
};

}  // namespace

void SetTorchThreads(int intra_op, int inter_op) {
  static std::once_flag once;
  if (intra_op > 0) at::set_num_threads(intra_op);
  std::call_once(once, [inter_op] {
    // May be set once per process, before any inter-op work.
    try {
      if (inter_op > 0) at::set_num_interop_threads(inter_op);
    } catch (const std::exception& e) {
      I2S_LOG(WARNING) << "cannot set inter-op threads: " << e.what();
    }
  });
}

absl::StatusOr<std::unique_ptr<ImageModel>> ImageModel::Load(const ImageModelOptions& options) {
  c10::Warning::WarningHandlerGuard warnings(WarningHandler());
  const int h = options.input_height, w = options.input_width;
  if (h <= 0 || w <= 0 || h > 4096 || w > 4096) {
    return absl::InvalidArgumentError(absl::StrCat("bad model input size ", w, "x", h));
  }
  torch::jit::Module plain;
  try {
    c10::InferenceMode guard(false);
    plain = torch::jit::load(options.path, torch::kCPU);
    plain.eval();
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (what.size() > 300) what.resize(300);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load TorchScript model ", options.path, ": ", what));
  }
  std::vector<float> ref = ReferenceInput(h, w);
  auto plain_out = TorchImageModel::Forward(plain, ref.data(), 1, h, w);
  if (!plain_out.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("model ", options.path, " fails on a ", w, "x",
                                                   h, " input: ", plain_out.status().message()));
  }

  torch::jit::Module chosen = plain;
  std::string execution = "plain";
  if (options.optimize) {
    std::vector<std::pair<std::string, torch::jit::Module>> variants;
    try {
      // Methods besides forward (the classifier's `head`) survive freezing
      // only when named.
      std::vector<std::string> methods;
      if (plain.find_method("head").has_value()) methods.push_back("head");
      torch::jit::Module frozen = torch::jit::freeze(plain, methods);
      variants.emplace_back("frozen", frozen);
      variants.emplace_back("optimized", torch::jit::optimize_for_inference(frozen, methods));
    } catch (const std::exception& e) {
      I2S_LOG(WARNING) << "model " << options.path << ": freeze/optimize failed, running plain: "
                       << std::string(e.what()).substr(0, 200);
    }
    // Prefer the most optimised variant that still matches.
    for (auto it = variants.rbegin(); it != variants.rend(); ++it) {
      auto out = TorchImageModel::Forward(it->second, ref.data(), 1, h, w);
      // Run twice: the profiling executor may specialise on the second call.
      if (out.ok()) out = TorchImageModel::Forward(it->second, ref.data(), 1, h, w);
      double diff = out.ok() ? RelativeDifference(*plain_out, *out) : INFINITY;
      if (diff <= options.tolerance) {
        chosen = it->second;
        execution = it->first;
        I2S_LOG(INFO) << "model " << options.path << ": using " << execution
                      << " (max relative difference to plain " << absl::StrFormat("%.2g", diff)
                      << ")";
        break;
      }
      I2S_LOG(WARNING) << "model " << options.path << ": " << it->first
                       << " variant differs from the plain model (relative "
                       << absl::StrFormat("%.3g", diff) << " > " << options.tolerance
                       << "); not used";
    }
  }
  if (plain.find_method("head").has_value() && !chosen.find_method("head").has_value()) {
    I2S_LOG(WARNING) << "model " << options.path << ": the " << execution
                     << " variant lost the head method; running plain";
    chosen = plain;
    execution = "plain";
  }
  auto model = std::make_unique<TorchImageModel>(chosen, execution);
  model->h_ = h;
  model->w_ = w;
  const int warm_batch = std::max(1, options.warmup_batch);
  std::vector<float> warm;
  warm.reserve(ref.size() * warm_batch);
  for (int b = 0; b < warm_batch; ++b) warm.insert(warm.end(), ref.begin(), ref.end());
  for (int i = 0; i < options.warmup_runs; ++i) {
    auto out = model->Run(warm.data(), warm_batch);
    if (!out.ok()) return out.status();
    // The head, on the model's own pooled features when it has them.
    if (model->has_head() && out->size() >= 2 && out->at(1).shape.size() == 2) {
      const ModelOutput& pooled = out->at(1);
      auto head = model->RunHead(pooled.data.data(), int(pooled.shape[0]), int(pooled.shape[1]));
      if (!head.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("model ", options.path, ": ", head.status().message()));
      }
    }
  }
  return std::unique_ptr<ImageModel>(std::move(model));
}

}  // namespace image2song
