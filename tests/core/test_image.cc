// Tests for core/image/image.h: header sniffing, decoding limits, colour
// conversion and model-input preprocessing.
#include "core/image/colour_cues.h"
#include "core/image/image.h"
#include "core/image/image_codecs.h"
#include "core/image/resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "absl/strings/match.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

RgbImage Solid(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  RgbImage img;
  img.width = width;
  img.height = height;
  img.pixels.resize(size_t(width) * height * 3);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    img.pixels[i] = r;
    img.pixels[i + 1] = g;
    img.pixels[i + 2] = b;
  }
  return img;
}

std::string Encode(const RgbImage& img, const std::string& ext) {
  absl::StatusOr<std::string> bytes = EncodeImage(img, ext);
  INFO(ext << ": " << bytes.status().ToString());
  REQUIRE(bytes.ok());
  return *bytes;
}

std::string EncodeMat(const cv::Mat& mat, const std::string& ext,
                      const std::vector<int>& params = {}) {
  std::vector<uchar> buf;
  REQUIRE(cv::imencode(ext, mat, buf, params));
  return std::string(buf.begin(), buf.end());
}

void AppendBe32(std::string* out, uint32_t v) {
  out->push_back(char(v >> 24));
  out->push_back(char(v >> 16));
  out->push_back(char(v >> 8));
  out->push_back(char(v));
}

uint32_t Crc32(const std::string& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
  }
  return ~crc;
}

// A PNG whose IHDR (valid fields and CRC) declares width x height RGB pixels,
// followed by garbage instead of image data and a proper IEND chunk.
std::string ForgedPng(uint32_t width, uint32_t height) {
  std::string png("\x89PNG\r\n\x1a\n", 8);
  std::string ihdr = "IHDR";
  AppendBe32(&ihdr, width);
  AppendBe32(&ihdr, height);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit RGB, no interlace
  AppendBe32(&png, 13);
  png += ihdr;
  AppendBe32(&png, Crc32(ihdr));
  std::string idat = "IDAT" + std::string(64, '\x5a');
  AppendBe32(&png, 64);
  png += idat;
  AppendBe32(&png, Crc32(idat));
  AppendBe32(&png, 0);
  png += "IEND";
  AppendBe32(&png, Crc32("IEND"));
  return png;
}

// The RGB value of pixel (x, y).
std::vector<int> Pixel(const RgbImage& img, int x, int y) {
  const size_t i = (size_t(y) * img.width + x) * 3;
  return {img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]};
}

}  // namespace

TEST_CASE("SniffImage reads format and size of every supported format") {
  const RgbImage img = Solid(37, 21, 10, 200, 30);
  struct Case {
    const char* ext;
    ImageFormat format;
    const char* name;
  };
  for (const Case& c :
       {Case{".jpg", ImageFormat::kJpeg, "JPEG"}, Case{".png", ImageFormat::kPng, "PNG"},
        Case{".webp", ImageFormat::kWebp, "WebP"}, Case{".bmp", ImageFormat::kBmp, "BMP"}}) {
    INFO(c.ext);
    absl::StatusOr<ImageHeader> h = SniffImage(Encode(img, c.ext));
    REQUIRE(h.ok());
    CHECK(h->format == c.format);
    CHECK(h->width == 37);
    CHECK(h->height == 21);
    CHECK(std::string(ImageFormatName(c.format)) == c.name);
  }
  CHECK(std::string(ImageFormatName(ImageFormat::kUnknown)) == "unknown");
}

TEST_CASE("SniffImage reads lossy WebP (VP8) headers") {
  cv::Mat bgr(30, 50, CV_8UC3, cv::Scalar(20, 40, 230));
  std::string bytes = EncodeMat(bgr, ".webp", {cv::IMWRITE_WEBP_QUALITY, 80});
  REQUIRE(bytes.substr(12, 4) == "VP8 ");
  absl::StatusOr<ImageHeader> h = SniffImage(bytes);
  REQUIRE(h.ok());
  CHECK(h->format == ImageFormat::kWebp);
  CHECK(h->width == 50);
  CHECK(h->height == 30);
}

