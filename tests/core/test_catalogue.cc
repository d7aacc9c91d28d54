// Tests for core/bundle/catalogue.h: JSONL and CSV parsing, validation messages
// (file:line and field), skip_invalid, format selection.
#include "core/bundle/catalogue.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using ::image2song::testing::ReadWholeFile;
using ::image2song::testing::RequiredEnv;
using ::image2song::testing::TempDir;
using ::image2song::testing::WriteWholeFile;

struct Result {
  absl::Status status;
  std::vector<SongRecord> records;
  CatalogueStats stats;
};

Result Read(const std::string& path, const CatalogueOptions& options = {}) {
  Result r;
  r.status = ReadCatalogue(
      path, options,
      [&r](SongRecord&& rec) {
        r.records.push_back(std::move(rec));
        return absl::OkStatus();
      },
      &r.stats);
  return r;
}

// Writes `content` to a file named `name` in `dir` and reads it.
Result ReadText(const TempDir& dir, const std::string& name, const std::string& content,
                const CatalogueOptions& options = {}) {
  WriteWholeFile(dir.File(name), content);
  return Read(dir.File(name), options);
}

const char kSong1[] = R"({"id": "s1", "title": "One", "artist": "A", "lyrics": "la la"})";
const char kSong2[] = R"({"id": "s2", "title": "Two", "artist": "B", "lyrics": "do re"})";

// Checks that `r` failed with INVALID_ARGUMENT naming path:line and field.
void ExpectError(const Result& r, const std::string& path, int line, const std::string& field,
                 const std::string& problem) {
  INFO(r.status.ToString());
  CHECK(r.status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(r.status.message(), path + ":" + std::to_string(line) + ": "));
  CHECK(absl::StrContains(r.status.message(), "field '" + field + "'"));
  CHECK(absl::StrContains(r.status.message(), problem));
}

}  // namespace

TEST_CASE("JSONL records with all and with only the required fields") {
  TempDir tmp;
  Result r = ReadText(tmp, "songs.jsonl",
                      std::string(R"({"id": "x-1", "title": "Full", "artist": "Art", )"
                                  R"("genre": "folk", "mood": "calm", "language": "en", )"
                                  R"("license": "cc-by", "duration": 181.5, )"
                                  R"("tags": ["sea", "night"], "lyrics": "line one\nline two", )"
                                  R"("unknown_field": {"ignored": true}})") +
                          "\n\n" + kSong2 + "\n" +
                          R"({"id": "x-3", "title": "Nulls", "artist": "C", "lyrics": "z", )"
                          R"("genre": null, "tags": null, "duration": null})");
  REQUIRE(r.status.ok());
  REQUIRE(r.records.size() == 3);
  const SongRecord& a = r.records[0];
  CHECK(a.id == "x-1");
  CHECK(a.title == "Full");
  CHECK(a.artist == "Art");
  CHECK(a.genre == "folk");
  CHECK(a.mood == "calm");
  CHECK(a.language == "en");
  CHECK(a.license == "cc-by");
  CHECK(a.duration_seconds == Approx(181.5f));
  CHECK(a.tags == std::vector<std::string>{"sea", "night"});
  CHECK(a.lyrics == "line one\nline two");
  const SongRecord& b = r.records[1];
  CHECK(b.id == "s2");
  CHECK(b.genre.empty());
  CHECK(b.tags.empty());
  CHECK(b.duration_seconds == 0.0f);
  CHECK(r.records[2].genre.empty());
  CHECK(r.records[2].tags.empty());
  CHECK(r.stats.records == 3);
  CHECK(r.stats.skipped == 0);
  CHECK(r.stats.bytes_read == static_cast<int64_t>(ReadWholeFile(tmp.File("songs.jsonl")).size()));
}

