// Builds the Recommend response from a Recommendation (kept apart from the
// service so that the microbenchmarks time it alone).
#ifndef IMAGE2SONG_SERVER_RESPONSE_H_
#define IMAGE2SONG_SERVER_RESPONSE_H_

#include "core/recommender.h"
#include "image2song/v1/image2song.pb.h"

namespace image2song {

// Tags, ranked matches (with explanations when `explain`), model and index
// versions.
void FillRecommendResponse(const Recommendation& rec, const Snapshot& snapshot,
                           bool explain, image2song::v1::RecommendResponse* response);

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_RESPONSE_H_
