// The JPEG and PNG decoders behind core/image/image.h DecodeImage, on libjpeg and
// libpng directly (not through OpenCV) so that their warnings are ours to
// handle: a damaged scan is refused instead of coming out half grey, and a
// file libpng or libjpeg would warn about ("iCCP: known incorrect sRGB
// profile", "Corrupt JPEG data") writes nothing to stderr. Pure functions
// over untrusted bytes (fuzzed by tests/fuzz/fuzz_decode.cc); no OpenCV.
#ifndef IMAGE2SONG_CORE_IMAGE_IMAGE_CODECS_H_
#define IMAGE2SONG_CORE_IMAGE_IMAGE_CODECS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace image2song {

struct JpegLayout {
  // Offset just past the end-of-image marker (FF D9) that ends the first
  // image, or the input size when the marker is missing.
  size_t end = 0;
  bool has_end_marker = false;
  // Scans (SOS segments) walked, and bytes after `end` (trailing data:
  // a newline, a motion photo's video, a second picture).
  int scans = 0;
  size_t trailing_bytes = 0;
};

// Walks the marker segments and entropy-coded scans of the JPEG in `bytes`
// (which starts with SOI): segments are skipped by their length, so an EXIF
// thumbnail's end marker inside APP1 is not taken for the image's. Errors
// (INVALID_ARGUMENT): a byte where a marker must be, a bad segment length,
// image data before the frame header, no scan at all.
absl::StatusOr<JpegLayout> JpegExtent(absl::string_view bytes);

// 8-bit RGB pixels, row-major, interleaved, as stored (EXIF orientation
// not yet applied).
struct DecodedPixels {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;
  // EXIF orientation 1..8 (1: as stored); JPEG only.
  int orientation = 1;
};

// Decodes a JPEG (its bytes up to the end marker, or all of them when it is
// missing) at 1/scale_denom size (1, 2, 4 or 8: libjpeg's DCT scaling).
// Grayscale, YCbCr, RGB, CMYK and YCCK (Adobe) become RGB. Errors are
// INVALID_ARGUMENT: "truncated JPEG: ..." when the data ends inside a scan
// (part of the picture would be grey), "corrupt JPEG: <libjpeg's reason>".
absl::StatusOr<DecodedPixels> DecodeJpeg(absl::string_view bytes, int scale_denom);

// Decodes a PNG (its bytes up to the end of IEND) to 8-bit RGB: palette,
// grayscale, alpha (dropped, as OpenCV does) and 16-bit (high byte) are
// converted. Errors are INVALID_ARGUMENT "corrupt PNG: <libpng's reason>".
absl::StatusOr<DecodedPixels> DecodePng(absl::string_view bytes);

// The EXIF orientation (1..8) in an APP1 "Exif" segment's payload, or 1.
int ExifOrientation(absl::string_view app1);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_IMAGE_IMAGE_CODECS_H_
