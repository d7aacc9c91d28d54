#include "core/bundle/song_mood.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

constexpr char kMoodMagic[8] = {'I', '2', 'S', 'M', 'O', 'D', '0', '1'};

bool IsNegator(absl::string_view w) {
  return w == "not" || w == "no" || w == "never" || w == "nor" ||
         (w.size() > 3 && absl::EndsWith(w, "n't"));
}

}  // namespace

// ------------------------------------------------------------ MoodLexicon

absl::StatusOr<MoodLexicon> MoodLexicon::Parse(absl::string_view text, const std::string& name) {
  MoodLexicon lex;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripTrailingAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    auto bad = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("mood lexicon ", name, ":", line_no, ": ", what,
                       " (want 'word<TAB>score', score an integer in -5..5)"));
    };
    const size_t tab = line.find('\t');
    if (tab == absl::string_view::npos) return bad("no tab");
    const absl::string_view word = line.substr(0, tab);
    int score = 0;
    if (word.empty() || word.size() > 64) return bad("empty or over-long word");
    for (char c : word) {
      if (absl::ascii_isupper(static_cast<unsigned char>(c)) ||
          absl::ascii_isspace(static_cast<unsigned char>(c))) {
        return bad(absl::StrCat("word '", word, "' is not lowercase without spaces"));
      }
    }
    if (!absl::SimpleAtoi(line.substr(tab + 1), &score) || score < -5 || score > 5) {
      return bad(absl::StrCat("bad score '", line.substr(tab + 1).substr(0, 16), "'"));
    }
    if (!lex.scores_.emplace(std::string(word), int8_t(score)).second) {
      return bad(absl::StrCat("word '", word, "' is listed twice"));
    }
  }
  if (lex.scores_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("mood lexicon ", name, " holds no words"));
  }
  return lex;
}

absl::StatusOr<MoodLexicon> MoodLexicon::Load(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, int64_t{8} << 20));
  return Parse(text, path);
}

int MoodLexicon::Score(absl::string_view word) const {
  auto it = scores_.find(word);
  return it == scores_.end() ? 0 : it->second;
}

// ------------------------------------------------------------ scoring

int Impression(float valence, float arousal, const MoodOptions& o) {
  const bool high = arousal >= o.arousal_threshold;
  if (valence >= o.valence_threshold) return high ? 2 : 1;   // happy : calm
  if (valence <= -o.valence_threshold) return high ? 4 : 3;  // tense : sad
  return high ? 5 : 1;                                       // lively : calm
}

int ImpressionCode(absl::string_view word) {
  for (int i = 1; i < kImpressionCount; ++i) {
    if (word == kImpressions[i]) return i;
  }
  return -1;
}

LyricMood ScoreLyrics(const std::vector<std::string>& lines, const MoodLexicon& lexicon,
                      const MoodOptions& options) {
  LyricMood m;
  double sum = 0, magnitude = 0;
  int exclaiming = 0, nonblank = 0;
  std::string word;
  for (const std::string& line : lines) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    ++nonblank;
    if (line.find('!') != std::string::npos) ++exclaiming;
    int since_negator = 99;
    auto flush = [&]() {
      // Apostrophes only inside a word ("o'er", "don't"), not quotes.
      while (!word.empty() && word.back() == '\'') word.pop_back();
      size_t first = word.find_first_not_of('\'');
      if (first == std::string::npos) {
        word.clear();
        return;
      }
      if (first > 0) word.erase(0, first);
      ++m.words;
      const int s = lexicon.Score(word);
      if (s != 0) {
        double v = s;
        if (since_negator <= 2) v = -0.5 * v;
        sum += v;
        magnitude += std::abs(s);
        ++m.scored_words;
      }
      since_negator = IsNegator(word) ? 1 : since_negator + 1;
      word.clear();
    };
    for (char c : line) {
      if (absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '\'') {
        word.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
      } else if (!word.empty()) {
        flush();
      }
    }
    if (!word.empty()) flush();
  }
  if (m.scored_words == 0) return m;
  const double denominator = 5.0 * (m.scored_words + std::max(0.0f, options.prior_words));
  m.valence = float(std::clamp(sum / denominator, -1.0, 1.0));
  const double intensity = magnitude / (5.0 * m.scored_words);  // 0.2 .. 1
  const double exclamations = nonblank > 0 ? double(exclaiming) / nonblank : 0;
  m.arousal = float(std::clamp(0.5 * intensity + 0.5 * exclamations, 0.0, 1.0));
  m.impression = Impression(m.valence, m.arousal, options);
  return m;
}

