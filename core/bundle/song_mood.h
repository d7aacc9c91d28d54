// A song's mood from its lyrics, and the bundle file that stores it with the
// catalogue values imputed from neighbouring songs (core/bundle/imputation.h).
//
// Valence comes from a word lexicon (AFINN-165 by default: 3,382 English
// words scored -5..+5, converted by tools/assets/convert_lexicon.py into
//   # comment lines
//   word<TAB>score           (score an integer in -5..5; words lowercase)
// ). Arousal has no lexicon with a usable licence on npm; it is a documented
// proxy: the lyric's affective intensity (mean |score| of its scored words)
// and its exclamations (share of lines holding '!'). See docs/indexing.md.
//
//   moods.bin  "I2SMOD01" | u64 n | n x MoodRecord (20 bytes each)
//
// Thread-safety: MoodLexicon and SongMoods are immutable after creation and
// safe to share; ScoreLyrics is a pure function.
#ifndef IMAGE2SONG_CORE_BUNDLE_SONG_MOOD_H_
#define IMAGE2SONG_CORE_BUNDLE_SONG_MOOD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "util/file_util.h"

namespace image2song {

inline constexpr char kSongMoodsFile[] = "moods.bin";

class MoodLexicon {
 public:
  // Parses lexicon text; errors name `name`, the line and the problem
  // (INVALID_ARGUMENT).
  static absl::StatusOr<MoodLexicon> Parse(absl::string_view text, const std::string& name);
  // Reads (8 MiB at most) and parses the file at `path`.
  static absl::StatusOr<MoodLexicon> Load(const std::string& path);

  // The word's score (-5..5), or 0 when the lexicon does not hold it.
  // `word` must be lowercase.
  int Score(absl::string_view word) const;
  bool Contains(absl::string_view word) const { return scores_.contains(word); }
  int64_t size() const { return int64_t(scores_.size()); }

 private:
  absl::flat_hash_map<std::string, int8_t> scores_;
};

struct MoodOptions {
  // |valence| below this is neutral. Default: 0.05.
  float valence_threshold = 0.05f;
  // Arousal from this up is lively/happy/tense, below calm/sad. Default:
  // 0.22 (the median of the demo catalogue is 0.215, docs/indexing.md).
  float arousal_threshold = 0.22f;
  // Scored words that count as a prior of neutral words: valence =
  // sum / (5 (n + prior)), so two mild words do not make a song "happy".
  // Default: 2.
  float prior_words = 2;
};

// Impression words, in code order (code 0: none).
inline constexpr const char* kImpressions[] = {"", "calm", "happy", "sad", "tense", "lively"};
inline constexpr int kImpressionCount = 6;

struct LyricMood {
  float valence = 0;     // -1..1
  float arousal = 0;     // 0..1
  int impression = 0;    // index into kImpressions; 0 when no words were scored
  int words = 0;         // lyric words read
  int scored_words = 0;  // of them found in the lexicon
};

// Scores `lines`: words are runs of ASCII letters and apostrophes,
// lowercased; a word preceded (within two words) by not/no/never/nor or a
// word ending in n't has its score flipped and halved.
LyricMood ScoreLyrics(const std::vector<std::string>& lines, const MoodLexicon& lexicon,
                      const MoodOptions& options);
// The impression word for (valence, arousal).
int Impression(float valence, float arousal, const MoodOptions& options);
// Code of an impression word, or -1.
int ImpressionCode(absl::string_view word);

// What moods.bin holds for a song.
struct MoodRecord {
  float valence = 0;
  float arousal = 0;
  // Confidence of the imputed genre / mood (0 when the catalogue's).
  float genre_confidence = 0;
  float mood_confidence = 0;
  uint16_t scored_words = 0;
  uint8_t impression = 0;
  // kHasLyricMood | kGenreImputed | kMoodImputed.
  uint8_t flags = 0;
};
static_assert(sizeof(MoodRecord) == 20, "moods.bin records are 20 bytes");
inline constexpr uint8_t kHasLyricMood = 1, kGenreImputed = 2, kMoodImputed = 4;

// Writes moods.bin.
absl::Status WriteSongMoods(const std::string& path, const std::vector<MoodRecord>& records);

// Mean and standard deviation of the lyric valence and arousal over the
// songs that have a lyric mood (kHasLyricMood).
struct LyricMoodStats {
  int64_t songs = 0;
  float valence_mean = 0, valence_sd = 0;
  float arousal_mean = 0, arousal_sd = 0;
};

// moods.bin, memory-mapped and checked.
class SongMoods {
 public:
  // Errors are DATA_LOSS naming the file: bad header, wrong song count or
  // size, values out of range, unknown flags or impressions.
  static absl::StatusOr<SongMoods> Open(const std::string& path, int64_t song_count);
  SongMoods() = default;
  SongMoods(SongMoods&&) = default;
  SongMoods& operator=(SongMoods&&) = default;

  MoodRecord Get(int64_t i) const;
  int64_t size() const { return n_; }
  // Computed by Open (mood-aware ranking puts songs on the pictures' scale
  // with them: core/mood_ranking.h).
  const LyricMoodStats& stats() const { return stats_; }

 private:
  MappedFile file_;
  int64_t n_ = 0;
  const char* records_ = nullptr;
  LyricMoodStats stats_;
};

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_BUNDLE_SONG_MOOD_H_
