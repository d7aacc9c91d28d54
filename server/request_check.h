// Validation of a Recommend request before any work is queued: the limits a
// caller can break (image count and sizes, text length, top_k, filters).
// Depends only on the generated protos and abseil, so the request fuzzer
// (tests/fuzz) can run it without gRPC or the models.
#ifndef IMAGE2SONG_SERVER_REQUEST_CHECK_H_
#define IMAGE2SONG_SERVER_REQUEST_CHECK_H_

#include <cstdint>

#include "absl/status/status.h"
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

// OK, or INVALID_ARGUMENT naming the field and the limit.
absl::Status CheckRecommendRequest(const image2song::v1::RecommendRequest& request,
                                   const RequestLimits& limits);

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_REQUEST_CHECK_H_
