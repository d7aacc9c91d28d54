// Tests for server/request.h: request parsing with reasons, UTF-8.
#include "server/request.h"

#include <string>

#include <catch2/catch.hpp>

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
                          "\xE0\x80\xAF", "\xED\xA0\x80",        // surrogate
                          "\xF4\x90\x80\x80", "\xF8\x88\x80\x80\x80", "ab\xC3(",
                          "\xE2\x82"}) {
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
  for (const std::string& bytes :
       {std::string("\xFF\xFF\xFF"), std::string("\x0A\x05" "ab"), std::string("\x0B")}) {
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

}  // namespace
}  // namespace image2song