TEST_CASE("SniffImage rejects empty and unknown data") {
  absl::StatusOr<ImageHeader> empty = SniffImage("");
  CHECK(empty.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(empty.status().message(), "empty"));

  std::mt19937 rng(42);
  std::string noise(1000, '\0');
  for (char& c : noise) c = static_cast<char>(rng() & 0xFF);
  noise[0] = 0x00;  // no format starts with a zero byte
  absl::StatusOr<ImageHeader> h = SniffImage(noise);
  CHECK(h.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(h.status().message(), "not a supported image"));

  absl::StatusOr<RgbImage> d = DecodeImage(noise, DecodeOptions{});
  CHECK(d.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(d.status().message(), "not a supported image"));

  absl::StatusOr<RgbImage> d0 = DecodeImage("", DecodeOptions{});
  CHECK(d0.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(d0.status().message(), "empty"));
}

TEST_CASE("SniffImage rejects truncated headers") {
  const RgbImage img = Solid(16, 16, 1, 2, 3);
  std::string jpeg = Encode(img, ".jpg");
  absl::StatusOr<ImageHeader> j = SniffImage(jpeg.substr(0, 20));
  CHECK(j.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(j.status().message(), "truncated JPEG"));

  std::string png = Encode(img, ".png");
  absl::StatusOr<ImageHeader> p = SniffImage(png.substr(0, 16));
  CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(p.status().message(), "truncated PNG"));

  std::string webp = Encode(img, ".webp");
  absl::StatusOr<ImageHeader> w = SniffImage(webp.substr(0, 20));
  CHECK(w.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(w.status().message(), "truncated WebP"));

  std::string bmp = Encode(img, ".bmp");
  absl::StatusOr<ImageHeader> b = SniffImage(bmp.substr(0, 20));
  CHECK(b.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(b.status().message(), "truncated BMP"));
}

TEST_CASE("SniffImage rejects a header declaring an empty image") {
  absl::StatusOr<ImageHeader> h = SniffImage(ForgedPng(0, 10));
  CHECK(h.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(h.status().message(), "empty image (0x10)"));
}

TEST_CASE("DecodeImage decodes each format to RGB") {
  const RgbImage img = Solid(40, 30, 200, 100, 50);
  for (const char* ext : {".png", ".bmp", ".webp", ".jpg"}) {
    INFO(ext);
    absl::StatusOr<RgbImage> d = DecodeImage(Encode(img, ext), DecodeOptions{});
    REQUIRE(d.ok());
    CHECK(d->width == 40);
    CHECK(d->height == 30);
    CHECK(d->original_width == 40);
    CHECK(d->original_height == 30);
    CHECK(d->pixels.size() == size_t(40) * 30 * 3);
    const bool lossy = std::string(ext) == ".jpg";
    std::vector<int> px = Pixel(*d, 20, 15);
    CHECK(std::abs(px[0] - 200) <= (lossy ? 4 : 0));
    CHECK(std::abs(px[1] - 100) <= (lossy ? 4 : 0));
    CHECK(std::abs(px[2] - 50) <= (lossy ? 4 : 0));
  }
}

// A photo-like JPEG (noise over gradients) whose scans are long.
std::string NoisyJpeg(int width, int height, bool progressive = false) {
  cv::Mat mat(height, width, CV_8UC3);
  std::mt19937 rng(7);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      mat.at<cv::Vec3b>(y, x) =
          cv::Vec3b(uint8_t(x * 255 / width), uint8_t(rng() % 64), uint8_t(y * 255 / height));
    }
  }
  return EncodeMat(
      mat, ".jpg",
      {cv::IMWRITE_JPEG_QUALITY, 90, cv::IMWRITE_JPEG_PROGRESSIVE, progressive ? 1 : 0});
}

TEST_CASE("DecodeImage rejects a JPEG cut inside its image data") {
  for (bool progressive : {false, true}) {
    std::string jpeg = NoisyJpeg(96, 64, progressive);
    for (size_t cut : {size_t{10}, size_t{200}, jpeg.size() / 2, jpeg.size() - 40}) {
      INFO((progressive ? "progressive" : "baseline")
           << ", cut " << cut << " of " << jpeg.size() << " bytes");
      absl::StatusOr<RgbImage> d = DecodeImage(jpeg.substr(0, jpeg.size() - cut), DecodeOptions{});
      CHECK(d.status().code() == absl::StatusCode::kInvalidArgument);
      CHECK(absl::StrContains(d.status().message(), "truncated"));
    }
  }
}

