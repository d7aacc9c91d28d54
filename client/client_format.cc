#include "client/client_format.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace i2s::client {
namespace {

namespace v1 = ::image2song::v1;

// Widest a title / artist / id column may get in the readable tables.
constexpr size_t kMaxTitleChars = 40;
constexpr size_t kMaxArtistChars = 28;
constexpr size_t kMaxIdChars = 64;  // ids are copied into other calls
constexpr size_t kMaxLabelChars = 28;
constexpr size_t kMaxLyricChars = 100;

// Number of UTF-8 code points in `text` (continuation bytes not counted).
size_t CodePoints(absl::string_view text) {
  size_t n = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

// Replaces control characters (tabs, newlines) with spaces so a value
// cannot break a table row.
std::string OneLine(absl::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

enum class Align { kLeft, kRight };

// A column-aligned text table. Cells are measured in code points.
class Table {
 public:
  explicit Table(std::vector<std::pair<std::string, Align>> columns)
      : columns_(std::move(columns)) {}

  void AddRow(std::vector<std::string> cells) {
    cells.resize(columns_.size());
    rows_.push_back(std::move(cells));
  }

  // Appends the header and the rows, each line prefixed with `indent`.
  // `after_row(i)` may return extra (already indented) lines for row i.
  template <typename AfterRow>
  void Render(absl::string_view indent, AfterRow after_row, std::string* out) const {
    std::vector<size_t> widths(columns_.size(), 0);
    for (size_t c = 0; c < columns_.size(); ++c) {
      widths[c] = CodePoints(columns_[c].first);
      for (const auto& row : rows_) {
        widths[c] = std::max(widths[c], CodePoints(row[c]));
      }
    }
    std::vector<std::string> header;
    for (const auto& column : columns_) header.push_back(column.first);
    AppendLine(indent, header, widths, out);
    for (size_t r = 0; r < rows_.size(); ++r) {
      AppendLine(indent, rows_[r], widths, out);
      absl::StrAppend(out, after_row(r));
    }
  }

 private:
  void AppendLine(absl::string_view indent, const std::vector<std::string>& cells,
                  const std::vector<size_t>& widths, std::string* out) const {
    std::string line(indent);
    for (size_t c = 0; c < cells.size(); ++c) {
      const size_t pad = widths[c] - CodePoints(cells[c]);
      const bool last = c + 1 == cells.size();
      if (c > 0) line += "  ";
      if (columns_[c].second == Align::kRight) {
        line.append(pad, ' ');
        line += cells[c];
      } else {
        line += cells[c];
        if (!last) line.append(pad, ' ');
      }
    }
    // Trailing blanks (from empty last cells) are noise.
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(out, line, "\n");
  }

  std::vector<std::pair<std::string, Align>> columns_;
  std::vector<std::vector<std::string>> rows_;
};

std::string Score(float value) { return absl::StrFormat("%.4f", value); }
std::string Weight(float value) { return absl::StrFormat("%.3f", value); }

std::string Box(const v1::BoundingBox& box) {
  return absl::StrFormat("[%.2f,%.2f-%.2f,%.2f]", box.x_min(), box.y_min(), box.x_max(),
                         box.y_max());
}

std::string OrDash(absl::string_view text) {
  return text.empty() ? std::string("-") : std::string(text);
}

std::string Duration(float seconds) {
  if (!(seconds > 0)) return "-";
  const long total = std::lround(seconds);
  return absl::StrFormat("%d:%02d (%.1f s)", total / 60, total % 60, seconds);
}

// Explanation lines printed under one ranked song.
std::string FormatExplanation(const v1::Explanation& explanation, absl::string_view indent) {
  std::string out;
  std::vector<std::string> tags;
  for (const auto& tag : explanation.matched_tags()) {
    std::string item =
        absl::StrCat(Truncate(OneLine(tag.label()), kMaxLabelChars), " ", Weight(tag.weight()));
    if (!tag.lyric_word().empty()) {
      absl::StrAppend(&item, " -> \"", OneLine(tag.lyric_word()), "\"");
    }
    tags.push_back(std::move(item));
  }
  absl::StrAppend(&out, indent, "matched: ", tags.empty() ? "-" : absl::StrJoin(tags, ", "),
                  absl::StrFormat("   (retrieval %.4f, attention %.4f)",
                                  explanation.retrieval_score(), explanation.attention_score()),
                  "\n");
  // The first-stage channels: where each ranked the song and the lyric
  // words behind its match.
  auto words = [](const auto& list, bool counts) {
    std::vector<std::string> items;
    for (const v1::ChannelWord& w : list) {
      std::string item = absl::StrCat(Truncate(OneLine(w.word()), kMaxLabelChars),
                                      absl::StrFormat(" %.2f", w.score()));
      if (counts && w.count() > 1) absl::StrAppend(&item, " x", w.count());
      items.push_back(std::move(item));
    }
    return items.empty() ? std::string("-") : absl::StrJoin(items, ", ");
  };
  if (explanation.dense_rank() > 0 || explanation.lexical_rank() > 0 ||
      explanation.dense_words_size() > 0 || explanation.lexical_words_size() > 0) {
    auto rank = [](int r) { return r > 0 ? absl::StrCat("#", r) : std::string("-"); };
    absl::StrAppend(&out, indent, "found by: dense ", rank(explanation.dense_rank()), " (",
                    words(explanation.dense_words(), false), "); lexical ",
                    rank(explanation.lexical_rank()),
                    absl::StrFormat(" (BM25 %.2f: ", explanation.lexical_score()),
                    words(explanation.lexical_words(), true), ")\n");
  }
  for (const auto& line : explanation.lines()) {
    absl::StrAppend(&out, indent, Weight(line.weight()), "  \"",
                    Truncate(OneLine(line.text()), kMaxLyricChars), "\"",
                    absl::StrFormat("  (line %d", line.line_number()),
                    line.sentence_tag().empty()
                        ? std::string()
                        : absl::StrFormat("; sentence %.2f ~ %s", line.sentence_similarity(),
                                          Truncate(OneLine(line.sentence_tag()), kMaxLabelChars)),
                    ")\n");
  }
  return out;
}

}  // namespace

std::string StatusCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      break;
  }
  return absl::StrCat("CODE_", static_cast<int>(code));
}

