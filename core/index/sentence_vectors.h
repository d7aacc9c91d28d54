// Lyric lines and songs as sentence vectors (issue 16): each lyric line's
// vector from a sentence encoder (core/text/sentence_encoder.h, computed by
// i2s-index --sentence_vectors) and each song's sentence vector (the unit
// mean of its line vectors), stored 8-bit in the bundle as sentences.bin.
// Recommend attends over a candidate's line vectors with the tags' phrase
// vectors (RecommendOptions::sentence_weight, core/recommender.h).
//
//   sentences.bin  "I2SSEN01" | u32 dim D | u32 record bytes R (= 4 + D) |
//                  u64 songs N | u64 lines L |
//                  line records [L] | song records [N] | zero padding to
//                  8 bytes | u64 line_offset[N+1] (offset[0] = 0,
//                  non-decreasing, offset[N] = L)
//   record         f32 scale | i8 code[D]: value k = code[k] * scale
//                  (scale = max |value| / 127, in [0, 1]: vectors are unit
//                  or zero; 0: no vector)
//
// Line i of song s is record line_offset[s] + i; songs have as many records
// as lyric lines in songs.bin (blank lines are not lines). 8 bits cost ~0.4 %
// relative error per value; cosines move by ~1e-3.
//
// Thread-safety: SentenceVectors is immutable after Open(); its const
// methods may run concurrently. SentenceVectorWriter is not thread-safe.
#ifndef IMAGE2SONG_CORE_INDEX_SENTENCE_VECTORS_H_
#define IMAGE2SONG_CORE_INDEX_SENTENCE_VECTORS_H_

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "util/file_util.h"

namespace image2song {

inline constexpr const char* kSentenceVectorsFile = "sentences.bin";

class SentenceVectors {
 public:
  // Maps `path` and checks all of it: header, sizes against the file before
  // any multiplication, offsets, every scale finite and >= 0, each song's
  // line count against `line_count(s)` (songs.bin's). A damaged or hostile
  // file is DATA_LOSS naming the file, never a crash.
  template <typename LineCount>
  static absl::StatusOr<SentenceVectors> Open(const std::string& path, int64_t song_count,
                                              const LineCount& line_count) {
    SentenceVectors x;
    absl::Status s = x.OpenFile(path, song_count);
    if (!s.ok()) return s;
    for (int64_t i = 0; i < song_count; ++i) {
      if (x.lines(i) != int64_t(line_count(i))) return x.LineCountMismatch(i, line_count(i));
    }
    return x;
  }
  SentenceVectors() = default;
  SentenceVectors(SentenceVectors&&) = default;
  SentenceVectors& operator=(SentenceVectors&&) = default;

  int dim() const { return dim_; }
  int64_t song_count() const { return songs_; }
  int64_t line_count() const { return lines_; }
  // Lines of song `song`.
  int64_t lines(int64_t song) const { return Offset(song + 1) - Offset(song); }
  // Decodes line `line` of song `song` (dim() floats; zeros when it has no
  // vector).
  void Line(int64_t song, int64_t line, float* out) const {
    Decode(records_ + size_t(Offset(song) + line) * record_bytes_, out);
  }
  // Decodes every line of `song` into `out` (lines(song) * dim() floats).
  void Lines(int64_t song, float* out) const;
  // The song's sentence vector (dim() floats).
  void Song(int64_t song, float* out) const {
    Decode(records_ + size_t(lines_ + song) * record_bytes_, out);
  }

 private:
  absl::Status OpenFile(const std::string& path, int64_t song_count);
  absl::Status LineCountMismatch(int64_t song, int64_t expected) const;
  int64_t Offset(int64_t song) const;
  void Decode(const char* record, float* out) const;

  MappedFile file_;
  std::string path_;
  int dim_ = 0;
  size_t record_bytes_ = 0;
  int64_t songs_ = 0;
  int64_t lines_ = 0;
  const char* records_ = nullptr;
  const uint64_t* offsets_ = nullptr;
};

// Streams line and song vectors into sentences.bin: AddSong once per song,
// in song order, then Finish.
class SentenceVectorWriter {
 public:
  static absl::StatusOr<SentenceVectorWriter> Create(const std::string& path, int dim);
  SentenceVectorWriter() = default;
  SentenceVectorWriter(SentenceVectorWriter&& other) noexcept;
  SentenceVectorWriter& operator=(SentenceVectorWriter&& other) noexcept;
  ~SentenceVectorWriter();

  // `lines` x dim() floats (one vector per lyric line, unit or zero). The
  // song vector is the unit mean of the non-zero line vectors (zero when
  // none).
  absl::Status AddSong(const float* vectors, int64_t lines);
  absl::Status Finish();
  int dim() const { return dim_; }

 private:
  absl::Status WriteRecord(std::FILE* f, const std::string& path, const float* v);

  std::string path_;
  std::string songs_path_;  // song records, appended after the lines on Finish
  std::FILE* lines_file_ = nullptr;
  std::FILE* songs_file_ = nullptr;
  int dim_ = 0;
  std::vector<uint64_t> offsets_{0};
  std::vector<char> record_;
  std::vector<float> mean_;
};

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_INDEX_SENTENCE_VECTORS_H_
