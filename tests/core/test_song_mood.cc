// Tests for core/bundle/song_mood.h: the mood lexicon (parsing and its
// errors), lyric scoring (sign of valence, negation, arousal, impressions) and
// moods.bin (round trip, damaged files refused).
#include "core/bundle/song_mood.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using ::image2song::testing::ReadWholeFile;
using ::image2song::testing::TempDir;
using ::image2song::testing::WriteWholeFile;

MoodLexicon Lexicon() {
  auto lex = MoodLexicon::Parse(
      "# a comment\n"
      "love\t3\nhappy\t3\njoy\t3\nsad\t-2\nlonely\t-2\ndie\t-3\nhate\t-3\ncalm\t2\n"
      "o'er\t1\n\n",
      "test.tsv");
  INFO(lex.status().ToString());
  REQUIRE(lex.ok());
  return std::move(*lex);
}

TEST_CASE("MoodLexicon parses word<TAB>score lines") {
  MoodLexicon lex = Lexicon();
  CHECK(lex.size() == 9);
  CHECK(lex.Score("love") == 3);
  CHECK(lex.Score("die") == -3);
  CHECK(lex.Score("o'er") == 1);
  CHECK(lex.Score("unknown") == 0);
  CHECK(lex.Contains("sad"));
  CHECK_FALSE(lex.Contains("Sad"));
}

TEST_CASE("MoodLexicon refuses bad files with the line and the problem") {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c :
       {Case{"love 3\n", "test.tsv:1: no tab"},
        Case{"love\t3\nhate\tbad\n", "test.tsv:2: bad score 'bad'"},
        Case{"love\t6\n", "bad score '6'"}, Case{"love\t3\nlove\t2\n", "'love' is listed twice"},
        Case{"Love\t3\n", "not lowercase"}, Case{"\t3\n", "empty or over-long word"},
        Case{"# only a comment\n", "holds no words"}}) {
    INFO(c.text);
    auto lex = MoodLexicon::Parse(c.text, "test.tsv");
    REQUIRE_FALSE(lex.ok());
    CHECK(lex.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(lex.status().message(), c.message));
  }
  auto missing = MoodLexicon::Load("/nonexistent/lexicon.tsv");
  CHECK_FALSE(missing.ok());
}

TEST_CASE("ScoreLyrics: known words give the sign of valence") {
  MoodLexicon lex = Lexicon();
  MoodOptions o;
  const LyricMood happy = ScoreLyrics({"I love you, my joy", "Happy are we"}, lex, o);
  CHECK(happy.valence > 0);
  CHECK(happy.scored_words == 3);
  CHECK(happy.words == 8);
  CHECK(happy.impression != 0);

  const LyricMood sad = ScoreLyrics({"So lonely and sad", "I will die"}, lex, o);
  CHECK(sad.valence < 0);
  CHECK((sad.impression == ImpressionCode("sad") || sad.impression == ImpressionCode("tense")));

  // Negation flips (and halves) a score within two words.
  const LyricMood negated = ScoreLyrics({"I do not love this"}, lex, o);
  CHECK(negated.valence < 0);
  const LyricMood contraction = ScoreLyrics({"I don't love the sea"}, lex, o);
  CHECK(contraction.valence < 0);

  // Words are matched lowercased, inner apostrophes kept, quotes stripped.
  const LyricMood quoted = ScoreLyrics({"'LOVE' o'er the hill"}, lex, o);
  CHECK(quoted.scored_words == 2);

  // No scored word: no mood.
  const LyricMood none = ScoreLyrics({"The boat on the water", ""}, lex, o);
  CHECK(none.scored_words == 0);
  CHECK(none.impression == 0);
  CHECK(none.valence == 0);
  CHECK(ScoreLyrics({}, lex, o).impression == 0);
}