TEST_CASE("DecodeImage accepts the byte layouts cameras and editors write") {
  for (bool progressive : {false, true}) {
    INFO((progressive ? "progressive" : "baseline"));
    const std::string jpeg = NoisyJpeg(96, 64, progressive);
    absl::StatusOr<RgbImage> plain = DecodeImage(jpeg, DecodeOptions{});
    REQUIRE(plain.ok());
    std::mt19937 rng(11);
    std::string video(300 * 1024, '\0');
    for (char& c : video) c = char(rng());
    // An embedded picture inside an APP2 segment (MPF/FlashPix style): its
    // own end marker must not end the outer image.
    const std::string thumb = Encode(Solid(8, 8, 0, 0, 255), ".jpg");
    std::string app2 = "\xFF\xE2";
    app2 += char((thumb.size() + 2) >> 8);
    app2 += char((thumb.size() + 2) & 0xFF);
    app2 += thumb;
    const std::string with_app2 = jpeg.substr(0, 2) + app2 + jpeg.substr(2);
    struct Layout {
      const char* what;
      std::string bytes;
    };
    for (const Layout& l : {
             Layout{"a trailing newline", jpeg + "\n"},
             Layout{"CR LF", jpeg + "\r\n"},
             Layout{"zero padding", jpeg + std::string(4096, '\0')},
             Layout{"a motion photo's 300 KB video after the image", jpeg + video},
             Layout{"a second JPEG after the first", jpeg + thumb},
             Layout{"an APP2 segment holding a JPEG", with_app2},
             Layout{"no end-of-image marker after complete scans", jpeg.substr(0, jpeg.size() - 2)},
         }) {
      INFO(l.what);
      absl::StatusOr<RgbImage> d = DecodeImage(l.bytes, DecodeOptions{});
      INFO(d.status().ToString());
      REQUIRE(d.ok());
      CHECK(d->width == 96);
      CHECK(d->height == 64);
      CHECK(d->pixels == plain->pixels);
    }
  }
  // PNG: bytes after IEND are not the image.
  const std::string png = Encode(Solid(40, 30, 10, 200, 30), ".png");
  for (const std::string& tail : {std::string("\n"), std::string(1000, 'x')}) {
    absl::StatusOr<RgbImage> d = DecodeImage(png + tail, DecodeOptions{});
    INFO(d.status().ToString());
    REQUIRE(d.ok());
    CHECK(Pixel(*d, 5, 5) == std::vector<int>{10, 200, 30});
  }
}

TEST_CASE("JpegExtent walks segments and scans to the image's end marker") {
  const std::string jpeg = NoisyJpeg(48, 32, true);
  absl::StatusOr<JpegLayout> l = JpegExtent(jpeg + "tail");
  REQUIRE(l.ok());
  CHECK(l->has_end_marker);
  CHECK(l->end == jpeg.size());
  CHECK(l->trailing_bytes == 4);
  CHECK(l->scans > 1);  // progressive
  l = JpegExtent(jpeg.substr(0, jpeg.size() - 2));
  REQUIRE(l.ok());
  CHECK_FALSE(l->has_end_marker);
  // Headers only, or a frame header cut short: refused with the reason.
  const size_t sos = jpeg.find("\xFF\xDA");
  REQUIRE(sos != std::string::npos);
  CHECK(absl::StrContains(JpegExtent(jpeg.substr(0, sos)).status().message(),
                          "image data is missing"));
  CHECK(absl::StrContains(JpegExtent(jpeg.substr(0, 3)).status().message(), "JPEG"));
  CHECK(absl::StrContains(JpegExtent("\xFF\xD8\xFF\xD9").status().message(),
                          "before any image data"));
}

TEST_CASE("DecodeImage rejects a truncated PNG") {
  std::string png = Encode(Solid(64, 48, 0, 250, 0), ".png");
  for (size_t cut : {size_t{4}, size_t{12}, png.size() / 2}) {
    INFO("cut " << cut << " of " << png.size() << " bytes");
    absl::StatusOr<RgbImage> d = DecodeImage(png.substr(0, png.size() - cut), DecodeOptions{});
    CHECK(d.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(d.status().message(), "truncated PNG"));
  }
}

TEST_CASE("DecodeImage reports corrupt data inside a complete container") {
  // Valid IHDR and IEND, garbage image data: passes every header check and
  // must fail in the decoder with an error, not a crash.
  absl::StatusOr<RgbImage> d = DecodeImage(ForgedPng(64, 48), DecodeOptions{});
  CHECK(d.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(d.status().message(), "PNG"));
}

