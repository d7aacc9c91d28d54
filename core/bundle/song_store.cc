#include "core/bundle/song_store.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

using json = nlohmann::json;

constexpr char kSongsMagic[8] = {'I', '2', 'S', 'S', 'N', 'G', '0', '1'};
constexpr char kColumnsMagic[8] = {'I', '2', 'S', 'C', 'O', 'L', '0', '1'};
constexpr int kFields = 9;
constexpr const char* kCodedColumns[4] = {"genre", "mood", "language", "license"};
constexpr char kTagSeparator = '\x1f';

size_t Align8(size_t n) { return (n + 7) & ~size_t{7}; }

absl::Status WritePadding(std::FILE* f, size_t written, const std::string& path) {
  static const char zeros[8] = {};
  return WriteAll(f, zeros, Align8(written) - written, path);
}

uint64_t TableSlots(int64_t n) {
  uint64_t slots = 16;
  while (slots < uint64_t(n) * 2) slots <<= 1;
  return slots;
}

}  // namespace

uint64_t IdHash(absl::string_view id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// ------------------------------------------------------------- SongStore

absl::StatusOr<SongStore> SongStore::Open(const std::string& dir, int64_t song_count) {
  SongStore s;
  s.n_ = song_count;
  const std::string songs_path = JoinPath(dir, "songs.bin");
  const std::string columns_path = JoinPath(dir, "columns.bin");
  const std::string dict_path = JoinPath(dir, "columns.json");
  auto bad = [](const std::string& path, absl::string_view what) {
    return absl::DataLossError(absl::StrCat(path, ": ", what));
  };

  // songs.bin
  ASSIGN_OR_RETURN(s.songs_file_, MappedFile::Open(songs_path));
  const MappedFile& sf = s.songs_file_;
  if (sf.size() < 24 || std::memcmp(sf.data(), kSongsMagic, 8) != 0) {
    return bad(songs_path, "bad header");
  }
  uint64_t n = 0, offsets_pos = 0;
  std::memcpy(&n, sf.data() + 8, 8);
  std::memcpy(&offsets_pos, sf.data() + 16, 8);
  if (n != uint64_t(song_count)) {
    return bad(songs_path, absl::StrCat("holds ", n, " songs, the manifest says ", song_count));
  }
  if (offsets_pos % 8 != 0 || offsets_pos < 24 || offsets_pos + (n + 1) * 8 != sf.size()) {
    return bad(songs_path, "size mismatch (truncated?)");
  }
  s.records_ = sf.data() + 24;
  s.offsets_ = reinterpret_cast<const uint64_t*>(sf.data() + offsets_pos);
  const uint64_t blob = offsets_pos - 24;
  if (s.offsets_[0] != 0 || s.offsets_[n] > blob) {
    return bad(songs_path, "bad offsets");
  }
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t b = s.offsets_[i], e = s.offsets_[i + 1];
    if (b > e || e - b < kFields * 4) return bad(songs_path, "bad offsets");
    // The field lengths must add up to the record.
    uint64_t at = b;
    for (int f = 0; f < kFields; ++f) {
      uint32_t len;
      if (at + 4 > e) return bad(songs_path, absl::StrCat("record ", i, " is cut"));
      std::memcpy(&len, s.records_ + at, 4);
      at += 4 + uint64_t(len);
    }
    if (at != e) return bad(songs_path, absl::StrCat("record ", i, " is malformed"));
  }

  // columns.json
  ASSIGN_OR_RETURN(std::string dict_text, ReadFile(dict_path, int64_t{64} << 20));
  try {
    json j = json::parse(dict_text);
    for (const char* name : kCodedColumns) {
      s.dictionaries_.push_back(j.at(name).get<std::vector<std::string>>());
    }
  } catch (const json::exception& e) {
    return bad(dict_path, e.what());
  }

  // columns.bin
  ASSIGN_OR_RETURN(s.columns_file_, MappedFile::Open(columns_path));
  const MappedFile& cf = s.columns_file_;
  if (cf.size() < 24 || std::memcmp(cf.data(), kColumnsMagic, 8) != 0) {
    return bad(columns_path, "bad header");
  }
  uint64_t cn = 0;
  std::memcpy(&cn, cf.data() + 8, 8);
  std::memcpy(&s.slots_, cf.data() + 16, 8);
  if (cn != n || s.slots_ != TableSlots(song_count)) {
    return bad(columns_path, "song count does not match");
  }
  size_t at = 24;
  for (int c = 0; c < 4; ++c) {
    s.codes_[c] = reinterpret_cast<const uint16_t*>(cf.data() + at);
    at += Align8(n * 2);
  }
  s.explicit_ = reinterpret_cast<const uint8_t*>(cf.data() + at);
  at += Align8(n);
  s.durations_ = reinterpret_cast<const float*>(cf.data() + at);
  at += Align8(n * 4);
  s.line_counts_ = reinterpret_cast<const uint32_t*>(cf.data() + at);
  at += Align8(n * 4);
  s.id_table_ = reinterpret_cast<const uint64_t*>(cf.data() + at);
  at += s.slots_ * 8;
  if (at != cf.size()) return bad(columns_path, "size mismatch (truncated?)");
  for (int c = 0; c < 4; ++c) {
    const size_t limit = s.dictionaries_[c].size();
    for (uint64_t i = 0; i < n; ++i) {
      if (s.codes_[c][i] >= limit) {
        return bad(columns_path, absl::StrCat(kCodedColumns[c], " code out of range"));
      }
    }
  }
  for (uint64_t i = 0; i < s.slots_; ++i) {
    if (s.id_table_[i] > n) return bad(columns_path, "id table out of range");
  }
  // The checks read every record; serving touches few of them.
  s.songs_file_.DropResidentPages();
  return s;
}

