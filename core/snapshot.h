// What a request runs on: a loaded, mutually compatible set of models and
// index bundle. Requests hold a shared_ptr<const Snapshot>; a reload builds
// a new one and swaps it in (server/admin.h).
#ifndef IMAGE2SONG_CORE_SNAPSHOT_H_
#define IMAGE2SONG_CORE_SNAPSHOT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/bundle/bundle.h"
#include "core/lyric_word_table.h"
#include "core/models/model_set.h"

namespace image2song {

struct Snapshot {
  std::shared_ptr<const ModelSet> models;
  std::shared_ptr<const Bundle> bundle;
  // The bundle's lyric words' vectors in one block (LoadBundleFor builds
  // it); null: the rerank reads the models' word table.
  std::shared_ptr<const LyricWordTable> lyric_words;
};

// Fails (FAILED_PRECONDITION) when the bundle was built with other word
// vectors than the models use, or when both have sentence vectors from
// different encoders (either side without them is fine: no sentence
// attention).
absl::Status CheckCompatible(const ModelSet& models, const Bundle& bundle);

struct SnapshotOptions {
  // models.manifest_path is required.
  ModelSetOptions models;
  // The bundle directory. Required.
  std::string bundle_dir;
  BundleLoadOptions bundle;
};

// Loads the models, then the bundle, and checks that they fit; logs what was
// loaded and how long it took. Errors say which part failed ("cannot load
// models: ...", "cannot load bundle DIR: ...", "bundle does not fit the
// models: ...") with the part's status code.
absl::StatusOr<std::shared_ptr<const Snapshot>> LoadSnapshot(const SnapshotOptions& options);

// `models` with the bundle in `dir` (a bundle swap keeps the models): loads
// and checks it; logs nothing (the caller says what it swapped).
absl::StatusOr<std::shared_ptr<const Snapshot>> LoadBundleFor(
    std::shared_ptr<const ModelSet> models, const std::string& dir,
    const BundleLoadOptions& options);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_SNAPSHOT_H_
