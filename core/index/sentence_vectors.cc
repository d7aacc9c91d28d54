#include "core/index/sentence_vectors.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

constexpr char kMagic[8] = {'I', '2', 'S', 'S', 'E', 'N', '0', '1'};
constexpr size_t kHeaderBytes = 32;  // magic + 2 x u32 + 2 x u64
constexpr int kMaxDim = 65536;

uint64_t Align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

}  // namespace

// ------------------------------------------------------ SentenceVectors

absl::Status SentenceVectors::OpenFile(const std::string& path, int64_t song_count) {
  auto bad = [&path](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(path, ": ", what));
  };
  path_ = path;
  ASSIGN_OR_RETURN(file_, MappedFile::Open(path));
  const MappedFile& f = file_;
  if (f.size() < kHeaderBytes || std::memcmp(f.data(), kMagic, 8) != 0) {
    return bad("bad header (not a sentence vector file)");
  }
  uint32_t dim = 0, record = 0;
  uint64_t n = 0, l = 0;
  std::memcpy(&dim, f.data() + 8, 4);
  std::memcpy(&record, f.data() + 12, 4);
  std::memcpy(&n, f.data() + 16, 8);
  std::memcpy(&l, f.data() + 24, 8);
  if (dim < 1 || dim > kMaxDim || record != 4 + dim) return bad("bad dimension or record size");
  if (n != uint64_t(song_count)) {
    return bad(absl::StrCat("holds ", n, " songs; the bundle has ", song_count));
  }
  // Sizes against the file before any multiplication.
  const uint64_t size = f.size();
  if (l > size / record || n > size / record || n + 1 > size / 8) {
    return bad("line or song count too large");
  }
  const uint64_t offsets_at = Align8(kHeaderBytes + (l + n) * record);
  if (offsets_at > size || size - offsets_at != (n + 1) * 8) {
    return bad(absl::StrCat("is ", size, " bytes; its header says ", offsets_at + (n + 1) * 8));
  }
  dim_ = int(dim);
  record_bytes_ = record;
  songs_ = int64_t(n);
  lines_ = int64_t(l);
  records_ = f.data() + kHeaderBytes;
  offsets_ = reinterpret_cast<const uint64_t*>(f.data() + offsets_at);
  if (offsets_[0] != 0 || offsets_[n] != l) return bad("bad line offsets");
  for (uint64_t i = 0; i < n; ++i) {
    if (offsets_[i] > offsets_[i + 1]) return bad("bad line offsets");
  }
  for (uint64_t r = 0; r < l + n; ++r) {
    float scale = 0;
    std::memcpy(&scale, records_ + r * record, 4);
    if (!std::isfinite(scale) || scale < 0 || scale > 1) {
      return bad(absl::StrCat("record ", r, " has a bad scale"));
    }
  }
  f.DropResidentPages();  // the checks read every record
  return absl::OkStatus();
}

absl::Status SentenceVectors::LineCountMismatch(int64_t song, int64_t expected) const {
  return absl::DataLossError(absl::StrCat(path_, ": song ", song, " has ", lines(song),
                                          " line vectors; songs.bin has ", expected, " lines"));
}

int64_t SentenceVectors::Offset(int64_t song) const { return int64_t(offsets_[song]); }

void SentenceVectors::Decode(const char* record, float* out) const {
  float scale = 0;
  std::memcpy(&scale, record, 4);
  const int8_t* code = reinterpret_cast<const int8_t*>(record + 4);
  for (int k = 0; k < dim_; ++k) out[k] = float(code[k]) * scale;
}

void SentenceVectors::Lines(int64_t song, float* out) const {
  const int64_t first = Offset(song), n = lines(song);
  for (int64_t i = 0; i < n; ++i) {
    Decode(records_ + size_t(first + i) * record_bytes_, out + size_t(i) * dim_);
  }
}

// ------------------------------------------------- SentenceVectorWriter

