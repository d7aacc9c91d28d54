// libFuzzer target: untrusted images through everything the server does with
// one before the word side: DecodeImage, then (with $I2S_FUZZ_MODELS, a
// model manifest such as the tiny test assets' models_full.json) the whole
// tagging path: backdrop analysis, region crops, every tagger's
// preprocessing and forward pass, colour cues. Built with ASan + UBSan
// (tools/dev/fuzz.sh). Every input must decode to a sane image that tags
// without error, or give INVALID_ARGUMENT; nothing may crash or leak.
//
// Two kinds of input:
//  - raw bytes: an encoded image as a client sends it;
//  - structured ("I2SG" + 16 bytes + tail): a valid image of any geometry
//    synthesised from fuzzed fields, encoded by OpenCV, then optionally
//    given a forged header size, a cut, or trailing bytes. A byte flipper
//    rarely writes a valid 1 x 20000 PNG; this reaches the code that sizes
//    regions, thumbnails and crops from the picture's geometry.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/image/image.h"
#include "core/models/model_set.h"

namespace {

using namespace image2song;

std::unique_ptr<ModelSet> models;

DecodeOptions Options() {
  DecodeOptions options;
  options.max_bytes = 4 << 20;
  options.max_pixels = 4'000'000;  // keep each run fast; the server allows more
  options.working_size = 64;
  return options;
}

uint32_t Crc32(const unsigned char* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
  }
  return c ^ 0xFFFFFFFFu;
}

void PutBe(std::string& s, size_t at, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s[at + i] = char(v >> (8 * (bytes - 1 - i)));
}

// Rewrites the size the header declares (PNG IHDR with its CRC, JPEG SOF,
// BMP info header); the pixel data stays that of the real size.
void ForgeSize(std::string& bytes, uint32_t w, uint32_t h) {
  auto* p = reinterpret_cast<unsigned char*>(&bytes[0]);
  if (bytes.size() > 33 && std::memcmp(p + 12, "IHDR", 4) == 0) {
    PutBe(bytes, 16, w, 4);
    PutBe(bytes, 20, h, 4);
    PutBe(bytes, 29, Crc32(p + 12, 17), 4);
  } else if (bytes.size() > 4 && p[0] == 0xFF && p[1] == 0xD8) {
    for (size_t i = 2; i + 9 < bytes.size(); ++i) {
      if (p[i] == 0xFF && (p[i + 1] == 0xC0 || p[i + 1] == 0xC2)) {
        PutBe(bytes, i + 5, h & 0xFFFF, 2);
        PutBe(bytes, i + 7, w & 0xFFFF, 2);
        break;
      }
    }
  } else if (bytes.size() > 26 && p[0] == 'B' && p[1] == 'M') {
    std::memcpy(&bytes[18], &w, 4);
    std::memcpy(&bytes[22], &h, 4);
  }
}

// "I2SG" fmt w16 h16 flags cut16 forged_w32 forged_h32 seed (little-endian,
// 17 bytes: tests/fuzz/make_seeds.py), then a tail.
bool Synthesise(const uint8_t* data, size_t size, std::string* out) {
  constexpr size_t kHead = 4 + 17;
  if (size < kHead || std::memcmp(data, "I2SG", 4) != 0) return false;
  const uint8_t* f = data + 4;
  static const char* const kExt[] = {".png", ".jpg", ".webp", ".bmp"};
  const std::string ext = kExt[f[0] % 4];
  int w = 1 + ((f[1] | f[2] << 8) % 20000);
  int h = 1 + ((f[3] | f[4] << 8) % 20000);
  const uint8_t flags = f[5];
  const size_t cut = f[6] | f[7] << 8;
  const uint32_t forged_w = f[8] | f[9] << 8 | f[10] << 16 | uint32_t(f[11]) << 24;
  const uint32_t forged_h = f[12] | f[13] << 8 | f[14] << 16 | uint32_t(f[15]) << 24;
  const uint8_t seed = f[16];
  // Keep a run fast: at most 2^18 pixels, and WebP's 16383 limit.
  while (int64_t(w) * h > (1 << 18)) (w > h ? w : h) /= 2;
  if (ext == ".webp") {
    w = std::min(w, 16383);
    h = std::min(h, 16383);
  }
  RgbImage image;
  image.width = w;
  image.height = h;
  image.pixels.resize(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* px = &image.pixels[(size_t(y) * w + x) * 3];
      px[0] = uint8_t(seed + x * 7);
      px[1] = uint8_t(seed * 3 + y * 5);
      px[2] = uint8_t((x ^ y) + seed);
    }
  }
  absl::StatusOr<std::string> encoded = EncodeImage(image, ext);
  if (!encoded.ok()) return false;
  *out = std::move(*encoded);
  if (flags & 1) ForgeSize(*out, forged_w, forged_h);
  if ((flags & 2) && cut < out->size()) out->resize(out->size() - cut);
  if (flags & 4) out->append(reinterpret_cast<const char*>(data + kHead), size - kHead);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* manifest = std::getenv("I2S_FUZZ_MODELS"); manifest && *manifest) {
    ModelSetOptions options;
    options.manifest_path = manifest;
    absl::StatusOr<std::unique_ptr<ModelSet>> loaded = ModelSet::Load(options);
    if (!loaded.ok()) {
      std::fprintf(stderr, "fuzz_decode: %s\n", loaded.status().ToString().c_str());
      std::abort();
    }
    models = std::move(*loaded);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes;
  if (!Synthesise(data, size, &bytes)) {
    bytes.assign(reinterpret_cast<const char*>(data), size);
  }
  const DecodeOptions options = Options();
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
  if (models != nullptr) {
    absl::StatusOr<ImageTags> tags = models->TagImage(*image);
    if (!tags.ok()) {
      std::fprintf(stderr, "TagImage failed on a %dx%d image: %s\n", image->width, image->height,
                   tags.status().ToString().c_str());
      std::abort();
    }
    for (const Tag& t : tags->tags) {
      if (!(t.score >= 0 && t.score <= 1) || !std::isfinite(t.weight)) std::abort();
    }
  }
  return 0;
}
