#include "util/dot.h"

#include <algorithm>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace image2song {
namespace {

float DotScalar(const float* a, const float* b, int n) {
  // Eight independent sums: one float sum may not be reordered, and a single
  // chain waits on each add.
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) s[k] += a[i + k] * b[i + k];
  }
  for (; i < n; ++i) s[0] += a[i] * b[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

float DotU8Scalar(const float* w, const unsigned char* c, int n) {
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) s[k] += w[i + k] * float(c[i + k]);
  }
  for (; i < n; ++i) s[0] += w[i] * float(c[i]);
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

void DotColumnsScalar(const float* x, const float* columns, int dim, int count, int stride,
                      float* out) {
  for (int j = 0; j < count; ++j) out[j] = 0;
  for (int k = 0; k < dim; ++k) {
    const float xk = x[k];
    const float* row = columns + size_t(k) * stride;
    for (int j = 0; j < count; ++j) out[j] += xk * row[j];
  }
}

void DotColumnsBatchScalar(const float* const* xs, size_t n, const float* columns, int dim,
                           int count, int stride, float* out) {
  for (size_t i = 0; i < n; ++i) {
    DotColumnsScalar(xs[i], columns, dim, count, stride, out + i * size_t(count));
  }
}

void AddWeightedRowsScalar(const float* a, const float* b, const size_t* offsets,
                           const float* weights, size_t rows, int width, float* sum_a,
                           float* sum_b) {
  for (size_t r = 0; r < rows; ++r) {
    const float w = weights[r];
    const float* ra = a + offsets[r];
    const float* rb = b + offsets[r];
    for (int j = 0; j < width; ++j) {
      sum_a[j] += w * ra[j];
      sum_b[j] += w * rb[j];
    }
  }
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) float DotU8Avx2(const float* w, const unsigned char* c, int n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(c + i));
    const __m256 lo = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
    const __m256 hi = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(bytes, 8)));
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), lo, acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8), hi, acc1);
  }
  for (; i + 8 <= n; i += 8) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + i));
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes)),
                           acc0);
  }
  alignas(32) float s[8];
  _mm256_store_ps(s, _mm256_add_ps(acc0, acc1));
  float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; i < n; ++i) r += w[i] * float(c[i]);
  return r;
}

__attribute__((target("avx2,fma"))) float DotAvx2(const float* a, const float* b, int n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  alignas(32) float s[8];
  _mm256_store_ps(s, _mm256_add_ps(acc0, acc1));
  float r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

// Four vectors at once against 8 columns per pass: four independent FMA
// chains share each load of the columns.
__attribute__((target("avx2,fma"))) void DotColumns4Avx2(const float* const* xs,
                                                         const float* columns, int dim, int count,
                                                         int stride, float* out) {
  const float *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3];
  for (int j = 0; j < count; j += 8) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int k = 0; k < dim; ++k) {
      const __m256 c = _mm256_loadu_ps(columns + size_t(k) * stride + j);
      a0 = _mm256_fmadd_ps(_mm256_set1_ps(x0[k]), c, a0);
      a1 = _mm256_fmadd_ps(_mm256_set1_ps(x1[k]), c, a1);
      a2 = _mm256_fmadd_ps(_mm256_set1_ps(x2[k]), c, a2);
      a3 = _mm256_fmadd_ps(_mm256_set1_ps(x3[k]), c, a3);
    }
    const int width = count - j < 8 ? count - j : 8;
    alignas(32) float block[4][8];
    _mm256_store_ps(block[0], a0);
    _mm256_store_ps(block[1], a1);
    _mm256_store_ps(block[2], a2);
    _mm256_store_ps(block[3], a3);
    for (int w = 0; w < 4; ++w) {
      for (int t = 0; t < width; ++t) out[size_t(w) * count + j + t] = block[w][t];
    }
  }
}

