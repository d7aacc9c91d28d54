// Dot product of float vectors, vectorised where the CPU allows.
#ifndef IMAGE2SONG_UTIL_DOT_H_
#define IMAGE2SONG_UTIL_DOT_H_

#include <cstddef>

namespace image2song {

// sum_i a[i] * b[i]. Uses AVX2 + FMA when the CPU has them (chosen once at
// run time; the build targets plain x86-64), else eight independent scalar
// sums. The two differ in the last bits (FMA rounds once per product).
float Dot(const float* a, const float* b, int n);

// sum_i w[i] * c[i] for bytes c (8-bit codes scored without decoding them).
// Same dispatch as Dot.
float DotU8(const float* w, const unsigned char* c, int n);

// Many vectors against many: out[i * count + j] = sum_k xs[i][k] *
// columns[k * stride + j] for i < n, j < count, with the second set stored
// as the columns of a dim x stride row-major matrix (stride >= count; the
// AVX2 path needs a multiple of 8, and reads the padding columns). The AVX2
// path takes the xs four at a time and prefetches the next four (they may
// lie anywhere in a big table). Same dispatch as Dot.
void DotColumns(const float* const* xs, size_t n, const float* columns, int dim, int count,
                int stride, float* out);

// Weighted sums of rows of two tables that share a layout:
//   sum_a[j] += sum_r weights[r] * a[offsets[r] + j],
//   sum_b[j] += sum_r weights[r] * b[offsets[r] + j]   for j < width.
// Same dispatch as Dot.
void AddWeightedRows(const float* a, const float* b, const size_t* offsets, const float* weights,
                     size_t rows, int width, float* sum_a, float* sum_b);

}  // namespace image2song

#endif  // IMAGE2SONG_UTIL_DOT_H_