TEST_CASE("CSV with quoted newlines, doubled quotes, CRLF and semicolon-separated tags") {
  TempDir tmp;
  const std::string csv =
      "ID,Title,artist,lyrics,tags,duration,genre\r\n"
      "c1,\"Say \"\"Hi\"\", Bob\",Art,\"first line\r\nsecond, line\r\n"
      "\"\"third\"\"\",sea; night ;;fire ,200,rock\r\n"
      "c2,Plain,Art2,words,,,\r\n"
      "c3,Third,Art3,\"one\ntwo\",x,,\r\n";
  Result r = ReadText(tmp, "songs.csv", csv);
  INFO(r.status.ToString());
  REQUIRE(r.status.ok());
  REQUIRE(r.records.size() == 3);
  const SongRecord& a = r.records[0];
  CHECK(a.id == "c1");
  CHECK(a.title == "Say \"Hi\", Bob");
  CHECK(a.artist == "Art");
  CHECK(a.lyrics == "first line\nsecond, line\n\"third\"");
  CHECK(a.tags == std::vector<std::string>{"sea", "night", "fire"});
  CHECK(a.duration_seconds == Approx(200.0f));
  CHECK(a.genre == "rock");
  CHECK(a.mood.empty());  // no such column
  const SongRecord& b = r.records[1];
  CHECK(b.id == "c2");
  CHECK(b.lyrics == "words");
  CHECK(b.tags.empty());
  CHECK(b.duration_seconds == 0.0f);
  CHECK(r.records[2].lyrics == "one\ntwo");
}

TEST_CASE("CSV errors after a multi-line record name the right line") {
  TempDir tmp;
  const std::string csv =
      "id,title,artist,lyrics\n"
      "c1,T,A,\"a\nb\nc\"\n"  // lines 2-4
      "c2,,A,words\n";        // line 5: no title
  Result r = ReadText(tmp, "songs.csv", csv);
  ExpectError(r, tmp.File("songs.csv"), 5, "title", "missing");
  CHECK(r.records.size() == 1);
}

TEST_CASE("JSONL validation errors name file, line and field") {
  TempDir tmp;
  const std::string path = tmp.File("bad.jsonl");
  auto check = [&](const std::string& bad_line, const std::string& field,
                   const std::string& problem) {
    INFO(bad_line);
    // The bad record is on line 3, after a valid record and a blank line.
    Result r = ReadText(tmp, "bad.jsonl", std::string(kSong1) + "\n\n" + bad_line + "\n" + kSong2);
    ExpectError(r, path, 3, field, problem);
    CHECK(r.records.size() == 1);  // stops at the first error
  };
  check(R"({"id": "t", "artist": "A", "lyrics": "x"})", "title", "missing or empty");
  check(R"({"id": "t", "title": "   ", "artist": "A", "lyrics": "x"})", "title",
        "missing or empty");
  check(R"({"id": 5, "title": "T", "artist": "A", "lyrics": "x"})", "id", "must be a string");
  check(R"({"id": "a b", "title": "T", "artist": "A", "lyrics": "x"})", "id", "whitespace");
  check(R"({"id": "t", "title": "T", "lyrics": "x"})", "artist", "missing");
  check(R"({"id": "t", "title": "T", "artist": "A"})", "lyrics", "missing");
  check(R"({"id": "t", "title": "T", "artist": "A", "lyrics": "x", )"
        R"("duration": "3:20"})",
        "duration", "must be a number");
  check(R"({"id": "t", "title": "T", "artist": "A", "lyrics": "x", )"
        R"("duration": -1})",
        "duration", "0..86400");
  check(R"({"id": "t", "title": "T", "artist": "A", "lyrics": "x", )"
        R"("tags": "sea"})",
        "tags", "list of strings");
  check(R"({"id": "t", "title": "T", "artist": "A", "lyrics": "x", )"
        R"("tags": ["sea", 3]})",
        "tags", "list of strings");
  check(R"({"id": "t", "title": "T", "artist": "A", "lyrics": "x", )"
        R"("genre": ["rock"]})",
        "genre", "must be a string");
  check(
      "{\"id\": \"t\", \"title\": \"bad \xC3\", \"artist\": \"A\", "
      "\"lyrics\": \"x\"}",
      "(record)", "invalid JSON");  // nlohmann rejects invalid UTF-8
  check(R"({"id": "t", "title": "T")", "(record)", "invalid JSON");
  check(R"(["not", "an", "object"])", "(record)", "not a JSON object");
  check(R"({"id": "s1", "title": "T", "artist": "A", "lyrics": "x"})", "id", "duplicate id 's1'");
}

