// The HTTP/JSON face of SongRecommender, without any HTTP server: turns an
// HTTP request (method, query string, content type, body) into a
// RecommendRequest, and a gRPC status into an HTTP status and JSON error.
// server/http/http_gateway.cc serves it (server/http/http_server.h: connections,
// server/http/http_wire.h: framing); keeping the parsing here makes it testable
// and fuzzable on plain bytes.
//
//   POST /v1/recommend?top_k=5&explain=true&genres=folk,pop&text=...
//     Content-Type: image/jpeg | image/png | image/webp | image/bmp |
//                   application/octet-stream     body = one image
//     Content-Type: multipart/form-data          fields "image" (one or
//                   more files), and any query parameter as a field
//     Content-Type: application/json             a RecommendRequest in
//                   proto JSON (images as base64), query parameters ignored
//
// Thread-safety: free functions without shared state.
#ifndef IMAGE2SONG_SERVER_HTTP_HTTP_API_H_
#define IMAGE2SONG_SERVER_HTTP_HTTP_API_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "image2song/v1/image2song.pb.h"

namespace image2song {

// One multipart/form-data part.
struct FormPart {
  std::string name;
  std::string filename;      // empty for a plain field
  std::string content_type;  // empty when the part has none
  absl::string_view data;    // points into the body
};

// Decodes "a=1&b=x%20y" (also '+' as space). Keys and values are
// percent-decoded; a bad escape is INVALID_ARGUMENT.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    absl::string_view query);

// The boundary parameter of a multipart/form-data Content-Type, or
// INVALID_ARGUMENT.
absl::StatusOr<std::string> MultipartBoundary(absl::string_view content_type);

// Splits a multipart/form-data body. At most `max_parts` parts.
absl::StatusOr<std::vector<FormPart>> ParseMultipart(absl::string_view body,
                                                     absl::string_view boundary, int max_parts);

// Sets one Recommend option from a query parameter or form field: top_k,
// explain, text, genres, moods, languages, licenses, exclude (song ids),
// exclude_explicit, min_duration_seconds, max_duration_seconds. List values
// are comma-separated and may repeat. Unknown names are INVALID_ARGUMENT.
absl::Status ApplyRecommendOption(absl::string_view name, absl::string_view value,
                                  image2song::v1::RecommendRequest* request);

struct HttpRecommendLimits {
  // Parts of a multipart body. Default: 64.
  int max_parts = 64;
};

// The RecommendRequest for POST /v1/recommend. `explain` defaults to true
// (a person reading the answer wants the reason); the query may turn it
// off. Errors are INVALID_ARGUMENT (or UNIMPLEMENTED for an unsupported
// content type) with a message naming the problem.
absl::StatusOr<image2song::v1::RecommendRequest> ParseHttpRecommend(
    absl::string_view query, absl::string_view content_type, absl::string_view body,
    const HttpRecommendLimits& limits = {});

// HTTP status for a gRPC status code (google.rpc mapping: 400, 401, 403,
// 404, 409, 429, 499, 500, 501, 503, 504).
int HttpStatusForGrpcCode(int grpc_code);
// "Bad Request" etc.
const char* HttpReason(int http_status);

// {"error":{"code":3,"message":"...","status":"INVALID_ARGUMENT"}}; invalid
// UTF-8 in the message becomes U+FFFD.
std::string ErrorJson(int grpc_code, absl::string_view message);

// Proto JSON with the .proto field names (snake_case) and zero values.
std::string ToJson(const google::protobuf::Message& message);

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_HTTP_HTTP_API_H_