TEST_CASE("DecodeImage checks the pixel limit on the header") {
  SECTION("a forged 50000x50000 PNG is rejected before decoding") {
    absl::StatusOr<ImageHeader> h = SniffImage(ForgedPng(50000, 50000));
    REQUIRE(h.ok());
    CHECK(h->width == 50000);
    CHECK(h->height == 50000);
    absl::StatusOr<RgbImage> d = DecodeImage(ForgedPng(50000, 50000), DecodeOptions{});
    CHECK(d.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(d.status().message(), "50000x50000"));
    CHECK(absl::StrContains(d.status().message(), "the limit is 100000000 pixels"));
  }
  SECTION("dimensions whose product overflows 64 bits are rejected too") {
    absl::StatusOr<RgbImage> d = DecodeImage(ForgedPng(0xFFFFFFFFu, 0xFFFFFFFFu), DecodeOptions{});
    CHECK(d.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(d.status().message(), "the limit is"));
    d = DecodeImage(ForgedPng(0xC0000000u, 0xC0000000u), DecodeOptions{});
    CHECK(d.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(d.status().message(), "the limit is"));
  }
  SECTION("a real image over a lowered limit") {
    DecodeOptions options;
    options.max_pixels = 40 * 30 - 1;
    std::string png = Encode(Solid(40, 30, 1, 2, 3), ".png");
    absl::StatusOr<RgbImage> d = DecodeImage(png, options);
    CHECK(d.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(d.status().message(), "the limit is 1199 pixels"));
    options.max_pixels = 40 * 30;
    CHECK(DecodeImage(png, options).ok());
  }
}

TEST_CASE("DecodeImage enforces max_bytes") {
  std::string png = Encode(Solid(40, 30, 1, 2, 3), ".png");
  DecodeOptions options;
  options.max_bytes = static_cast<int64_t>(png.size()) - 1;
  absl::StatusOr<RgbImage> d = DecodeImage(png, options);
  CHECK(d.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(d.status().message(), "the limit is " + std::to_string(png.size() - 1)));
  options.max_bytes = static_cast<int64_t>(png.size());
  CHECK(DecodeImage(png, options).ok());
}

TEST_CASE("DecodeImage reduces a big image to between working_size and twice it") {
  DecodeOptions options;
  options.working_size = 448;
  SECTION("JPEG: reduced decoding alone when it lands below twice working_size") {
    std::string jpeg = Encode(Solid(1600, 1200, 20, 40, 230), ".jpg");
    absl::StatusOr<RgbImage> d = DecodeImage(jpeg, options);
    REQUIRE(d.ok());
    // Decoded at 1/2 (1/4 would be 300 < 448); 600 < 896 is kept.
    CHECK(d->width == 800);
    CHECK(d->height == 600);
    CHECK(d->original_width == 1600);
    CHECK(d->original_height == 1200);
    std::vector<int> px = Pixel(*d, d->width / 2, d->height / 2);
    CHECK(std::abs(px[0] - 20) <= 4);
    CHECK(std::abs(px[2] - 230) <= 4);
  }
  SECTION("JPEG: reduced decoding, then area resize") {
    options.working_size = 100;
    std::string jpeg = Encode(Solid(4000, 3000, 20, 40, 230), ".jpg");
    absl::StatusOr<RgbImage> d = DecodeImage(jpeg, options);
    REQUIRE(d.ok());
    // Decoded at 1/8 (the most DCT scaling gives: 500 x 375), still at
    // least twice 100: resized to 100.
    CHECK(d->height == 100);
    CHECK(std::abs(d->width - 133) <= 1);
  }
  SECTION("PNG (area resize)") {
    std::string png = Encode(Solid(900, 1000, 20, 40, 230), ".png");
    absl::StatusOr<RgbImage> d = DecodeImage(png, options);
    REQUIRE(d.ok());
    CHECK(d->width == 448);
    CHECK(std::abs(d->height - 498) <= 1);
    CHECK(d->original_width == 900);
    CHECK(d->original_height == 1000);
  }
  SECTION("an image below twice working_size is kept as is") {
    std::string png = Encode(Solid(880, 900, 1, 2, 3), ".png");
    absl::StatusOr<RgbImage> d = DecodeImage(png, options);
    REQUIRE(d.ok());
    CHECK(d->width == 880);
    CHECK(d->height == 900);
  }
  SECTION("the shorter side never ends below working_size") {
    options.working_size = 100;
    std::string jpeg = Encode(Solid(1000, 850, 1, 2, 3), ".jpg");
    absl::StatusOr<RgbImage> d = DecodeImage(jpeg, options);
    REQUIRE(d.ok());
    CHECK(std::min(d->width, d->height) >= 100);
    CHECK(std::min(d->width, d->height) < 200);
  }
}

