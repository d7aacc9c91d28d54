#include "core/bundle/catalogue.h"

#include <cmath>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace image2song {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxIdBytes = 256;
constexpr size_t kMaxTextBytes = 1024;  // title, artist, genre, ...
constexpr size_t kMaxTags = 64;

// An error about one field of one record.
struct FieldError {
  std::string field;
  std::string problem;
};

bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0 || i + n >= s.size() + (n == 0 ? 1 : 0)) {
      if (n != 0) return false;
    }
    for (int k = 1; k <= n; ++k) {
      if (i + k >= s.size() || (static_cast<unsigned char>(s[i + k]) >> 6) != 2) {
        return false;
      }
    }
    i += n + 1;
  }
  return true;
}

std::optional<FieldError> CheckText(const std::string& field, const std::string& value,
                                    bool required, size_t max_bytes) {
  if (required && absl::StripAsciiWhitespace(value).empty()) {
    return FieldError{field, "missing or empty"};
  }
  if (value.size() > max_bytes) {
    return FieldError{field,
                      absl::StrCat("too long (", value.size(), " bytes; limit ", max_bytes, ")")};
  }
  if (!ValidUtf8(value)) return FieldError{field, "not valid UTF-8"};
  return std::nullopt;
}

std::optional<FieldError> Validate(const SongRecord& r, const CatalogueOptions& options) {
  if (auto e = CheckText("id", r.id, true, kMaxIdBytes)) return e;
  for (char c : r.id) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) {
      return FieldError{"id", "contains whitespace or control characters"};
    }
  }
  if (auto e = CheckText("title", r.title, true, kMaxTextBytes)) return e;
  if (auto e = CheckText("artist", r.artist, true, kMaxTextBytes)) return e;
  if (auto e = CheckText("lyrics", r.lyrics, true, static_cast<size_t>(options.max_lyrics_bytes))) {
    return e;
  }
  for (const auto& [name, value] : {std::pair<const char*, const std::string*>{"genre", &r.genre},
                                    {"mood", &r.mood},
                                    {"language", &r.language},
                                    {"license", &r.license}}) {
    if (auto e = CheckText(name, *value, false, kMaxTextBytes)) return e;
  }
  if (!std::isfinite(r.duration_seconds) || r.duration_seconds < 0 || r.duration_seconds > 86400) {
    return FieldError{"duration", "must be a number of seconds in 0..86400"};
  }
  if (r.tags.size() > kMaxTags) {
    return FieldError{"tags", absl::StrCat("more than ", kMaxTags, " tags")};
  }
  for (const std::string& t : r.tags) {
    if (auto e = CheckText("tags", t, true, kMaxTextBytes)) return e;
  }
  return std::nullopt;
}

// Reads one JSON value into a string field; null/absent leaves it empty.
std::optional<FieldError> JsonString(const json& obj, const char* field, std::string* out) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) return FieldError{field, "must be a string"};
  *out = it->get<std::string>();
  return std::nullopt;
}

std::optional<FieldError> ParseJsonRecord(const std::string& line, SongRecord* r) {
  json obj;
  try {
    obj = json::parse(line);
  } catch (const json::parse_error& e) {
    return FieldError{"(record)", absl::StrCat("invalid JSON: ", e.what())};
  }
  if (!obj.is_object()) return FieldError{"(record)", "not a JSON object"};
  auto del = obj.find("deleted");
  if (del != obj.end() && !del->is_null()) {
    if (!del->is_boolean()) return FieldError{"deleted", "must be true or false"};
    r->deleted = del->get<bool>();
  }
  for (auto [name, out] : {std::pair<const char*, std::string*>{"id", &r->id},
                           {"title", &r->title},
                           {"artist", &r->artist},
                           {"lyrics", &r->lyrics},
                           {"genre", &r->genre},
                           {"mood", &r->mood},
                           {"language", &r->language},
                           {"license", &r->license}}) {
    if (auto e = JsonString(obj, name, out)) return e;
  }
  auto d = obj.find("duration");
  if (d != obj.end() && !d->is_null()) {
    if (!d->is_number()) return FieldError{"duration", "must be a number"};
    r->duration_seconds = d->get<float>();
  }
  auto x = obj.find("explicit");
  if (x != obj.end() && !x->is_null()) {
    if (!x->is_boolean()) return FieldError{"explicit", "must be true or false"};
    r->explicit_lyrics = x->get<bool>();
  }
  auto t = obj.find("tags");
  if (t != obj.end() && !t->is_null()) {
    if (!t->is_array()) return FieldError{"tags", "must be a list of strings"};
    for (const json& tag : *t) {
      if (!tag.is_string()) {
        return FieldError{"tags", "must be a list of strings"};
      }
      r->tags.push_back(tag.get<std::string>());
    }
  }
  return std::nullopt;
}