TEST_CASE("Catalogue length limits") {
  TempDir tmp;
  const std::string path = tmp.File("long.jsonl");
  SECTION("record longer than max_record_bytes") {
    CatalogueOptions options;
    options.max_record_bytes = 100;
    const std::string long_record =
        R"({"id": "t", "title": "T", "artist": "A", "lyrics": ")" + std::string(200, 'x') + "\"}";
    Result r =
        ReadText(tmp, "long.jsonl", std::string(kSong1) + "\n" + long_record + "\n", options);
    ExpectError(r, path, 2, "(record)", "longer than 100 bytes");
  }
  SECTION("lyrics longer than max_lyrics_bytes") {
    CatalogueOptions options;
    options.max_lyrics_bytes = 10;
    Result r =
        ReadText(tmp, "long.jsonl",
                 R"({"id": "t", "title": "T", "artist": "A", "lyrics": "12345678901"})", options);
    ExpectError(r, path, 1, "lyrics", "too long (11 bytes; limit 10)");
  }
  SECTION("title over 1024 bytes") {
    Result r = ReadText(
        tmp, "long.jsonl",
        R"({"id": "t", "artist": "A", "lyrics": "x", "title": ")" + std::string(1025, 't') + "\"}");
    ExpectError(r, path, 1, "title", "too long");
  }
}

TEST_CASE("CSV validation errors name file, line and field") {
  TempDir tmp;
  const std::string path = tmp.File("bad.csv");
  const std::string header = "id,title,artist,lyrics,duration\n";
  SECTION("wrong field count") {
    Result r = ReadText(tmp, "bad.csv", header + "a,T,A,x,1\nb,T,A\n");
    ExpectError(r, path, 3, "(record)", "has 3 fields, the header has 5");
  }
  SECTION("bad duration") {
    Result r = ReadText(tmp, "bad.csv", header + "a,T,A,x,abc\n");
    ExpectError(r, path, 2, "duration", "'abc' is not a number");
  }
  SECTION("invalid UTF-8") {
    Result r = ReadText(tmp, "bad.csv", header + "a,T\xC3,A,x,1\n");
    ExpectError(r, path, 2, "title", "not valid UTF-8");
  }
  SECTION("unterminated quote") {
    Result r = ReadText(tmp, "bad.csv", header + "a,T,A,\"x\ny\n");
    ExpectError(r, path, 2, "(record)", "unterminated quote");
  }
  SECTION("duplicate id") {
    Result r = ReadText(tmp, "bad.csv", header + "a,T,A,x,1\na,U,B,y,2\n");
    ExpectError(r, path, 3, "id", "duplicate id 'a'");
  }
  SECTION("header without a required column") {
    Result r = ReadText(tmp, "bad.csv", "id,title,artist,words\na,T,A,x\n");
    INFO(r.status.ToString());
    CHECK(r.status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(r.status.message(), path + ":1: "));
    CHECK(absl::StrContains(r.status.message(), "header has no 'lyrics' column"));
  }
  SECTION("empty file") {
    Result r = ReadText(tmp, "bad.csv", "");
    CHECK(r.status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(r.status.message(), "no header"));
  }
}

TEST_CASE("skip_invalid counts bad records and continues") {
  TempDir tmp;
  const std::string path = tmp.File("mixed.jsonl");
  const std::string content = std::string(kSong1) + "\n" +
                              R"({"id": "t", "artist": "A", "lyrics": "x"})" + "\n" +  // line 2
                              "not json\n" +                                           // line 3
                              kSong2 + "\n" + kSong1 + "\n";  // line 5: dup
  CatalogueOptions options;
  options.skip_invalid = true;
  Result r = ReadText(tmp, "mixed.jsonl", content, options);
  REQUIRE(r.status.ok());
  REQUIRE(r.records.size() == 2);
  CHECK(r.records[0].id == "s1");
  CHECK(r.records[1].id == "s2");
  CHECK(r.stats.records == 2);
  CHECK(r.stats.skipped == 3);
  REQUIRE(r.stats.skip_reasons.size() == 3);
  CHECK(absl::StrContains(r.stats.skip_reasons[0], path + ":2: field 'title'"));
  CHECK(absl::StrContains(r.stats.skip_reasons[1], path + ":3: field '(record)'"));
  CHECK(absl::StrContains(r.stats.skip_reasons[2], path + ":5: field 'id'"));
}

TEST_CASE("skip_invalid keeps only the first 20 reasons") {
  TempDir tmp;
  std::string content;
  for (int i = 0; i < 25; ++i) content += "{}\n";
  content += std::string(kSong1) + "\n";
  CatalogueOptions options;
  options.skip_invalid = true;
  Result r = ReadText(tmp, "many.jsonl", content, options);
  REQUIRE(r.status.ok());
  CHECK(r.records.size() == 1);
  CHECK(r.stats.skipped == 25);
  CHECK(r.stats.skip_reasons.size() == 20);
}

