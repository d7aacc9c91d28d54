// Dot product of float vectors, vectorised where the CPU allows.
#ifndef IMAGE2SONG_UTIL_DOT_H_
#define IMAGE2SONG_UTIL_DOT_H_

namespace image2song {

// sum_i a[i] * b[i]. Uses AVX2 + FMA when the CPU has them (chosen once at
// run time; the build targets plain x86-64), else eight independent scalar
// sums. The two differ in the last bits (FMA rounds once per product).
float Dot(const float* a, const float* b, int n);

}  // namespace image2song

#endif  // IMAGE2SONG_UTIL_DOT_H_