// Splits one CSV record (may contain quoted newlines) into fields.
bool SplitCsv(absl::string_view record, std::vector<std::string>* fields) {
  fields->clear();
  std::string cur;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < record.size(); ++i) {
    char c = record[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < record.size() && record[i + 1] == '"') {
          cur.push_back('"');
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur.push_back(c);
      }
    } else if (c == '"' && cur.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == ',') {
      fields->push_back(std::move(cur));
      cur.clear();
      was_quoted = false;
    } else if (c == '\r' && i + 1 == record.size()) {
      // CRLF line end
    } else {
      cur.push_back(c);
    }
  }
  fields->push_back(std::move(cur));
  return !quoted;
}

// Reads physical lines; a CSV record continues while a quote is open.
class RecordReader {
 public:
  RecordReader(std::istream* in, bool csv, int64_t max_bytes)
      : in_(in), csv_(csv), max_bytes_(max_bytes) {}

  // Returns false at end of file. `first_line` is the 1-based line number
  // the record starts on. Oversized records set *too_long and are skipped.
  bool Next(std::string* record, int64_t* first_line, bool* too_long, int64_t* bytes) {
    record->clear();
    *too_long = false;
    std::string line;
    bool in_quotes = false;
    bool any = false;
    while (ReadLine(&line, bytes)) {
      if (!any) *first_line = line_no_;
      any = true;
      if (!*too_long) {
        if (int64_t(record->size() + line.size()) > max_bytes_) {
          *too_long = true;
          record->clear();
        } else {
          if (in_quotes) record->push_back('\n');
          record->append(line);
        }
      }
      if (!csv_) return true;
      for (char c : line) {
        if (c == '"') in_quotes = !in_quotes;
      }
      if (!in_quotes) return true;
    }
    return any;
  }

 private:
  bool ReadLine(std::string* line, int64_t* bytes) {
    line->clear();
    if (!in_->good()) return false;
    int c;
    bool got = false;
    while ((c = in_->get()) != EOF) {
      got = true;
      ++*bytes;
      if (c == '\n') break;
      // Cap memory for absurd lines; the caller reports them as too long.
      if (int64_t(line->size()) <= max_bytes_) line->push_back(char(c));
    }
    if (got) ++line_no_;
    if (!line->empty() && line->back() == '\r') line->pop_back();
    return got;
  }

  std::istream* in_;
  bool csv_;
  int64_t max_bytes_;
  int64_t line_no_ = 0;
};

}  // namespace

