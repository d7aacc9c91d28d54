#include "core/image/image.h"

#include <algorithm>
#include <cstring>

#include <webp/decode.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/image/image_codecs.h"
#include "core/image/resize.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

uint32_t Be16(const unsigned char* p) { return (uint32_t(p[0]) << 8) | p[1]; }
uint32_t Be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
uint32_t Le16(const unsigned char* p) { return p[0] | (uint32_t(p[1]) << 8); }
uint32_t Le24(const unsigned char* p) {
  return p[0] | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16);
}
uint32_t Le32(const unsigned char* p) { return Le24(p) | (uint32_t(p[3]) << 24); }

absl::Status Invalid(absl::string_view msg) { return absl::InvalidArgumentError(msg); }

absl::StatusOr<ImageHeader> SniffJpeg(const unsigned char* p, size_t n) {
  ImageHeader h;
  h.format = ImageFormat::kJpeg;
  size_t i = 2;
  while (i < n) {
    if (p[i] != 0xFF) {
      return Invalid(absl::StrFormat("corrupt JPEG: expected a marker at byte %d", i));
    }
    while (i < n && p[i] == 0xFF) ++i;  // fill bytes
    if (i >= n) break;
    unsigned char marker = p[i++];
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
      continue;  // no length field
    }
    if (marker == 0xD9 || marker == 0xDA) {
      return Invalid("corrupt JPEG: no frame header before image data");
    }
    if (i + 2 > n) break;
    uint32_t len = Be16(p + i);
    if (len < 2) return Invalid("corrupt JPEG: bad segment length");
    bool sof =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (i + 7 > n) break;
      h.height = Be16(p + i + 3);
      h.width = Be16(p + i + 5);
      return h;
    }
    i += len;
  }
  return Invalid("truncated JPEG: the frame header is missing");
}

// OpenCV's WebPDecoder::getSignatureLength() (WEBP_HEADER_SIZE).
constexpr size_t kWebpSignatureBytes = 32;

absl::StatusOr<ImageHeader> SniffWebp(const unsigned char* p, size_t n) {
  ImageHeader h;
  h.format = ImageFormat::kWebp;
  if (n < 30) return Invalid("truncated WebP: header incomplete");
  const unsigned char* c = p + 12;  // first chunk
  if (std::memcmp(c, "VP8X", 4) == 0) {
    if (c[8] & 0x02) {  // VP8X flags: animation
      return Invalid("animated WebP is not supported: send one frame as a still image");
    }
    h.width = int64_t{Le24(c + 12)} + 1;
    h.height = int64_t{Le24(c + 15)} + 1;
  } else if (std::memcmp(c, "VP8L", 4) == 0) {
    if (c[8] != 0x2F) return Invalid("corrupt WebP: bad VP8L signature");
    uint32_t bits = Le32(c + 9);
    h.width = int64_t{bits & 0x3FFF} + 1;
    h.height = int64_t{(bits >> 14) & 0x3FFF} + 1;
  } else if (std::memcmp(c, "VP8 ", 4) == 0) {
    const unsigned char* f = c + 8;
    if (f[3] != 0x9D || f[4] != 0x01 || f[5] != 0x2A) {
      return Invalid("corrupt WebP: bad VP8 start code");
    }
    h.width = Le16(f + 6) & 0x3FFF;
    h.height = Le16(f + 8) & 0x3FFF;
  } else {
    return Invalid("corrupt WebP: unknown first chunk");
  }
  // OpenCV's imdecode picks its WebP decoder only when libwebp accepts the
  // first 32 bytes; otherwise it tries its other decoders, and GDCM (DICOM,
  // "DICM" at offset 128) aborts the process on a bad stream (found by
  // fuzz_decode). So a header libwebp refuses is refused here.
  WebPBitstreamFeatures features;
  if (n < kWebpSignatureBytes ||
      WebPGetFeatures(p, kWebpSignatureBytes, &features) != VP8_STATUS_OK) {
    return Invalid("corrupt WebP: the decoder does not accept its header");
  }
  return h;
}

absl::StatusOr<ImageHeader> SniffBmp(const unsigned char* p, size_t n) {
  ImageHeader h;
  h.format = ImageFormat::kBmp;
  if (n < 26) return Invalid("truncated BMP: header incomplete");
  uint32_t dib = Le32(p + 14);
  if (dib == 12) {
    h.width = Le16(p + 18);
    h.height = Le16(p + 20);
  } else if (dib >= 40) {
    int32_t w, hh;
    std::memcpy(&w, p + 18, 4);
    std::memcpy(&hh, p + 22, 4);
    h.width = std::abs(int64_t{w});
    h.height = std::abs(int64_t{hh});
  } else {
    return Invalid("corrupt BMP: unknown header size");
  }
  return h;
}

