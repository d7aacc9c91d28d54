// HTTP/1.1 message framing for the gateway's server (server/http/http_server.h),
// without any I/O: the request head (request line and header fields), the
// body's framing (Content-Length or chunked), and the head of a reply.
// Everything here works on bytes already received, so it is unit-tested
// and fuzzed (tests/fuzz/fuzz_http.cc) on plain strings.
//
// Thread-safety: free functions without shared state; a ChunkedDecoder is
// used by one thread at a time.
#ifndef IMAGE2SONG_SERVER_HTTP_HTTP_WIRE_H_
#define IMAGE2SONG_SERVER_HTTP_HTTP_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace image2song {

struct HttpHeadLimits {
  // Request line plus header fields, the empty line included. Default: 32 KiB.
  size_t max_head_bytes = 32 * 1024;
  // Header fields. Default: 100.
  int max_headers = 100;
};

// A parsed request head.
struct HttpRequestHead {
  std::string method;     // as sent ("GET", "POST", ...)
  std::string path;       // percent-decoded ("/v1/songs/a b")
  std::string query;      // as sent, after '?' (server/http/http_api.h ParseQuery)
  int minor_version = 1;  // HTTP/1.<minor>
  // Header fields in order, names lower-cased, values without surrounding
  // whitespace.
  std::vector<std::pair<std::string, std::string>> headers;
  // Body framing: Content-Length (0 when absent) or chunked.
  int64_t content_length = 0;
  bool chunked = false;
  // After the reply the connection may take another request (HTTP/1.1
  // without "Connection: close", HTTP/1.0 with "Connection: keep-alive").
  bool keep_alive = true;
  // "Expect: 100-continue": the client waits for "100 Continue" before it
  // sends the body.
  bool expect_continue = false;

  // The first value of header `lower_name`, or "".
  absl::string_view Header(absl::string_view lower_name) const;
  bool has_body() const { return chunked || content_length > 0; }
};

// What ParseRequestHead found.
struct HttpHeadParse {
  enum class Result {
    kIncomplete,  // no empty line yet (and under the size limit): read more
    kComplete,    // `head` is filled; the head took `size` bytes
    kError,       // answer `status` with `message`, then close
  };
  Result result = Result::kIncomplete;
  size_t size = 0;
  // 400 (malformed), 431 (over the limits), 501 (a transfer coding other
  // than chunked), 505 (not HTTP/1.x).
  int status = 0;
  std::string message;
};

// Parses the request head at the start of `data` (empty lines before the
// request line are skipped, as RFC 9112 asks). Lines may end in CRLF or LF.
// Refused: a request line that is not "METHOD SP origin-form SP HTTP/1.x"
// (absolute-form targets are reduced to their path), bad percent escapes or
// NUL in the path, header names with spaces or without a colon, folded
// lines, control bytes in values, a Content-Length that is not one decimal
// number (several equal ones are accepted), both Content-Length and
// Transfer-Encoding (request smuggling), Transfer-Encoding in HTTP/1.0.
HttpHeadParse ParseRequestHead(absl::string_view data, const HttpHeadLimits& limits,
                               HttpRequestHead* head);

// Decodes a chunked request body as it arrives (RFC 9112 section 7.1):
// hexadecimal chunk sizes, chunk extensions ignored, trailer fields read
// and dropped. Bytes after the last chunk belong to the next request.
class ChunkedDecoder {
 public:
  // The decoded body may hold at most `max_body` bytes.
  explicit ChunkedDecoder(int64_t max_body) : max_body_(max_body) {}

  // Consumes bytes from the start of `in`, appending chunk data to `body`;
  // returns how many bytes it consumed (all of `in` unless done() became
  // true). Errors: RESOURCE_EXHAUSTED when the body would pass `max_body`,
  // INVALID_ARGUMENT for malformed framing; later calls then fail.
  absl::StatusOr<size_t> Feed(absl::string_view in, std::string* body);
  // The last chunk and the trailer have been read.
  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kSizeLine, kData, kDataEnd, kTrailer, kDone, kFailed };
  // Handles one complete line (without its LF) in the current state.
  absl::Status Line(absl::string_view line);

  const int64_t max_body_;
  State state_ = State::kSizeLine;
  int64_t decoded_ = 0;    // body bytes so far
  int64_t remaining_ = 0;  // of the current chunk
  std::string line_;       // a size, chunk end or trailer line being read
  size_t trailer_bytes_ = 0;
};

// "HTTP/1.1 <status> <reason>" with Content-Type, Content-Length,
// Cache-Control: no-store, Connection: close when `close`, then
// `extra_headers` (each line ending in CRLF) and the empty line.
std::string FormatReplyHead(int status, absl::string_view content_type, size_t content_length,
                            absl::string_view extra_headers, bool close);

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_HTTP_HTTP_WIRE_H_
