// PNG decoding on libpng (core/image/image_codecs.h).
#include <png.h>

#include <csetjmp>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/image/image_codecs.h"

namespace image2song {
namespace {

struct Reader {
  const unsigned char* data;
  size_t size;
  size_t at;
  std::string error;
};

void OnError(png_structp png, png_const_charp message) {
  auto* r = static_cast<Reader*>(png_get_error_ptr(png));
  r->error = message != nullptr ? message : "unknown error";
  png_longjmp(png, 1);
}

// libpng's default prints warnings to stderr (a line per request for an
// image with, say, an incorrect sRGB profile): they are dropped.
void OnWarning(png_structp, png_const_charp) {}

void Read(png_structp png, png_bytep out, png_size_t length) {
  auto* r = static_cast<Reader*>(png_get_io_ptr(png));
  if (length > r->size - r->at) png_error(png, "the data ends early (truncated PNG)");
  std::memcpy(out, r->data + r->at, length);
  r->at += length;
}

}  // namespace

absl::StatusOr<DecodedPixels> DecodePng(absl::string_view bytes) {
  Reader reader{reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), 0, {}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &reader, OnError, OnWarning);
  if (png == nullptr) return absl::ResourceExhaustedError("cannot start the PNG decoder");
  png_infop info = png_create_info_struct(png);
  DecodedPixels out;
  std::vector<png_bytep> rows;
  if (info == nullptr || setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, info != nullptr ? &info : nullptr, nullptr);
    return absl::InvalidArgumentError(absl::StrCat("corrupt PNG: ", reader.error));
  }
  png_set_read_fn(png, &reader, Read);
  png_read_info(png, info);
  const png_uint_32 w = png_get_image_width(png, info);
  const png_uint_32 h = png_get_image_height(png, info);
  const int depth = png_get_bit_depth(png, info);
  const int type = png_get_color_type(png, info);
  if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  // Alpha, including a palette's or grey's tRNS that expansion turns into
  // alpha, is dropped.
  png_set_strip_alpha(png);
  if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) {
    png_set_gray_to_rgb(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != size_t(w) * 3) {
    reader.error = "unexpected row size after conversion";
    png_longjmp(png, 1);
  }
  out.width = static_cast<int>(w);
  out.height = static_cast<int>(h);
  out.rgb.resize(size_t(w) * h * 3);
  rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y) rows[y] = out.rgb.data() + size_t(y) * w * 3;
  png_read_image(png, rows.data());
  // Chunks after the image data (text, time) are not read: nothing in them
  // changes the pixels.
  png_destroy_read_struct(&png, &info, nullptr);
  return out;
}

}  // namespace image2song