// Walks the PNG chunks to the end of IEND: bytes after it (a newline, an
// editor's trailer) are not the image. A file without IEND is truncated.
absl::StatusOr<size_t> PngExtent(const unsigned char* p, size_t n) {
  size_t i = 8;  // signature
  while (i + 12 <= n) {
    const uint64_t len = Be32(p + i);
    if (len > 0x7FFFFFFF) return Invalid("corrupt PNG: bad chunk length");
    const size_t end = i + 12 + size_t(len);
    if (end > n) break;
    if (std::memcmp(p + i + 4, "IEND", 4) == 0) return end;
    i = end;
  }
  return Invalid("truncated PNG: the IEND chunk is missing");
}

// Applies an EXIF orientation (1..8) the way OpenCV's decoders do.
cv::Mat Oriented(const cv::Mat& image, int orientation) {
  cv::Mat out;
  switch (orientation) {
    case 2:
      cv::flip(image, out, 1);
      return out;
    case 3:
      cv::flip(image, out, -1);
      return out;
    case 4:
      cv::flip(image, out, 0);
      return out;
    case 5:
      cv::transpose(image, out);
      return out;
    case 6:
      cv::transpose(image, out);
      cv::flip(out, out, 1);
      return out;
    case 7:
      cv::transpose(image, out);
      cv::flip(out, out, -1);
      return out;
    case 8:
      cv::transpose(image, out);
      cv::flip(out, out, 0);
      return out;
    default:
      return image;
  }
}

}  // namespace

const char* ImageFormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kWebp:
      return "WebP";
    case ImageFormat::kBmp:
      return "BMP";
    case ImageFormat::kUnknown:
      break;
  }
  return "unknown";
}

absl::StatusOr<ImageHeader> SniffImage(absl::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  if (n == 0) return Invalid("image is empty (0 bytes)");
  absl::StatusOr<ImageHeader> h;
  if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) {
    h = SniffJpeg(p, n);
  } else if (n >= 8 && std::memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
    if (n < 24 || std::memcmp(p + 12, "IHDR", 4) != 0) {
      return Invalid("truncated PNG: IHDR header missing");
    }
    ImageHeader png;
    png.format = ImageFormat::kPng;
    png.width = Be32(p + 16);
    png.height = Be32(p + 20);
    h = png;
  } else if (n >= 12 && std::memcmp(p, "RIFF", 4) == 0 && std::memcmp(p + 8, "WEBP", 4) == 0) {
    h = SniffWebp(p, n);
  } else if (n >= 2 && p[0] == 'B' && p[1] == 'M') {
    h = SniffBmp(p, n);
  } else if (n >= 6 && (std::memcmp(p, "GIF87a", 6) == 0 || std::memcmp(p, "GIF89a", 6) == 0)) {
    return Invalid(
        "GIF images (still or animated) are not supported: send JPEG, PNG, WebP "
        "or BMP (one frame)");
  } else if (n >= 4 && (std::memcmp(p, "II*\0", 4) == 0 || std::memcmp(p, "MM\0*", 4) == 0)) {
    return Invalid(
        "TIFF images (single or multi-page) are not supported: send JPEG, PNG, "
        "WebP or BMP");
  } else if (n >= 12 && std::memcmp(p + 4, "ftyp", 4) == 0) {
    return Invalid(
        "HEIF/AVIF (ISO media 'ftyp') images are not supported: send JPEG, PNG, "
        "WebP or BMP");
  } else {
    std::string head;
    for (size_t i = 0; i < std::min<size_t>(n, 4); ++i) {
      absl::StrAppendFormat(&head, "%02x", p[i]);
    }
    return Invalid(
        absl::StrCat("not a supported image: expected JPEG, PNG, WebP or BMP data, first "
                     "bytes are 0x",
                     head));
  }
  if (!h.ok()) return h;
  if (h->width <= 0 || h->height <= 0) {
    return Invalid(absl::StrCat(ImageFormatName(h->format), " header declares an empty image (",
                                h->width, "x", h->height, ")"));
  }
  return h;
}

absl::StatusOr<ImageHeader> CheckImageBytes(absl::string_view bytes, const DecodeOptions& options) {
  if (static_cast<int64_t>(bytes.size()) > options.max_bytes) {
    return Invalid(
        absl::StrCat("image is ", bytes.size(), " bytes; the limit is ", options.max_bytes));
  }
  absl::StatusOr<ImageHeader> header = SniffImage(bytes);
  if (!header.ok()) return header.status();
  const char* name = ImageFormatName(header->format);
  // Divide rather than multiply: PNG dimensions reach 2^32 - 1 and their
  // product overflows int64 (height > 0 after SniffImage).
  if (header->width > options.max_pixels / header->height) {
    return Invalid(absl::StrCat(name, " image is ", header->width, "x", header->height,
                                " pixels; the limit is ", options.max_pixels, " pixels"));
  }
  return header;
}