TEST_CASE("DecodeImage converts grayscale, alpha and 16-bit PNGs to RGB") {
  SECTION("grayscale") {
    cv::Mat gray(20, 30, CV_8UC1, cv::Scalar(100));
    absl::StatusOr<RgbImage> d = DecodeImage(EncodeMat(gray, ".png"), DecodeOptions{});
    REQUIRE(d.ok());
    CHECK(d->width == 30);
    CHECK(d->height == 20);
    CHECK(d->pixels.size() == size_t(30) * 20 * 3);
    CHECK(Pixel(*d, 5, 5) == std::vector<int>{100, 100, 100});
  }
  SECTION("BGRA") {
    cv::Mat bgra(20, 30, CV_8UC4, cv::Scalar(10, 20, 30, 128));
    absl::StatusOr<RgbImage> d = DecodeImage(EncodeMat(bgra, ".png"), DecodeOptions{});
    REQUIRE(d.ok());
    CHECK(d->pixels.size() == size_t(30) * 20 * 3);
    CHECK(Pixel(*d, 29, 19) == std::vector<int>{30, 20, 10});
  }
  SECTION("16-bit RGB") {
    cv::Mat deep(20, 30, CV_16UC3, cv::Scalar(0, 65535, 65535));
    absl::StatusOr<RgbImage> d = DecodeImage(EncodeMat(deep, ".png"), DecodeOptions{});
    REQUIRE(d.ok());
    CHECK(Pixel(*d, 0, 0) == std::vector<int>{255, 255, 0});
  }
}

TEST_CASE("PreprocessToChw normalises a solid colour") {
  const RgbImage img = Solid(10, 8, 200, 100, 50);
  const float mean[3] = {100, 100, 100};
  const float std[3] = {50, 25, 10};
  std::vector<float> out(3 * 4 * 5, -99.0f);
  PreprocessToChw(img, CropBox{}, 4, 5, mean, std, out.data());
  const size_t plane = 4 * 5;
  for (size_t i = 0; i < plane; ++i) {
    CHECK(out[i] == Approx(2.0f));               // (200 - 100) / 50
    CHECK(out[plane + i] == Approx(0.0f));       // (100 - 100) / 25
    CHECK(out[2 * plane + i] == Approx(-5.0f));  // (50 - 100) / 10
  }
}

TEST_CASE("PreprocessToChw crops the box before resizing") {
  // Left half red, right half blue.
  RgbImage img = Solid(20, 10, 0, 0, 255);
  for (int y = 0; y < 10; ++y) {
    for (int x = 0; x < 10; ++x) {
      uint8_t* p = &img.pixels[(size_t(y) * 20 + x) * 3];
      p[0] = 255;
      p[2] = 0;
    }
  }
  const float mean[3] = {0, 0, 0};
  const float std[3] = {255, 255, 255};
  std::vector<float> out(3 * 6 * 6);
  const size_t plane = 36;
  PreprocessToChw(img, CropBox{0, 0, 0.5f, 1}, 6, 6, mean, std, out.data());
  for (size_t i = 0; i < plane; ++i) {
    CHECK(out[i] == Approx(1.0f));
    CHECK(out[2 * plane + i] == Approx(0.0f));
  }
  PreprocessToChw(img, CropBox{0.5f, 0, 1, 1}, 6, 6, mean, std, out.data());
  for (size_t i = 0; i < plane; ++i) {
    CHECK(out[i] == Approx(0.0f));
    CHECK(out[2 * plane + i] == Approx(1.0f));
  }
  // Upscaling a tiny crop works too (one pixel -> 6x6).
  PreprocessToChw(img, CropBox{0, 0, 0.01f, 0.01f}, 6, 6, mean, std, out.data());
  CHECK(out[0] == Approx(1.0f));
  CHECK(out[plane - 1] == Approx(1.0f));
}

