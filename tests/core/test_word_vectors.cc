// Tests for core/words/word_vectors.h: the I2SWVEC1 loader (on the generated tiny
// vectors), lookups, SIF weights and the tokenizer.
#include "core/words/word_vectors.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
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

std::string WordsPath() { return RequiredEnv("I2S_TEST_ASSETS") + "/words.i2sv"; }

std::unique_ptr<WordVectors> LoadTiny() {
  auto wv = WordVectors::Load(WordsPath(), "tiny@1");
  INFO(wv.status().ToString());
  REQUIRE(wv.ok());
  return std::move(*wv);
}

double Norm(const float* v, int dim) {
  double s = 0;
  for (int d = 0; d < dim; ++d) s += double(v[d]) * v[d];
  return std::sqrt(s);
}

void PutU32(std::string* data, size_t offset, uint32_t v) { std::memcpy(&(*data)[offset], &v, 4); }

std::vector<std::string> Tok(const std::string& text) {
  std::vector<std::string> out;
  Tokenize(text, &out);
  return out;
}

using Words = std::vector<std::string>;

}  // namespace

TEST_CASE("WordVectors loads the tiny vectors") {
  auto wv = LoadTiny();
  CHECK(wv->size() == 240);
  CHECK(wv->dim() == 16);
  CHECK(wv->id() == "tiny@1");
  // Frequency order: the 27 stopwords first, then the sea cluster.
  CHECK(wv->Find("the") == 0);
  CHECK(wv->Find("sea") == 27);
  CHECK(wv->Word(27) == "sea");
  CHECK(wv->Word(239) == "zz239");
  CHECK(wv->Find("zz239") == 239);
  for (int32_t id : {0, 27, 100, 239}) {
    CHECK(wv->Find(wv->Word(id)) == id);
  }
}

TEST_CASE("WordVectors Find and FindToken") {
  auto wv = LoadTiny();
  CHECK(wv->Find("nosuchword") == WordVectors::kNoWord);
  CHECK(wv->Find("") == WordVectors::kNoWord);
  CHECK(wv->Find("Sea") == WordVectors::kNoWord);  // must be lowercase
  CHECK(wv->FindToken("sea") == wv->Find("sea"));
  // Possessive: the part before the apostrophe.
  REQUIRE(wv->Find("sailor") != WordVectors::kNoWord);
  CHECK(wv->Find("sailor's") == WordVectors::kNoWord);
  CHECK(wv->FindToken("sailor's") == wv->Find("sailor"));
  // Otherwise the word with the apostrophes removed.
  CHECK(wv->FindToken("s'ea") == wv->Find("sea"));
  CHECK(wv->FindToken("nosuch'word") == WordVectors::kNoWord);
  CHECK(wv->FindToken("nosuchword") == WordVectors::kNoWord);
}

TEST_CASE("WordVectors unit vectors have length one") {
  auto wv = LoadTiny();
  for (int32_t id = 0; id < wv->size(); ++id) {
    INFO(wv->Word(id));
    CHECK(Norm(wv->UnitVector(id), wv->dim()) == Approx(1.0).epsilon(1e-5));
    // Same direction as the raw vector.
    const double n = Norm(wv->Vector(id), wv->dim());
    REQUIRE(n > 0);
    for (int d = 0; d < wv->dim(); ++d) {
      CHECK(wv->UnitVector(id)[d] == Approx(wv->Vector(id)[d] / n).margin(1e-6));
    }
  }
}

TEST_CASE("SifWeight increases with the frequency rank") {
  auto wv = LoadTiny();
  for (int32_t id = 1; id < wv->size(); ++id) {
    CHECK(wv->SifWeight(id) > wv->SifWeight(id - 1));
  }
  CHECK(wv->SifWeight(0) > 0.0f);
  CHECK(wv->SifWeight(0) < 0.05f);  // "the"
  CHECK(wv->SifWeight(wv->size() - 1) < 1.0f);
  CHECK(wv->SifWeight(wv->size() - 1) > 0.3f);
}

