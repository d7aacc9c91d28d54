// Small statistics for the benchmark programs (header-only, so the client
// tools can use it without linking the core library).
#ifndef IMAGE2SONG_UTIL_STATS_H_
#define IMAGE2SONG_UTIL_STATS_H_

#include <algorithm>
#include <vector>

namespace image2song {

// The p-quantile (p in [0, 1]) of `v` by nearest rank; 0 when empty.
inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

inline double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / double(v.size());
}

}  // namespace image2song

#endif  // IMAGE2SONG_UTIL_STATS_H_