TEST_CASE("EncodeImage round trips losslessly through PNG") {
  RgbImage img = Solid(7, 5, 0, 0, 0);
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = uint8_t(i * 7);
  absl::StatusOr<RgbImage> d = DecodeImage(Encode(img, ".png"), DecodeOptions{});
  REQUIRE(d.ok());
  CHECK(d->pixels == img.pixels);
  CHECK(d->format == ImageFormat::kPng);
  CHECK_FALSE(EncodeImage(img, ".nosuchformat").ok());
}

}  // namespace image2song

namespace image2song {
namespace {

std::string OddImage(const std::string& name) {
  return testing::ReadWholeFile(testing::RequiredEnv("I2S_TEST_ASSETS") + "/images/odd/" + name);
}

// Mean of channel c over the rows [y0, y1) of an image.
double RowMean(const RgbImage& im, int y0, int y1, int c) {
  double sum = 0;
  for (int y = y0; y < y1; ++y) {
    for (int x = 0; x < im.width; ++x) sum += im.pixels[(size_t(y) * im.width + x) * 3 + c];
  }
  return sum / (double(y1 - y0) * im.width);
}

}  // namespace

TEST_CASE("Odd but valid images decode to RGB") {
  for (const char* name :
       {"cmyk.jpg", "gray.jpg", "progressive.jpg", "gray16.png", "palette_alpha.png"}) {
    INFO(name);
    auto im = DecodeImage(OddImage(name), DecodeOptions{});
    INFO(im.status().ToString());
    REQUIRE(im.ok());
    CHECK(im->pixels.size() == size_t(im->width) * im->height * 3);
  }
  auto cmyk = DecodeImage(OddImage("cmyk.jpg"), DecodeOptions{});
  REQUIRE(cmyk.ok());
  CHECK(cmyk->width == 64);
  CHECK(cmyk->height == 48);
  // CMYK (255, 128, 0, 0): no cyan-free red, full yellow-free blue.
  CHECK(RowMean(*cmyk, 0, 48, 2) > RowMean(*cmyk, 0, 48, 0) + 100);
  auto progressive = DecodeImage(OddImage("progressive.jpg"), DecodeOptions{});
  REQUIRE(progressive.ok());
  CHECK(RowMean(*progressive, 0, 64, 1) > 150);  // green
}

// The libjpeg/libpng decoders give OpenCV's pixels (what the models were
// checked against), EXIF orientation included.
TEST_CASE("JPEG and PNG decode to the same pixels as OpenCV's decoders") {
  std::vector<std::pair<std::string, std::string>> files;
  for (const char* name : {"cmyk.jpg", "gray.jpg", "progressive.jpg", "gray16.png",
                           "palette_alpha.png", "exif_rotate90.jpg"}) {
    files.push_back({name, OddImage(name)});
  }
  for (const char* name : {"red.jpg", "blue.png", "big_blue.jpg"}) {
    files.push_back({name, testing::ReadWholeFile(testing::RequiredEnv("I2S_TEST_ASSETS") +
                                                  "/images/" + name)});
  }
  files.push_back({"noisy.jpg", NoisyJpeg(97, 61)});
  files.push_back({"noisy_progressive.jpg", NoisyJpeg(61, 97, true)});
  for (const auto& [name, bytes] : files) {
    INFO(name);
    DecodeOptions options;
    options.working_size = 100000;  // no resize
    absl::StatusOr<RgbImage> ours = DecodeImage(bytes, options);
    INFO(ours.status().ToString());
    REQUIRE(ours.ok());
    cv::Mat bgr = cv::imdecode(
        cv::Mat(1, int(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data())), cv::IMREAD_COLOR);
    REQUIRE(!bgr.empty());
    cv::Mat rgb;
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    REQUIRE(ours->width == rgb.cols);
    REQUIRE(ours->height == rgb.rows);
    CHECK(std::memcmp(ours->pixels.data(), rgb.data, ours->pixels.size()) == 0);
  }
}

TEST_CASE("EXIF orientation is applied") {
  auto im = DecodeImage(OddImage("exif_rotate90.jpg"), DecodeOptions{});
  INFO(im.status().ToString());
  REQUIRE(im.ok());
  // Stored 64x32 with blue left, red right; orientation 6 shows it 32x64
  // with blue on top.
  CHECK(im->width == 32);
  CHECK(im->height == 64);
  CHECK(im->original_width == 32);
  CHECK(im->original_height == 64);
  CHECK(RowMean(*im, 0, 24, 2) > RowMean(*im, 0, 24, 0) + 100);
  CHECK(RowMean(*im, 40, 64, 0) > RowMean(*im, 40, 64, 2) + 100);
}

TEST_CASE("Animated and multi-page files get INVALID_ARGUMENT naming the format") {
  struct Case {
    const char* name;
    const char* message;
  };
  for (const Case& c : {Case{"animated.gif", "GIF"}, Case{"multipage.tif", "TIFF"},
                        Case{"animated.webp", "animated"}}) {
    INFO(c.name);
    auto im = DecodeImage(OddImage(c.name), DecodeOptions{});
    REQUIRE_FALSE(im.ok());
    INFO(im.status().ToString());
    CHECK(im.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(im.status().message(), c.message));
  }
}

}  // namespace image2song

