// Light and colour cues without a model: brightness, saturation, colour
// temperature, colourfulness and sky / water / vegetation proportions,
// turned into tags ("night", "warm", "colourful", ...) by rules that are
// data (a JSON file, see tools/assets/data/colour_cues.json for the defaults and
// their rationale).
//
// Rules file:
//   {"rules": [{"tag": "night", "words": ["night", "dark", "moon"],
//               "when": {"brightness_max": 0.22, "dark_share_min": 0.5}}, ...]}
// Each condition is <feature>_min or <feature>_max. A rule fires when all
// its conditions hold; its score is 0.5 + 0.5 * the smallest normalised
// margin, so images far past the thresholds score near 1.
#ifndef IMAGE2SONG_CORE_IMAGE_COLOUR_CUES_H_
#define IMAGE2SONG_CORE_IMAGE_COLOUR_CUES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/image/image.h"

namespace image2song {

// The colour features work on a thumbnail at most this many pixels on its
// longer side.
inline constexpr int kColourThumbnailSide = 128;

// Features in [0, 1]: brightness (mean V), saturation (mean S), dark_share
// (V < 0.2), bright_share (V > 0.85), warm_share (saturated red..yellow),
// cold_share (saturated cyan..blue), sky_share (blue or bright-grey pixels in
// the top third), water_share (blue pixels in the bottom half),
// vegetation_share (saturated green), colourfulness (Hasler & Suesstrunk,
// divided by 150 and clamped), background_share (plain backdrop connected to
// the border around a subject: an icon, emoji or product shot on a solid
// colour; 0 for photos and for images that are plain all over).
// When there is a backdrop (under 95 % of the image), all other features
// describe the subject only.
std::map<std::string, float> ColourFeatures(const RgbImage& image);

struct CueRule {
  std::string tag;
  std::vector<std::string> words;
  // feature -> (is_min, threshold)
  std::vector<std::pair<std::string, std::pair<bool, float>>> conditions;
};

// Parses a rules file; every condition must name a known feature.
absl::StatusOr<std::vector<CueRule>> LoadCueRules(const std::string& path);

struct CueMatch {
  const CueRule* rule;
  float score;
};
std::vector<CueMatch> MatchCueRules(const std::vector<CueRule>& rules,
                                    const std::map<std::string, float>& features);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_IMAGE_COLOUR_CUES_H_
