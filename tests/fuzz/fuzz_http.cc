// libFuzzer target: untrusted HTTP request bytes as the gateway parses them.
//
// Framing (server/http/http_wire.h): the bytes after byte 0 are a request head
// (ParseRequestHead), and what follows it, or the bytes themselves, a
// chunked body (ChunkedDecoder). A head is complete, incomplete or refused
// with 400/431/501/505 and a message; a complete head took no more bytes
// than given and its prefixes are not complete; chunked decoding gives the
// same body and verdict whether the bytes come at once or in two pieces, and
// never more than its limit.
//
// Content (server/http/http_api.h): byte 0 picks the Content-Type, the bytes up
// to the first newline are the query string, the rest is the body. Parsing
// must answer a request or INVALID_ARGUMENT / UNIMPLEMENTED, and a parsed
// request never holds more image bytes than the body.
//
// Built with ASan + UBSan (tools/dev/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "server/http/http_api.h"
#include "server/http/http_wire.h"

namespace {

using namespace image2song;

constexpr int64_t kMaxBody = 4096;

// Decodes `in` as a chunked body, fed in two pieces split at `split`.
struct Decoded {
  bool ok = true;
  absl::StatusCode code = absl::StatusCode::kOk;
  bool done = false;
  size_t used = 0;
  std::string body;
};
Decoded DecodeChunked(absl::string_view in, size_t split) {
  Decoded d;
  ChunkedDecoder decoder(kMaxBody);
  for (absl::string_view piece : {in.substr(0, split), in.substr(split)}) {
    if (d.done) break;
    absl::StatusOr<size_t> used = decoder.Feed(piece, &d.body);
    if (!used.ok()) {
      d.ok = false;
      d.code = used.status().code();
      return d;
    }
    if (*used > piece.size()) std::abort();
    if (*used < piece.size() && !decoder.done()) std::abort();  // stops only when done
    d.used += *used;
    d.done = decoder.done();
  }
  return d;
}

void CheckChunked(absl::string_view in, size_t split) {
  const Decoded whole = DecodeChunked(in, in.size());
  const Decoded halves = DecodeChunked(in, split % (in.size() + 1));
  if (whole.ok != halves.ok || whole.code != halves.code) std::abort();
  if (whole.ok &&
      (whole.done != halves.done || whole.used != halves.used || whole.body != halves.body)) {
    std::abort();
  }
  if (static_cast<int64_t>(whole.body.size()) > kMaxBody || whole.body.size() > in.size()) {
    std::abort();
  }
  if (!whole.ok && whole.code != absl::StatusCode::kInvalidArgument &&
      whole.code != absl::StatusCode::kResourceExhausted) {
    std::abort();
  }
}

void CheckFraming(absl::string_view data, size_t split) {
  HttpHeadLimits limits;
  limits.max_head_bytes = 4096;
  limits.max_headers = 20;
  HttpRequestHead head;
  const HttpHeadParse p = ParseRequestHead(data, limits, &head);
  switch (p.result) {
    case HttpHeadParse::Result::kIncomplete:
      if (data.size() > limits.max_head_bytes + 64) std::abort();
      break;
    case HttpHeadParse::Result::kError:
      if (p.status != 400 && p.status != 431 && p.status != 501 && p.status != 505) std::abort();
      if (p.message.empty() || ErrorJson(3, p.message).empty()) std::abort();
      break;
    case HttpHeadParse::Result::kComplete: {
      if (p.size == 0 || p.size > data.size()) std::abort();
      if (head.method.empty() || head.path.empty() || head.path[0] != '/') std::abort();
      if (head.content_length < 0 || (head.chunked && head.content_length != 0)) std::abort();
      // The same head, cut before its last byte, is not complete.
      HttpRequestHead cut;
      if (ParseRequestHead(data.substr(0, p.size - 1), limits, &cut).result ==
          HttpHeadParse::Result::kComplete) {
        std::abort();
      }
      if (head.chunked) CheckChunked(data.substr(p.size), split);
      break;
    }
  }
  CheckChunked(data, split);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace image2song;
  if (size == 0) return 0;
  static const char* const kTypes[] = {"image/png",
                                       "multipart/form-data; boundary=XyZ",
                                       "application/json",
                                       "text/plain",
                                       "multipart/form-data; boundary=\"XyZ\"; charset=utf-8",
                                       "",
                                       "multipart/form-data",
                                       "application/octet-stream"};
  const char* type = kTypes[data[0] % (sizeof(kTypes) / sizeof(kTypes[0]))];
  absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  CheckFraming(rest, static_cast<size_t>(data[0]) * 131);
  size_t newline = rest.find('\n');
  absl::string_view query = newline == absl::string_view::npos ? "" : rest.substr(0, newline);
  absl::string_view body = newline == absl::string_view::npos ? rest : rest.substr(newline + 1);

  HttpRecommendLimits limits;
  limits.max_parts = 8;
  absl::StatusOr<image2song::v1::RecommendRequest> request =
      ParseHttpRecommend(query, type, body, limits);
  if (!request.ok()) {
    const absl::StatusCode code = request.status().code();
    if (code != absl::StatusCode::kInvalidArgument && code != absl::StatusCode::kUnimplemented) {
      std::abort();
    }
    // The error answer is built from the message (may quote request bytes).
    std::string json = ErrorJson(static_cast<int>(code), request.status().message());
    if (json.empty()) std::abort();
    return 0;
  }
  size_t image_bytes = request->image().size();
  for (const std::string& image : request->images()) image_bytes += image.size();
  // JSON bodies carry base64 (longer than the bytes); others carry the bytes.
  if (image_bytes > body.size()) std::abort();
  (void)ToJson(*request);
  return 0;
}
