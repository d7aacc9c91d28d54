#include "server/request_check.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace image2song {

absl::Status CheckRecommendRequest(const image2song::v1::RecommendRequest& request,
                                   const RequestLimits& limits) {
  auto invalid = [](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(parts...));
  };
  if (request.top_k() < 0 || request.top_k() > limits.max_top_k) {
    return invalid("top_k must be between 1 and ", limits.max_top_k,
                   " (0 means ", limits.default_top_k, "); got ", request.top_k());
  }
  const int count = (request.image().empty() ? 0 : 1) + request.images_size();
  if (count == 0 && request.text().empty()) {
    return invalid("image is empty: send the encoded image bytes (JPEG, PNG, "
                   "WebP or BMP) in 'image' or 'images', or a 'text' hint");
  }
  if (count > limits.max_images) {
    return invalid(count, " images; the limit is ", limits.max_images, " per request");
  }
  if (static_cast<int64_t>(request.text().size()) > limits.max_text_bytes) {
    return invalid("text is ", request.text().size(), " bytes; the limit is ",
                   limits.max_text_bytes);
  }
  const float min_d = request.filters().min_duration_seconds();
  const float max_d = request.filters().max_duration_seconds();
  if (!(min_d >= 0) || !(max_d >= 0) || (max_d > 0 && min_d > max_d)) {
    return invalid("filters: duration range [", min_d, ", ", max_d,
                   "] is invalid (seconds >= 0, min <= max, 0 = open)");
  }
  int64_t total = 0;
  for (int i = -1; i < request.images_size(); ++i) {
    const std::string& img = i < 0 ? request.image() : request.images(i);
    if (i < 0 && img.empty()) continue;
    const std::string name = i < 0 ? "image" : absl::StrCat("images[", i, "]");
    if (img.empty()) return invalid(name, " is empty");
    if (static_cast<int64_t>(img.size()) > limits.max_image_bytes) {
      return invalid(name, " is ", img.size(), " bytes; the limit is ",
                     limits.max_image_bytes);
    }
    total += static_cast<int64_t>(img.size());
  }
  if (total > limits.max_request_image_bytes) {
    return invalid("the images total ", total, " bytes; the limit is ",
                   limits.max_request_image_bytes, " per request");
  }
  return absl::OkStatus();
}

}  // namespace image2song