absl::Status ReadCatalogue(const std::string& path, const CatalogueOptions& options,
                           const std::function<absl::Status(SongRecord&&)>& on_record,
                           CatalogueStats* stats) {
  CatalogueStats local;
  if (stats == nullptr) stats = &local;
  std::string format = options.format;
  if (format.empty()) {
    std::string lower = absl::AsciiStrToLower(path);
    if (absl::EndsWith(lower, ".csv")) {
      format = "csv";
    } else if (absl::EndsWith(lower, ".jsonl") || absl::EndsWith(lower, ".ndjson") ||
               absl::EndsWith(lower, ".json")) {
      format = "jsonl";
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(path,
                       ": cannot tell the format from the extension; use .jsonl or "
                       ".csv (or --format)"));
    }
  }
  if (format != "csv" && format != "jsonl") {
    return absl::InvalidArgumentError(absl::StrCat("unknown catalogue format '", format, "'"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  in.rdbuf()->pubsetbuf(nullptr, 0);
  const bool csv = format == "csv";
  RecordReader reader(&in, csv, options.max_record_bytes);
  absl::flat_hash_set<std::string> seen_ids;
  absl::flat_hash_map<std::string, int> columns;
  std::string record;
  std::vector<std::string> fields;
  int64_t line = 0;
  bool too_long = false;
  bool header_done = !csv;

  auto reject = [&](int64_t at, const FieldError& e) -> absl::Status {
    std::string msg = absl::StrCat(path, ":", at, ": field '", e.field, "': ", e.problem);
    if (!options.skip_invalid) return absl::InvalidArgumentError(msg);
    ++stats->skipped;
    if (stats->skip_reasons.size() < 20) stats->skip_reasons.push_back(msg);
    return absl::OkStatus();
  };

  while (reader.Next(&record, &line, &too_long, &stats->bytes_read)) {
    if (too_long) {
      absl::Status s = reject(
          line, {"(record)", absl::StrCat("longer than ", options.max_record_bytes, " bytes")});
      if (!s.ok()) return s;
      continue;
    }
    if (absl::StripAsciiWhitespace(record).empty()) continue;
    if (!header_done) {
      if (!SplitCsv(record, &fields)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ":", line, ": unterminated quote in header"));
      }
      for (size_t i = 0; i < fields.size(); ++i) {
        columns[absl::AsciiStrToLower(absl::StripAsciiWhitespace(fields[i]))] = static_cast<int>(i);
      }
      for (const char* need : {"id", "title", "artist", "lyrics"}) {
        if (!columns.contains(need)) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, ":", line, ": header has no '", need, "' column"));
        }
      }
      header_done = true;
      continue;
    }
    SongRecord r;
    std::optional<FieldError> error;
    if (csv) {
      if (!SplitCsv(record, &fields)) {
        error = FieldError{"(record)", "unterminated quote"};
      } else if (fields.size() != columns.size()) {
        error = FieldError{"(record)", absl::StrCat("has ", fields.size(),
                                                    " fields, the header has ", columns.size())};
      } else {
        auto get = [&](const char* name) -> std::string {
          auto it = columns.find(name);
          return it == columns.end() ? std::string() : fields[it->second];
        };
        r.id = get("id");
        r.title = get("title");
        r.artist = get("artist");
        r.lyrics = get("lyrics");
        r.genre = get("genre");
        r.mood = get("mood");
        r.language = get("language");
        r.license = get("license");
        std::string duration(absl::StripAsciiWhitespace(get("duration")));
        if (!duration.empty() && !absl::SimpleAtof(duration, &r.duration_seconds)) {
          error = FieldError{"duration", absl::StrCat("'", duration, "' is not a number")};
        }
        std::string flag = absl::AsciiStrToLower(absl::StripAsciiWhitespace(get("explicit")));
        if (flag == "true" || flag == "1" || flag == "yes") {
          r.explicit_lyrics = true;
        } else if (!flag.empty() && flag != "false" && flag != "0" && flag != "no") {
          error = FieldError{"explicit", absl::StrCat("'", flag, "' is not true/false")};
        }
        for (absl::string_view t : absl::StrSplit(get("tags"), ';', absl::SkipWhitespace())) {
          r.tags.emplace_back(absl::StripAsciiWhitespace(t));
        }
      }
    } else {
      error = ParseJsonRecord(record, &r);
    }
    if (!error && r.deleted && !options.allow_deletes) {
      error = FieldError{"deleted", "deletions are only read from change files"};
    }
    if (!error) {
      // A deletion names just the id.
      error = r.deleted ? CheckText("id", r.id, true, kMaxIdBytes) : Validate(r, options);
    }
    if (!error && !seen_ids.insert(r.id).second) {
      error = FieldError{"id", absl::StrCat("duplicate id '", r.id, "'")};
    }
    if (error) {
      absl::Status s = reject(line, *error);
      if (!s.ok()) return s;
      continue;
    }
    ++stats->records;
    absl::Status s = on_record(std::move(r));
    if (!s.ok()) return s;
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  if (!header_done) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": empty CSV (no header)"));
  }
  return absl::OkStatus();
}

}  // namespace image2song
