// Image decoding with limits, and model-input preprocessing. No OpenCV types
// in this header (image.cc is the only place that includes OpenCV).
#ifndef IMAGE2SONG_CORE_IMAGE_IMAGE_H_
#define IMAGE2SONG_CORE_IMAGE_IMAGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace image2song {

enum class ImageFormat { kUnknown, kJpeg, kPng, kWebp, kBmp };
const char* ImageFormatName(ImageFormat format);

// What the container header says, read without decoding pixels.
struct ImageHeader {
  ImageFormat format = ImageFormat::kUnknown;
  int64_t width = 0;
  int64_t height = 0;
};

// Reads format and dimensions from the first bytes. INVALID_ARGUMENT names
// the problem: empty, unknown format, truncated header, zero size.
absl::StatusOr<ImageHeader> SniffImage(absl::string_view bytes);

struct DecodeOptions {
  // Encoded size limit. Default: 16 MiB.
  int64_t max_bytes = int64_t{16} << 20;
  // Pixel-count limit checked on the header before decoding (decompression
  // bombs). Default: 100 megapixels.
  int64_t max_pixels = 100'000'000;
  // The decoded image is reduced so that its shorter side is at least this
  // many pixels and less than twice as many: a JPEG is decoded at 1/2, 1/4
  // or 1/8 scale (DCT scaling) where that keeps the side at least this big;
  // an image still at least twice as big is then area-resized to this size.
  // The taggers resize it once more, to their inputs. Default: 448; the
  // server and the benchmarks use their model set's (ModelSet::
  // working_size: 224 for the default models).
  int working_size = 448;
};

// 8-bit RGB pixels, row-major, interleaved (width * height * 3 bytes).
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;
  // Size of the image as encoded (after EXIF orientation).
  int64_t original_width = 0;
  int64_t original_height = 0;
  ImageFormat format = ImageFormat::kUnknown;
};

// The checks of DecodeImage that need no decoding (byte size, format,
// declared pixel count): cheap enough to run before a request is queued.
absl::StatusOr<ImageHeader> CheckImageBytes(absl::string_view bytes, const DecodeOptions& options);

// Decodes an untrusted encoded image. Bytes after the image's end (JPEG EOI,
// PNG IEND) are ignored; a JPEG missing only its end marker is accepted.
// Errors are INVALID_ARGUMENT with a
// message that says what is wrong (empty, too large, unsupported format,
// truncated, corrupt, too many pixels).
absl::StatusOr<RgbImage> DecodeImage(absl::string_view bytes, const DecodeOptions& options);

// Model input preprocessing: crops the normalised box (x0, y0, x1, y1 in
// [0,1]) out of `image`, resizes it to width x height and writes planar
// float32 CHW values (pixel - mean[c]) / std[c] into `out` (3*w*h floats).
struct CropBox {
  float x0 = 0, y0 = 0, x1 = 1, y1 = 1;
};
void PreprocessToChw(const RgbImage& image, const CropBox& box, int width, int height,
                     const float mean[3], const float std[3], float* out);

// Encodes an RGB image (tests and tools). `ext` is ".png", ".jpg", ...
absl::StatusOr<std::string> EncodeImage(const RgbImage& image, const std::string& ext);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_IMAGE_IMAGE_H_
