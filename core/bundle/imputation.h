// Catalogue gap filling by retrieval: a song without a value of a field
// (genre, mood) gets the value its nearest songs in lyric-embedding space
// hold, by a vote, with a confidence.
//
// Thread-safety: pure functions.
#ifndef IMAGE2SONG_CORE_BUNDLE_IMPUTATION_H_
#define IMAGE2SONG_CORE_BUNDLE_IMPUTATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/index/song_index.h"

namespace image2song {

struct ImputationOptions {
  // Neighbours holding a value that vote; 0 turns imputation off.
  // Default: 10.
  int k = 10;
  // "similarity": each neighbour votes with its cosine (negative cosines
  // vote 0); "majority": one vote each. Default: "similarity".
  std::string vote = "similarity";
  // A song keeps no value when the winner's share of the votes is below
  // this. Default: 0 (always impute when a neighbour has a value).
  float min_confidence = 0;
};

// Checks the options (k in 0..1000, vote known, min_confidence in [0, 1]).
absl::Status CheckImputationOptions(const ImputationOptions& options);

struct ImputedValue {
  std::string value;     // empty: nothing imputed
  float confidence = 0;  // the winner's share of the votes, (0, 1]
};

// For every song whose `known[i]` is empty, the vote of its k nearest songs
// (searched in `index`, song number = index id, among the songs with a
// non-empty value only) over their values. Songs with a value get an empty
// ImputedValue. Ties go to the value of the nearer song. `known` has
// index.size() entries.
absl::StatusOr<std::vector<ImputedValue>> ImputeByNeighbours(const SongIndex& index,
                                                             const std::vector<std::string>& known,
                                                             const ImputationOptions& options);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_BUNDLE_IMPUTATION_H_