// ------------------------------------------------------------ moods.bin

absl::Status WriteSongMoods(const std::string& path, const std::vector<MoodRecord>& records) {
  std::string out(kMoodMagic, 8);
  const uint64_t n = records.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out.append(reinterpret_cast<const char*>(records.data()), records.size() * sizeof(MoodRecord));
  return WriteFile(path, out);
}

absl::StatusOr<SongMoods> SongMoods::Open(const std::string& path, int64_t song_count) {
  SongMoods s;
  ASSIGN_OR_RETURN(s.file_, MappedFile::Open(path));
  auto bad = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(path, ": ", what));
  };
  const MappedFile& f = s.file_;
  if (f.size() < 16 || std::memcmp(f.data(), kMoodMagic, 8) != 0) return bad("bad header");
  uint64_t n = 0;
  std::memcpy(&n, f.data() + 8, 8);
  if (n != uint64_t(song_count)) {
    return bad(absl::StrCat("holds ", n, " songs, the manifest says ", song_count));
  }
  if (f.size() != 16 + n * sizeof(MoodRecord)) return bad("size mismatch (truncated?)");
  s.n_ = song_count;
  s.records_ = f.data() + 16;
  double sv = 0, sa = 0, svv = 0, saa = 0;
  for (int64_t i = 0; i < song_count; ++i) {
    const MoodRecord r = s.Get(i);
    const bool has = r.flags & kHasLyricMood;
    if (has) {
      ++s.stats_.songs;
      sv += r.valence;
      sa += r.arousal;
      svv += double(r.valence) * r.valence;
      saa += double(r.arousal) * r.arousal;
    }
    if ((r.flags & ~(kHasLyricMood | kGenreImputed | kMoodImputed)) != 0) {
      return bad(absl::StrCat("song ", i, ": unknown flags"));
    }
    if (!(r.valence >= -1 && r.valence <= 1) || !(r.arousal >= 0 && r.arousal <= 1) ||
        r.impression >= kImpressionCount || (has != (r.impression != 0))) {
      return bad(absl::StrCat("song ", i, ": valence, arousal or impression out of range"));
    }
    auto conf_ok = [](float c, bool imputed) { return imputed ? (c > 0 && c <= 1) : c == 0; };
    if (!conf_ok(r.genre_confidence, r.flags & kGenreImputed) ||
        !conf_ok(r.mood_confidence, r.flags & kMoodImputed)) {
      return bad(absl::StrCat("song ", i, ": imputation confidence out of range"));
    }
  }
  if (s.stats_.songs > 0) {
    const double n = double(s.stats_.songs);
    s.stats_.valence_mean = float(sv / n);
    s.stats_.arousal_mean = float(sa / n);
    s.stats_.valence_sd = float(std::sqrt(std::max(0.0, svv / n - (sv / n) * (sv / n))));
    s.stats_.arousal_sd = float(std::sqrt(std::max(0.0, saa / n - (sa / n) * (sa / n))));
  }
  return s;
}

MoodRecord SongMoods::Get(int64_t i) const {
  MoodRecord r;
  std::memcpy(&r, records_ + size_t(i) * sizeof(MoodRecord), sizeof(MoodRecord));
  return r;
}

}  // namespace image2song
