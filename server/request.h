// Requests, from bytes to core types: parsing with errors that name the
// field, the checks run before any work is queued (the limits a caller can
// break: image count and sizes, text length, top_k, filters; image headers),
// and the conversion to what core/ takes (decoded images, RecommendOptions).
// No gRPC here, so the request fuzzer (tests/fuzz) runs it without a server.
#ifndef IMAGE2SONG_SERVER_REQUEST_H_
#define IMAGE2SONG_SERVER_REQUEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/image/image.h"
#include "core/recommender.h"
#include "image2song/v1/image2song.pb.h"

namespace image2song {

struct RequestLimits {
  int max_top_k = 100;
  int default_top_k = 10;  // what top_k 0 means (for the message)
  int max_images = 16;
  int64_t max_image_bytes = int64_t{16} << 20;
  int64_t max_request_image_bytes = int64_t{48} << 20;
  int max_text_bytes = 1024;
};

// OK, or INVALID_ARGUMENT naming the field and the limit. Image headers
// (format, declared size) are checked by the caller (core/image/image.h
// CheckImageBytes), also before queueing.
absl::Status CheckRecommendRequest(const image2song::v1::RecommendRequest& request,
                                   const RequestLimits& limits);

// Image headers of every image of `request` (format, declared size, the
// pixel and byte limits of `decode`): OK or INVALID_ARGUMENT naming the image
// when the request has several ("images[2]: ..."). Cheap: nothing is decoded.
absl::Status CheckRequestImages(const image2song::v1::RecommendRequest& request,
                                const DecodeOptions& decode);

// Decodes every image of `request` ("image" first, then "images"); errors
// name the image as CheckRequestImages does.
absl::StatusOr<std::vector<RgbImage>> DecodeRequestImages(
    const image2song::v1::RecommendRequest& request, const DecodeOptions& decode);

// `base` with the request's top_k (0: `default_top_k`), explain and filters
// (values trimmed and lower-cased, empty ones dropped).
RecommendOptions ToRecommendOptions(const image2song::v1::RecommendRequest& request,
                                    const RecommendOptions& base, int default_top_k);

// Parses serialized request bytes into `message` (Clear()ed first). Errors
// are INVALID_ARGUMENT and say what is wrong: a string field that is not
// valid UTF-8, named with its path ("filters.genres[1]"), or bytes that are
// not a serialized message of that type. (gRPC's own parsing answers both
// with an empty UNIMPLEMENTED.)
absl::Status ParseRequestBytes(absl::string_view bytes, google::protobuf::Message* message);

// Why `bytes` do not parse as `type`: see ParseRequestBytes.
absl::Status ExplainUnparseable(absl::string_view bytes, const google::protobuf::Descriptor& type);

// OK, or INVALID_ARGUMENT naming the first string field of `message` (at any
// depth) that is not valid UTF-8: for requests built from other input (the
// HTTP gateway's forms) before they are serialized.
absl::Status CheckStringsAreUtf8(const google::protobuf::Message& message);

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code
// points past U+10FFFF), as protobuf requires of string fields.
bool IsValidUtf8(absl::string_view s);

// Routes protobuf's own log lines to the server log, without the one
// "String field ... contains invalid UTF-8" error protobuf writes per bad
// request (ParseRequestBytes answers those; a client could flood the log).
void RouteProtobufLogs();

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_REQUEST_H_