std::string FormatRpcError(const grpc::Status& status) {
  return absl::StrCat("error: ", StatusCodeName(status.error_code()), ": ", status.error_message());
}

std::vector<std::string> SplitList(absl::string_view value) {
  std::vector<std::string> items;
  for (absl::string_view item : absl::StrSplit(value, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (!item.empty()) items.emplace_back(item);
  }
  return items;
}

std::string JsonQuote(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", u);
        } else {
          out += c;
        }
    }
  }
  out += "\"";
  return out;
}

bool MessageToJson(const google::protobuf::Message& message, std::string* json,
                   std::string* error) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  json->clear();
  const auto status = google::protobuf::util::MessageToJsonString(message, json, options);
  if (!status.ok()) {
    *error = std::string(status.message());
    return false;
  }
  return true;
}

std::string Truncate(absl::string_view text, size_t max_chars) {
  if (CodePoints(text) <= max_chars) return std::string(text);
  const size_t keep = max_chars > 3 ? max_chars - 3 : 0;
  size_t chars = 0;
  size_t end = 0;
  // Advance `end` past `keep` whole code points.
  while (end < text.size()) {
    if ((static_cast<unsigned char>(text[end]) & 0xC0) != 0x80) {
      if (chars == keep) break;
      ++chars;
    }
    ++end;
  }
  return absl::StrCat(text.substr(0, end), std::string(max_chars - keep, '.'));
}

std::string FormatRecommend(absl::string_view image, const v1::RecommendResponse& response,
                            bool explain) {
  std::string out = absl::StrCat("== ", OneLine(image), "\n");
  absl::StrAppend(&out, "models: ", OrDash(response.model_version()),
                  "   index: ", OrDash(response.index_version()), "\n");

  absl::StrAppend(&out, "tags:\n");
  if (response.tags().empty()) {
    absl::StrAppend(&out, "  (none)\n");
  } else {
    Table tags({{"label", Align::kLeft},
                {"score", Align::kRight},
                {"source", Align::kLeft},
                {"box", Align::kLeft},
                {"words", Align::kLeft}});
    for (const auto& tag : response.tags()) {
      tags.AddRow({Truncate(OneLine(tag.label()), kMaxLabelChars), Weight(tag.score()),
                   OrDash(OneLine(tag.source())), tag.has_box() ? Box(tag.box()) : "-",
                   OneLine(absl::StrJoin(tag.words(), ", "))});
    }
    tags.Render(
        "  ", [](size_t) { return std::string(); }, &out);
  }

  absl::StrAppend(&out, "songs:\n");
  if (response.matches().empty()) {
    absl::StrAppend(&out, "  (no songs matched)\n");
    return out;
  }
  Table songs({{"rank", Align::kRight},
               {"score", Align::kRight},
               {"title", Align::kLeft},
               {"artist", Align::kLeft},
               {"song id", Align::kLeft}});
  for (const auto& match : response.matches()) {
    songs.AddRow({absl::StrCat(match.rank()), Score(match.score()),
                  Truncate(OneLine(match.title()), kMaxTitleChars),
                  Truncate(OneLine(match.artist()), kMaxArtistChars),
                  Truncate(OneLine(match.song_id()), kMaxIdChars)});
  }
  songs.Render(
      "  ",
      [&](size_t row) {
        const auto& match = response.matches(static_cast<int>(row));
        if (!explain || !match.has_explanation()) return std::string();
        return FormatExplanation(match.explanation(), "        ");
      },
      &out);
  return out;
}

