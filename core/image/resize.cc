#include "core/image/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <opencv2/imgproc.hpp>

namespace image2song {
namespace {

// One axis of a box filter: output i averages source [i s, (i + 1) s),
// s = src / dst >= 1, through `taps` consecutive source pixels from
// first[i] with weights[i * taps + k] (zero where the area ends sooner).
struct AreaTaps {
  int taps = 0;
  std::vector<int> first;
  std::vector<float> weights;
};

AreaTaps MakeAreaTaps(int src, int dst) {
  const double s = double(src) / dst;
  std::vector<int> lo(dst), hi(dst);
  AreaTaps t;
  for (int i = 0; i < dst; ++i) {
    lo[i] = static_cast<int>(std::floor(i * s));
    hi[i] = std::min(src, static_cast<int>(std::ceil((i + 1) * s)));
    t.taps = std::max(t.taps, hi[i] - lo[i]);
  }
  t.first.resize(dst);
  t.weights.assign(size_t(dst) * t.taps, 0.0f);
  for (int i = 0; i < dst; ++i) {
    // Shifted left near the end so that all taps stay inside the source.
    t.first[i] = std::min(lo[i], src - t.taps);
    const double a = i * s, b = std::min<double>(src, (i + 1) * s);
    for (int k = lo[i]; k < hi[i]; ++k) {
      const double overlap = std::min<double>(b, k + 1) - std::max<double>(a, k);
      t.weights[size_t(i) * t.taps + (k - t.first[i])] = static_cast<float>(overlap / s);
    }
  }
  return t;
}

cv::Mat AreaShrink(const cv::Mat& src, cv::Size size) {
  const int ch = src.channels();
  const AreaTaps ty = MakeAreaTaps(src.rows, size.height);
  const AreaTaps tx = MakeAreaTaps(src.cols, size.width);
  // Vertical pass into float rows (vectorised over the whole row), then the
  // horizontal pass with a fixed tap count.
  const int row_len = src.cols * ch;
  std::vector<float> rows(size_t(size.height) * row_len, 0.0f);
  for (int y = 0; y < size.height; ++y) {
    float* acc = rows.data() + size_t(y) * row_len;
    for (int k = 0; k < ty.taps; ++k) {
      const float w = ty.weights[size_t(y) * ty.taps + k];
      if (w == 0) continue;
      const uint8_t* s = src.ptr<uint8_t>(ty.first[y] + k);
      for (int i = 0; i < row_len; ++i) acc[i] += w * s[i];
    }
  }
  cv::Mat out(size, src.type());
  for (int y = 0; y < size.height; ++y) {
    const float* r = rows.data() + size_t(y) * row_len;
    uint8_t* o = out.ptr<uint8_t>(y);
    for (int x = 0; x < size.width; ++x) {
      const float* p = r + size_t(tx.first[x]) * ch;
      const float* w = tx.weights.data() + size_t(x) * tx.taps;
      float v[4] = {0, 0, 0, 0};
      for (int k = 0; k < tx.taps; ++k) {
        for (int c = 0; c < ch; ++c) v[c] += w[k] * p[k * ch + c];
      }
      for (int c = 0; c < ch; ++c) o[x * ch + c] = cv::saturate_cast<uint8_t>(v[c]);
    }
  }
  return out;
}

}  // namespace

cv::Mat ResizeTo(const cv::Mat& src, cv::Size size) {
  if (src.size() == size) return src;
  const bool shrink_x = size.width <= src.cols, shrink_y = size.height <= src.rows;
  if (shrink_x && shrink_y && src.depth() == CV_8U && src.channels() <= 4) {
    return AreaShrink(src, size);
  }
  cv::Mat out;
  cv::resize(src, out, size, 0, 0, shrink_x || shrink_y ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

}  // namespace image2song
