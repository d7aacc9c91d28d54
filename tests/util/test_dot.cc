// Tests for util/dot.h: the vectorised kernels against plain loops, over
// sizes that exercise every block and tail.
#include "util/dot.h"

#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

namespace image2song {
namespace {

std::vector<float> Random(size_t n, std::mt19937* rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(*rng);
  return v;
}

TEST_CASE("Dot matches a double-precision sum") {
  std::mt19937 rng(1);
  for (int n : {0, 1, 7, 8, 15, 16, 17, 100, 300}) {
    const std::vector<float> a = Random(n, &rng), b = Random(n, &rng);
    double want = 0;
    for (int i = 0; i < n; ++i) want += double(a[i]) * b[i];
    CHECK(Dot(a.data(), b.data(), n) == Approx(want).margin(1e-5));
  }
}

TEST_CASE("DotU8 matches a double-precision sum over bytes 0..255") {
  std::mt19937 rng(2);
  for (int n : {0, 1, 7, 8, 15, 16, 17, 24, 100, 300}) {
    const std::vector<float> w = Random(n, &rng);
    std::vector<unsigned char> c(n);
    for (int i = 0; i < n; ++i) c[i] = static_cast<unsigned char>(rng() % 256);
    if (n > 0) c[0] = 255;  // the top byte must not read as negative
    double want = 0;
    for (int i = 0; i < n; ++i) want += double(w[i]) * c[i];
    CHECK(DotU8(w.data(), c.data(), n) == Approx(want).margin(1e-3));
  }
}

TEST_CASE("DotColumns gives each vector's dot product with each column") {
  std::mt19937 rng(2);
  for (int dim : {1, 2, 3, 100, 101}) {
    for (int count : {1, 5, 8, 9, 31, 32, 33, 70}) {
      // A padded stride (the AVX2 path) and an unpadded one (the scalar path).
      for (int stride : {(count + 7) / 8 * 8, count}) {
        // 1..9 vectors: groups of four and the rest.
        for (size_t n : {size_t{1}, size_t{3}, size_t{4}, size_t{9}}) {
          const std::vector<float> table = Random(n * dim, &rng);
          std::vector<const float*> xs;
          for (size_t i = 0; i < n; ++i) xs.push_back(table.data() + i * dim);
          const std::vector<float> columns = Random(size_t(dim) * stride, &rng);
          std::vector<float> out(n * count + 1, 123.0f);
          DotColumns(xs.data(), n, columns.data(), dim, count, stride, out.data());
          for (size_t i = 0; i < n; ++i) {
            for (int j = 0; j < count; ++j) {
              double want = 0;
              for (int k = 0; k < dim; ++k) {
                want += double(xs[i][k]) * columns[size_t(k) * stride + j];
              }
              INFO("dim " << dim << " count " << count << " stride " << stride << " vector " << i
                          << " column " << j);
              CHECK(out[i * count + j] == Approx(want).margin(1e-4));
            }
          }
          CHECK(out[n * count] == 123.0f);  // nothing written past the last row
        }
      }
    }
  }
}

TEST_CASE("DotColumns gives a vector the same bits wherever it falls in a batch") {
  // The rerank splits its words over threads: a word's cosines must not
  // depend on the group of four it lands in.
  std::mt19937 rng(5);
  const int dim = 100, count = 13, stride = 16;
  const std::vector<float> table = Random(size_t(11) * dim, &rng);
  const std::vector<float> columns = Random(size_t(dim) * stride, &rng);
  std::vector<const float*> xs;
  for (size_t i = 0; i < 11; ++i) xs.push_back(table.data() + i * dim);
  std::vector<float> all(11 * count);
  DotColumns(xs.data(), xs.size(), columns.data(), dim, count, stride, all.data());
  for (size_t first = 0; first < 11; ++first) {
    for (size_t n = 1; first + n <= 11; ++n) {
      std::vector<float> part(n * count);
      DotColumns(xs.data() + first, n, columns.data(), dim, count, stride, part.data());
      for (size_t i = 0; i < n * count; ++i) {
        INFO("vectors " << first << ".." << first + n << " value " << i);
        REQUIRE(part[i] == all[first * count + i]);  // bit for bit
      }
    }
  }
}

TEST_CASE("AddWeightedRows adds weighted rows of both tables to the sums") {
  std::mt19937 rng(3);
  for (int width : {1, 3, 8, 12, 16, 29}) {
    const size_t table_rows = 50;
    const std::vector<float> a = Random(table_rows * width, &rng);
    const std::vector<float> b = Random(table_rows * width, &rng);
    const std::vector<size_t> offsets = {0, size_t(7) * width, size_t(49) * width,
                                         size_t(7) * width};
    const std::vector<float> weights = {1.0f, 2.5f, 0.25f, 3.0f};
    std::vector<float> sum_a(width + 1, 1.0f), sum_b(width + 1, -1.0f);
    AddWeightedRows(a.data(), b.data(), offsets.data(), weights.data(), offsets.size(), width,
                    sum_a.data(), sum_b.data());
    for (int j = 0; j < width; ++j) {
      double want_a = 1.0, want_b = -1.0;
      for (size_t r = 0; r < offsets.size(); ++r) {
        want_a += weights[r] * a[offsets[r] + j];
        want_b += weights[r] * b[offsets[r] + j];
      }
      INFO("width " << width << " column " << j);
      CHECK(sum_a[j] == Approx(want_a).margin(1e-5));
      CHECK(sum_b[j] == Approx(want_b).margin(1e-5));
    }
    CHECK(sum_a[width] == 1.0f);
    CHECK(sum_b[width] == -1.0f);
  }
}

TEST_CASE("AddWeightedRows with no rows leaves the sums") {
  std::vector<float> sum_a(4, 2.0f), sum_b(4, 3.0f);
  AddWeightedRows(nullptr, nullptr, nullptr, nullptr, 0, 4, sum_a.data(), sum_b.data());
  CHECK(sum_a == std::vector<float>(4, 2.0f));
  CHECK(sum_b == std::vector<float>(4, 3.0f));
}

}  // namespace
}  // namespace image2song
