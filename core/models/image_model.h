// A TorchScript image model behind a torch-free interface (torch_model.cc is
// the only file that includes LibTorch).
#ifndef IMAGE2SONG_CORE_MODELS_IMAGE_MODEL_H_
#define IMAGE2SONG_CORE_MODELS_IMAGE_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace image2song {

struct ImageModelOptions {
  // TorchScript file (plain traced or scripted module). Required.
  std::string path;
  // Input size the model expects. Required.
  int input_width = 224;
  int input_height = 224;
  // Try torch::jit::freeze + optimize_for_inference and keep the fastest
  // variant whose outputs match the plain model on a reference input.
  // Default: true.
  bool optimize = true;
  // Largest allowed |optimized - plain| / max|plain| per output. Default: 1%.
  float tolerance = 0.01f;
  // Forward passes run at load so the profiling executor has settled before
  // the first request. Default: 3.
  int warmup_runs = 3;
  // Batch size of the warm-up passes (the batch the caller will use; the
  // profiling executor specialises on shapes). Default: 1.
  int warmup_batch = 1;
};

struct ModelOutput {
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major, batch first
};

// Thread-safety: Run() is safe to call concurrently.
class ImageModel {
 public:
  static absl::StatusOr<std::unique_ptr<ImageModel>> Load(const ImageModelOptions& options);
  virtual ~ImageModel() = default;

  // `input` holds batch * 3 * height * width floats (NCHW). Returns every
  // output of the model (a tensor or a tuple of tensors) as float arrays.
  // Adds the milliseconds of the forward pass that served the call to
  // `*forward_ms` (when not null): the rest of a stage is cropping, resizing
  // and decoding of outputs. A batched call counts its batch's pass.
  virtual absl::StatusOr<std::vector<ModelOutput>> Run(const float* input, int batch,
                                                       double* forward_ms) const = 0;
  absl::StatusOr<std::vector<ModelOutput>> Run(const float* input, int batch) const {
    return Run(input, batch, nullptr);
  }
  // "optimized", "frozen" or "plain".
  virtual const std::string& execution() const = 0;

  // True when the model has a `head` method: the layers after its global
  // pool, taking pooled features [N, C] to label scores [N, labels]. With the
  // pre-pool feature map among the outputs of Run(), a caller pools any
  // region of the map and scores it without another forward pass
  // (class-activation style).
  virtual bool has_head() const { return false; }
  // Runs `head` on `rows` feature vectors of `cols` floats each. Cheap (one
  // linear layer for MobileNetV2) and never batched across calls.
  virtual absl::StatusOr<ModelOutput> RunHead(const float* features, int rows, int cols) const;
};

// Largest |a - b| relative to max |a| over all outputs; +inf on a different
// number of outputs, different shapes or non-finite values.
double RelativeDifference(const std::vector<ModelOutput>& a, const std::vector<ModelOutput>& b);

// A deterministic 3 x h x w input in the usual normalised range (smooth
// gradients with texture); `variant` gives a different image.
std::vector<float> ReferenceInput(int h, int w, int variant = 0);

// Sets LibTorch's intra-op and inter-op thread counts (process-wide; call
// once before loading models).
void SetTorchThreads(int intra_op, int inter_op);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_MODELS_IMAGE_MODEL_H_
