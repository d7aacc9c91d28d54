// Incremental bundles: a new bundle from a previous one plus a change file,
// without re-embedding unchanged songs.
//
// The change file is a JSONL catalogue whose records are added (new id) or
// replace the song with that id; {"id": "...", "deleted": true} removes one.
// Unchanged songs keep their metadata, lyric tokens and (transformed) vector
// from the base bundle; only changed and new songs are embedded. The base's
// common component is kept (refit it with a full rebuild now and then), and
// IVF indexes keep their trained lists and codebooks, so the new bundle is
// comparable to the old one. An HNSW graph is rebuilt (FAISS cannot delete
// from it), which dominates the time for large HNSW bundles.
#ifndef IMAGE2SONG_CORE_BUNDLE_BUNDLE_UPDATE_H_
#define IMAGE2SONG_CORE_BUNDLE_BUNDLE_UPDATE_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "core/bundle/bundle.h"
#include "core/bundle/catalogue.h"
#include "core/words/word_vectors.h"

namespace image2song {

struct BundleUpdateOptions {
  std::string base_dir;      // required
  std::string changes_path;  // required
  std::string output_dir;    // required; may equal base_dir (atomic replace)
  std::string version;       // default: as BundleWriter
  CatalogueOptions catalogue;
  // Lyric moods and imputation, as BundleWriterOptions (every song's mood is
  // scored again from its lines; imputed values are imputed again, the base's
  // songs.bin holding the catalogue's).
  const MoodLexicon* lexicon = nullptr;
  std::string lexicon_id;
  MoodOptions mood;
  ImputationOptions imputation;
  // Sentence vectors (sentences.bin): when the base has them and
  // `encode_lines` is set, kept songs' line vectors are copied from the base
  // and changed or new songs' lines are embedded with it (lines.size() x
  // sentence_dim floats); `sentence_encoder_id` must be the base's encoder
  // (FAILED_PRECONDITION otherwise). Without `encode_lines` the new bundle
  // has no sentences.bin (a warning says so).
  std::function<absl::StatusOr<std::vector<float>>(const std::vector<std::string>& lines)>
      encode_lines;
  std::string sentence_encoder_id;
  int sentence_dim = 0;
};

struct BundleUpdateStats {
  int64_t kept = 0;     // reused from the base, not re-embedded
  int64_t updated = 0;  // ids in both: re-embedded
  int64_t added = 0;
  int64_t deleted = 0;
  int64_t unknown_deletes = 0;  // deletions of ids the base does not hold
  BundleManifest manifest;
};

absl::StatusOr<BundleUpdateStats> UpdateBundle(const BundleUpdateOptions& options,
                                               const WordVectors& words);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_BUNDLE_BUNDLE_UPDATE_H_
