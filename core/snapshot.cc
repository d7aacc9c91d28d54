#include "core/snapshot.h"

#include <chrono>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

int64_t MsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

}  // namespace

absl::Status CheckCompatible(const ModelSet& models, const Bundle& bundle) {
  const BundleManifest& m = bundle.manifest();
  if (m.embedder_id != models.words().id() || m.dim != models.words().dim() ||
      m.vocabulary_size != models.words().size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "bundle ", m.version, " was built with word vectors '", m.embedder_id, "' (", m.dim, "-d, ",
        m.vocabulary_size, " words) but the models use '", models.words().id(), "' (",
        models.words().dim(), "-d, ", models.words().size(), " words); rebuild the bundle"));
  }
  // Sentence vectors are optional on either side; when both have them they
  // must come from the same encoder.
  const TagPhrases* phrases = models.phrases();
  if (phrases != nullptr && bundle.sentences() != nullptr &&
      (m.sentence_encoder_id != phrases->id() || m.sentence_dim != phrases->dim())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "bundle ", m.version, " has sentence vectors of encoder '", m.sentence_encoder_id, "' (",
        m.sentence_dim, "-d) but the models' sentence encoder is '", phrases->id(), "' (",
        phrases->dim(), "-d); rebuild the bundle with i2s-index --sentence_vectors"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Snapshot>> LoadSnapshot(const SnapshotOptions& options) {
  auto start = std::chrono::steady_clock::now();
  auto models = ModelSet::Load(options.models);
  if (!models.ok()) return WithContext("cannot load models", models.status());
  I2S_LOG(INFO) << "models ready (" << (*models)->version() << ") in " << MsSince(start) << " ms";
  start = std::chrono::steady_clock::now();
  auto snapshot = LoadBundleFor(std::move(*models), options.bundle_dir, options.bundle);
  if (!snapshot.ok()) return snapshot.status();
  const Bundle& bundle = *(*snapshot)->bundle;
  const BundleManifest& bm = bundle.manifest();
  I2S_LOG(INFO) << "loaded bundle " << bm.version << " from " << options.bundle_dir << ": "
                << bm.song_count << " songs, " << bundle.index().Describe() << " index, " << bm.dim
                << "-d, embedder " << bm.embedder_id << ", in " << MsSince(start) << " ms";
  if (const LyricWordTable* t = (*snapshot)->lyric_words.get(); t != nullptr) {
    I2S_LOG(INFO) << "lyric word table: " << t->rows() << " of " << t->distinct()
                  << " distinct lyric words, word lists of " << t->listed_songs() << " of "
                  << bundle.size() << " songs, " << t->bytes() / 1024 << " KiB, built in "
                  << t->build_ms() << " ms";
  }
  return snapshot;
}

absl::StatusOr<std::shared_ptr<const Snapshot>> LoadBundleFor(
    std::shared_ptr<const ModelSet> models, const std::string& dir,
    const BundleLoadOptions& options) {
  auto bundle = Bundle::Load(dir, options);
  if (!bundle.ok()) return WithContext(absl::StrCat("cannot load bundle ", dir), bundle.status());
  if (absl::Status s = CheckCompatible(*models, **bundle); !s.ok()) {
    return WithContext("bundle does not fit the models", s);
  }
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->models = std::move(models);
  snapshot->bundle = std::move(*bundle);
  snapshot->lyric_words = LyricWordTable::Build(*snapshot->bundle, snapshot->models->words());
  return std::shared_ptr<const Snapshot>(std::move(snapshot));
}

}  // namespace image2song
