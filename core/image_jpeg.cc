#include "core/image_jpeg.h"

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

#include <jpeglib.h>
#include <jerror.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace image2song {
namespace {

absl::Status Invalid(absl::string_view msg) {
  return absl::InvalidArgumentError(msg);
}

uint32_t Be16(const unsigned char* p) { return (uint32_t(p[0]) << 8) | p[1]; }

// Markers without a length field: TEM, RSTn, SOI, EOI.
bool Standalone(unsigned char m) {
  return m == 0x01 || (m >= 0xD0 && m <= 0xD9);
}

bool StartOfFrame(unsigned char m) {
  return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

// libjpeg error manager: errors jump back; warnings are counted by kind.
struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  int hit_marker = 0;  // data ended (or a marker came) inside a scan
  char message[JMSG_LENGTH_MAX] = {0};
};

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

absl::Status CheckJpegScansComplete(absl::string_view bytes) {
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = OnError;
  err.pub.emit_message = OnMessage;
  // Locals changed after setjmp and read after a longjmp must be volatile.
  volatile bool created = false;
  if (setjmp(err.jump)) {
    if (created) jpeg_destroy_decompress(&cinfo);
    return Invalid(absl::StrCat("corrupt JPEG: ", err.message));
  }
  jpeg_create_decompress(&cinfo);
  created = true;
  // jpeg_mem_src ends the data with a fake end marker (and warns
  // JWRN_JPEG_EOF, which is expected here).
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()),
               static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  cinfo.scale_num = 1;
  cinfo.scale_denom = 8;
  cinfo.dct_method = JDCT_IFAST;
  cinfo.do_fancy_upsampling = FALSE;
  cinfo.do_block_smoothing = FALSE;
  jpeg_start_decompress(&cinfo);
  std::vector<unsigned char> row(size_t(cinfo.output_width) * cinfo.output_components);
  JSAMPROW rows[1] = {row.data()};
  while (cinfo.output_scanline < cinfo.output_height && err.hit_marker == 0) {
    jpeg_read_scanlines(&cinfo, rows, 1);
  }
  const bool cut = err.hit_marker > 0;
  jpeg_destroy_decompress(&cinfo);
  created = false;
  if (cut) {
    return Invalid("truncated JPEG: the image data ends inside a scan (part of "
                   "the picture is missing)");
  }
  return absl::OkStatus();
}

}  // namespace image2song
