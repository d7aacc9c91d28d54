// JPEG structure checks that need no pixels: where the image's bytes end,
// and whether a file without an end marker still holds complete scans.
// Pure functions over untrusted bytes (fuzzed by tests/fuzz/fuzz_decode.cc).
#ifndef IMAGE2SONG_CORE_IMAGE_JPEG_H_
#define IMAGE2SONG_CORE_IMAGE_JPEG_H_

#include <cstddef>

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

// For a JPEG whose end marker is missing: decodes it with libjpeg at 1/8
// scale and fails (INVALID_ARGUMENT "truncated JPEG: ...") when the data
// ends inside a scan, i.e. when part of the picture would be grey. OK when
// only the end marker is missing.
absl::Status CheckJpegScansComplete(absl::string_view bytes);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_IMAGE_JPEG_H_