std::string FormatSong(const v1::Song& song) {
  std::string out;
  auto field = [&out](absl::string_view name, absl::string_view value) {
    absl::StrAppendFormat(&out, "%-10s %s\n", absl::StrCat(name, ":"), OrDash(OneLine(value)));
  };
  field("id", song.id());
  field("title", song.title());
  field("artist", song.artist());
  // An imputed genre or mood says so, with its confidence.
  auto with_imputed = [&song](absl::string_view name, const std::string& value) {
    for (const v1::ImputedField& f : song.imputed()) {
      if (f.field() == name) {
        return absl::StrFormat("%s (imputed from similar songs, confidence %.2f)", value,
                               f.confidence());
      }
    }
    return value;
  };
  field("genre", with_imputed("genre", song.genre()));
  field("mood", with_imputed("mood", song.mood()));
  if (song.has_lyric_mood()) {
    const v1::LyricMood& m = song.lyric_mood();
    field("lyrics mood",
          absl::StrFormat("%s (valence %.2f, arousal %.2f, %d lexicon words)", m.impression(),
                          m.valence(), m.arousal(), m.scored_words()));
  }
  field("language", song.language());
  field("license", song.license());
  field("duration", Duration(song.duration_seconds()));
  field("tags", absl::StrJoin(song.tags(), ", "));
  absl::StrAppend(&out, "lyrics:\n");
  if (song.lyrics().empty()) {
    absl::StrAppend(&out, "  -\n");
  } else {
    const absl::string_view lyrics = absl::StripTrailingAsciiWhitespace(song.lyrics());
    for (absl::string_view line : absl::StrSplit(lyrics, '\n')) {
      absl::StrAppend(&out, line.empty() ? "" : "  ", absl::StripTrailingAsciiWhitespace(line),
                      "\n");
    }
  }
  return out;
}

std::string FormatInfo(const v1::GetInfoResponse& info) {
  std::string out;
  auto field = [&out](absl::string_view name, absl::string_view value) {
    absl::StrAppendFormat(&out, "%-17s %s\n", absl::StrCat(name, ":"), OrDash(OneLine(value)));
  };
  field("server version", info.server_version());
  field("index version", info.index_version());
  field("index type", info.index_type());
  field("embedder", info.embedder_id());
  field("songs", absl::StrCat(info.song_count()));
  field("vocabulary size", absl::StrCat(info.vocabulary_size()));
  field("dimension", absl::StrCat(info.dimension()));
  if (info.has_limits()) {
    const auto& limits = info.limits();
    field("max image bytes", absl::StrCat(limits.max_image_bytes()));
    field("max image pixels", absl::StrCat(limits.max_image_pixels()));
    field("max top_k", absl::StrCat(limits.max_top_k()));
  }
  absl::StrAppend(&out, "models:\n");
  if (info.models().empty()) {
    absl::StrAppend(&out, "  (none)\n");
    return out;
  }
  Table models({{"name", Align::kLeft},
                {"version", Align::kLeft},
                {"kind", Align::kLeft},
                {"labels", Align::kRight},
                {"input", Align::kLeft},
                {"execution", Align::kLeft},
                {"max batch", Align::kRight}});
  for (const auto& model : info.models()) {
    models.AddRow({OneLine(model.name()), OrDash(OneLine(model.version())),
                   OrDash(OneLine(model.kind())), absl::StrCat(model.label_count()),
                   absl::StrCat(model.input_width(), "x", model.input_height()),
                   OrDash(OneLine(model.execution())),
                   model.max_batch() > 0 ? absl::StrCat(model.max_batch()) : std::string("-")});
  }
  models.Render(
      "  ", [](size_t) { return std::string(); }, &out);
  return out;
}

}  // namespace i2s::client
