#include "core/mood_ranking.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace image2song {

bool SongMoodPoint(const MoodRecord& record, const LyricMoodStats& scale, MoodPoint* out) {
  if (!(record.flags & kHasLyricMood) || !(scale.valence_sd > 0) || !(scale.arousal_sd > 0)) {
    return false;
  }
  out->valence =
      std::clamp((record.valence - scale.valence_mean) / (2 * scale.valence_sd), -1.0f, 1.0f);
  out->arousal =
      std::clamp((record.arousal - scale.arousal_mean) / (2 * scale.arousal_sd), -1.0f, 1.0f);
  return true;
}

float MoodAgreement(const MoodPoint& target, const MoodPoint& song) {
  return (target.valence * song.valence + target.arousal * song.arousal) / 2;
}

std::vector<std::string> MoodWords(const ImageMoodModel& model) {
  std::vector<std::string> words;
  for (const MoodWord& w : model.words) words.push_back(w.word);
  return words;
}

absl::StatusOr<MoodPoint> MoodWordPoint(const ImageMoodModel& model, absl::string_view word) {
  const std::string lower = absl::AsciiStrToLower(word);
  for (const MoodWord& w : model.words) {
    if (w.word == lower) return w.point;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown mood '", word, "': the mood model knows ",
                                                 absl::StrJoin(MoodWords(model), ", ")));
}

}  // namespace image2song
