// Reading and validating song catalogues (JSONL or CSV), streamed record by
// record so catalogues of millions of songs need no whole-file load.
//
// JSONL: one JSON object per line. CSV: RFC 4180 with a header row naming the
// columns; quoted fields may span lines; `tags` is ';'-separated.
// Fields: id, title, artist, lyrics (required); tags, genre, mood, language,
// license, duration (seconds), explicit (JSON true/false; CSV true/false/1/0/
// yes/no) (optional). Other fields are ignored.
#ifndef IMAGE2SONG_CORE_BUNDLE_CATALOGUE_H_
#define IMAGE2SONG_CORE_BUNDLE_CATALOGUE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace image2song {

struct SongRecord {
  std::string id;
  std::string title;
  std::string artist;
  std::string genre;
  std::string mood;
  std::string language;
  std::string license;
  float duration_seconds = 0;
  bool explicit_lyrics = false;
  std::vector<std::string> tags;
  std::string lyrics;
  // Change files only (CatalogueOptions::allow_deletes): {"id": ..,
  // "deleted": true} removes the song; the other fields are not needed.
  bool deleted = false;
};

struct CatalogueOptions {
  // Skip (and count) invalid records instead of failing. Default: false.
  bool skip_invalid = false;
  // Longest accepted record (a JSONL line or CSV record). Default: 1 MiB.
  int64_t max_record_bytes = int64_t{1} << 20;
  // Longest accepted lyrics text. Default: 256 KiB.
  int64_t max_lyrics_bytes = int64_t{256} << 10;
  // "jsonl", "csv" or "" to choose by file extension. Default: "".
  std::string format;
  // Accept {"id": .., "deleted": true} records (JSONL change files).
  // Default: false (a catalogue with such a record is an error).
  bool allow_deletes = false;
};

struct CatalogueStats {
  int64_t records = 0;  // valid records passed on
  int64_t skipped = 0;  // invalid records skipped (skip_invalid)
  // The first few skip reasons ("file:line: field: problem").
  std::vector<std::string> skip_reasons;
  int64_t bytes_read = 0;
};

// Calls `on_record` for each valid record in file order. Errors name the
// file, the line and the field: "songs.csv:17: field 'title': missing".
// A duplicate id is an error (or skipped). `on_record` may return an error to
// stop. `stats` may be null.
absl::Status ReadCatalogue(const std::string& path, const CatalogueOptions& options,
                           const std::function<absl::Status(SongRecord&&)>& on_record,
                           CatalogueStats* stats);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_BUNDLE_CATALOGUE_H_