absl::string_view SongStore::Field(int64_t i, int field) const {
  uint64_t at = offsets_[i];
  uint32_t len = 0;
  for (int f = 0;; ++f) {
    std::memcpy(&len, records_ + at, 4);
    if (f == field) return absl::string_view(records_ + at + 4, len);
    at += 4 + uint64_t(len);
  }
}

absl::string_view SongStore::Id(int64_t i) const { return Field(i, 0); }

SongMeta SongStore::Get(int64_t i) const {
  SongMeta m;
  m.id = std::string(Field(i, 0));
  m.title = std::string(Field(i, 1));
  m.artist = std::string(Field(i, 2));
  m.genre = std::string(Field(i, 3));
  m.mood = std::string(Field(i, 4));
  m.language = std::string(Field(i, 5));
  m.license = std::string(Field(i, 6));
  absl::string_view tags = Field(i, 7);
  if (!tags.empty()) m.tags = absl::StrSplit(tags, kTagSeparator);
  absl::string_view lines = Field(i, 8);
  if (line_counts_[i] > 0) m.lines = absl::StrSplit(lines, '\n');
  m.explicit_lyrics = explicit_[i] != 0;
  m.duration_seconds = durations_[i];
  return m;
}

int64_t SongStore::Find(absl::string_view id) const {
  if (slots_ == 0) return -1;
  const uint64_t mask = slots_ - 1;
  for (uint64_t at = IdHash(id) & mask;; at = (at + 1) & mask) {
    const uint64_t v = id_table_[at];
    if (v == 0) return -1;
    if (Id(int64_t(v - 1)) == id) return int64_t(v - 1);
  }
}

std::vector<uint8_t> SongStore::Select(const Filters& f, int64_t* kept) const {
  std::vector<uint8_t> bits((n_ + 7) / 8, 0);
  // Per coded column: which codes pass (empty = all).
  const absl::flat_hash_set<std::string>* sets[4] = {&f.genres, &f.moods, &f.languages,
                                                     &f.licenses};
  std::vector<std::vector<uint8_t>> pass(4);
  for (int c = 0; c < 4; ++c) {
    if (sets[c]->empty()) continue;
    pass[c].assign(dictionaries_[c].size(), 0);
    for (size_t k = 0; k < dictionaries_[c].size(); ++k) {
      pass[c][k] = sets[c]->contains(dictionaries_[c][k]);
    }
  }
  const float lo = f.min_duration_seconds, hi = f.max_duration_seconds;
  int64_t count = 0;
  for (int64_t i = 0; i < n_; ++i) {
    bool ok = true;
    for (int c = 0; c < 4 && ok; ++c) {
      if (!pass[c].empty()) ok = pass[c][codes_[c][i]] != 0;
    }
    if (!ok) continue;
    if (f.exclude_explicit && explicit_[i]) continue;
    if (lo > 0 && !(durations_[i] >= lo)) continue;
    if (hi > 0 && !(durations_[i] > 0 && durations_[i] <= hi)) continue;
    bits[i >> 3] |= uint8_t(1u << (i & 7));
    ++count;
  }
  for (const std::string& id : f.exclude_ids) {
    const int64_t i = Find(id);
    if (i >= 0 && (bits[i >> 3] & (1u << (i & 7)))) {
      bits[i >> 3] &= uint8_t(~(1u << (i & 7)));
      --count;
    }
  }
  *kept = count;
  return bits;
}

// ------------------------------------------------------- SongStoreWriter

