// Tests for core/text/sentencepiece.h on a tiny hand-written vocabulary (no
// downloads). The expected ids are what the library itself gives for the same
// vocabulary: @energetic-ai/embeddings 0.2.0,
//   new EmbeddingsModel({vocabulary: kTiny, model: null}).tokenizer.encode(text)
// run in Node 20, including its quirks (ties go to the later start; a best
// score of exactly 0 is replaced by any later arc; the step back is the
// piece's UTF-16 length; the later of two equal pieces wins).
#include "core/text/sentencepiece.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using ::image2song::testing::TempDir;
using ::image2song::testing::WriteWholeFile;
using Ids = std::vector<int32_t>;

// "▁" + s (U+2581, the word-boundary marker).
std::string M(const std::string& s) { return "\xE2\x96\x81" + s; }

std::vector<SentencePieceTokenizer::Piece> Tiny() {
  return {{"\xEF\xBF\xBD", 0},       // 0 unknown (U+FFFD)
          {"<s>", 0},                // 1
          {"</s>", 0},               // 2
          {"extra_token_id_1", 0},   // 3
          {"extra_token_id_2", 0},   // 4
          {"extra_token_id_3", 0},   // 5
          {M("the"), -2},            // 6
          {M("a"), -3},              // 7
          {M("cat"), -4},            // 8
          {M("c"), -5},              // 9
          {"at", -3.5},              // 10 (replaced by id 19)
          {"s", -2.5},               // 11
          {M(""), -6},               // 12 the marker alone
          {"c", -7},                 // 13
          {"a", -7},                 // 14
          {"t", -7},                 // 15
          {M("The"), -3},            // 16
          {"fi", -4},                // 17
          {"\xF0\x9F\x8E\xB5", -1},  // 18 U+1F3B5 (two UTF-16 units)
          {"at", -9},                // 19 duplicate: wins over 10
          {M("x"), -1},              // 20
          {"y", -1},                 // 21
          {"xy", -1},                // 22
          {M("z"), 1},               // 23 positive, as ':30' in the real vocabulary
          {"zw", -3},                // 24
          {"w", -1},                 // 25
          {"wv", -1},                // 26
          {"v", -5}};                // 27
}

std::unique_ptr<SentencePieceTokenizer> MakeTiny() {
  auto t = SentencePieceTokenizer::FromPieces(Tiny());
  INFO(t.status().ToString());
  REQUIRE(t.ok());
  return std::move(*t);
}

TEST_CASE("normalisation: NFKC, a marker in front and for each space") {
  CHECK(SentencePieceTokenizer::Normalize("") == "");
  CHECK(SentencePieceTokenizer::Normalize("the cat") == M("the") + M("cat"));
  // fullwidth letters and the fi ligature are compatibility forms; no lowercasing
  CHECK(SentencePieceTokenizer::Normalize("\xEF\xBD\x94\xEF\xBD\x88\xEF\xBD\x85 \xEF\xAC\x81") ==
        M("the") + M("fi"));
  CHECK(SentencePieceTokenizer::Normalize("Cat") == M("Cat"));
  // e + combining acute composes to U+00E9; a tab stays a tab
  CHECK(SentencePieceTokenizer::Normalize("e\xCC\x81\t") == M("\xC3\xA9\t"));
  // invalid UTF-8 becomes U+FFFD
  CHECK(SentencePieceTokenizer::Normalize("a\xFF") == M("a\xEF\xBF\xBD"));
}