namespace image2song {
namespace {

// Found by fuzz_decode: RIFF/WEBP/VP8L that libwebp refuses, with "DICM" at
// offset 128. OpenCV then skipped its WebP decoder and GDCM aborted the
// process; DecodeImage must answer INVALID_ARGUMENT before imdecode.
TEST_CASE("A WebP header libwebp refuses never reaches OpenCV's other decoders") {
  std::string bytes = "RIFF";
  bytes += std::string("\x34\x14\x00\x00", 4) + "WEBPVP8L" + std::string("\x27\x14\x00\x00", 4);
  bytes += std::string("\x2f\x3f\xc0\x46\x34\x14\x00\x00", 8) + "WEBPVP";
  bytes.resize(128, '\0');
  bytes += "DICM";
  bytes += std::string("\xd2\x00", 2);
  REQUIRE(bytes.size() == 134);
  absl::StatusOr<RgbImage> d = DecodeImage(bytes, DecodeOptions());
  REQUIRE_FALSE(d.ok());
  CHECK(d.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(d.status().message(), "corrupt WebP"));
}

// Every geometry from 1x1 to a 1:10000 strip goes through decoding, the
// backdrop and colour analysis and model preprocessing of any crop.
TEST_CASE("Every aspect ratio decodes, is analysed and preprocessed") {
  const std::vector<std::pair<int, int>> sizes = {
      {1, 1},      {1, 2},    {2, 1},    {1, 300}, {300, 1}, {450, 1}, {1, 450},   {10000, 10},
      {10, 10000}, {3, 7000}, {7000, 3}, {2, 2},   {129, 1}, {1, 129}, {600, 599}, {65500, 1}};
  const float mean[3] = {0, 0, 0}, stdv[3] = {255, 255, 255};
  const std::vector<CropBox> boxes = {
      {0, 0, 1, 1},         {0, 0, 0.5f, 0.5f},     {0.5f, 0.5f, 1, 1}, {0.2f, 0.2f, 0.8f, 0.8f},
      {0.99f, 0.99f, 1, 1}, {0, 0, 0.001f, 0.001f}, {1, 1, 1, 1}};
  for (const auto& [w, h] : sizes) {
    for (const char* ext : {".png", ".jpg", ".webp", ".bmp"}) {
      if (std::string(ext) == ".webp" && std::max(w, h) > 16383) continue;
      if (std::string(ext) == ".jpg" && std::max(w, h) > 65500) continue;
      INFO(w << "x" << h << " " << ext);
      absl::StatusOr<RgbImage> d =
          DecodeImage(Encode(Solid(w, h, 30, 120, 220), ext), DecodeOptions{});
      INFO(d.status().ToString());
      REQUIRE(d.ok());
      CHECK(d->width >= 1);
      CHECK(d->height >= 1);
      std::map<std::string, float> f = ColourFeatures(*d);
      const float share = f.at("background_share");
      CHECK((share >= 0 && share <= 1));
      for (const auto& [name, v] : f) CHECK(std::isfinite(v));
      for (const CropBox& box : boxes) {
        for (auto [mw, mh] : {std::pair<int, int>{32, 32}, {224, 160}, {1, 1}}) {
          std::vector<float> out(size_t(3) * mw * mh, -1.0f);
          PreprocessToChw(*d, box, mw, mh, mean, stdv, out.data());
          for (float v : out) REQUIRE((v >= 0.0f && v <= 1.0f));
        }
      }
    }
  }
}

TEST_CASE("ResizeTo shrinks as OpenCV's INTER_AREA does, within one level") {
  struct Case {
    cv::Size from, to;
    int type;
  };
  const Case cases[] = {
      {{640, 360}, {224, 224}, CV_8UC3}, {{1280, 720}, {224, 224}, CV_8UC3},
      {{481, 353}, {128, 94}, CV_8UC3},  {{300, 10}, {7, 3}, CV_8UC3},
      {{640, 360}, {1, 1}, CV_8UC3},     {{97, 61}, {96, 61}, CV_8UC1},
      {{200, 200}, {33, 150}, CV_8UC4},  {{4000, 12}, {224, 1}, CV_8UC3},
  };
  for (const Case& c : cases) {
    cv::Mat src(c.from, c.type);
    cv::randu(src, 0, 256);
    // Smooth areas as well as noise: a gradient in the first channel.
    for (int y = 0; y < src.rows; ++y) src.ptr<uint8_t>(y)[0] = uint8_t(y % 256);
    cv::Mat ref;
    cv::resize(src, ref, c.to, 0, 0, cv::INTER_AREA);
    const cv::Mat got = ResizeTo(src, c.to);
    INFO(c.from << " -> " << c.to << " channels " << src.channels());
    REQUIRE(got.size() == c.to);
    REQUIRE(got.type() == c.type);
    cv::Mat diff;
    cv::absdiff(got, ref, diff);
    double worst = 0;
    cv::minMaxLoc(diff.reshape(1), nullptr, &worst);
    CHECK(worst <= 1);
  }
}

TEST_CASE("ResizeTo grows bilinearly and keeps a same-size picture") {
  cv::Mat src(20, 30, CV_8UC3, cv::Scalar(10, 200, 90));
  CHECK(ResizeTo(src, src.size()).data == src.data);
  const cv::Mat grown = ResizeTo(src, cv::Size(224, 224));
  REQUIRE(grown.size() == cv::Size(224, 224));
  CHECK(grown.at<cv::Vec3b>(100, 100) == cv::Vec3b(10, 200, 90));
  // One axis grows, the other shrinks: OpenCV's INTER_AREA, as before.
  cv::Mat ref;
  cv::resize(src, ref, cv::Size(10, 40), 0, 0, cv::INTER_AREA);
  CHECK(cv::norm(ResizeTo(src, cv::Size(10, 40)), ref, cv::NORM_INF) == 0);
}

TEST_CASE("ResizeToChw gives the floats of ResizeTo and a normalising pass, bit for bit") {
  const float scale[3] = {1 / 128.0f, 1 / 64.0f, 1 / 58.4f};
  const float shift[3] = {-1.0f, -0.5f, -2.1f};
  struct Case {
    cv::Size from, to;
    cv::Rect crop;  // a view into the picture (rows not contiguous) when not empty
  };
  const Case cases[] = {
      {{640, 360}, {224, 224}, {}},
      {{1280, 720}, {224, 224}, {}},
      {{640, 360}, {224, 224}, {10, 20, 300, 200}},
      {{300, 10}, {7, 3}, {}},
      {{640, 360}, {1, 1}, {}},
      {{97, 61}, {96, 61}, {}},
      {{20, 30}, {224, 224}, {}},
      {{224, 224}, {224, 224}, {}},
      {{50, 400}, {100, 40}, {}},  // one axis grows: OpenCV's INTER_AREA
  };
  for (const Case& c : cases) {
    cv::Mat full(c.from, CV_8UC3);
    cv::randu(full, 0, 256);
    const cv::Mat src = c.crop.empty() ? full : full(c.crop);
    INFO(src.size() << " -> " << c.to);
    const cv::Mat resized = ResizeTo(src, c.to);
    const size_t plane = size_t(c.to.area());
    std::vector<float> want(3 * plane), got(3 * plane, -7.0f);
    for (int y = 0; y < c.to.height; ++y) {
      for (int x = 0; x < c.to.width; ++x) {
        for (int ch = 0; ch < 3; ++ch) {
          want[plane * ch + size_t(y) * c.to.width + x] =
              resized.ptr<uint8_t>(y)[3 * x + ch] * scale[ch] + shift[ch];
        }
      }
    }
    ResizeToChw(src, c.to, scale, shift, got.data());
    for (size_t i = 0; i < want.size(); ++i) {
      INFO("value " << i);
      REQUIRE(got[i] == want[i]);
    }
  }
}

}  // namespace
}  // namespace image2song