absl::StatusOr<SentenceVectorWriter> SentenceVectorWriter::Create(const std::string& path,
                                                                  int dim) {
  if (dim < 1 || dim > kMaxDim) {
    return absl::InvalidArgumentError(absl::StrCat("sentence vector dimension ", dim));
  }
  SentenceVectorWriter w;
  w.path_ = path;
  w.songs_path_ = path + ".songs";
  w.dim_ = dim;
  w.record_.resize(4 + size_t(dim));
  w.mean_.resize(size_t(dim));
  w.lines_file_ = std::fopen(path.c_str(), "wb");
  w.songs_file_ = std::fopen(w.songs_path_.c_str(), "w+b");
  if (w.lines_file_ == nullptr || w.songs_file_ == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  // The header is written by Finish, when the counts are known.
  const char zeros[kHeaderBytes] = {};
  RETURN_IF_ERROR(WriteAll(w.lines_file_, zeros, kHeaderBytes, path));
  return w;
}

SentenceVectorWriter::SentenceVectorWriter(SentenceVectorWriter&& other) noexcept {
  *this = std::move(other);
}

SentenceVectorWriter& SentenceVectorWriter::operator=(SentenceVectorWriter&& other) noexcept {
  std::swap(path_, other.path_);
  std::swap(songs_path_, other.songs_path_);
  std::swap(lines_file_, other.lines_file_);
  std::swap(songs_file_, other.songs_file_);
  std::swap(dim_, other.dim_);
  std::swap(offsets_, other.offsets_);
  std::swap(record_, other.record_);
  std::swap(mean_, other.mean_);
  return *this;
}

SentenceVectorWriter::~SentenceVectorWriter() {
  if (lines_file_) std::fclose(lines_file_);
  if (songs_file_) {
    std::fclose(songs_file_);
    ::unlink(songs_path_.c_str());
  }
}

absl::Status SentenceVectorWriter::WriteRecord(std::FILE* f, const std::string& path,
                                               const float* v) {
  float max_abs = 0;
  for (int k = 0; k < dim_; ++k) max_abs = std::max(max_abs, std::fabs(v[k]));
  if (!std::isfinite(max_abs)) {
    return absl::InvalidArgumentError("sentence vector is not finite");
  }
  const float scale = max_abs / 127.0f;
  std::memcpy(record_.data(), &scale, 4);
  int8_t* code = reinterpret_cast<int8_t*>(record_.data() + 4);
  for (int k = 0; k < dim_; ++k) {
    code[k] = scale > 0 ? int8_t(std::lround(std::clamp(v[k] / scale, -127.0f, 127.0f))) : 0;
  }
  return WriteAll(f, record_.data(), record_.size(), path);
}

absl::Status SentenceVectorWriter::AddSong(const float* vectors, int64_t lines) {
  if (lines_file_ == nullptr) return absl::FailedPreconditionError("writer is finished");
  std::fill(mean_.begin(), mean_.end(), 0.0f);
  for (int64_t i = 0; i < lines; ++i) {
    const float* v = vectors + size_t(i) * dim_;
    RETURN_IF_ERROR(WriteRecord(lines_file_, path_, v));
    for (int k = 0; k < dim_; ++k) mean_[k] += v[k];
  }
  double norm = 0;
  for (float x : mean_) norm += double(x) * x;
  if (norm > 0) {
    const float inv = float(1.0 / std::sqrt(norm));
    for (float& x : mean_) x *= inv;
  }
  RETURN_IF_ERROR(WriteRecord(songs_file_, songs_path_, mean_.data()));
  offsets_.push_back(offsets_.back() + uint64_t(lines));
  return absl::OkStatus();
}

absl::Status SentenceVectorWriter::Finish() {
  if (lines_file_ == nullptr) return absl::FailedPreconditionError("writer is finished");
  const uint64_t n = offsets_.size() - 1, l = offsets_.back();
  // Song records after the lines, then the offsets.
  if (std::fflush(songs_file_) != 0 || std::fseek(songs_file_, 0, SEEK_SET) != 0) {
    return absl::InternalError(absl::StrCat("cannot read back ", songs_path_));
  }
  std::vector<char> buf(1 << 20);
  for (;;) {
    const size_t got = std::fread(buf.data(), 1, buf.size(), songs_file_);
    if (got == 0) break;
    RETURN_IF_ERROR(WriteAll(lines_file_, buf.data(), got, path_));
  }
  std::fclose(songs_file_);
  songs_file_ = nullptr;
  ::unlink(songs_path_.c_str());
  const uint64_t end = kHeaderBytes + (l + n) * record_.size();
  const char zeros[8] = {};
  RETURN_IF_ERROR(WriteAll(lines_file_, zeros, Align8(end) - end, path_));
  RETURN_IF_ERROR(WriteAll(lines_file_, offsets_.data(), offsets_.size() * 8, path_));
  char header[kHeaderBytes];
  const uint32_t dim = uint32_t(dim_), record = uint32_t(record_.size());
  std::memcpy(header, kMagic, 8);
  std::memcpy(header + 8, &dim, 4);
  std::memcpy(header + 12, &record, 4);
  std::memcpy(header + 16, &n, 8);
  std::memcpy(header + 24, &l, 8);
  if (std::fseek(lines_file_, 0, SEEK_SET) != 0) {
    return absl::InternalError(absl::StrCat("cannot seek in ", path_));
  }
  RETURN_IF_ERROR(WriteAll(lines_file_, header, kHeaderBytes, path_));
  return CloseSynced(&lines_file_, path_);
}

}  // namespace image2song
