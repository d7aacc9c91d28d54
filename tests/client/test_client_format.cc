// Tests for client/client_format.h: the pure text and JSON rendering of the
// i2s-client tool.
#include "client/client_format.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace i2s::client {
namespace {

namespace v1 = ::image2song::v1;

v1::RecommendResponse SampleResponse() {
  v1::RecommendResponse r;
  r.set_model_version("tiny_color@1");
  r.set_index_version("test-bundle-1");
  v1::ImageTag* tag = r.add_tags();
  tag->set_label("ocean");
  tag->set_score(0.93f);
  tag->set_source("tiny_color");
  tag->add_words("sea");
  tag->add_words("ocean");
  struct Song {
    const char* id;
    const char* title;
    const char* artist;
    float score;
  };
  int rank = 0;
  for (const Song& s : {Song{"sea-01", "The Wide Ocean", "Test Shanty Crew", 0.91f},
                        Song{"sea-02", "Sailor's Boat", "Harbour Band", 0.85f},
                        Song{"fire-01", "Burning Night", "Ember Trio", 0.12f}}) {
    v1::SongMatch* m = r.add_matches();
    m->set_song_id(s.id);
    m->set_title(s.title);
    m->set_artist(s.artist);
    m->set_score(s.score);
    m->set_rank(++rank);
    v1::Explanation* e = m->mutable_explanation();
    e->set_retrieval_score(0.8f);
    e->set_attention_score(0.7f);
    v1::MatchedTag* mt = e->add_matched_tags();
    mt->set_label("ocean");
    mt->set_weight(1.0f);
    mt->set_lyric_word("waves");
    e->set_dense_rank(rank);
    e->set_lexical_rank(rank == 1 ? 0 : rank - 1);
    e->set_lexical_score(rank == 1 ? 0 : 2.5f);
    v1::ChannelWord* dw = e->add_dense_words();
    dw->set_word("shore");
    dw->set_score(0.4f);
    dw->set_count(1);
    if (rank > 1) {
      v1::ChannelWord* lw = e->add_lexical_words();
      lw->set_word("ocean");
      lw->set_score(2.5f);
      lw->set_count(2);
      lw->add_tags("ocean");
    }
    v1::LyricLine* line = e->add_lines();
    line->set_line_number(0);
    line->set_text(std::string("Lyric line of ") + s.id);
    line->set_weight(0.6f);
  }
  return r;
}

}  // namespace

TEST_CASE("StatusCodeName and FormatRpcError") {
  CHECK(StatusCodeName(grpc::StatusCode::OK) == "OK");
  CHECK(StatusCodeName(grpc::StatusCode::INVALID_ARGUMENT) == "INVALID_ARGUMENT");
  CHECK(StatusCodeName(grpc::StatusCode::RESOURCE_EXHAUSTED) == "RESOURCE_EXHAUSTED");
  CHECK(StatusCodeName(grpc::StatusCode::DEADLINE_EXCEEDED) == "DEADLINE_EXCEEDED");
  CHECK(StatusCodeName(grpc::StatusCode::NOT_FOUND) == "NOT_FOUND");
  CHECK(StatusCodeName(grpc::StatusCode::UNAVAILABLE) == "UNAVAILABLE");
  CHECK(StatusCodeName(grpc::StatusCode::FAILED_PRECONDITION) == "FAILED_PRECONDITION");
  CHECK(StatusCodeName(grpc::StatusCode::DATA_LOSS) == "DATA_LOSS");
  CHECK(StatusCodeName(grpc::StatusCode::UNAUTHENTICATED) == "UNAUTHENTICATED");
  CHECK(StatusCodeName(static_cast<grpc::StatusCode>(99)) == "CODE_99");
  CHECK(FormatRpcError(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "image is empty")) ==
        "error: INVALID_ARGUMENT: image is empty");
}

TEST_CASE("SplitList trims and drops empty items") {
  CHECK(SplitList(" rock, ,pop ,, jazz ") == std::vector<std::string>{"rock", "pop", "jazz"});
  CHECK(SplitList("").empty());
  CHECK(SplitList(",,").empty());
  CHECK(SplitList("one") == std::vector<std::string>{"one"});
}

