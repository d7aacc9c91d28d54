// Index bundles: what i2s-index writes and i2s-server loads. A bundle is a
// directory holding
//   manifest.json  format version, bundle version, embedder id, dimension,
//                  counts, index type, common component, per-file sha256
//   songs.faiss    FAISS index of the song vectors (id = song number)
//   songs.bin, columns.bin, columns.json
//                  song metadata, lyric lines, filter columns and the id
//                  table, memory-mapped (core/bundle/song_store.h)
//   tokens.bin     per song the lyric word ids (+ line numbers) for attention:
//                  "I2STOK01" | u64 n | u64 offsets[n+1] | {u32 word, u32 line}*
//   lexical.bin    the lexical channel: an inverted index over the same word
//                  ids, BM25-scored, memory-mapped (core/index/lexical_index.h)
//   cooccur.bin    optional: per lyric word the words lyrics use with it
//                  (normalised PMI, core/index/cooccurrence.h); a bundle
//                  without it (format 3 before it, or built with
//                  --cooccurrence_neighbours=0) loads and expands nothing
//   sentences.bin  optional: per lyric line and per song a sentence vector
//                  (8-bit, core/index/sentence_vectors.h), written by
//                  i2s-index --sentence_vectors; the manifest then names the
//                  encoder ("sentence_encoder": {"id", "dim"})
//   moods.bin      optional: per song the lyrics' valence, arousal and
//                  impression word (from a word lexicon), and which genre and
//                  mood values were imputed from neighbouring songs, with
//                  their confidence (core/bundle/song_mood.h,
//                  core/bundle/imputation.h); the imputed values themselves
//                  are in columns.bin, the catalogue's in songs.bin
// Format 3 added lexical.bin; a bundle of an older format is refused with a
// message to re-run i2s-index.
// BundleWriter writes into a temporary sibling directory and renames it into
// place, so a reader never sees half a bundle.
#ifndef IMAGE2SONG_CORE_BUNDLE_BUNDLE_H_
#define IMAGE2SONG_CORE_BUNDLE_BUNDLE_H_

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/bundle/catalogue.h"
#include "core/bundle/embedder.h"
#include "core/bundle/imputation.h"
#include "core/bundle/song_mood.h"
#include "core/bundle/song_store.h"
#include "core/index/cooccurrence.h"
#include "core/index/lexical_index.h"
#include "core/index/sentence_vectors.h"
#include "core/index/song_index.h"
#include "core/words/word_vectors.h"
#include "util/file_util.h"

namespace image2song {

inline constexpr int kBundleFormatVersion = 3;

struct FileDigest {
  std::string sha256;
  int64_t bytes = 0;
};

struct BundleManifest {
  int format_version = kBundleFormatVersion;
  std::string version;
  std::string created_at;
  std::string embedder_id;
  int dim = 0;
  int64_t song_count = 0;
  int64_t vocabulary_size = 0;
  std::string index_type;
  int64_t skipped_records = 0;
  CommonComponent common;
  // The sentence encoder of sentences.bin (dim 0: the bundle has none).
  std::string sentence_encoder_id;
  int sentence_dim = 0;
  // moods.bin: the lexicon's id (empty: no lyric moods), the imputation
  // settings and how many values were imputed ("mood" in the manifest).
  std::string mood_lexicon_id;
  ImputationOptions imputation;
  int64_t imputed_genres = 0;
  int64_t imputed_moods = 0;
  std::map<std::string, FileDigest> files;
};

struct BundleLoadOptions {
  // Verify every file's sha256 against the manifest. Default: true.
  bool verify_checksums = true;
  SongIndexOptions index;
  // BM25 parameters and the postings budget of the lexical channel.
  LexicalIndexOptions lexical;
};

// Thread-safety: immutable after Load(); everything is safe to call
// concurrently.
class Bundle {
 public:
  static absl::StatusOr<std::unique_ptr<Bundle>> Load(const std::string& dir,
                                                      const BundleLoadOptions& options);

  const BundleManifest& manifest() const { return manifest_; }
  const std::string& dir() const { return dir_; }
  int64_t size() const { return store_.size(); }
  // Decoded metadata and lyric lines of song `i` (a copy).
  SongMeta song(int64_t i) const { return store_.Get(i); }
  absl::string_view id(int64_t i) const { return store_.Id(i); }
  uint32_t line_count(int64_t i) const { return store_.LineCount(i); }
  // Song number of `id`, or -1. O(1).
  int64_t Find(absl::string_view id) const { return store_.Find(id); }
  // Bitmap of the songs passing `filters` (bit i of byte i/8). Genre and
  // mood filters match imputed values too unless
  // filters.catalogue_values_only.
  std::vector<uint8_t> Select(const Filters& filters, int64_t* kept) const;
  // Song `i`'s genre or mood (kGenreColumn, kMoodColumn) as filters see it:
  // the catalogue's value or the imputed one, lowercased.
  const std::string& column_value(int64_t i, int column) const {
    return store_.ColumnValue(i, column);
  }
  // Lyric mood and imputation marks (moods.bin), or null when the bundle
  // has none.
  const SongMoods* moods() const { return has_moods_ ? &moods_ : nullptr; }
  absl::Span<const LyricToken> tokens(int64_t i) const;
  const SongIndex& index() const { return *index_; }
  // The lexical channel over the songs' attention tokens.
  const LexicalIndex& lexical() const { return lexical_; }
  // The words lyrics use together (cooccur.bin), or null when the bundle
  // has none.
  const CooccurrenceTable* cooccurrence() const {
    return has_cooccurrence_ ? &cooccurrence_ : nullptr;
  }
  // The lyric lines' and songs' sentence vectors (sentences.bin), or null
  // when the bundle has none.
  const SentenceVectors* sentences() const { return has_sentences_ ? &sentences_ : nullptr; }