TEST_CASE("ScoreLyrics: arousal rises with exclamations and strong words") {
  MoodLexicon lex = Lexicon();
  MoodOptions o;
  const LyricMood plain = ScoreLyrics({"calm is the night", "calm the sea"}, lex, o);
  const LyricMood loud = ScoreLyrics({"calm is the night!", "calm the sea!"}, lex, o);
  CHECK(loud.arousal > plain.arousal);
  CHECK(loud.valence == plain.valence);
  const LyricMood strong = ScoreLyrics({"hate hate hate"}, lex, o);
  const LyricMood mild = ScoreLyrics({"sad sad sad"}, lex, o);
  CHECK(strong.arousal > mild.arousal);
  for (const LyricMood& m : {plain, loud, strong, mild}) {
    CHECK(m.arousal >= 0);
    CHECK(m.arousal <= 1);
    CHECK(m.valence >= -1);
    CHECK(m.valence <= 1);
  }
}

TEST_CASE("Impression words by valence and arousal") {
  MoodOptions o;
  CHECK(std::string(kImpressions[Impression(0.5f, 0.9f, o)]) == "happy");
  CHECK(std::string(kImpressions[Impression(0.5f, 0.1f, o)]) == "calm");
  CHECK(std::string(kImpressions[Impression(-0.5f, 0.1f, o)]) == "sad");
  CHECK(std::string(kImpressions[Impression(-0.5f, 0.9f, o)]) == "tense");
  CHECK(std::string(kImpressions[Impression(0.0f, 0.9f, o)]) == "lively");
  CHECK(std::string(kImpressions[Impression(0.0f, 0.1f, o)]) == "calm");
  CHECK(ImpressionCode("tense") == 4);
  CHECK(ImpressionCode("angry") == -1);
}

TEST_CASE("moods.bin round trip, damaged files refused") {
  TempDir tmp;
  const std::string path = tmp.File("moods.bin");
  std::vector<MoodRecord> records(3);
  records[0].valence = 0.4f;
  records[0].arousal = 0.3f;
  records[0].impression = 2;
  records[0].scored_words = 7;
  records[0].flags = kHasLyricMood;
  records[1].flags = kGenreImputed | kMoodImputed;
  records[1].genre_confidence = 1.0f;
  records[1].mood_confidence = 0.6f;
  REQUIRE(WriteSongMoods(path, records).ok());
  {
    auto moods = SongMoods::Open(path, 3);
    INFO(moods.status().ToString());
    REQUIRE(moods.ok());
    CHECK(moods->size() == 3);
    const MoodRecord a = moods->Get(0), b = moods->Get(1), c = moods->Get(2);
    CHECK(a.valence == 0.4f);
    CHECK(a.arousal == 0.3f);
    CHECK(a.impression == 2);
    CHECK(a.scored_words == 7);
    CHECK(a.flags == kHasLyricMood);
    CHECK(b.flags == (kGenreImputed | kMoodImputed));
    CHECK(b.genre_confidence == 1.0f);
    CHECK(b.mood_confidence == 0.6f);
    CHECK(c.flags == 0);
  }
  const std::string good = ReadWholeFile(path);
  auto refused = [&](const std::string& data, int64_t n) {
    WriteWholeFile(path, data);
    auto moods = SongMoods::Open(path, n);
    REQUIRE_FALSE(moods.ok());
    CHECK(moods.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(moods.status().message(), "moods.bin"));
  };
  refused(good, 4);                             // count differs from the manifest
  refused(good.substr(0, good.size() - 1), 3);  // truncated
  refused("I2SXXX01" + good.substr(8), 3);      // magic
  std::string bad_flags = good;
  bad_flags[16 + 19] = char(0x80);  // song 0's flags
  refused(bad_flags, 3);
  std::string bad_confidence = good;
  bad_confidence[16 + 20 + 19] = 0;  // song 1: confidences without flags
  refused(bad_confidence, 3);
  // Every flipped byte is refused or harmless.
  for (size_t i = 0; i < good.size(); ++i) {
    std::string data = good;
    data[i] ^= 0x5a;
    WriteWholeFile(path, data);
    auto moods = SongMoods::Open(path, 3);
    if (moods.ok()) {
      for (int64_t s = 0; s < 3; ++s) {
        const MoodRecord r = moods->Get(s);
        CHECK(r.impression < kImpressionCount);
        CHECK(r.valence >= -1);
        CHECK(r.valence <= 1);
      }
    }
  }
}

}  // namespace
}  // namespace image2song