TEST_CASE("An error from on_record stops reading") {
  TempDir tmp;
  WriteWholeFile(tmp.File("s.jsonl"), std::string(kSong1) + "\n" + kSong2 + "\n");
  int calls = 0;
  absl::Status s = ReadCatalogue(
      tmp.File("s.jsonl"), CatalogueOptions{},
      [&](SongRecord&&) {
        ++calls;
        return absl::CancelledError("stop here");
      },
      nullptr);
  CHECK(s.code() == absl::StatusCode::kCancelled);
  CHECK(s.message() == "stop here");
  CHECK(calls == 1);
}

TEST_CASE("Catalogue format comes from the extension or the option") {
  TempDir tmp;
  const std::string jsonl = std::string(kSong1) + "\n";
  const std::string csv = "id,title,artist,lyrics\ns1,One,A,la la\n";
  for (const char* name : {"a.jsonl", "a.JSONL", "a.ndjson", "a.json"}) {
    INFO(name);
    Result r = ReadText(tmp, name, jsonl);
    CHECK(r.status.ok());
    CHECK(r.records.size() == 1);
  }
  for (const char* name : {"b.csv", "b.CSV"}) {
    INFO(name);
    Result r = ReadText(tmp, name, csv);
    CHECK(r.status.ok());
    CHECK(r.records.size() == 1);
  }
  Result unknown = ReadText(tmp, "c.txt", jsonl);
  CHECK(unknown.status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(unknown.status.message(), "c.txt"));
  CHECK(absl::StrContains(unknown.status.message(), "extension"));

  CatalogueOptions as_csv;
  as_csv.format = "csv";
  Result forced = ReadText(tmp, "d.txt", csv, as_csv);
  CHECK(forced.status.ok());
  CHECK(forced.records.size() == 1);

  CatalogueOptions bad;
  bad.format = "xml";
  Result r = ReadText(tmp, "e.jsonl", jsonl, bad);
  CHECK(r.status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(r.status.message(), "unknown catalogue format 'xml'"));

  Result missing = Read(tmp.File("missing.jsonl"));
  CHECK(missing.status.code() == absl::StatusCode::kNotFound);
  CHECK(absl::StrContains(missing.status.message(), "missing.jsonl"));

  Result empty = ReadText(tmp, "empty.jsonl", "");
  CHECK(empty.status.ok());
  CHECK(empty.records.empty());
}

TEST_CASE("The tiny JSONL and CSV catalogues hold the same 14 songs") {
  const std::string assets = RequiredEnv("I2S_TEST_ASSETS");
  Result jsonl = Read(assets + "/catalogue.jsonl");
  Result csv = Read(assets + "/catalogue.csv");
  INFO(jsonl.status.ToString() << " / " << csv.status.ToString());
  REQUIRE(jsonl.status.ok());
  REQUIRE(csv.status.ok());
  REQUIRE(jsonl.records.size() == 14);
  REQUIRE(csv.records.size() == 14);
  CHECK(jsonl.stats.records == 14);
  CHECK(csv.stats.records == 14);
  for (size_t i = 0; i < 14; ++i) {
    const SongRecord& a = jsonl.records[i];
    const SongRecord& b = csv.records[i];
    INFO(a.id);
    CHECK(a.id == b.id);
    CHECK(a.title == b.title);
    CHECK(a.artist == b.artist);
    CHECK(a.genre == b.genre);
    CHECK(a.mood == b.mood);
    CHECK(a.language == b.language);
    CHECK(a.license == b.license);
    CHECK(a.duration_seconds == b.duration_seconds);
    CHECK(a.tags == b.tags);
    CHECK(a.lyrics == b.lyrics);
  }
  CHECK(jsonl.records[0].id == "sea-01");
  CHECK(jsonl.records[0].title == "The Wide Ocean");
  CHECK(jsonl.records[0].tags == std::vector<std::string>{"sea"});
  CHECK(jsonl.records[0].duration_seconds == 180.0f);
  CHECK(absl::StrContains(jsonl.records[0].lyrics, "\n\n"));  // blank line kept
  CHECK(jsonl.records[13].id == "filler-05");
}

}  // namespace image2song