TEST_CASE("JsonQuote escapes what JSON requires") {
  CHECK(JsonQuote("plain") == "\"plain\"");
  CHECK(JsonQuote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(JsonQuote("l1\nl2\tx\r") == "\"l1\\nl2\\tx\\r\"");
  CHECK(JsonQuote(std::string("\x01\x1f", 2)) == "\"\\u0001\\u001f\"");
  CHECK(JsonQuote("caf\xC3\xA9") == "\"caf\xC3\xA9\"");
  // Whatever goes in comes back out of a JSON parser.
  const std::string tricky = "say \"hi\"\\\n\b\f\x02 ok \xE2\x80\x99";
  CHECK(nlohmann::json::parse(JsonQuote(tricky)).get<std::string>() == tricky);
}

TEST_CASE("Truncate counts code points and never splits UTF-8") {
  CHECK(Truncate("hello", 10) == "hello");
  CHECK(Truncate("hello", 5) == "hello");
  CHECK(Truncate("hello world", 8) == "hello...");
  CHECK(Truncate("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 5) ==
        "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9");
  CHECK(Truncate("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 4) == "\xC3\xA9...");
  CHECK(Truncate("abcdef", 2) == "..");
  CHECK(Truncate("abcdef", 0) == "");
}

TEST_CASE("MessageToJson writes proto field names and defaults") {
  std::string json, error;
  REQUIRE(MessageToJson(SampleResponse(), &json, &error));
  CHECK(json.find('\n') == std::string::npos);  // one line
  nlohmann::json j = nlohmann::json::parse(json);
  CHECK(j["model_version"] == "tiny_color@1");
  CHECK(j["index_version"] == "test-bundle-1");
  REQUIRE(j["matches"].size() == 3);
  CHECK(j["matches"][0]["song_id"] == "sea-01");
  CHECK(j["matches"][0]["rank"] == 1);
  CHECK(j["matches"][0]["title"] == "The Wide Ocean");
  CHECK(j["matches"][0]["score"].get<double>() == Approx(0.91));
  CHECK(j["matches"][0]["explanation"]["matched_tags"][0]["lyric_word"] == "waves");
  // Defaults are printed: line_number 0 is present.
  CHECK(j["matches"][0]["explanation"]["lines"][0]["line_number"] == 0);
  CHECK(j["tags"][0]["label"] == "ocean");
  CHECK(j["tags"][0]["words"] == nlohmann::json::array({"sea", "ocean"}));

  REQUIRE(MessageToJson(v1::RecommendResponse(), &json, &error));
  nlohmann::json empty = nlohmann::json::parse(json);
  CHECK(empty["matches"].empty());
  CHECK(empty["model_version"] == "");
}

TEST_CASE("FormatRecommend lists the songs in rank order") {
  const v1::RecommendResponse r = SampleResponse();
  const std::string out = FormatRecommend("photos/beach.jpg", r, false);
  CHECK(absl::StartsWith(out, "== photos/beach.jpg\n"));
  CHECK(absl::StrContains(out, "models: tiny_color@1   index: test-bundle-1"));
  CHECK(absl::StrContains(out, "ocean"));
  CHECK(absl::StrContains(out, "sea, ocean"));
  const size_t a = out.find("The Wide Ocean");
  const size_t b = out.find("Sailor's Boat");
  const size_t c = out.find("Burning Night");
  REQUIRE(a != std::string::npos);
  REQUIRE(b != std::string::npos);
  REQUIRE(c != std::string::npos);
  CHECK(a < b);
  CHECK(b < c);
  CHECK(absl::StrContains(out, "0.9100"));
  CHECK(absl::StrContains(out, "sea-02"));
  // No explanation lines unless asked for.
  CHECK_FALSE(absl::StrContains(out, "matched:"));
  CHECK_FALSE(absl::StrContains(out, "Lyric line of"));
  // Columns line up: every song row has its title at the same offset.
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  std::vector<size_t> title_cols;
  for (const std::string& line : lines) {
    for (const char* t : {"The Wide Ocean", "Sailor's Boat", "Burning Night"}) {
      if (line.find(t) != std::string::npos) title_cols.push_back(line.find(t));
    }
  }
  REQUIRE(title_cols.size() == 3);
  CHECK(title_cols[0] == title_cols[1]);
  CHECK(title_cols[1] == title_cols[2]);
}

TEST_CASE("FormatRecommend with explanations") {
  const std::string out = FormatRecommend("x.png", SampleResponse(), true);
  CHECK(absl::StrContains(out, "matched: ocean 1.000 -> \"waves\""));
  CHECK(absl::StrContains(out, "(retrieval 0.8000, attention 0.7000)"));
  // Which channel found each song, with the lyric words behind its match.
  CHECK(absl::StrContains(out, "found by: dense #1 (shore 0.40); lexical - (BM25 0.00: -)"));
  CHECK(absl::StrContains(out,
                          "found by: dense #2 (shore 0.40); lexical #1 (BM25 2.50: ocean "
                          "2.50 x2)"));
  CHECK(absl::StrContains(out, "0.600  \"Lyric line of sea-01\"  (line 0)"));
  // Each explanation follows its own song.
  CHECK(out.find("Lyric line of sea-01") < out.find("Sailor's Boat"));
  CHECK(out.find("Sailor's Boat") < out.find("Lyric line of sea-02"));
}

TEST_CASE("FormatRecommend with nothing found and awkward values") {
  v1::RecommendResponse empty;
  const std::string none = FormatRecommend("a.jpg", empty, true);
  CHECK(absl::StrContains(none, "models: -   index: -"));
  CHECK(absl::StrContains(none, "tags:\n  (none)\n"));
  CHECK(absl::StrContains(none, "songs:\n  (no songs matched)\n"));

  v1::RecommendResponse r;
  v1::SongMatch* m = r.add_matches();
  m->set_song_id("id-1");
  m->set_title("Line one\nline two\tand a very long title that goes on and on");
  m->set_rank(1);
  const std::string out = FormatRecommend("b\nc.jpg", r, false);
  CHECK(absl::StartsWith(out, "== b c.jpg\n"));
  CHECK(absl::StrContains(out, "Line one line two and a very long tit..."));
  // A title cannot break the table: one header and one row.
  std::vector<std::string> lines = absl::StrSplit(out, '\n');
  int rows = 0;
  for (const std::string& line : lines) rows += absl::StrContains(line, "id-1");
  CHECK(rows == 1);
}

TEST_CASE("FormatSong marks imputed fields and shows the lyrics' mood") {
  v1::Song s;
  s.set_id("snow-03");
  s.set_genre("classical");
  s.set_mood("calm");
  v1::ImputedField* f = s.add_imputed();
  f->set_field("genre");
  f->set_value("classical");
  f->set_confidence(1.0f);
  s.mutable_lyric_mood()->set_valence(-0.1f);
  s.mutable_lyric_mood()->set_arousal(0.1f);
  s.mutable_lyric_mood()->set_impression("sad");
  s.mutable_lyric_mood()->set_scored_words(2);
  const std::string out = FormatSong(s);
  INFO(out);
  CHECK(absl::StrContains(out,
                          "genre:     classical (imputed from similar songs, confidence 1.00)\n"));
  CHECK(absl::StrContains(out, "mood:      calm\n"));
  CHECK(
      absl::StrContains(out, "lyrics mood: sad (valence -0.10, arousal 0.10, 2 lexicon words)\n"));
}

TEST_CASE("FormatSong renders metadata and lyrics") {
  v1::Song s;
  s.set_id("sea-01");
  s.set_title("The Wide Ocean");
  s.set_artist("Test Shanty Crew");
  s.set_genre("folk");
  s.set_duration_seconds(180);
  s.add_tags("sea");
  s.add_tags("calm");
  s.set_lyrics("The ocean waves\n\nMy ship  \n");
  const std::string out = FormatSong(s);
  CHECK(absl::StrContains(out, "id:        sea-01\n"));
  CHECK(absl::StrContains(out, "title:     The Wide Ocean\n"));
  CHECK(absl::StrContains(out, "genre:     folk\n"));
  CHECK(absl::StrContains(out, "mood:      -\n"));
  CHECK(absl::StrContains(out, "duration:  3:00 (180.0 s)\n"));
  CHECK(absl::StrContains(out, "tags:      sea, calm\n"));
  CHECK(absl::EndsWith(out, "lyrics:\n  The ocean waves\n\n  My ship\n"));

  v1::Song bare;
  const std::string b = FormatSong(bare);
  CHECK(absl::StrContains(b, "duration:  -\n"));
  CHECK(absl::EndsWith(b, "lyrics:\n  -\n"));
}

TEST_CASE("FormatInfo renders the server info and models") {
  v1::GetInfoResponse info;
  info.set_server_version("0.1.0");
  info.set_index_version("test-bundle-1");
  info.set_index_type("flat");
  info.set_embedder_id("test-words-16d@1");
  info.set_song_count(14);
  info.set_vocabulary_size(240);
  info.set_dimension(16);
  info.mutable_limits()->set_max_top_k(100);
  v1::ModelInfo* m = info.add_models();
  m->set_name("tiny_color");
  m->set_version("1");
  m->set_kind("classifier");
  m->set_label_count(5);
  m->set_input_width(32);
  m->set_input_height(32);
  m->set_execution("optimized");
  m->set_max_batch(6);
  const std::string out = FormatInfo(info);
  CHECK(absl::StrContains(out, "server version:   0.1.0\n"));
  CHECK(absl::StrContains(out, "songs:            14\n"));
  CHECK(absl::StrContains(out, "dimension:        16\n"));
  CHECK(absl::StrContains(out, "max top_k:        100\n"));
  CHECK(absl::StrContains(out, "tiny_color"));
  CHECK(absl::StrContains(out, "32x32"));
  CHECK(absl::StrContains(out, "optimized"));
  CHECK(absl::StrContains(out, "max batch"));
  CHECK(absl::StrContains(out, "optimized          6"));

  const std::string none = FormatInfo(v1::GetInfoResponse());
  CHECK(absl::StrContains(none, "models:\n  (none)\n"));
  CHECK_FALSE(absl::StrContains(none, "max top_k"));
}

}  // namespace i2s::client
