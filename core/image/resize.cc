#include "core/image/resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include <opencv2/imgproc.hpp>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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

// a[i] += w * s[i] for a row. The AVX2 clone does 8 at a time (the same
// floats: a product, then a sum; no fused multiply-add in either clone).
__attribute__((target_clones("avx2", "default"))) void AddWeightedRow(float* a, const uint8_t* s,
                                                                      float w, int n) {
  for (int i = 0; i < n; ++i) a[i] += w * s[i];
}

// The box filter one output row at a time (the vertical pass into one float
// row that stays in the L1 cache, then the horizontal pass), handing each
// output pixel's channel sums to emit(y, x, v) (v: 4 floats, the first
// `channels` used). The sums are the same floats whichever way they are
// computed below (products added in tap order, no fused multiply-add).
template <class Emit>
void AreaShrinkRows(const cv::Mat& src, cv::Size size, Emit emit) {
  const int ch = src.channels();
  const AreaTaps ty = MakeAreaTaps(src.rows, size.height);
  const AreaTaps tx = MakeAreaTaps(src.cols, size.width);
  const int row_len = src.cols * ch;
  // +1: the 3-channel pass loads 4 floats at a pixel's first channel.
  std::vector<float> acc(size_t(row_len) + 1, 0.0f);
  alignas(16) float v[4];
  for (int y = 0; y < size.height; ++y) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int k = 0; k < ty.taps; ++k) {
      const float w = ty.weights[size_t(y) * ty.taps + k];
      if (w == 0) continue;
      AddWeightedRow(acc.data(), src.ptr<uint8_t>(ty.first[y] + k), w, row_len);
    }
#if defined(__SSE2__)
    if (ch == 3) {
      // (r, g, b, next r) per tap: one 4-wide multiply-add instead of three.
      for (int x = 0; x < size.width; ++x) {
        const float* p = acc.data() + size_t(tx.first[x]) * 3;
        const float* w = tx.weights.data() + size_t(x) * tx.taps;
        __m128 sum = _mm_setzero_ps();
        for (int k = 0; k < tx.taps; ++k) {
          sum = _mm_add_ps(sum, _mm_mul_ps(_mm_set1_ps(w[k]), _mm_loadu_ps(p + 3 * k)));
        }
        _mm_store_ps(v, sum);
        emit(y, x, v);
      }
      continue;
    }
#endif
    {
      for (int x = 0; x < size.width; ++x) {
        const float* p = acc.data() + size_t(tx.first[x]) * ch;
        const float* w = tx.weights.data() + size_t(x) * tx.taps;
        v[0] = v[1] = v[2] = v[3] = 0;
        for (int k = 0; k < tx.taps; ++k) {
          for (int c = 0; c < ch; ++c) v[c] += w[k] * p[k * ch + c];
        }
        emit(y, x, v);
      }
    }
  }
}

cv::Mat AreaShrink(const cv::Mat& src, cv::Size size) {
  const int ch = src.channels();
  cv::Mat out(size, src.type());
  AreaShrinkRows(src, size, [&](int y, int x, const float* v) {
    uint8_t* o = out.ptr<uint8_t>(y) + size_t(x) * ch;
    for (int c = 0; c < ch; ++c) o[c] = cv::saturate_cast<uint8_t>(v[c]);
  });
  return out;
}

bool Shrinks(const cv::Mat& src, cv::Size size) {
  return size.width <= src.cols && size.height <= src.rows && src.depth() == CV_8U &&
         src.channels() <= 4;
}

}  // namespace

cv::Mat ResizeTo(const cv::Mat& src, cv::Size size) {
  if (src.size() == size) return src;
  const bool shrink_x = size.width <= src.cols, shrink_y = size.height <= src.rows;
  if (Shrinks(src, size)) return AreaShrink(src, size);
  cv::Mat out;
  cv::resize(src, out, size, 0, 0, shrink_x || shrink_y ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

void ResizeToChw(const cv::Mat& src, cv::Size size, const float scale[3], const float shift[3],
                 float* out) {
  const size_t plane = size_t(size.width) * size.height;
#if defined(__SSE2__)
  // saturate_cast<uint8_t> (round to nearest even, clamp), then scale and
  // shift, for the three channels at once: clamping before rounding gives
  // the same integers (and 0 for NaN, as cvRound's INT_MIN clamped does).
  const __m128 lo = _mm_setzero_ps(), hi = _mm_set1_ps(255.0f);
  const __m128 vscale = _mm_setr_ps(scale[0], scale[1], scale[2], 0.0f);
  const __m128 vshift = _mm_setr_ps(shift[0], shift[1], shift[2], 0.0f);
  auto put = [&](int y, int x, const float* v) {
    const __m128 q =
        _mm_cvtepi32_ps(_mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(_mm_loadu_ps(v), lo), hi)));
    alignas(16) float f[4];
    _mm_store_ps(f, _mm_add_ps(_mm_mul_ps(q, vscale), vshift));
    float* o = out + size_t(y) * size.width + x;
    o[0] = f[0];
    o[plane] = f[1];
    o[plane * 2] = f[2];
  };
#else
  auto put = [&](int y, int x, const float* v) {
    float* o = out + size_t(y) * size.width + x;
    for (int c = 0; c < 3; ++c) {
      o[plane * c] = float(cv::saturate_cast<uint8_t>(v[c])) * scale[c] + shift[c];
    }
  };
#endif
  if (src.type() == CV_8UC3 && src.size() != size && Shrinks(src, size)) {
    AreaShrinkRows(src, size, put);
    return;
  }
  const cv::Mat resized = ResizeTo(src, size);
  float v[4] = {0, 0, 0, 0};
  for (int y = 0; y < size.height; ++y) {
    const uint8_t* row = resized.ptr<uint8_t>(y);
    for (int x = 0; x < size.width; ++x) {
      for (int c = 0; c < 3; ++c) v[c] = row[3 * x + c];
      put(y, x, v);
    }
  }
}

}  // namespace image2song