TEST_CASE("WordVectors rejects corrupt files") {
  const std::string good = ReadWholeFile(WordsPath());
  REQUIRE(good.size() > 100);
  TempDir tmp;
  const std::string path = tmp.File("words.i2sv");

  auto expect_data_loss = [&](const std::string& data, const char* what) {
    WriteWholeFile(path, data);
    auto wv = WordVectors::Load(path, "x");
    INFO(wv.status().ToString());
    CHECK(wv.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(wv.status().message(), path));
    CHECK(absl::StrContains(wv.status().message(), what));
  };

  SECTION("bad magic") {
    std::string data = good;
    data[0] = 'X';
    expect_data_loss(data, "header");
  }
  SECTION("empty file") { expect_data_loss("", "header"); }
  SECTION("shorter than the header") { expect_data_loss(good.substr(0, 10), "header"); }
  SECTION("truncated vectors") { expect_data_loss(good.substr(0, good.size() - 4), "size"); }
  SECTION("trailing garbage") { expect_data_loss(good + "xxxx", "size"); }
  SECTION("unsupported version") {
    std::string data = good;
    PutU32(&data, 8, 2);
    expect_data_loss(data, "version 2");
  }
  SECTION("zero dimension") {
    std::string data = good;
    PutU32(&data, 12, 0);
    expect_data_loss(data, "dimension 0");
  }
  SECTION("word count disagrees with the word list") {
    // 239 words + one more vector's worth of bytes would not match; keep the
    // size consistent by also shrinking the vector block.
    std::string data = good;
    PutU32(&data, 16, 239);
    data.resize(data.size() - 16 * 4);
    expect_data_loss(data, "header says 239");
  }
  SECTION("a non-finite vector") {
    std::string data = good;
    const float inf = std::numeric_limits<float>::infinity();
    std::memcpy(&data[data.size() - 4], &inf, 4);
    WriteWholeFile(path, data);
    auto wv = WordVectors::Load(path, "x");
    CHECK(wv.status().code() == absl::StatusCode::kDataLoss);
    // Names the word (not the file: the check is shared with FromData).
    CHECK(absl::StrContains(wv.status().message(), "word vector of 'zz239' is not finite"));
  }
  SECTION("missing file") {
    auto wv = WordVectors::Load(tmp.File("nope.i2sv"), "x");
    CHECK(wv.status().code() == absl::StatusCode::kNotFound);
    CHECK(absl::StrContains(wv.status().message(), "nope.i2sv"));
  }
}

TEST_CASE("WordVectors::FromData") {
  auto wv = WordVectors::FromData({"alpha", "beta"}, {3, 4, 0, 0, 0, 2}, 3, "mem@1");
  REQUIRE(wv.ok());
  CHECK((*wv)->size() == 2);
  CHECK((*wv)->dim() == 3);
  CHECK((*wv)->id() == "mem@1");
  CHECK((*wv)->Find("beta") == 1);
  CHECK((*wv)->UnitVector(0)[0] == Approx(0.6f));
  CHECK((*wv)->UnitVector(0)[1] == Approx(0.8f));
  CHECK((*wv)->UnitVector(1)[2] == Approx(1.0f));

  auto bad = WordVectors::FromData({"alpha", "beta"}, {1, 2, 3}, 3, "x");
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(WordVectors::FromData({}, {}, 3, "x").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(WordVectors::FromData({"a"}, {1}, 0, "x").status().code() ==
        absl::StatusCode::kInvalidArgument);
  // A zero vector is allowed; its unit vector is zero.
  auto zero = WordVectors::FromData({"z"}, {0, 0}, 2, "x");
  REQUIRE(zero.ok());
  CHECK((*zero)->UnitVector(0)[0] == 0.0f);
}

TEST_CASE("Tokenize splits on punctuation and lowercases") {
  CHECK(Tok("Hello, World!") == Words{"hello", "world"});
  CHECK(Tok("  THE Ocean\tWAVES\n") == Words{"the", "ocean", "waves"});
  CHECK(Tok("") == Words{});
  CHECK(Tok(" ,.;!? ") == Words{});
  CHECK(Tok("end.") == Words{"end"});
}

TEST_CASE("Tokenize keeps inner apostrophes, ASCII and U+2019") {
  CHECK(Tok("don't stop o'er") == Words{"don't", "stop", "o'er"});
  CHECK(Tok("Sailor's boat") == Words{"sailor's", "boat"});
  CHECK(Tok("don\xE2\x80\x99t") == Words{"don't"});
  CHECK(Tok("Sailor\xE2\x80\x99s") == Words{"sailor's"});
  // Leading and trailing apostrophes are quotes, not part of the word.
  CHECK(Tok("'quoted' words' 'tis") == Words{"quoted", "words", "tis"});
  CHECK(Tok("rock \xE2\x80\x99n\xE2\x80\x99 roll") == Words{"rock", "n", "roll"});
  CHECK(Tok("''") == Words{});
  // A cut-off UTF-8 sequence is a separator, not an apostrophe.
  CHECK(Tok("abc\xE2\x80") == Words{"abc"});
}

TEST_CASE("Tokenize keeps digits and splits hyphens and non-ASCII") {
  CHECK(Tok("R2D2 4ever 1999") == Words{"r2d2", "4ever", "1999"});
  CHECK(Tok("rock-and-roll") == Words{"rock", "and", "roll"});
  CHECK(Tok("well\xE2\x80\x94known") == Words{"well", "known"});  // em dash
  CHECK(Tok("caf\xC3\xA9 au lait") == Words{"caf", "au", "lait"});
  CHECK(Tok("under_score") == Words{"under", "score"});
}

TEST_CASE("Tokenize appends to the output") {
  std::vector<std::string> out = {"keep"};
  Tokenize("one two", &out);
  CHECK(out == Words{"keep", "one", "two"});
}

}  // namespace image2song
