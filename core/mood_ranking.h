// Mood-aware ranking (issue 17, item 4): a term that favours songs whose
// lyric mood (core/bundle/song_mood.h, moods.bin) agrees with a target mood:
// the pictures' mood (core/models/image_mood.h) or a mood word the request
// names. It steers; it filters nothing.
//
// Both moods are points in (valence, arousal). The pictures' mood is on the
// image mood model's scale, each axis in [-1, 1]. A song's lyric valence
// (AFINN, mostly within +-0.3) and arousal proxy (0..1) are put on the same
// scale through the catalogue's spread: each axis is the song's z-score over
// the songs with a lyric mood, halved and clamped to [-1, 1] (two standard
// deviations above the catalogue's mean is 1). The agreement of a song with
// the target is their dot product over the two axes, halved:
//   agreement = (v_t v_s + a_t a_s) / 2,  in [-1, 1]
// so a song at the catalogue's mean, or a neutral target, adds nothing, a
// sad target lifts sad songs and lowers happy ones. The ranking adds
//   mood_weight * agreement
// to a candidate's score (core/recommender.h); songs without a lyric mood
// add nothing.
//
// Thread-safety: pure functions.
#ifndef IMAGE2SONG_CORE_MOOD_RANKING_H_
#define IMAGE2SONG_CORE_MOOD_RANKING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/bundle/song_mood.h"
#include "core/models/image_mood.h"

namespace image2song {

// The song's lyric mood on the pictures' scale (above), `stats` the
// catalogue's (SongMoods::stats()); false when the song has no lyric mood or
// the catalogue's spread is 0.
bool SongMoodPoint(const MoodRecord& record, const LyricMoodStats& stats, MoodPoint* out);

// (v_t v_s + a_t a_s) / 2.
float MoodAgreement(const MoodPoint& target, const MoodPoint& song);

// The point of a mood word among the image mood model's words ("calm",
// "happy", ...), case-insensitive; INVALID_ARGUMENT naming the known words
// otherwise.
absl::StatusOr<MoodPoint> MoodWordPoint(const ImageMoodModel& model, absl::string_view word);

// The known mood words, in the model's order.
std::vector<std::string> MoodWords(const ImageMoodModel& model);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_MOOD_RANKING_H_
