// Tests for server/request.h: request parsing with reasons, UTF-8, the
// checks before the queue and the conversion to core types.
#include "server/request.h"

#include <string>

#include <catch2/catch.hpp>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"

namespace image2song {
namespace {

namespace pb = ::image2song::v1;

TEST_CASE("IsValidUtf8 follows the UTF-8 definition") {
  for (const char* ok : {"", "plain", "caf\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x8E\xB5",
                         "\xEF\xBF\xBF", "\xF4\x8F\xBF\xBF"}) {
    INFO(ok);
    CHECK(IsValidUtf8(ok));
  }
  for (const char* bad : {"\xC3", "\xFF", "\x80", "\xC0\xAF",  // overlong '/'
                          "\xE0\x80\xAF", "\xED\xA0\x80",      // surrogate
                          "\xF4\x90\x80\x80", "\xF8\x88\x80\x80\x80", "ab\xC3(", "\xE2\x82"}) {
    INFO(bad);
    CHECK_FALSE(IsValidUtf8(bad));
  }
}

TEST_CASE("ParseRequestBytes names the field that is not UTF-8") {
  pb::RecommendRequest req;
  req.set_image("\xFF\xD8\xFF binary is fine in bytes");
  req.mutable_filters()->add_languages("en");
  req.mutable_filters()->add_languages("fr");
  req.mutable_filters()->add_languages("\xFF");
  std::string bytes;
  REQUIRE(req.SerializeToString(&bytes));
  pb::RecommendRequest parsed;
  absl::Status s = ParseRequestBytes(bytes, &parsed);
  CHECK(absl::IsInvalidArgument(s));
  CHECK(absl::StrContains(s.message(), "'filters.languages[2]' is not valid UTF-8"));
  CHECK(CheckStringsAreUtf8(req).message() == s.message());

  req.mutable_filters()->set_languages(2, "de");
  REQUIRE(req.SerializeToString(&bytes));
  CHECK(ParseRequestBytes(bytes, &parsed).ok());
  CHECK(parsed.filters().languages(2) == "de");
  CHECK(parsed.image() == req.image());
  CHECK(CheckStringsAreUtf8(parsed).ok());
}

TEST_CASE("ParseRequestBytes says when bytes are not a message") {
  pb::GetSongRequest song;
  for (const std::string& bytes : {std::string("\xFF\xFF\xFF"),
                                   std::string("\x0A\x05"
                                               "ab"),
                                   std::string("\x0B")}) {
    absl::Status s = ParseRequestBytes(bytes, &song);
    CHECK(absl::IsInvalidArgument(s));
    CHECK(absl::StrContains(s.message(), "not a serialized image2song.v1.GetSongRequest"));
  }
  // A nested message that does not parse is named.
  const std::string bad_filters = std::string("\x1A\x02\xFF\xFF", 4);
  pb::RecommendRequest req;
  absl::Status s = ParseRequestBytes(bad_filters, &req);
  CHECK(absl::IsInvalidArgument(s));
  CHECK(absl::StrContains(s.message(), "filters"));
}

// ------------------------------------------------------ conversion to core

// A w x h PNG of one colour.
std::string Png(int w, int h) {
  RgbImage image;
  image.width = w;
  image.height = h;
  image.pixels.assign(size_t(w) * h * 3, 90);
  auto png = EncodeImage(image, ".png");
  REQUIRE(png.ok());
  return *png;
}

TEST_CASE("ToRecommendOptions takes top_k, explain and filters on top of the server's options") {
  pb::RecommendRequest r;
  r.set_explain(true);
  pb::Filters* f = r.mutable_filters();
  f->add_genres(" Folk ");
  f->add_genres("");
  f->add_genres("  ");
  f->add_moods("CALM");
  f->add_languages("En");
  f->add_licenses("Public-Domain");
  f->add_exclude_song_ids("Song-1");
  f->set_exclude_explicit(true);
  f->set_min_duration_seconds(30);
  f->set_max_duration_seconds(300);
  RecommendOptions base;
  base.candidates = 77;
  base.retrieval_weight = 0.25f;
  base.text_weight = 0.5f;
  const RecommendOptions o = ToRecommendOptions(r, base, 10);
  CHECK(o.top_k == 10);  // 0 means the default
  CHECK(o.explain);
  CHECK(o.candidates == 77);
  CHECK(o.retrieval_weight == 0.25f);
  CHECK(o.text_weight == 0.5f);
  CHECK(o.filters.genres == absl::flat_hash_set<std::string>{"folk"});  // blanks dropped
  CHECK(o.filters.moods == absl::flat_hash_set<std::string>{"calm"});
  CHECK(o.filters.languages == absl::flat_hash_set<std::string>{"en"});
  CHECK(o.filters.licenses == absl::flat_hash_set<std::string>{"public-domain"});
  CHECK(o.filters.exclude_ids == absl::flat_hash_set<std::string>{"Song-1"});  // ids keep case
  CHECK(o.filters.exclude_explicit);
  CHECK(o.filters.min_duration_seconds == 30);
  CHECK(o.filters.max_duration_seconds == 300);
  r.set_top_k(3);
  r.clear_filters();
  const RecommendOptions plain = ToRecommendOptions(r, base, 10);
  CHECK(plain.top_k == 3);
  CHECK(plain.filters.empty());
}

TEST_CASE("CheckRequestImages and DecodeRequestImages name the image that fails") {
  DecodeOptions decode;
  SECTION("one image: the problem alone") {
    pb::RecommendRequest r;
    r.set_image("not an image");
    absl::Status s = CheckRequestImages(r, decode);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK_FALSE(absl::StartsWith(s.message(), "image:"));
    CHECK(DecodeRequestImages(r, decode).status().code() == absl::StatusCode::kInvalidArgument);
  }
  SECTION("several images: which one") {
    pb::RecommendRequest r;
    r.set_image(Png(8, 6));
    r.add_images(Png(5, 5));
    r.add_images("GIF89a not supported");
    absl::Status s = CheckRequestImages(r, decode);
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(s.message(), "images[1]: "));
    r.set_image(std::string("\x89PNG\r\n\x1a\n", 8));  // a PNG signature and nothing else
    r.mutable_images()->RemoveLast();
    s = CheckRequestImages(r, decode);
    CHECK(absl::StartsWith(s.message(), "image: "));
  }
  SECTION("the pixel limit is checked on the header") {
    decode.max_pixels = 30;
    pb::RecommendRequest r;
    r.add_images(Png(5, 5));
    r.add_images(Png(8, 6));
    absl::Status s = CheckRequestImages(r, decode);
    CHECK(absl::StartsWith(s.message(), "images[1]: "));
    CHECK(absl::StrContains(s.message(), "the limit is 30 pixels"));
  }
  SECTION("decoded in order: 'image' first, then 'images'") {
    pb::RecommendRequest r;
    r.set_image(Png(8, 6));
    r.add_images(Png(5, 5));
    r.add_images(Png(3, 7));
    REQUIRE(CheckRequestImages(r, decode).ok());
    auto images = DecodeRequestImages(r, decode);
    REQUIRE(images.ok());
    REQUIRE(images->size() == 3);
    CHECK((*images)[0].width == 8);
    CHECK((*images)[1].width == 5);
    CHECK((*images)[2].height == 7);
    r.clear_image();
    images = DecodeRequestImages(r, decode);
    REQUIRE(images.ok());
    CHECK(images->size() == 2);
  }
}

}  // namespace
}  // namespace image2song
