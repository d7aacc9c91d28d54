#include "core/bundle/bundle_update.h"

#include <chrono>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/bundle/embedder.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace image2song {

absl::StatusOr<BundleUpdateStats> UpdateBundle(const BundleUpdateOptions& options,
                                               const WordVectors& words) {
  if (options.base_dir.empty() || options.changes_path.empty() || options.output_dir.empty()) {
    return absl::InvalidArgumentError("base bundle, change file and output are required");
  }
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(auto base, Bundle::Load(options.base_dir, BundleLoadOptions{}));
  const BundleManifest& bm = base->manifest();
  if (bm.embedder_id != words.id() || bm.dim != words.dim()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "base bundle ", options.base_dir, " was embedded with ", bm.embedder_id, " (", bm.dim,
        "-d); the models use ", words.id(), " (", words.dim(), "-d): rebuild it in full"));
  }

  // The changes (bounded by the change file, not by the catalogue).
  CatalogueOptions co = options.catalogue;
  co.allow_deletes = true;
  std::vector<SongRecord> upserts;
  absl::flat_hash_map<std::string, size_t> upsert_at;
  absl::flat_hash_set<std::string> deletes;
  RETURN_IF_ERROR(ReadCatalogue(
      options.changes_path, co,
      [&](SongRecord&& r) -> absl::Status {
        if (r.deleted) {
          deletes.insert(r.id);
        } else {
          upsert_at[r.id] = upserts.size();
          upserts.push_back(std::move(r));
        }
        return absl::OkStatus();
      },
      nullptr));

  BundleUpdateStats stats;
  for (const std::string& id : deletes) {
    if (base->Find(id) < 0) ++stats.unknown_deletes;
  }
  BundleWriterOptions wo;
  wo.output_dir = options.output_dir;
  wo.version = options.version;
  wo.index.type = base->index().type();
  wo.fixed_common = &bm.common;
  wo.trained_like = &base->index();
  wo.lexicon = options.lexicon;
  wo.lexicon_id = options.lexicon_id;
  wo.mood = options.mood;
  wo.imputation = options.imputation;
  const SentenceVectors* base_sentences = base->sentences();
  const bool sentences = base_sentences != nullptr && options.encode_lines != nullptr;
  if (sentences) {
    if (options.sentence_encoder_id != bm.sentence_encoder_id ||
        options.sentence_dim != bm.sentence_dim) {
      return absl::FailedPreconditionError(absl::StrCat(
          "base bundle ", options.base_dir, " has sentence vectors of ", bm.sentence_encoder_id,
          " (", bm.sentence_dim, "-d); the models' encoder is ", options.sentence_encoder_id, " (",
          options.sentence_dim, "-d): rebuild it in full"));
    }
    wo.sentence_dim = bm.sentence_dim;
    wo.sentence_encoder_id = bm.sentence_encoder_id;
  }
  ASSIGN_OR_RETURN(auto writer, BundleWriter::Create(wo, &words));
  if (base_sentences != nullptr && !sentences) {
    I2S_LOG(WARNING) << "update of " << bm.version << ": the new bundle has no "
                     << kSentenceVectorsFile
                     << " (no sentence encoder given: i2s-index --changes --sentence_vectors "
                        "keeps them)";
  }
  std::vector<float> line_vectors;

  // Unchanged songs, in base order, without re-embedding.
  const int dim = bm.dim;
  auto last_log = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < base->size(); ++i) {
    const std::string id(base->id(i));
    if (deletes.contains(id)) {
      ++stats.deleted;
      continue;
    }
    if (upsert_at.contains(id)) {
      ++stats.updated;
      continue;
    }
    SongMeta meta = base->song(i);
    const SongRecord& r = meta;
    EmbeddedSong song;
    song.vector.resize(dim);
    base->index().Reconstruct(i, song.vector.data());
    absl::Span<const LyricToken> tokens = base->tokens(i);
    song.tokens.assign(tokens.begin(), tokens.end());
    song.lines = std::move(meta.lines);
    if (sentences) {
      // The base's 8-bit line vectors, decoded (re-encoding them in the new
      // file reproduces the same codes).
      line_vectors.assign(size_t(base_sentences->lines(i)) * bm.sentence_dim + 1, 0.0f);
      base_sentences->Lines(i, line_vectors.data());
    }
    RETURN_IF_ERROR(writer->Add(r, song, sentences ? line_vectors.data() : nullptr));
    ++stats.kept;
    if (std::chrono::steady_clock::now() - last_log > std::chrono::seconds(5)) {
      last_log = std::chrono::steady_clock::now();
      I2S_LOG(INFO) << "update: " << i + 1 << "/" << base->size() << " base songs copied";
    }
  }
  // Changed and new songs: embedded, then transformed as the base was.
  SongEmbedder embedder(&words);
  for (const SongRecord& r : upserts) {
    EmbeddedSong song = embedder.Embed(r);
    bm.common.Apply(song.vector.data(), dim);
    if (sentences) {
      ASSIGN_OR_RETURN(line_vectors, options.encode_lines(song.lines));
      if (line_vectors.size() != song.lines.size() * size_t(bm.sentence_dim)) {
        return absl::InternalError(absl::StrCat("sentence encoder returned ", line_vectors.size(),
                                                " floats for ", song.lines.size(), " lines"));
      }
      line_vectors.push_back(0.0f);  // never empty, so data() is not null
    }
    RETURN_IF_ERROR(writer->Add(r, song, sentences ? line_vectors.data() : nullptr));
  }
  stats.added = int64_t(upserts.size()) - stats.updated;
  ASSIGN_OR_RETURN(stats.manifest, writer->Finish());
  I2S_LOG(INFO) << absl::StrFormat(
      "update of %s: %d songs kept without re-embedding, %d updated, %d added, "
      "%d deleted (%d unknown ids to delete) -> %s in %.1f s",
      bm.version, stats.kept, stats.updated, stats.added, stats.deleted, stats.unknown_deletes,
      stats.manifest.version,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return stats;
}

}  // namespace image2song
