// libFuzzer target: untrusted HTTP request bytes as the gateway parses them
// (server/http_api.h): byte 0 picks the Content-Type, the bytes up to the
// first newline are the query string, the rest is the body. Parsing must
// answer a request or INVALID_ARGUMENT / UNIMPLEMENTED, and a parsed request
// never holds more image bytes than the body. Built with ASan + UBSan
// (tools/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "server/http_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace image2song;
  if (size == 0) return 0;
  static const char* const kTypes[] = {
      "image/png", "multipart/form-data; boundary=XyZ", "application/json",
      "text/plain", "multipart/form-data; boundary=\"XyZ\"; charset=utf-8", "",
      "multipart/form-data", "application/octet-stream"};
  const char* type = kTypes[data[0] % (sizeof(kTypes) / sizeof(kTypes[0]))];
  absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t newline = rest.find('\n');
  absl::string_view query = newline == absl::string_view::npos ? "" : rest.substr(0, newline);
  absl::string_view body = newline == absl::string_view::npos ? rest : rest.substr(newline + 1);

  HttpRecommendLimits limits;
  limits.max_parts = 8;
  absl::StatusOr<image2song::v1::RecommendRequest> request =
      ParseHttpRecommend(query, type, body, limits);
  if (!request.ok()) {
    const absl::StatusCode code = request.status().code();
    if (code != absl::StatusCode::kInvalidArgument &&
        code != absl::StatusCode::kUnimplemented) {
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
