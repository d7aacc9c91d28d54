#include "core/index/cooccurrence.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

constexpr char kMagic[8] = {'I', '2', 'S', 'C', 'O', 'C', '0', '1'};
constexpr size_t kHeaderBytes = 48;  // magic + 4 x u64 + 2 x u32

size_t Align8(size_t n) { return (n + 7) & ~size_t{7}; }

// Normalised PMI of a pair seen in `c` of `n` units, the words in `da` and
// `db` of them (c <= min(da, db) after sampling's scaling is clamped).
double Npmi(double c, double da, double db, double n) {
  c = std::min(c, std::min(da, db));
  const double p = c / n;
  if (p >= 1) return 1;
  const double pmi = std::log(c * n / (da * db));
  return std::min(1.0, pmi / -std::log(p));
}

}  // namespace

// ---------------------------------------------------- CooccurrenceTable

absl::StatusOr<CooccurrenceTable> CooccurrenceTable::Open(const std::string& path,
                                                          int64_t vocabulary_size) {
  auto bad = [&path](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(path, ": ", what));
  };
  CooccurrenceTable x;
  ASSIGN_OR_RETURN(x.file_, MappedFile::Open(path));
  const MappedFile& f = x.file_;
  if (f.size() < kHeaderBytes || std::memcmp(f.data(), kMagic, 8) != 0) {
    return bad("bad header (not a co-occurrence table)");
  }
  uint64_t v = 0, t = 0, e = 0, n = 0;
  uint32_t unit = 0, min_count = 0;
  std::memcpy(&v, f.data() + 8, 8);
  std::memcpy(&t, f.data() + 16, 8);
  std::memcpy(&e, f.data() + 24, 8);
  std::memcpy(&n, f.data() + 32, 8);
  std::memcpy(&unit, f.data() + 40, 4);
  std::memcpy(&min_count, f.data() + 44, 4);
  // A larger bundle vocabulary is CheckCompatible's to judge (the word
  // ids below are checked against the file's own, smaller one).
  if (v > uint64_t(vocabulary_size)) {
    return bad(absl::StrCat("written for a vocabulary of ", v, " words, the bundle has ",
                            vocabulary_size));
  }
  if (unit > 1) return bad("unknown co-occurrence unit");
  if (min_count < 1) return bad("minimum pair count is 0");
  // Sizes against the file before any multiplication.
  const uint64_t size = f.size();
  if (t > v || t > size / 12 || e > size / 12) return bad("word or neighbour count too large");
  const uint64_t words_bytes = Align8(t * 4);
  const uint64_t offsets_at = kHeaderBytes + words_bytes;
  const uint64_t neighbours_at = offsets_at + (t + 1) * 8;
  if (neighbours_at > size || size - neighbours_at != e * 12) {
    return bad(absl::StrCat("is ", size, " bytes; its header says ", neighbours_at + e * 12));
  }
  x.terms_ = int64_t(t);
  x.edges_ = int64_t(e);
  x.units_ = int64_t(n);
  x.unit_ = CooccurrenceUnit(unit);
  x.min_count_ = min_count;
  x.words_ = reinterpret_cast<const uint32_t*>(f.data() + kHeaderBytes);
  x.offsets_ = reinterpret_cast<const uint64_t*>(f.data() + offsets_at);
  x.neighbours_ = reinterpret_cast<const CooccurrenceNeighbour*>(f.data() + neighbours_at);
  if (x.offsets_[0] != 0 || x.offsets_[t] != e) return bad("bad offsets");
  for (uint64_t i = 0; i < t; ++i) {
    if (x.words_[i] >= v || (i > 0 && x.words_[i] <= x.words_[i - 1])) {
      return bad("word ids not ascending or out of range");
    }
    if (x.offsets_[i + 1] < x.offsets_[i] || x.offsets_[i + 1] > e) return bad("bad offsets");
    for (uint64_t k = x.offsets_[i]; k < x.offsets_[i + 1]; ++k) {
      const CooccurrenceNeighbour& nb = x.neighbours_[k];
      if (nb.word >= v || nb.word == x.words_[i]) return bad("neighbour word out of range");
      if (!(nb.npmi > 0 && nb.npmi <= 1)) return bad("neighbour score out of (0, 1]");
      if (k > x.offsets_[i] && nb.npmi > x.neighbours_[k - 1].npmi) {
        return bad("neighbours not best first");
      }
      if (nb.count < min_count) return bad("neighbour pair count under the minimum");
    }
  }
  return x;
}