TEST_CASE("segmentation equals the library's on the tiny vocabulary") {
  auto t = MakeTiny();
  CHECK(t->size() == 28);
  const std::vector<std::pair<std::string, Ids>> cases = {
      {"the cat", {6, 8}},
      {"cats", {8, 11}},
      {"The cat", {16, 8}},  // cased pieces: no lowercasing
      {"", {}},
      {"dog", {12, 0}},       // unknown code points merge into one id 0
      {"at", {7, 15}},        // "at" has the later duplicate's score (-9)
      {"xy", {20, 21}},       // tie (-2 both ways): the later start wins
      {"zwv", {23, 25, 27}},  // best exactly 0 is replaced by a worse arc
      {"\xEF\xBD\x94\xEF\xBD\x88\xEF\xBD\x85 \xEF\xAC\x81", {6, 12, 0}},  // "ｔｈｅ ﬁ"
      {"\xF0\x9F\x8E\xB5", {18}},  // the step back of a non-BMP piece is 2: "▁" dropped
      {"a \xF0\x9F\x90\x88\xF0\x9F\x90\x88 cat", {7, 12, 0, 8}},
      {"  cat  ", {12, 12, 8, 12, 12}},
      {"the\tcat", {6, 0, 13, 19}},
      {"Cafe\xCC\x81", {12, 0, 14, 0}},
  };
  for (const auto& [text, want] : cases) {
    INFO("text: '" << text << "'");
    CHECK(t->Encode(text) == want);
  }
}

TEST_CASE("long and hostile input") {
  auto t = MakeTiny();
  std::string many;
  for (int i = 0; i < 2000; ++i) many += "the cat ";
  const Ids ids = t->Encode(many);
  REQUIRE(ids.size() == 4001);  // "▁the ▁cat" x 2000 and the trailing "▁"
  CHECK(ids[0] == 6);
  CHECK(ids[1] == 8);
  CHECK(ids.back() == 12);
  const std::string bytes("\x00\x01\xC3\x28\xF0\x9F\x8E\xB5 \xED\xA0\x80", 11);
  for (int32_t id : t->Encode(bytes)) {
    CHECK(id >= 0);
    CHECK(id < t->size());
  }
}

TEST_CASE("vocabulary file: load and refusals") {
  TempDir dir;
  std::string text = "# i2s-sentencepiece-vocab 1\n# comment\n";
  for (const auto& p : Tiny()) text += std::to_string(p.score) + "\t" + p.text + "\n";
  const std::string path = dir.path() + "/vocab.txt";
  WriteWholeFile(path, text);
  auto t = SentencePieceTokenizer::Load(path);
  INFO(t.status().ToString());
  REQUIRE(t.ok());
  CHECK((*t)->size() == 28);
  CHECK((*t)->Encode("zwv") == Ids{23, 25, 27});
  CHECK((*t)->piece(8).text == M("cat"));

  WriteWholeFile(path, "not a vocabulary\n-1\ta\n");
  auto bad = SentencePieceTokenizer::Load(path);
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(bad.status().message(), "not a vocabulary file"));

  WriteWholeFile(path, "# i2s-sentencepiece-vocab 1\nminus one\ta\n");
  CHECK(absl::StrContains(SentencePieceTokenizer::Load(path).status().message(),
                          ":2: expected score<TAB>piece"));
  const std::string reserved = "# i2s-sentencepiece-vocab 1\n0\tu\n0\ts\n0\t/s\n0\t1\n0\t2\n0\t3\n";
  WriteWholeFile(path, reserved + "-1\ta\xFF\n");
  CHECK(absl::StrContains(SentencePieceTokenizer::Load(path).status().message(),
                          "piece 6 is not UTF-8"));
  WriteWholeFile(path, reserved + "-1\t\n");
  CHECK(
      absl::StrContains(SentencePieceTokenizer::Load(path).status().message(), "piece 6 is empty"));
  WriteWholeFile(path, "# i2s-sentencepiece-vocab 1\n0\ta\n");  // fewer than 6 reserved
  CHECK(absl::StrContains(SentencePieceTokenizer::Load(path).status().message(),
                          "1 pieces with 6 reserved"));
  WriteWholeFile(path, reserved);  // only reserved pieces: every text is unknown
  auto only = SentencePieceTokenizer::Load(path);
  REQUIRE(only.ok());
  CHECK((*only)->Encode("any text") == Ids{0});
  CHECK(SentencePieceTokenizer::Load(dir.path() + "/missing.txt").status().code() ==
        absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace image2song
