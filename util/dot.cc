#include "util/dot.h"

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

#if defined(__x86_64__)
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

using DotFn = float (*)(const float*, const float*, int);
DotFn Choose() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? DotAvx2 : DotScalar;
}
#else
using DotFn = float (*)(const float*, const float*, int);
DotFn Choose() { return DotScalar; }
#endif

}  // namespace

float Dot(const float* a, const float* b, int n) {
  static const DotFn dot = Choose();
  return dot(a, b, n);
}

}  // namespace image2song
