// Song metadata of a bundle, memory-mapped so that a bundle of millions of
// songs loads in milliseconds and GetSong is O(1):
//
//   songs.bin    "I2SSNG01" | u64 n | u64 offsets[n+1] | records
//                record = 9 x (u32 length, bytes): id, title, artist, genre,
//                mood, language, license, tags ('\x1f'-joined), lines
//                ('\n'-joined lyric lines)
//   columns.bin  "I2SCOL01" | u64 n | u64 slots |
//                u16 genre[n] u16 mood[n] u16 language[n] u16 license[n]
//                (codes into columns.json's dictionaries of lowercased
//                values) | u8 explicit[n] | f32 duration[n] | u32 lines[n] |
//                u64 id_table[slots] (open addressing on FNV-1a of the id;
//                song number + 1, 0 = empty); each array 8-byte aligned
//   columns.json {"genre": [...], "mood": [...], "language": [...],
//                 "license": [...]}
//
// Filters run over the columns (a few bytes per song, no record decoding).
//
// Thread-safety: SongStore is immutable after Open(); SongStoreWriter is not
// thread-safe.
#ifndef IMAGE2SONG_CORE_BUNDLE_SONG_STORE_H_
#define IMAGE2SONG_CORE_BUNDLE_SONG_STORE_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/bundle/catalogue.h"
#include "util/file_util.h"

namespace image2song {

// A stored song: the catalogue record's fields (`lyrics` stays empty) and
// its non-blank lyric lines.
struct SongMeta : SongRecord {
  std::vector<std::string> lines;
};

// Which songs a request may get. Set values are lowercase; empty = any.
struct Filters {
  absl::flat_hash_set<std::string> genres, moods, languages, licenses;
  absl::flat_hash_set<std::string> exclude_ids;
  bool exclude_explicit = false;
  // Genre and mood filters match only the catalogue's values, not those
  // imputed from neighbouring songs (core/bundle/imputation.h). Applied by
  // Bundle::Select.
  bool catalogue_values_only = false;
  // Duration range in seconds; 0 = open. Songs of unknown duration (0) pass
  // only an open range.
  float min_duration_seconds = 0;
  float max_duration_seconds = 0;
  bool empty() const {
    return genres.empty() && moods.empty() && languages.empty() && licenses.empty() &&
           exclude_ids.empty() && !exclude_explicit && min_duration_seconds <= 0 &&
           max_duration_seconds <= 0;
  }
};

// Coded columns of columns.bin.
inline constexpr int kGenreColumn = 0, kMoodColumn = 1, kLanguageColumn = 2, kLicenseColumn = 3;

inline constexpr const char* kSongStoreFiles[] = {"songs.bin", "columns.bin", "columns.json"};

class SongStore {
 public:
  // Maps the files of `dir` and checks their structure (sizes, offsets,
  // codes) against `song_count`; errors are DATA_LOSS naming the file.
  static absl::StatusOr<SongStore> Open(const std::string& dir, int64_t song_count);
  SongStore() = default;
  SongStore(SongStore&&) = default;
  SongStore& operator=(SongStore&&) = default;

  int64_t size() const { return n_; }
  SongMeta Get(int64_t i) const;
  absl::string_view Id(int64_t i) const;
  uint32_t LineCount(int64_t i) const { return line_counts_[i]; }
  // Song `i`'s value of a coded column (kGenreColumn..), lowercased: the
  // catalogue's, or the imputed one the writer set.
  const std::string& ColumnValue(int64_t i, int column) const {
    return dictionaries_[column][codes_[column][i]];
  }
  // Song number of `id`, or -1. O(1).
  int64_t Find(absl::string_view id) const;
  // Bitmap of the songs passing `filters` (bit i of byte i/8); `kept` gets
  // their number.
  std::vector<uint8_t> Select(const Filters& filters, int64_t* kept) const;

 private:
  absl::string_view Field(int64_t i, int field) const;

  MappedFile songs_file_, columns_file_;
  int64_t n_ = 0;
  const uint64_t* offsets_ = nullptr;
  const char* records_ = nullptr;
  const uint16_t* codes_[4] = {};  // genre, mood, language, license
  const uint8_t* explicit_ = nullptr;
  const float* durations_ = nullptr;
  const uint32_t* line_counts_ = nullptr;
  const uint64_t* id_table_ = nullptr;
  uint64_t slots_ = 0;
  std::vector<std::vector<std::string>> dictionaries_;  // per coded column
};

// Streams records to songs.bin; columns stay in memory (19 bytes a song) and
// are written by Finish().
class SongStoreWriter {
 public:
  static absl::StatusOr<SongStoreWriter> Create(const std::string& dir);

  // The record's metadata (its lyrics field is not stored) and its lyric
  // lines.
  absl::Status Add(const SongRecord& record, const std::vector<std::string>& lines);
  int64_t size() const { return int64_t(offsets_.size()) - 1; }
  // Song `i`'s value of a coded column (lowercased).
  const std::string& ColumnValue(int64_t i, int column) const {
    return dictionaries_[column][codes_[column][i]];
  }
  // Sets the column value of an added song (imputed values: the record in
  // songs.bin keeps the catalogue's). Before Finish().
  absl::Status SetColumnValue(int64_t i, int column, const std::string& value);
  // Writes songs.bin (offsets + records), columns.bin and columns.json.
  absl::Status Finish();

 private:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  // The code of `value` (lowercased) in a column's dictionary, added when new.
  absl::StatusOr<uint16_t> Code(int column, const std::string& value);
  std::string dir_;
  std::unique_ptr<std::FILE, Closer> records_;  // header, records, offsets
  std::vector<uint64_t> offsets_{0};
  std::vector<uint16_t> codes_[4];
  std::vector<absl::flat_hash_map<std::string, uint16_t>> lookup_{4};
  std::vector<std::vector<std::string>> dictionaries_{4};
  std::vector<uint8_t> explicit_;
  std::vector<float> durations_;
  std::vector<uint32_t> line_counts_;
  std::vector<uint64_t> id_hashes_;
};

// FNV-1a, 64 bits: the id table's hash (stable across builds and machines).
uint64_t IdHash(absl::string_view id);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_BUNDLE_SONG_STORE_H_
