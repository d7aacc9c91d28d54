#include "core/image/image_codecs.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

#include <jerror.h>
#include <jpeglib.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace image2song {
namespace {

absl::Status Invalid(absl::string_view msg) { return absl::InvalidArgumentError(msg); }

uint32_t Be16(const unsigned char* p) { return (uint32_t(p[0]) << 8) | p[1]; }

// Markers without a length field: TEM, RSTn, SOI, EOI.
bool Standalone(unsigned char m) { return m == 0x01 || (m >= 0xD0 && m <= 0xD9); }

bool StartOfFrame(unsigned char m) {
  return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

// libjpeg error manager: errors jump back; warnings are counted, never
// printed (libjpeg's default writes them to stderr, a line per request).
struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  int hit_marker = 0;  // data ended (or a marker came) inside a scan
  char message[JMSG_LENGTH_MAX] = {0};
};

uint32_t Read16(const unsigned char* p, bool le) {
  return le ? (p[0] | uint32_t(p[1]) << 8) : (uint32_t(p[0]) << 8 | p[1]);
}
uint32_t Read32(const unsigned char* p, bool le) {
  return le ? (Read16(p, true) | Read16(p + 2, true) << 16)
            : (Read16(p, false) << 16 | Read16(p + 2, false));
}

void OnError(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void OnMessage(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  if (level < 0 && cinfo->err->msg_code == JWRN_HIT_MARKER) ++err->hit_marker;
}

}  // namespace

absl::StatusOr<JpegLayout> JpegExtent(absl::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  if (n < 2 || p[0] != 0xFF || p[1] != 0xD8) return Invalid("not a JPEG");
  JpegLayout layout;
  bool frame = false;
  size_t i = 2;
  while (i < n) {
    if (p[i] != 0xFF) {
      return Invalid(absl::StrFormat("corrupt JPEG: expected a marker at byte %d", i));
    }
    while (i < n && p[i] == 0xFF) ++i;  // fill bytes
    if (i >= n) break;
    const unsigned char marker = p[i++];
    if (marker == 0xD9) {
      if (layout.scans == 0) {
        return Invalid("corrupt JPEG: the image ends before any image data");
      }
      layout.end = i;
      layout.has_end_marker = true;
      layout.trailing_bytes = n - i;
      return layout;
    }
    if (Standalone(marker)) continue;
    if (i + 2 > n) break;
    const uint32_t len = Be16(p + i);
    if (len < 2) return Invalid("corrupt JPEG: bad segment length");
    if (StartOfFrame(marker)) frame = true;
    if (i + len > n) break;  // cut inside a segment
    i += len;
    if (marker != 0xDA) continue;
    if (!frame) return Invalid("corrupt JPEG: no frame header before image data");
    ++layout.scans;
    // Entropy-coded data runs to the next marker that is not a stuffed
    // 0xFF00 or a restart marker.
    while (i < n) {
      const void* ff = std::memchr(p + i, 0xFF, n - i);
      if (ff == nullptr) {
        i = n;
        break;
      }
      i = static_cast<const unsigned char*>(ff) - p;
      if (i + 1 >= n) {
        i = n;
        break;
      }
      const unsigned char next = p[i + 1];
      if (next == 0x00 || (next >= 0xD0 && next <= 0xD7)) {
        i += 2;
      } else if (next == 0xFF) {
        i += 1;  // fill byte before a marker
      } else {
        break;  // a marker: the scan is over
      }
    }
  }
  if (!frame) return Invalid("truncated JPEG: the frame header is missing");
  if (layout.scans == 0) return Invalid("truncated JPEG: the image data is missing");
  layout.end = n;
  return layout;
}

int ExifOrientation(absl::string_view app1) {
  const auto* p = reinterpret_cast<const unsigned char*>(app1.data());
  const size_t n = app1.size();
  if (n < 14 || std::memcmp(p, "Exif\0\0", 6) != 0) return 1;
  const unsigned char* tiff = p + 6;
  const size_t size = n - 6;
  bool le;
  if (std::memcmp(tiff, "II*\0", 4) == 0) {
    le = true;
  } else if (std::memcmp(tiff, "MM\0*", 4) == 0) {
    le = false;
  } else {
    return 1;
  }
  const uint32_t ifd = Read32(tiff + 4, le);
  if (ifd < 8 || size < 2 || ifd > size - 2) return 1;
  const uint32_t entries = Read16(tiff + ifd, le);
  for (uint32_t i = 0; i < entries; ++i) {
    const size_t at = size_t(ifd) + 2 + size_t(i) * 12;
    if (at + 12 > size) break;
    if (Read16(tiff + at, le) != 0x0112) continue;  // Orientation
    if (Read16(tiff + at + 2, le) != 3) return 1;   // SHORT
    const uint32_t v = Read16(tiff + at + 8, le);
    return v >= 1 && v <= 8 ? int(v) : 1;
  }
  return 1;
}

absl::StatusOr<DecodedPixels> DecodeJpeg(absl::string_view bytes, int scale_denom) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = OnError;
  err.pub.emit_message = OnMessage;
  DecodedPixels out;
  // Locals changed after setjmp and read after a longjmp must be volatile.
  volatile bool created = false;
  if (setjmp(err.jump)) {
    if (created) jpeg_destroy_decompress(&cinfo);
    return Invalid(absl::StrCat("corrupt JPEG: ", err.message));
  }
  jpeg_create_decompress(&cinfo);
  created = true;
  // jpeg_mem_src ends the data with a fake end marker when it runs out (a
  // file without one decodes; a cut scan shows as JWRN_HIT_MARKER).
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker != JPEG_APP0 + 1) continue;
    const int o =
        ExifOrientation(absl::string_view(reinterpret_cast<const char*>(m->data), m->data_length));
    if (o != 1) {
      out.orientation = o;
      break;
    }
  }
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  cinfo.scale_num = 1;
  cinfo.scale_denom = static_cast<unsigned int>(scale_denom);
  jpeg_start_decompress(&cinfo);
  const int w = static_cast<int>(cinfo.output_width);
  const int h = static_cast<int>(cinfo.output_height);
  const int channels = cinfo.output_components;
  if (w <= 0 || h <= 0 || (channels != 3 && channels != 4)) {
    jpeg_destroy_decompress(&cinfo);
    created = false;
    return Invalid("corrupt JPEG: unexpected output format");
  }
  out.width = w;
  out.height = h;
  out.rgb.resize(size_t(w) * h * 3);
  std::vector<unsigned char> row(size_t(w) * channels);
  while (cinfo.output_scanline < cinfo.output_height) {
    unsigned char* dst = out.rgb.data() + size_t(cinfo.output_scanline) * w * 3;
    JSAMPROW rows[1] = {channels == 3 ? dst : row.data()};
    if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) break;
    if (channels == 4) {
      // Adobe CMYK is stored inverted; the same conversion as OpenCV's.
      for (int x = 0; x < w; ++x) {
        const int c = row[4 * x], m = row[4 * x + 1], y = row[4 * x + 2], k = row[4 * x + 3];
        dst[3 * x] = uint8_t(k - ((255 - c) * k >> 8));
        dst[3 * x + 1] = uint8_t(k - ((255 - m) * k >> 8));
        dst[3 * x + 2] = uint8_t(k - ((255 - y) * k >> 8));
      }
    }
  }
  const bool complete = cinfo.output_scanline == cinfo.output_height;
  const bool cut = err.hit_marker > 0;
  jpeg_destroy_decompress(&cinfo);
  created = false;
  if (cut || !complete) {
    return Invalid(
        "truncated JPEG: the image data ends inside a scan (part of "
        "the picture is missing)");
  }
  return out;
}

}  // namespace image2song