absl::Span<const CooccurrenceNeighbour> CooccurrenceTable::Neighbours(uint32_t word) const {
  if (terms_ == 0) return {};
  const uint32_t* end = words_ + terms_;
  const uint32_t* it = std::lower_bound(words_, end, word);
  if (it == end || *it != word) return {};
  const size_t i = size_t(it - words_);
  return absl::Span<const CooccurrenceNeighbour>(neighbours_ + offsets_[i],
                                                 offsets_[i + 1] - offsets_[i]);
}

// ------------------------------------------------------------- writing

absl::StatusOr<CooccurrenceStats> WriteCooccurrence(
    const std::string& path, int64_t song_count, int64_t vocabulary_size,
    const std::function<absl::Span<const uint32_t>(int64_t song)>& song_tokens,
    const CooccurrenceOptions& options) {
  if (options.neighbours < 1 || options.min_count < 1 || options.max_songs_per_word < 0 ||
      vocabulary_size <= 0 || vocabulary_size > (int64_t{1} << 32) || song_count < 0 ||
      song_count >= (int64_t{1} << 32)) {
    return absl::InvalidArgumentError(
        absl::StrCat("co-occurrence options out of range: neighbours ", options.neighbours,
                     " (>= 1), min_count ", options.min_count, " (>= 1), max_songs_per_word ",
                     options.max_songs_per_word, " (>= 0)"));
  }
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&start] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const size_t V = size_t(vocabulary_size);
  const bool by_line = options.unit == CooccurrenceUnit::kLine;
  CooccurrenceStats stats;

  // Pass 1: songs (and lines) holding each word; units. Tokens come in
  // lyric order, so a line's tokens are consecutive.
  std::vector<uint32_t> df_song(V, 0), df_unit(V, 0);
  std::vector<uint64_t> stamp(V, 0);
  uint64_t unit_id = 0;
  for (int64_t s = 0; s < song_count; ++s) {
    absl::Span<const uint32_t> tokens = song_tokens(s);
    if (tokens.size() % 2 != 0) return absl::InternalError("odd token array");
    uint32_t last_line = UINT32_MAX;
    const uint64_t song_stamp = ++unit_id;
    for (size_t i = 0; i < tokens.size(); i += 2) {
      const uint32_t w = tokens[i], line = tokens[i + 1];
      if (w >= V) return absl::InternalError("token word id out of range");
      if (by_line && line != last_line) {
        last_line = line;
        ++unit_id;
        ++stats.units;
      }
      if (stamp[w] < song_stamp) ++df_song[w];  // first time in this song
      if (by_line ? stamp[w] != unit_id : stamp[w] < song_stamp) ++df_unit[w];
      stamp[w] = unit_id;
    }
  }
  if (!by_line) stats.units = song_count;
  const double units = double(stats.units);

  // Pass 2: each word's songs, an evenly spaced sample of at most
  // max_songs_per_word of them.
  const uint64_t cap =
      options.max_songs_per_word > 0 ? uint64_t(options.max_songs_per_word) : UINT64_MAX;
  std::vector<uint64_t> begin(V + 1, 0);
  for (size_t w = 0; w < V; ++w) begin[w + 1] = begin[w] + std::min<uint64_t>(df_song[w], cap);
  std::vector<uint32_t> songs(begin[V]);
  std::vector<uint32_t> seen(V, 0);  // occurrences met so far
  std::fill(stamp.begin(), stamp.end(), 0);
  uint64_t work_total = 0;
  for (int64_t s = 0; s < song_count; ++s) {
    absl::Span<const uint32_t> tokens = song_tokens(s);
    for (size_t i = 0; i < tokens.size(); i += 2) {
      const uint32_t w = tokens[i];
      if (stamp[w] == uint64_t(s) + 1) continue;
      stamp[w] = uint64_t(s) + 1;
      const uint64_t m = begin[w + 1] - begin[w], df = df_song[w], k = seen[w]++;
      // Occurrence k is kept when floor((k + 1) m / df) steps up.
      if ((k + 1) * m / df > k * m / df) {
        songs[begin[w] + (k + 1) * m / df - 1] = uint32_t(s);
        work_total += tokens.size() / 2;
      }
    }
  }
  std::vector<uint32_t>().swap(seen);

  // Pass 3: per word, the units its sampled songs share with every other
  // word, then the best `neighbours` by NPMI.
  std::vector<uint32_t> count(V, 0);
  std::vector<uint32_t> touched;
  std::fill(stamp.begin(), stamp.end(), 0);
  unit_id = 0;
  std::vector<uint32_t> out_words;
  std::vector<uint64_t> out_offsets{0};
  std::vector<CooccurrenceNeighbour> out, candidates;
  std::vector<uint32_t> lines;  // of the anchor in one song
  uint64_t work_done = 0;
  double last_log = 0;
  for (size_t a = 0; a < V; ++a) {
    if (df_unit[a] < uint32_t(options.min_count)) continue;
    const uint64_t m = begin[a + 1] - begin[a];
    for (uint64_t k = begin[a]; k < begin[a + 1]; ++k) {
      absl::Span<const uint32_t> tokens = song_tokens(songs[k]);
      work_done += tokens.size() / 2;
      stats.tokens_read += int64_t(tokens.size() / 2);
      if (by_line) {
        lines.clear();
        for (size_t i = 0; i < tokens.size(); i += 2) {
          if (tokens[i] == a && (lines.empty() || lines.back() != tokens[i + 1])) {
            lines.push_back(tokens[i + 1]);
          }
        }
      }
      uint32_t last_line = UINT32_MAX;
      bool in_line = !by_line;
      if (!by_line) ++unit_id;
      for (size_t i = 0; i < tokens.size(); i += 2) {
        if (by_line && tokens[i + 1] != last_line) {
          last_line = tokens[i + 1];
          in_line = std::find(lines.begin(), lines.end(), last_line) != lines.end();
          ++unit_id;
        }
        if (!in_line) continue;
        const uint32_t b = tokens[i];
        if (stamp[b] == unit_id) continue;
        stamp[b] = unit_id;
        if (count[b]++ == 0) touched.push_back(b);
      }
    }
    candidates.clear();
    const double scale = m > 0 ? double(df_song[a]) / double(m) : 1.0;
    for (uint32_t b : touched) {
      const uint32_t c = count[b];
      count[b] = 0;
      if (b == a || c < uint32_t(options.min_count)) continue;
      const double npmi = Npmi(c * scale, df_unit[a], df_unit[b], units);
      if (npmi > 0) candidates.push_back({b, c, float(npmi)});
    }
    touched.clear();
    const size_t keep = std::min(candidates.size(), size_t(options.neighbours));
    std::partial_sort(candidates.begin(), candidates.begin() + keep, candidates.end(),
                      [](const CooccurrenceNeighbour& x, const CooccurrenceNeighbour& y) {
                        return x.npmi != y.npmi ? x.npmi > y.npmi : x.word < y.word;
                      });
    if (keep > 0) {
      out_words.push_back(uint32_t(a));
      out.insert(out.end(), candidates.begin(), candidates.begin() + keep);
      out_offsets.push_back(out.size());
    }
    if (options.progress_seconds > 0 && seconds() - last_log >= options.progress_seconds) {
      last_log = seconds();
      const double frac = work_total ? double(work_done) / double(work_total) : 1.0;
      I2S_LOG(INFO) << "co-occurrence: word " << a + 1 << "/" << V << ", "
                    << absl::StrFormat("%.1f%% of %.0fM tokens, ETA %.0f s", 100 * frac,
                                       work_total / 1e6,
                                       frac > 0 ? last_log / frac - last_log : 0.0);
    }
  }

  // Write.
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return absl::InternalError(absl::StrCat("cannot create ", path));
  char header[kHeaderBytes] = {};
  const uint64_t h[4] = {uint64_t(V), out_words.size(), out.size(), uint64_t(stats.units)};
  const uint32_t unit = uint32_t(options.unit), min_count = uint32_t(options.min_count);
  std::memcpy(header, kMagic, 8);
  std::memcpy(header + 8, h, 32);
  std::memcpy(header + 40, &unit, 4);
  std::memcpy(header + 44, &min_count, 4);
  const size_t pad = Align8(out_words.size() * 4) - out_words.size() * 4;
  const char zeros[8] = {};
  absl::Status s = WriteAll(file, header, kHeaderBytes, path);
  if (s.ok()) s = WriteAll(file, out_words.data(), out_words.size() * 4, path);
  if (s.ok()) s = WriteAll(file, zeros, pad, path);
  if (s.ok()) s = WriteAll(file, out_offsets.data(), out_offsets.size() * 8, path);
  if (s.ok()) s = WriteAll(file, out.data(), out.size() * sizeof(CooccurrenceNeighbour), path);
  absl::Status closed = CloseSynced(&file, path);
  RETURN_IF_ERROR(s);
  RETURN_IF_ERROR(closed);
  stats.words = int64_t(out_words.size());
  stats.neighbours = int64_t(out.size());
  stats.seconds = seconds();
  return stats;
}

}  // namespace image2song