__attribute__((target("avx2,fma"))) void DotColumnsBatchAvx2(const float* const* xs, size_t n,
                                                             const float* columns, int dim,
                                                             int count, int stride, float* out) {
  // The vectors usually come from a table far bigger than the cache, in an
  // order no hardware prefetcher can guess: the next four are fetched while
  // these four are multiplied.
  const size_t bytes = sizeof(float) * size_t(dim);
  auto prefetch = [&](size_t i) {
    const char* p = reinterpret_cast<const char*>(xs[i]);
    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b);
  };
  for (size_t i = 0; i < n && i < 4; ++i) prefetch(i);
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (size_t a = i + 4; a < n && a < i + 8; ++a) prefetch(a);
    DotColumns4Avx2(xs + i, columns, dim, count, stride, out + i * size_t(count));
  }
  if (i < n) {
    // The last one to three vectors through the same four-way kernel (the
    // last one repeated), so that a vector's cosines are the same bits
    // wherever it falls in a batch: a rerank split over threads ranks
    // exactly as one that is not.
    const float* rest[4];
    for (size_t a = 0; a < 4; ++a) rest[a] = xs[std::min(i + a, n - 1)];
    std::vector<float> block(size_t(4) * count);
    DotColumns4Avx2(rest, columns, dim, count, stride, block.data());
    std::copy(block.begin(), block.begin() + (n - i) * size_t(count), out + i * size_t(count));
  }
}

__attribute__((target("avx2,fma"))) void AddWeightedRowsAvx2(const float* a, const float* b,
                                                             const size_t* offsets,
                                                             const float* weights, size_t rows,
                                                             int width, float* sum_a,
                                                             float* sum_b) {
  int j = 0;
  for (; j + 8 <= width; j += 8) {
    __m256 sa = _mm256_loadu_ps(sum_a + j), sb = _mm256_loadu_ps(sum_b + j);
    for (size_t r = 0; r < rows; ++r) {
      const __m256 w = _mm256_set1_ps(weights[r]);
      sa = _mm256_fmadd_ps(w, _mm256_loadu_ps(a + offsets[r] + j), sa);
      sb = _mm256_fmadd_ps(w, _mm256_loadu_ps(b + offsets[r] + j), sb);
    }
    _mm256_storeu_ps(sum_a + j, sa);
    _mm256_storeu_ps(sum_b + j, sb);
  }
  if (j < width) {
    for (size_t r = 0; r < rows; ++r) {
      const float w = weights[r];
      for (int t = j; t < width; ++t) {
        sum_a[t] += w * a[offsets[r] + t];
        sum_b[t] += w * b[offsets[r] + t];
      }
    }
  }
}

bool HasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
bool HasAvx2() { return false; }
#endif

using DotFn = float (*)(const float*, const float*, int);
using DotU8Fn = float (*)(const float*, const unsigned char*, int);
using DotColumnsFn = void (*)(const float* const*, size_t, const float*, int, int, int, float*);
using AddWeightedRowsFn = void (*)(const float*, const float*, const size_t*, const float*, size_t,
                                   int, float*, float*);
#if defined(__x86_64__)
DotFn Choose() { return HasAvx2() ? DotAvx2 : DotScalar; }
DotU8Fn ChooseU8() { return HasAvx2() ? DotU8Avx2 : DotU8Scalar; }
DotColumnsFn ChooseColumns() { return HasAvx2() ? DotColumnsBatchAvx2 : DotColumnsBatchScalar; }
AddWeightedRowsFn ChooseRows() { return HasAvx2() ? AddWeightedRowsAvx2 : AddWeightedRowsScalar; }
#else
DotFn Choose() { return DotScalar; }
DotU8Fn ChooseU8() { return DotU8Scalar; }
DotColumnsFn ChooseColumns() { return DotColumnsBatchScalar; }
AddWeightedRowsFn ChooseRows() { return AddWeightedRowsScalar; }
#endif

}  // namespace

float Dot(const float* a, const float* b, int n) {
  static const DotFn dot = Choose();
  return dot(a, b, n);
}

float DotU8(const float* w, const unsigned char* c, int n) {
  static const DotU8Fn fn = ChooseU8();
  return fn(w, c, n);
}

void DotColumns(const float* const* xs, size_t n, const float* columns, int dim, int count,
                int stride, float* out) {
  static const DotColumnsFn fn = ChooseColumns();
  if (stride % 8 != 0) return DotColumnsBatchScalar(xs, n, columns, dim, count, stride, out);
  fn(xs, n, columns, dim, count, stride, out);
}

void AddWeightedRows(const float* a, const float* b, const size_t* offsets, const float* weights,
                     size_t rows, int width, float* sum_a, float* sum_b) {
  static const AddWeightedRowsFn fn = ChooseRows();
  fn(a, b, offsets, weights, rows, width, sum_a, sum_b);
}

}  // namespace image2song
