// Small file helpers: bounded reads, atomic writes, SHA-256.
#ifndef IMAGE2SONG_UTIL_FILE_UTIL_H_
#define IMAGE2SONG_UTIL_FILE_UTIL_H_

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace image2song {

// Reads a whole file. Fails with INVALID_ARGUMENT when it is larger than
// `max_bytes` and NOT_FOUND when it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path, int64_t max_bytes = int64_t{1} << 32);

// Writes `data` to `path` and fsyncs it.
absl::Status WriteFile(const std::string& path, absl::string_view data);

// Lowercase hex SHA-256 of `data` / of a file's content (streamed).
std::string Sha256Hex(absl::string_view data);
absl::StatusOr<std::string> Sha256File(const std::string& path);

// Size of a file in bytes.
absl::StatusOr<int64_t> FileSize(const std::string& path);

bool PathExists(const std::string& path);

// The asset cache: $I2S_CACHE, else ~/.cache/image2song. Default models live
// in <cache>/models/default/models.json, the demo bundle in
// <cache>/bundles/demo.
std::string DefaultCacheDir();
std::string DefaultModelsPath();
std::string DefaultBundleDir();

// Joins two path components with exactly one '/'.
std::string JoinPath(absl::string_view a, absl::string_view b);

// The directory holding `path` ("." for a bare name, "/" for a top-level
// entry); trailing slashes are ignored.
std::string ParentDir(const std::string& path);

// Writes all `n` bytes to `f` (errors name `path`).
absl::Status WriteAll(std::FILE* f, const void* data, size_t n, const std::string& path);

// Flushes, fsyncs and closes `*f` (sets it to null); a no-op when null.
absl::Status CloseSynced(std::FILE** f, const std::string& path);

// Read-only memory map of a whole file. Not copyable; movable.
class MappedFile {
 public:
  static absl::StatusOr<MappedFile> Open(const std::string& path);
  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const char* data() const { return data_; }
  size_t size() const { return size_; }
  absl::string_view view() const { return absl::string_view(data_, size_); }
  // Unmaps the pages read so far from this process (they stay in the page
  // cache and come back on the next access): after a full validation pass,
  // so resident memory reflects what serving touches.
  void DropResidentPages() const;

 private:
  const char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace image2song

#endif  // IMAGE2SONG_UTIL_FILE_UTIL_H_
