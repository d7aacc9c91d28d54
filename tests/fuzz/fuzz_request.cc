// libFuzzer target: untrusted Recommend request bytes as the server handles
// them before the models: parsing (ParseRequestBytes), the request limits
// (server/request.h), then decoding of every image. Built with ASan +
// UBSan (tools/dev/fuzz.sh).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "core/image/image.h"
#include "image2song/v1/image2song.pb.h"
#include "server/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace image2song;
  image2song::v1::RecommendRequest request;
  // The server's own parsing: a failure must be INVALID_ARGUMENT that says
  // why (a field that is not UTF-8, bytes that are no message).
  absl::Status parsed =
      ParseRequestBytes(absl::string_view(reinterpret_cast<const char*>(data), size), &request);
  if (!parsed.ok()) {
    if (parsed.code() != absl::StatusCode::kInvalidArgument || parsed.message().empty()) {
      std::abort();
    }
    return 0;
  }
  if (!CheckStringsAreUtf8(request).ok()) std::abort();  // parsed means UTF-8
  RequestLimits limits;
  limits.max_images = 4;
  limits.max_image_bytes = 1 << 20;
  limits.max_request_image_bytes = 2 << 20;
  limits.max_text_bytes = 256;
  absl::Status valid = CheckRecommendRequest(request, limits);
  if (!valid.ok()) {
    if (valid.code() != absl::StatusCode::kInvalidArgument) std::abort();
    return 0;
  }
  DecodeOptions options;
  options.max_bytes = limits.max_image_bytes;
  options.max_pixels = 4'000'000;
  options.working_size = 64;
  for (int i = -1; i < request.images_size(); ++i) {
    const std::string& bytes = i < 0 ? request.image() : request.images(i);
    if (bytes.empty()) continue;
    absl::StatusOr<RgbImage> image = DecodeImage(bytes, options);
    if (!image.ok() && image.status().code() != absl::StatusCode::kInvalidArgument) {
      std::abort();
    }
  }
  return 0;
}