absl::StatusOr<SongStoreWriter> SongStoreWriter::Create(const std::string& dir) {
  SongStoreWriter w;
  w.dir_ = dir;
  const std::string path = JoinPath(dir, "songs.bin");
  w.records_.reset(std::fopen(path.c_str(), "wb"));
  if (w.records_ == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  // Header; the offsets position is patched by Finish().
  char header[24] = {};
  std::memcpy(header, kSongsMagic, 8);
  RETURN_IF_ERROR(WriteAll(w.records_.get(), header, sizeof(header), path));
  return w;
}

absl::Status SongStoreWriter::Add(const SongRecord& r, const std::vector<std::string>& lines) {
  const std::string path = JoinPath(dir_, "songs.bin");
  const std::string joined_tags = absl::StrJoin(r.tags, std::string(1, kTagSeparator));
  const std::string joined_lines = absl::StrJoin(lines, "\n");
  const absl::string_view fields[kFields] = {
      r.id, r.title, r.artist, r.genre, r.mood, r.language, r.license, joined_tags, joined_lines};
  uint64_t bytes = 0;
  for (absl::string_view f : fields) {
    if (f.size() > 0xffffffffu) return absl::InvalidArgumentError("field too long");
    const uint32_t len = static_cast<uint32_t>(f.size());
    RETURN_IF_ERROR(WriteAll(records_.get(), &len, 4, path));
    RETURN_IF_ERROR(WriteAll(records_.get(), f.data(), f.size(), path));
    bytes += 4 + f.size();
  }
  offsets_.push_back(offsets_.back() + bytes);
  const std::string* values[4] = {&r.genre, &r.mood, &r.language, &r.license};
  for (int c = 0; c < 4; ++c) {
    ASSIGN_OR_RETURN(uint16_t code, Code(c, *values[c]));
    codes_[c].push_back(code);
  }
  explicit_.push_back(r.explicit_lyrics ? 1 : 0);
  durations_.push_back(r.duration_seconds);
  line_counts_.push_back(static_cast<uint32_t>(lines.size()));
  id_hashes_.push_back(IdHash(r.id));
  return absl::OkStatus();
}

absl::StatusOr<uint16_t> SongStoreWriter::Code(int column, const std::string& value) {
  const std::string key = absl::AsciiStrToLower(value);
  auto it = lookup_[column].find(key);
  if (it == lookup_[column].end()) {
    if (dictionaries_[column].size() >= 0xffff) {
      return absl::InvalidArgumentError(
          absl::StrCat("more than 65535 distinct values of '", kCodedColumns[column], "'"));
    }
    it = lookup_[column].emplace(key, uint16_t(dictionaries_[column].size())).first;
    dictionaries_[column].push_back(key);
  }
  return it->second;
}

absl::Status SongStoreWriter::SetColumnValue(int64_t i, int column, const std::string& value) {
  if (column < 0 || column >= 4 || i < 0 || i >= size()) {
    return absl::InvalidArgumentError("SetColumnValue: song or column out of range");
  }
  ASSIGN_OR_RETURN(uint16_t code, Code(column, value));
  codes_[column][i] = code;
  return absl::OkStatus();
}

absl::Status SongStoreWriter::Finish() {
  const std::string songs_path = JoinPath(dir_, "songs.bin");
  const uint64_t n = offsets_.size() - 1;
  // songs.bin: pad, offsets, then patch the header.
  std::FILE* f = records_.get();
  const uint64_t end = 24 + offsets_.back();
  RETURN_IF_ERROR(WritePadding(f, end, songs_path));
  const uint64_t offsets_pos = Align8(end);
  RETURN_IF_ERROR(WriteAll(f, offsets_.data(), offsets_.size() * 8, songs_path));
  if (std::fseek(f, 8, SEEK_SET) != 0) {
    return absl::InternalError(absl::StrCat("cannot seek in ", songs_path));
  }
  RETURN_IF_ERROR(WriteAll(f, &n, 8, songs_path));
  RETURN_IF_ERROR(WriteAll(f, &offsets_pos, 8, songs_path));
  f = records_.release();
  RETURN_IF_ERROR(CloseSynced(&f, songs_path));

  // columns.bin
  const uint64_t slots = TableSlots(int64_t(n));
  std::vector<uint64_t> table(slots, 0);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t at = id_hashes_[i] & (slots - 1);
    while (table[at] != 0) at = (at + 1) & (slots - 1);
    table[at] = i + 1;
  }
  std::string out(kColumnsMagic, 8);
  auto put = [&out](const void* p, size_t bytes) {
    out.append(static_cast<const char*>(p), bytes);
    out.resize(Align8(out.size()), '\0');
  };
  out.append(reinterpret_cast<const char*>(&n), 8);
  out.append(reinterpret_cast<const char*>(&slots), 8);
  for (int c = 0; c < 4; ++c) put(codes_[c].data(), n * 2);
  put(explicit_.data(), n);
  put(durations_.data(), n * 4);
  put(line_counts_.data(), n * 4);
  put(table.data(), slots * 8);
  RETURN_IF_ERROR(WriteFile(JoinPath(dir_, "columns.bin"), out));
  json dict = json::object();
  for (int c = 0; c < 4; ++c) dict[kCodedColumns[c]] = dictionaries_[c];
  return WriteFile(JoinPath(dir_, "columns.json"),
                   dict.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
}

}  // namespace image2song
