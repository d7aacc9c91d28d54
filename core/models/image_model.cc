// The torch-free parts of image_model.h.
#include "core/models/image_model.h"

#include <algorithm>
#include <cmath>

namespace image2song {

absl::StatusOr<ModelOutput> ImageModel::RunHead(const float* /*features*/, int /*rows*/,
                                                int /*cols*/) const {
  return absl::FailedPreconditionError("model has no head method");
}

double RelativeDifference(const std::vector<ModelOutput>& a, const std::vector<ModelOutput>& b) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].shape != b[i].shape || a[i].data.size() != b[i].data.size()) {
      return INFINITY;
    }
    double scale = 1e-6, diff = 0;
    for (size_t j = 0; j < a[i].data.size(); ++j) {
      scale = std::max(scale, double(std::fabs(a[i].data[j])));
      double d = std::fabs(double(a[i].data[j]) - b[i].data[j]);
      if (!std::isfinite(d)) return INFINITY;
      diff = std::max(diff, d);
    }
    worst = std::max(worst, diff / scale);
  }
  return worst;
}

std::vector<float> ReferenceInput(int h, int w, int variant) {
  std::vector<float> x(size_t(3) * h * w);
  const double f = 1 + 0.37 * variant, phase = 1.3 * variant;
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < h; ++y) {
      for (int xx = 0; xx < w; ++xx) {
        double v = std::sin(0.07 * f * xx * (c + 1) + phase) * std::cos(0.05 * y) +
                   0.3 * std::sin(0.9 * (xx + y) + c + phase);
        x[(size_t(c) * h + y) * w + xx] = static_cast<float>(v);
      }
    }
  }
  return x;
}

}  // namespace image2song
