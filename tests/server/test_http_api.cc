// The HTTP/JSON request parsing and status mapping (server/http/http_api.h).
#include "server/http/http_api.h"

#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <vector>

namespace image2song {
namespace {

namespace pb = ::image2song::v1;

std::string Multipart(const std::string& boundary,
                      const std::vector<std::array<std::string, 4>>& parts) {
  // Each part: name, filename, content type, data.
  std::string body = "preamble is ignored\r\n";
  for (const auto& [name, filename, type, data] : parts) {
    body += "--" + boundary + "\r\n";
    body += "Content-Disposition: form-data; name=\"" + name + "\"";
    if (!filename.empty()) body += "; filename=\"" + filename + "\"";
    body += "\r\n";
    if (!type.empty()) body += "Content-Type: " + type + "\r\n";
    body += "\r\n" + data + "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return body;
}

TEST_CASE("ParseQuery decodes percent escapes and plus signs") {
  auto q = ParseQuery("top_k=5&text=calm%20lake+at%2Bdusk&&flag&genres=folk,pop");
  REQUIRE(q.ok());
  REQUIRE(q->size() == 4);
  CHECK((*q)[0] == std::make_pair(std::string("top_k"), std::string("5")));
  CHECK((*q)[1].second == "calm lake at+dusk");
  CHECK((*q)[2] == std::make_pair(std::string("flag"), std::string("")));
  CHECK((*q)[3].second == "folk,pop");
  for (const char* bad : {"a=%", "a=%4", "a=%zz", "%g1=2"}) {
    INFO(bad);
    auto r = ParseQuery(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(absl::IsInvalidArgument(r.status()));
    CHECK(r.status().message().find("percent escape") != absl::string_view::npos);
  }
}

TEST_CASE("A raw image body becomes one image with explain on by default") {
  const std::string jpeg = std::string("\xff\xd8\xff\xe0", 4) + std::string(100, 'x');
  auto r =
      ParseHttpRecommend("top_k=3&genres=folk,%20pop&exclude=s1&exclude=s2", "image/jpeg", jpeg);
  REQUIRE(r.ok());
  CHECK(r->image() == jpeg);
  CHECK(r->images_size() == 0);
  CHECK(r->top_k() == 3);
  CHECK(r->explain());
  REQUIRE(r->filters().genres_size() == 2);
  CHECK(r->filters().genres(1) == "pop");
  CHECK(r->filters().exclude_song_ids_size() == 2);

  auto off = ParseHttpRecommend("explain=false&exclude_explicit=1&max_duration_seconds=90.5",
                                "application/octet-stream", jpeg);
  REQUIRE(off.ok());
  CHECK_FALSE(off->explain());
  CHECK(off->filters().exclude_explicit());
  CHECK(off->filters().max_duration_seconds() == Approx(90.5));

  // No Content-Type is taken as an image too; an empty body leaves the
  // image empty for the service to refuse ("no image and no text").
  auto none = ParseHttpRecommend("", "", "");
  REQUIRE(none.ok());
  CHECK(none->image().empty());
}

TEST_CASE("Bad query parameters are refused naming the parameter") {
  struct Case {
    const char* query;
    const char* expect;
  };
  for (const Case& c : {Case{"top_k=ten", "top_k"}, Case{"explain=maybe", "explain"},
                        Case{"colour=red", "unknown parameter \"colour\""},
                        Case{"min_duration_seconds=long", "min_duration_seconds"}}) {
    INFO(c.query);
    auto r = ParseHttpRecommend(c.query, "image/png", "x");
    REQUIRE_FALSE(r.ok());
    CHECK(absl::IsInvalidArgument(r.status()));
    CHECK(r.status().message().find(c.expect) != absl::string_view::npos);
  }
}

TEST_CASE("Values that are not UTF-8 are refused naming the field") {
  struct Case {
    const char* query;
    const char* expect;
  };
  for (const Case& c : {Case{"text=caf%C3", "'text' is not valid UTF-8"},
                        Case{"genres=folk,%FF%FE", "'filters.genres[1]' is not valid UTF-8"},
                        Case{"exclude=%ED%A0%80", "'filters.exclude_song_ids[0]'"}}) {
    INFO(c.query);
    auto r = ParseHttpRecommend(c.query, "image/png", "x");
    REQUIRE_FALSE(r.ok());
    CHECK(absl::IsInvalidArgument(r.status()));
    CHECK(r.status().message().find(c.expect) != absl::string_view::npos);
  }
  const std::string body =
      "--b\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\n\xC0\xAF\r\n--b--\r\n";
  auto r = ParseHttpRecommend("", "multipart/form-data; boundary=b", body);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("'text' is not valid UTF-8") != absl::string_view::npos);
  CHECK(ParseHttpRecommend("text=caf%C3%A9", "image/png", "x").ok());  // café
}

TEST_CASE("Multipart uploads: one image, several images, form fields") {
  const std::string b = "----i2sBoundary7MA4YWxk";
  const std::string png =
      std::string("\x89PNG\r\n\x1a\n", 8) + "\r\n--not-the-boundary\r\n" + std::string(64, '\0');
  const std::string one = Multipart(b, {{"image", "cat.png", "image/png", png},
                                        {"top_k", "", "", "4"},
                                        {"text", "", "", "sunny beach"}});
  auto r = ParseHttpRecommend("explain=false", "multipart/form-data; boundary=" + b, one);
  REQUIRE(r.ok());
  CHECK(r->image() == png);  // binary data with CR LF and dashes survives
  CHECK(r->top_k() == 4);
  CHECK(r->text() == "sunny beach");
  CHECK_FALSE(r->explain());

  const std::string two = Multipart(
      b, {{"image", "a.png", "image/png", png}, {"image", "b.png", "image/png", png + "2"}});
  auto r2 = ParseHttpRecommend("", "multipart/form-data; boundary=\"" + b + "\"", two);
  REQUIRE(r2.ok());
  CHECK(r2->image().empty());
  REQUIRE(r2->images_size() == 2);
  CHECK(r2->images(1) == png + "2");
}

TEST_CASE("Broken multipart bodies are refused with the reason") {
  const std::string b = "XyZ";
  const std::string good = Multipart(b, {{"image", "a.png", "image/png", "data"}});
  struct Case {
    std::string content_type, body, expect;
  };
  for (const Case& c : {
           Case{"multipart/form-data", good, "boundary"},
           Case{"multipart/form-data; boundary=other", good, "does not contain its boundary"},
           Case{"multipart/form-data; boundary=XyZ", good.substr(0, good.size() - 12),
                "truncated multipart body"},
           Case{"multipart/form-data; boundary=XyZ",
                Multipart(b, {{"photo", "a.png", "image/png", "x"}}), "file field \"photo\""},
           Case{"multipart/form-data; boundary=XyZ", Multipart(b, {{"top_k", "", "", "lots"}}),
                "top_k"},
           // The headers' blank line runs into the next delimiter (found by
           // fuzz_http: the part's data was the rest of the body).
           Case{"multipart/form-data; boundary=XyZ",
                "--XyZ\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\n--XyZ\r\n"
                "Content-Disposition: form-data; name=\"image\"\r\n\r\nab\r\n--XyZ--\r\n",
                "malformed multipart part headers"},
           Case{"multipart/form-data; boundary=XyZ", "--XyZ\r\n\r\n--XyZ\r\n\r\nab\r\n--XyZ--\r\n",
                "malformed multipart part headers"},
       }) {
    INFO(c.content_type << " | " << c.expect);
    auto r = ParseHttpRecommend("", c.content_type, c.body);
    REQUIRE_FALSE(r.ok());
    CHECK(absl::IsInvalidArgument(r.status()));
    CHECK(r.status().message().find(c.expect) != absl::string_view::npos);
  }
  std::vector<std::array<std::string, 4>> many(5, {"text", "", "", "x"});
  HttpRecommendLimits limits;
  limits.max_parts = 4;
  auto r = ParseHttpRecommend("", "multipart/form-data; boundary=XyZ", Multipart(b, many), limits);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("more than 4 multipart parts") != absl::string_view::npos);
}

TEST_CASE("A JSON body is a RecommendRequest in proto JSON") {
  auto r = ParseHttpRecommend(
      "top_k=99",  // ignored: the JSON says everything
      "application/json; charset=utf-8",
      R"({"image": "aGVsbG8=", "top_k": 2, "filters": {"genres": ["hymn"]}, "explain": true})");
  REQUIRE(r.ok());
  CHECK(r->image() == "hello");
  CHECK(r->top_k() == 2);
  CHECK(r->filters().genres(0) == "hymn");
  auto bad = ParseHttpRecommend("", "application/json", R"({"picture": "x"})");
  REQUIRE_FALSE(bad.ok());
  CHECK(absl::IsInvalidArgument(bad.status()));
  CHECK(bad.status().message().find("not a RecommendRequest") != absl::string_view::npos);
}

TEST_CASE("Other content types are refused as unsupported") {
  auto r = ParseHttpRecommend("", "text/plain", "hello");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == absl::StatusCode::kUnimplemented);
  CHECK(r.status().message().find("text/plain") != absl::string_view::npos);
}

TEST_CASE("gRPC codes map to HTTP statuses and JSON errors") {
  CHECK(HttpStatusForGrpcCode(0) == 200);
  CHECK(HttpStatusForGrpcCode(3) == 400);   // INVALID_ARGUMENT
  CHECK(HttpStatusForGrpcCode(4) == 504);   // DEADLINE_EXCEEDED
  CHECK(HttpStatusForGrpcCode(5) == 404);   // NOT_FOUND
  CHECK(HttpStatusForGrpcCode(8) == 429);   // RESOURCE_EXHAUSTED
  CHECK(HttpStatusForGrpcCode(14) == 503);  // UNAVAILABLE
  CHECK(HttpStatusForGrpcCode(16) == 401);  // UNAUTHENTICATED
  CHECK(HttpStatusForGrpcCode(13) == 500);  // INTERNAL
  CHECK(ErrorJson(3, "bad \"image\"\n\x01") ==
        R"({"error":{"code":3,"message":"bad \"image\"\n\u0001","status":"INVALID_ARGUMENT"}})");
  // Invalid UTF-8 from the request cannot break the JSON.
  CHECK(ErrorJson(5, "no song \xff\xfe") ==
        "{\"error\":{\"code\":5,\"message\":\"no song "
        "\xef\xbf\xbd\xef\xbf\xbd\",\"status\":\"NOT_FOUND\"}}");
  CHECK(ErrorJson(5, "caf\xc3\xa9") ==
        "{\"error\":{\"code\":5,\"message\":\"caf\xc3\xa9\",\"status\":\"NOT_FOUND\"}}");
}

TEST_CASE("Responses print as proto JSON with snake_case names") {
  pb::RecommendResponse response;
  auto* m = response.add_matches();
  m->set_song_id("s1");
  m->set_rank(1);
  m->mutable_explanation()->add_lines()->set_text("by the lake");
  const std::string json = ToJson(response);
  CHECK(json.find("\"song_id\":\"s1\"") != std::string::npos);
  CHECK(json.find("\"index_version\":\"\"") != std::string::npos);
  CHECK(json.find("\"line_number\":0") != std::string::npos);
}

}  // namespace
}  // namespace image2song