 private:
  Bundle() = default;
  std::string dir_;
  BundleManifest manifest_;
  SongStore store_;
  MappedFile tokens_file_;
  const uint64_t* token_offsets_ = nullptr;
  const LyricToken* tokens_ = nullptr;
  std::unique_ptr<SongIndex> index_;
  LexicalIndex lexical_;
  CooccurrenceTable cooccurrence_;
  bool has_cooccurrence_ = false;
  SentenceVectors sentences_;
  bool has_sentences_ = false;
  SongMoods moods_;
  bool has_moods_ = false;
};

struct BundleWriterOptions {
  // Bundle directory to create or replace. Required.
  std::string output_dir;
  // Bundle version; default: "<UTC timestamp>-<first 8 hex of content sha>".
  std::string version;
  SongIndexOptions index;
  // Songs sampled to train IVF indexes. Default: 200000.
  int64_t train_size = 200000;
  // Incremental builds (core/bundle/bundle_update.h): the common component is kept
  // from the base bundle and the vectors given to Add() are final (already
  // transformed); an IVF index reuses `trained_like`'s lists and codebooks.
  const CommonComponent* fixed_common = nullptr;
  const SongIndex* trained_like = nullptr;
  // cooccur.bin (neighbours 0: none).
  CooccurrenceOptions cooccurrence;
  // sentences.bin: the dimension of the line vectors given to Add() (0: no
  // file) and the encoder's id, recorded in the manifest. Default: none.
  int sentence_dim = 0;
  std::string sentence_encoder_id;
  // Lyric moods (moods.bin): the lexicon (null: none), its id for the
  // manifest, and the impression thresholds.
  const MoodLexicon* lexicon = nullptr;
  std::string lexicon_id;
  MoodOptions mood;
  // Genre and mood imputed from the k nearest songs for songs without them
  // (k 0: none). moods.bin is written when there is a lexicon or a value
  // was imputed.
  ImputationOptions imputation;
};

// Streams songs into a new bundle. Not thread-safe.
class BundleWriter {
 public:
  static absl::StatusOr<std::unique_ptr<BundleWriter>> Create(const BundleWriterOptions& options,
                                                              const WordVectors* words);
  ~BundleWriter();  // removes the temporary directory unless Finish()ed

  // `line_vectors`: with sentence_dim > 0, song.lines.size() x sentence_dim
  // floats (unit vectors, one per lyric line); otherwise null.
  absl::Status Add(const SongRecord& record, const EmbeddedSong& song,
                   const float* line_vectors = nullptr);
  int64_t count() const { return count_; }
  void set_skipped_records(int64_t n) { skipped_ = n; }
  // Fits the common component, builds and writes the index, the manifest,
  // and publishes the directory atomically. Returns the manifest.
  absl::StatusOr<BundleManifest> Finish();

 private:
  BundleWriter() = default;
  BundleWriterOptions options_;
  const WordVectors* words_ = nullptr;
  std::string tmp_dir_;
  SongStoreWriter songs_;
  std::FILE* tokens_ = nullptr;
  std::FILE* vectors_ = nullptr;  // raw song vectors, streamed to vectors.f32
  std::unique_ptr<SentenceVectorWriter> sentences_;
  std::vector<uint64_t> offsets_{0};
  std::vector<MoodRecord> moods_;
  // Lexicon coverage: lyric words read, of them scored, songs with a mood.
  int64_t mood_words_ = 0, mood_scored_ = 0, mood_songs_ = 0;
  int64_t count_ = 0;
  int64_t skipped_ = 0;
  bool finished_ = false;
};

// Replaces `dest` by directory `src` atomically (rename, or an atomic
// exchange when `dest` exists; the old content is then deleted).
absl::Status PublishDirectory(const std::string& src, const std::string& dest);

// Deletes a directory tree (best effort).
void RemoveTree(const std::string& path);

// Removes "<out>.tmp-<pid>-*" directories whose process no longer exists
// (a build killed with -9 cannot clean up). BundleWriter::Create calls it.
void RemoveStaleTempDirs(const std::string& out);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_BUNDLE_BUNDLE_H_
