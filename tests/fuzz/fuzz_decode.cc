// libFuzzer target: untrusted image bytes through DecodeImage and the model
// preprocessing (crop + resize + normalise). Every input must either decode
// to a sane RGB image or give INVALID_ARGUMENT; nothing may crash, leak or
// read out of bounds (built with ASan + UBSan, tools/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace image2song;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  DecodeOptions options;
  options.max_bytes = 4 << 20;
  options.max_pixels = 4'000'000;  // keep each run fast; the server allows more
  options.working_size = 64;
  absl::StatusOr<RgbImage> image = DecodeImage(bytes, options);
  if (!image.ok()) {
    if (image.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    return 0;
  }
  if (image->width <= 0 || image->height <= 0 ||
      image->pixels.size() != size_t(image->width) * image->height * 3 ||
      int64_t(image->width) * image->height > options.max_pixels) {
    std::abort();
  }
  const float mean[3] = {128, 128, 128}, std[3] = {128, 128, 128};
  std::vector<float> out(3 * 32 * 32);
  PreprocessToChw(*image, CropBox{0.5f, 0.5f, 1.0f, 1.0f}, 32, 32, mean, std, out.data());
  PreprocessToChw(*image, CropBox{}, 32, 32, mean, std, out.data());
  return 0;
}
