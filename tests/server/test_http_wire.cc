// HTTP/1.1 framing without I/O (server/http/http_wire.h): request heads, chunked
// bodies, reply heads.
#include "server/http/http_wire.h"

#include <catch2/catch.hpp>

#include <string>

namespace image2song {
namespace {

using Result = HttpHeadParse::Result;

HttpHeadParse Parse(const std::string& data, HttpRequestHead* head,
                    const HttpHeadLimits& limits = {}) {
  return ParseRequestHead(data, limits, head);
}

TEST_CASE("A request head is parsed: method, decoded path, query, headers") {
  HttpRequestHead head;
  const std::string data =
      "POST /v1/songs/a%20b%2Fc+d?top_k=3&text=a%20b HTTP/1.1\r\n"
      "Host: x\r\nContent-Type:  image/png \r\nContent-Length: 12\r\n"
      "X-Empty:\r\nAuthorization: Bearer t\xc3\xa9\r\n\r\nBODY";
  HttpHeadParse p = Parse(data, &head);
  REQUIRE(p.result == Result::kComplete);
  CHECK(p.size == data.size() - 4);
  CHECK(head.method == "POST");
  CHECK(head.path == "/v1/songs/a b/c+d");    // '+' stays in a path
  CHECK(head.query == "top_k=3&text=a%20b");  // decoded later by ParseQuery
  CHECK(head.minor_version == 1);
  CHECK(head.Header("content-type") == "image/png");
  CHECK(head.Header("x-empty").empty());
  CHECK(head.Header("authorization") == "Bearer t\xc3\xa9");  // obs-text kept
  CHECK(head.Header("missing").empty());
  CHECK(head.content_length == 12);
  CHECK_FALSE(head.chunked);
  CHECK(head.keep_alive);
  CHECK_FALSE(head.expect_continue);
  CHECK(head.has_body());
}

TEST_CASE("Heads with bare LF, leading empty lines and absolute targets") {
  HttpRequestHead head;
  HttpHeadParse p = Parse("\r\n\nGET /healthz HTTP/1.1\nHost: x\n\n", &head);
  REQUIRE(p.result == Result::kComplete);
  CHECK(p.size == 34);  // the whole input
  CHECK(head.path == "/healthz");
  p = Parse("GET http://example.com:8080/v1/info?x=1 HTTP/1.1\r\n\r\n", &head);
  REQUIRE(p.result == Result::kComplete);
  CHECK(head.path == "/v1/info");
  CHECK(head.query == "x=1");
  p = Parse("GET http://example.com HTTP/1.1\r\n\r\n", &head);
  REQUIRE(p.result == Result::kComplete);
  CHECK(head.path == "/");
  p = Parse("GET /#frag HTTP/1.1\r\n\r\n", &head);
  REQUIRE(p.result == Result::kComplete);
  CHECK(head.path == "/");
}

TEST_CASE("Keep-alive, Expect and chunked follow the version and headers") {
  HttpRequestHead head;
  REQUIRE(Parse("GET / HTTP/1.0\r\n\r\n", &head).result == Result::kComplete);
  CHECK_FALSE(head.keep_alive);
  CHECK(head.minor_version == 0);
  REQUIRE(Parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &head).result ==
          Result::kComplete);
  CHECK(head.keep_alive);
  REQUIRE(Parse("GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n", &head).result ==
          Result::kComplete);
  CHECK_FALSE(head.keep_alive);
  REQUIRE(
      Parse("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nTransfer-Encoding: Chunked\r\n\r\n", &head)
          .result == Result::kComplete);
  CHECK(head.expect_continue);
  CHECK(head.chunked);
  CHECK(head.has_body());
  // Several equal Content-Length fields are one.
  REQUIRE(
      Parse("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", &head).result ==
      Result::kComplete);
  CHECK(head.content_length == 5);
}

TEST_CASE("An unfinished head asks for more bytes, up to the size limit") {
  HttpRequestHead head;
  for (const char* part : {"", "GET", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: x\r\n",
                           "GET / HTTP/1.1\r\nHost: x\r\n\r", "\r\n"}) {
    INFO(part);
    CHECK(Parse(part, &head).result == Result::kIncomplete);
  }
  HttpHeadLimits limits;
  limits.max_head_bytes = 100;
  HttpHeadParse p = Parse("GET / HTTP/1.1\r\nX: " + std::string(200, 'a'), &head, limits);
  CHECK(p.result == Result::kError);
  CHECK(p.status == 431);
  p = Parse("GET / HTTP/1.1\r\nX: " + std::string(200, 'a') + "\r\n\r\n", &head, limits);
  CHECK(p.result == Result::kError);
  CHECK(p.status == 431);
  limits.max_headers = 2;
  p = Parse("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", &head, limits);
  CHECK(p.status == 431);
  CHECK(p.message.find("more than 2 header fields") != std::string::npos);
}

TEST_CASE("Malformed heads are refused with the status and the reason") {
  struct Case {
    std::string head;
    int status;
    const char* message;
  };
  const Case cases[] = {
      {"GET /\r\n\r\n", 400, "malformed request line"},
      {"GET  / HTTP/1.1\r\n\r\n", 400, "malformed request line"},
      {"GET / HTTP/1.1 x\r\n\r\n", 400, "malformed request line"},
      {"G(T / HTTP/1.1\r\n\r\n", 400, "malformed method"},
      {"GET / HTTX/1.1\r\n\r\n", 400, "malformed HTTP version"},
      {"GET / HTTP/2.0\r\n\r\n", 505, "HTTP/2.0 is not supported"},
      {"GET x HTTP/1.1\r\n\r\n", 400, "is not a path starting with /"},
      {"GET /a%zz HTTP/1.1\r\n\r\n", 400, "bad percent escape in the path"},
      {"GET /a%00 HTTP/1.1\r\n\r\n", 400, "bad percent escape in the path"},
      {"GET /a\x01 HTTP/1.1\r\n\r\n", 400, "control character in the request target"},
      {"GET / HTTP/1.1\r\nHost x\r\n\r\n", 400, "malformed header line"},
      {"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "malformed header line"},
      {"GET / HTTP/1.1\r\nA: 1\r\n  folded\r\n\r\n", 400, "obs-fold"},
      {"GET / HTTP/1.1\r\nA: 1\x02\r\n\r\n", 400, "control character in header"},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "bad Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400, "bad Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400,
       "bad Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400, "bad Content-Length"},
      {"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400,
       "several different Content-Length"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "only chunked"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400,
       "both Content-Length and Transfer-Encoding"},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
       "twice"},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0"},
  };
  for (const Case& c : cases) {
    INFO(c.head);
    HttpRequestHead head;
    HttpHeadParse p = Parse(c.head, &head);
    REQUIRE(p.result == Result::kError);
    CHECK(p.status == c.status);
    CHECK(p.message.find(c.message) != std::string::npos);
  }
}

TEST_CASE("Chunked bodies decode whole or one byte at a time") {
  const std::string wire =
      "5;ext=1\r\nhello\r\n7\r\n, world\r\nA \r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  // Whole.
  {
    ChunkedDecoder d(100);
    std::string body;
    absl::StatusOr<size_t> used = d.Feed(wire, &body);
    REQUIRE(used.ok());
    CHECK(d.done());
    CHECK(body == "hello, world0123456789");
    CHECK(wire.substr(*used) == "NEXT");
  }
  // Byte by byte, with bare LF line ends.
  {
    std::string lf = wire;
    for (size_t i; (i = lf.find("\r\n")) != std::string::npos;) lf.erase(i, 1);
    ChunkedDecoder d(100);
    std::string body;
    size_t pos = 0;
    while (!d.done()) {
      REQUIRE(pos < lf.size());
      absl::StatusOr<size_t> used = d.Feed(absl::string_view(lf).substr(pos, 1), &body);
      REQUIRE(used.ok());
      pos += *used;
    }
    CHECK(body == "hello, world0123456789");
    CHECK(lf.substr(pos) == "NEXT");
  }
}

TEST_CASE("Chunked bodies: the limit and broken framing are refused") {
  {
    ChunkedDecoder d(10);
    std::string body;
    absl::StatusOr<size_t> used = d.Feed("6\r\nabcdef\r\n5\r\n", &body);
    REQUIRE_FALSE(used.ok());
    CHECK(absl::IsResourceExhausted(used.status()));
    CHECK(used.status().message().find("over the limit of 10 bytes") != absl::string_view::npos);
    CHECK_FALSE(d.done());
    CHECK_FALSE(d.Feed("0\r\n\r\n", &body).ok());  // unusable afterwards
  }
  for (const char* bad :
       {"x\r\n", "\r\n", "5 x\r\nhello\r\n", "3\r\nabcd\r\n", "1234567890abcdef0\r\n"}) {
    INFO(bad);
    ChunkedDecoder d(int64_t{1} << 62);
    std::string body;
    absl::StatusOr<size_t> used = d.Feed(bad, &body);
    REQUIRE_FALSE(used.ok());
    CHECK(absl::IsInvalidArgument(used.status()));
  }
  // A size line that never ends.
  ChunkedDecoder d(100);
  std::string body;
  CHECK_FALSE(d.Feed(std::string(5000, '0'), &body).ok());
}

TEST_CASE("Reply heads carry length, no-store and Connection: close when asked") {
  CHECK(FormatReplyHead(200, "application/json", 17, "", false) ==
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n"
        "Cache-Control: no-store\r\n\r\n");
  CHECK(FormatReplyHead(413, "application/json", 5, "Retry-After: 1\r\n", true) ==
        "HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
        "Content-Length: 5\r\nCache-Control: no-store\r\nConnection: close\r\n"
        "Retry-After: 1\r\n\r\n");
  CHECK(FormatReplyHead(408, "a", 0, "", true).find("408 Request Timeout") != std::string::npos);
  CHECK(FormatReplyHead(431, "a", 0, "", true).find("431 Request Header Fields Too Large") !=
        std::string::npos);
}

}  // namespace
}  // namespace image2song