absl::StatusOr<RgbImage> DecodeImage(absl::string_view bytes, const DecodeOptions& options) {
  ASSIGN_OR_RETURN(const ImageHeader header, CheckImageBytes(bytes, options));
  const char* name = ImageFormatName(header.format);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  // libjpeg and libpng fill a truncated image with grey instead of failing:
  // a JPEG's scans must be complete (DecodeJpeg), a PNG needs its IEND.
  size_t decode_bytes = n;
  if (header.format == ImageFormat::kJpeg) {
    ASSIGN_OR_RETURN(JpegLayout layout, JpegExtent(bytes));
    // Bytes after the end marker (a newline, a motion photo's video, a
    // second picture) are not the image: not decoded.
    decode_bytes = layout.end;
  } else if (header.format == ImageFormat::kPng) {
    ASSIGN_OR_RETURN(decode_bytes, PngExtent(p, n));
  }
  const absl::string_view image_bytes = bytes.substr(0, decode_bytes);

  // The picture as stored, in RGB: JPEG and PNG on libjpeg and libpng
  // (core/image/image_codecs.h: their warnings do not reach stderr), WebP and BMP
  // through OpenCV.
  DecodedPixels decoded;
  cv::Mat rgb;
  if (header.format == ImageFormat::kJpeg) {
    // Decoded at 1/2, 1/4 or 1/8 size (DCT scaling) when that keeps the
    // short side at least working_size.
    const int64_t short_side = std::min(header.width, header.height);
    int denom = 1;
    while (denom < 8 && short_side >= int64_t{2} * denom * options.working_size) denom *= 2;
    ASSIGN_OR_RETURN(decoded, DecodeJpeg(image_bytes, denom));
  } else if (header.format == ImageFormat::kPng) {
    ASSIGN_OR_RETURN(decoded, DecodePng(image_bytes));
  }
  try {
    if (!decoded.rgb.empty()) {
      rgb = cv::Mat(decoded.height, decoded.width, CV_8UC3, decoded.rgb.data());
      rgb = Oriented(rgb, decoded.orientation);
    } else {
      cv::Mat raw(1, static_cast<int>(image_bytes.size()), CV_8UC1,
                  const_cast<char*>(image_bytes.data()));
      cv::Mat bgr = cv::imdecode(raw, cv::IMREAD_COLOR);
      if (bgr.empty() || bgr.type() != CV_8UC3) {
        return Invalid(
            absl::StrCat("corrupt or truncated ", name, " image: it could not be decoded"));
      }
      cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    }
  } catch (const cv::Exception& e) {
    return Invalid(absl::StrCat("corrupt ", name, " image: ", e.what()));
  }
  RgbImage out;
  out.format = header.format;
  bool rotated =
      (rgb.cols > rgb.rows) != (header.width > header.height) && header.width != header.height;
  out.original_width = rotated ? header.height : header.width;
  out.original_height = rotated ? header.width : header.height;
  try {
    cv::Mat working = rgb;
    int shorter = std::min(rgb.cols, rgb.rows);
    if (shorter >= options.working_size * 2) {
      double scale = double(options.working_size) / shorter;
      working = ResizeTo(rgb, cv::Size(std::max(1, int(rgb.cols * scale + 0.5)),
                                       std::max(1, int(rgb.rows * scale + 0.5))));
    }
    out.width = working.cols;
    out.height = working.rows;
    if (working.data == decoded.rgb.data() && working.isContinuous() &&
        size_t(out.width) * out.height * 3 == decoded.rgb.size()) {
      // The decoder's pixels as they are (no resize, no rotation): kept, not
      // copied (a 1280x720 JPEG at 1/2 scale: 690 KB not zeroed, faulted in
      // and copied again).
      out.pixels = std::move(decoded.rgb);
    } else {
      out.pixels.resize(size_t(out.width) * out.height * 3);
      cv::Mat dst(out.height, out.width, CV_8UC3, out.pixels.data());
      working.copyTo(dst);
    }
  } catch (const cv::Exception& e) {
    return absl::InternalError(absl::StrCat("image conversion failed: ", e.what()));
  }
  return out;
}

void PreprocessToChw(const RgbImage& image, const CropBox& box, int width, int height,
                     const float mean[3], const float std[3], float* out) {
  cv::Mat src(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.pixels.data()));
  int x0 = std::clamp(int(box.x0 * image.width), 0, image.width - 1);
  int y0 = std::clamp(int(box.y0 * image.height), 0, image.height - 1);
  int x1 = std::clamp(int(box.x1 * image.width + 0.5f), x0 + 1, image.width);
  int y1 = std::clamp(int(box.y1 * image.height + 0.5f), y0 + 1, image.height);
  cv::Mat crop = src(cv::Rect(x0, y0, x1 - x0, y1 - y0));
  float scale[3], shift[3];
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.0f / std[c];
    shift[c] = -mean[c] / std[c];
  }
  ResizeToChw(crop, cv::Size(width, height), scale, shift, out);
}

absl::StatusOr<std::string> EncodeImage(const RgbImage& image, const std::string& ext) {
  try {
    cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.pixels.data()));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    std::vector<uchar> buf;
    if (!cv::imencode(ext, bgr, buf)) {
      return absl::InvalidArgumentError(absl::StrCat("cannot encode ", ext));
    }
    return std::string(buf.begin(), buf.end());
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
}

}  // namespace image2song
