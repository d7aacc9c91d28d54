// Responses from core types: Recommend's from a Recommendation (kept apart
// from the service so that the microbenchmarks time it alone), GetSong's
// song, GetInfo's index and models.
#ifndef IMAGE2SONG_SERVER_RESPONSE_H_
#define IMAGE2SONG_SERVER_RESPONSE_H_

#include "core/recommender.h"
#include "image2song/v1/image2song.pb.h"

namespace image2song {

// Tags, ranked matches (with explanations when `explain`), model and index
// versions.
void FillRecommendResponse(const Recommendation& rec, const Snapshot& snapshot, bool explain,
                           image2song::v1::RecommendResponse* response);

// One song's metadata and lyrics.
void FillSong(const SongMeta& song, image2song::v1::Song* out);
// Song `i` of `bundle`: FillSong, then its lyric mood and the genre and mood
// imputed from its neighbours (moods.bin), marked in `imputed`.
void FillBundleSong(const Bundle& bundle, int64_t i, image2song::v1::Song* out);

// The snapshot's index (version, embedder, songs, vocabulary, dimension,
// type) and models.
void FillSnapshotInfo(const Snapshot& snapshot, image2song::v1::GetInfoResponse* response);

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_RESPONSE_H_
