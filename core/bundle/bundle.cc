#include "core/bundle/bundle.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

using json = nlohmann::json;

constexpr char kTokMagic[8] = {'I', '2', 'S', 'T', 'O', 'K', '0', '1'};
const char* const kBundleFiles[] = {"songs.faiss",  "songs.bin",  "columns.bin",
                                    "columns.json", "tokens.bin", "lexical.bin"};
// Files a bundle may have; checked like the others when the manifest lists
// them.
const char* const kOptionalBundleFiles[] = {kCooccurrenceFile, kSentenceVectorsFile,
                                            kSongMoodsFile};

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

absl::Status SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", dir);
  ::fsync(fd);
  ::close(fd);
  return absl::OkStatus();
}

std::string UtcNow(const char* format) {
  std::time_t now = std::time(nullptr);
  std::tm tm;
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), format, &tm);
  return buf;
}

json ManifestToJson(const BundleManifest& m) {
  json files = json::object();
  for (const auto& [name, d] : m.files) {
    files[name] = {{"sha256", d.sha256}, {"bytes", d.bytes}};
  }
  json out{
      {"format_version", m.format_version},
      {"version", m.version},
      {"created_at", m.created_at},
      {"embedder", {{"id", m.embedder_id}, {"dim", m.dim}, {"vocabulary_size", m.vocabulary_size}}},
      {"song_count", m.song_count},
      {"skipped_records", m.skipped_records},
      {"index_type", m.index_type},
      {"common_component", {{"mean", m.common.mean}, {"pc", m.common.pc}}},
      {"files", files}};
  if (m.files.count(kSongMoodsFile)) {
    out["mood"] = {{"lexicon", m.mood_lexicon_id},
                   {"imputation",
                    {{"k", m.imputation.k},
                     {"vote", m.imputation.vote},
                     {"min_confidence", m.imputation.min_confidence}}},
                   {"imputed", {{"genre", m.imputed_genres}, {"mood", m.imputed_moods}}}};
  }
  if (m.sentence_dim > 0) {
    out["sentence_encoder"] = {{"id", m.sentence_encoder_id}, {"dim", m.sentence_dim}};
  }
  return out;
}

absl::StatusOr<BundleManifest> ManifestFromJson(const std::string& text, const std::string& path) {
  BundleManifest m;
  try {
    json j = json::parse(text);
    m.format_version = j.at("format_version").get<int>();
    if (m.format_version < kBundleFormatVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": bundle format version ", m.format_version, " is older than this build reads (",
          kBundleFormatVersion,
          "; format 3 added the lexical index lexical.bin): re-run i2s-index on the catalogue "
          "to rebuild the bundle"));
    }
    if (m.format_version > kBundleFormatVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": bundle format version ", m.format_version,
                       " is newer than this build reads (", kBundleFormatVersion,
                       "): serve it with the image2song that wrote it, or rebuild it with this "
                       "build's i2s-index"));
    }
    m.version = j.at("version").get<std::string>();
    m.created_at = j.value("created_at", "");
    m.embedder_id = j.at("embedder").at("id").get<std::string>();
    m.dim = j.at("embedder").at("dim").get<int>();
    m.vocabulary_size = j.at("embedder").value("vocabulary_size", int64_t{0});
    m.song_count = j.at("song_count").get<int64_t>();
    m.skipped_records = j.value("skipped_records", int64_t{0});
    m.index_type = j.at("index_type").get<std::string>();
    m.common.mean = j.at("common_component").at("mean").get<std::vector<float>>();
    m.common.pc = j.at("common_component").at("pc").get<std::vector<float>>();
    if (j.contains("sentence_encoder")) {
      m.sentence_encoder_id = j.at("sentence_encoder").at("id").get<std::string>();
      m.sentence_dim = j.at("sentence_encoder").at("dim").get<int>();
    }
    if (j.contains("mood")) {
      const json& mood = j.at("mood");
      m.mood_lexicon_id = mood.value("lexicon", "");
      const json imputation = mood.value("imputation", json::object());
      m.imputation.k = imputation.value("k", 0);
      m.imputation.vote = imputation.value("vote", "similarity");
      m.imputation.min_confidence = imputation.value("min_confidence", 0.0f);
      const json imputed = mood.value("imputed", json::object());
      m.imputed_genres = imputed.value("genre", int64_t{0});
      m.imputed_moods = imputed.value("mood", int64_t{0});
    }
    for (const auto& [name, d] : j.at("files").items()) {
      m.files[name] = FileDigest{d.at("sha256").get<std::string>(), d.at("bytes").get<int64_t>()};
    }
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": invalid bundle manifest: ", e.what()));
  }
  if (m.dim <= 0 || int(m.common.mean.size()) != m.dim || int(m.common.pc.size()) != m.dim) {
    return absl::DataLossError(absl::StrCat(path, ": common component does not match dimension"));
  }
  if ((m.sentence_dim > 0) != (m.files.count(kSentenceVectorsFile) > 0)) {
    return absl::DataLossError(
        absl::StrCat(path, ": sentence_encoder and ", kSentenceVectorsFile, " go together"));
  }
  return m;
}

}  // namespace

void RemoveTree(const std::string& path) {
  ::nftw(
      path.c_str(),
      [](const char* p, const struct stat*, int, struct FTW*) {
        ::remove(p);
        return 0;
      },
      16, FTW_DEPTH | FTW_PHYS);
}

absl::Status PublishDirectory(const std::string& src, const std::string& dest) {
  RETURN_IF_ERROR(SyncDirectory(src));
  if (::rename(src.c_str(), dest.c_str()) == 0) {
    return SyncDirectory(ParentDir(dest));
  }
  if (errno != EEXIST && errno != ENOTEMPTY) return Errno("cannot rename to", dest);
  // `dest` is a non-empty directory: swap atomically, then drop the old one.
  if (::renameat2(AT_FDCWD, src.c_str(), AT_FDCWD, dest.c_str(), RENAME_EXCHANGE) != 0) {
    return Errno("cannot exchange with", dest);
  }
  RETURN_IF_ERROR(SyncDirectory(ParentDir(dest)));
  RemoveTree(src);
  return absl::OkStatus();
}

void RemoveStaleTempDirs(const std::string& out) {
  const std::string parent = ParentDir(out);
  const std::string prefix = out.substr(out.find_last_of('/') + 1) + ".tmp-";
  DIR* d = ::opendir(parent.empty() ? "." : parent.c_str());
  if (d == nullptr) return;
  std::vector<std::string> stale;
  while (struct dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    // "<out>.tmp-<pid>-<random>": stale when that process is gone.
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      stale.push_back(JoinPath(parent.empty() ? "." : parent, name));
    }
  }
  ::closedir(d);
  for (const std::string& dir : stale) {
    I2S_LOG(WARNING) << "removing " << dir
                     << ": left by an interrupted build (its process is gone)";
    RemoveTree(dir);
  }
}

// ---------------------------------------------------------------- Bundle

absl::StatusOr<std::unique_ptr<Bundle>> Bundle::Load(const std::string& dir,
                                                     const BundleLoadOptions& options) {
  const std::string manifest_path = JoinPath(dir, "manifest.json");
  ASSIGN_OR_RETURN(std::string text, ReadFile(manifest_path, int64_t{16} << 20));
  ASSIGN_OR_RETURN(BundleManifest manifest, ManifestFromJson(text, manifest_path));
  std::vector<const char*> present(std::begin(kBundleFiles), std::end(kBundleFiles));
  for (const char* name : kOptionalBundleFiles) {
    if (manifest.files.count(name)) present.push_back(name);
  }
  for (const char* name : present) {
    auto it = manifest.files.find(name);
    if (it == manifest.files.end()) {
      return absl::DataLossError(absl::StrCat(manifest_path, " does not list ", name));
    }
    const std::string path = JoinPath(dir, name);
    ASSIGN_OR_RETURN(int64_t bytes, FileSize(path));
    if (bytes != it->second.bytes) {
      return absl::DataLossError(absl::StrCat(path, " is ", bytes, " bytes, the manifest says ",
                                              it->second.bytes, " (truncated or replaced)"));
    }
    if (options.verify_checksums) {
      ASSIGN_OR_RETURN(std::string sha, Sha256File(path));
      if (sha != it->second.sha256) {
        return absl::DataLossError(absl::StrCat(path, ": sha256 ", sha.substr(0, 16),
                                                "... does not match the "
                                                "manifest (",
                                                it->second.sha256.substr(0, 16), "...): corrupt"));
      }
    }
  }
  auto bundle = std::unique_ptr<Bundle>(new Bundle());
  bundle->dir_ = dir;

  // Songs.
  ASSIGN_OR_RETURN(bundle->store_, SongStore::Open(dir, manifest.song_count));

  // Tokens.
  const std::string tokens_path = JoinPath(dir, "tokens.bin");
  ASSIGN_OR_RETURN(bundle->tokens_file_, MappedFile::Open(tokens_path));
  const MappedFile& tf = bundle->tokens_file_;
  uint64_t n = 0;
  if (tf.size() < 16 || std::memcmp(tf.data(), kTokMagic, 8) != 0) {
    return absl::DataLossError(absl::StrCat(tokens_path, ": bad header"));
  }
  std::memcpy(&n, tf.data() + 8, 8);
  const size_t header = 16 + (n + 1) * 8;
  if (n != uint64_t(manifest.song_count) || tf.size() < header) {
    return absl::DataLossError(absl::StrCat(tokens_path, ": bad song count"));
  }
  bundle->token_offsets_ = reinterpret_cast<const uint64_t*>(tf.data() + 16);
  bundle->tokens_ = reinterpret_cast<const LyricToken*>(tf.data() + header);
  const uint64_t total = bundle->token_offsets_[n];
  if (header + total * sizeof(LyricToken) != tf.size()) {
    return absl::DataLossError(absl::StrCat(tokens_path, ": size mismatch"));
  }
  for (uint64_t i = 0; i < n; ++i) {
    if (bundle->token_offsets_[i] > bundle->token_offsets_[i + 1]) {
      return absl::DataLossError(absl::StrCat(tokens_path, ": bad offsets"));
    }
  }
  for (uint64_t i = 0; i < total; ++i) {
    const LyricToken& t = bundle->tokens_[i];
    if (t.word >= uint64_t(manifest.vocabulary_size)) {
      return absl::DataLossError(absl::StrCat(tokens_path, ": word id out of range"));
    }
  }
  for (uint64_t s = 0; s < n; ++s) {
    for (uint64_t i = bundle->token_offsets_[s]; i < bundle->token_offsets_[s + 1]; ++i) {
      if (bundle->tokens_[i].line >= bundle->store_.LineCount(int64_t(s))) {
        return absl::DataLossError(absl::StrCat(tokens_path, ": line out of range"));
      }
    }
  }

  tf.DropResidentPages();  // the checks read every token

  // Lexical channel: over the same tokens.
  ASSIGN_OR_RETURN(bundle->lexical_,
                   LexicalIndex::Open(JoinPath(dir, kLexicalIndexFile), manifest.song_count,
                                      manifest.vocabulary_size, options.lexical));
  for (uint64_t s = 0; s < n; ++s) {
    if (bundle->lexical_.Length(int64_t(s)) !=
        bundle->token_offsets_[s + 1] - bundle->token_offsets_[s]) {
      return absl::DataLossError(absl::StrCat(JoinPath(dir, kLexicalIndexFile), ": song ", s,
                                              " has another word count than in tokens.bin"));
    }
  }

  // Words used together (optional).
  if (manifest.files.count(kCooccurrenceFile)) {
    ASSIGN_OR_RETURN(
        bundle->cooccurrence_,
        CooccurrenceTable::Open(JoinPath(dir, kCooccurrenceFile), manifest.vocabulary_size));
    bundle->has_cooccurrence_ = true;
  }

  // Sentence vectors of the lyric lines (optional).
  if (manifest.files.count(kSentenceVectorsFile)) {
    const SongStore& store = bundle->store_;
    ASSIGN_OR_RETURN(bundle->sentences_,
                     SentenceVectors::Open(JoinPath(dir, kSentenceVectorsFile), manifest.song_count,
                                           [&store](int64_t s) { return store.LineCount(s); }));
    if (bundle->sentences_.dim() != manifest.sentence_dim) {
      return absl::DataLossError(absl::StrCat(JoinPath(dir, kSentenceVectorsFile), ": dimension ",
                                              bundle->sentences_.dim(), "; the manifest says ",
                                              manifest.sentence_dim));
    }
    bundle->has_sentences_ = true;
  }

  // Lyric moods and imputation marks (optional).
  if (manifest.files.count(kSongMoodsFile)) {
    ASSIGN_OR_RETURN(bundle->moods_,
                     SongMoods::Open(JoinPath(dir, kSongMoodsFile), manifest.song_count));
    bundle->has_moods_ = true;
  }

  // Index.
  ASSIGN_OR_RETURN(bundle->index_, SongIndex::Load(JoinPath(dir, "songs.faiss"), options.index));
  if (bundle->index_->size() != manifest.song_count || bundle->index_->dim() != manifest.dim) {
    return absl::DataLossError(absl::StrCat(
        dir, ": index holds ", bundle->index_->size(), " vectors of dimension ",
        bundle->index_->dim(), "; the manifest says ", manifest.song_count, " of ", manifest.dim));
  }
  bundle->manifest_ = std::move(manifest);
  return bundle;
}

std::vector<uint8_t> Bundle::Select(const Filters& filters, int64_t* kept) const {
  std::vector<uint8_t> bits = store_.Select(filters, kept);
  if (!filters.catalogue_values_only || !has_moods_ ||
      (filters.genres.empty() && filters.moods.empty())) {
    return bits;
  }
  // A song passing a genre (mood) filter by an imputed genre (mood) is out.
  uint8_t out_flags = 0;
  if (!filters.genres.empty()) out_flags |= kGenreImputed;
  if (!filters.moods.empty()) out_flags |= kMoodImputed;
  for (int64_t i = 0; i < size(); ++i) {
    if ((bits[i >> 3] & (1u << (i & 7))) && (moods_.Get(i).flags & out_flags)) {
      bits[i >> 3] &= uint8_t(~(1u << (i & 7)));
      --*kept;
    }
  }
  return bits;
}

absl::Span<const LyricToken> Bundle::tokens(int64_t i) const {
  uint64_t b = token_offsets_[i], e = token_offsets_[i + 1];
  return absl::Span<const LyricToken>(tokens_ + b, e - b);
}

// ---------------------------------------------------------- BundleWriter

absl::StatusOr<std::unique_ptr<BundleWriter>> BundleWriter::Create(
    const BundleWriterOptions& options, const WordVectors* words) {
  if (options.output_dir.empty()) {
    return absl::InvalidArgumentError("bundle output directory is empty");
  }
  auto w = std::unique_ptr<BundleWriter>(new BundleWriter());
  w->options_ = options;
  w->words_ = words;
  std::string out = options.output_dir;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  w->options_.output_dir = out;
  RemoveStaleTempDirs(out);
  std::random_device rd;
  w->tmp_dir_ = absl::StrCat(out, ".tmp-", ::getpid(), "-", rd() % 100000);
  if (::mkdir(w->tmp_dir_.c_str(), 0755) != 0) {
    return Errno("cannot create", w->tmp_dir_);
  }
  ASSIGN_OR_RETURN(w->songs_, SongStoreWriter::Create(w->tmp_dir_));
  const std::string tokens = JoinPath(w->tmp_dir_, "tokens.data");
  const std::string vectors = JoinPath(w->tmp_dir_, "vectors.f32");
  w->tokens_ = std::fopen(tokens.c_str(), "wb");
  w->vectors_ = std::fopen(vectors.c_str(), "wb");
  if (w->tokens_ == nullptr || w->vectors_ == nullptr) {
    return Errno("cannot create files in", w->tmp_dir_);
  }
  if (options.sentence_dim > 0) {
    ASSIGN_OR_RETURN(SentenceVectorWriter sentences,
                     SentenceVectorWriter::Create(JoinPath(w->tmp_dir_, kSentenceVectorsFile),
                                                  options.sentence_dim));
    w->sentences_ = std::make_unique<SentenceVectorWriter>(std::move(sentences));
  }
  return w;
}

BundleWriter::~BundleWriter() {
  if (tokens_) std::fclose(tokens_);
  if (vectors_) std::fclose(vectors_);
  if (!finished_ && !tmp_dir_.empty()) RemoveTree(tmp_dir_);
}

absl::Status BundleWriter::Add(const SongRecord& r, const EmbeddedSong& song,
                               const float* line_vectors) {
  if (int(song.vector.size()) != words_->dim()) {
    return absl::InvalidArgumentError("song vector has the wrong dimension");
  }
  if ((sentences_ != nullptr) != (line_vectors != nullptr)) {
    return absl::InvalidArgumentError(
        sentences_ != nullptr ? "the bundle has sentence vectors: line vectors missing"
                              : "line vectors given to a bundle without sentence vectors");
  }
  if (sentences_ != nullptr) {
    RETURN_IF_ERROR(sentences_->AddSong(line_vectors, int64_t(song.lines.size())));
  }
  RETURN_IF_ERROR(songs_.Add(r, song.lines));
  MoodRecord mood;
  if (options_.lexicon != nullptr) {
    const LyricMood lm = ScoreLyrics(song.lines, *options_.lexicon, options_.mood);
    mood.valence = lm.valence;
    mood.arousal = lm.arousal;
    mood.impression = uint8_t(lm.impression);
    mood.scored_words = uint16_t(std::min(lm.scored_words, 0xffff));
    if (lm.impression != 0) mood.flags |= kHasLyricMood;
    mood_words_ += lm.words;
    mood_scored_ += lm.scored_words;
    mood_songs_ += lm.impression != 0;
  }
  moods_.push_back(mood);
  RETURN_IF_ERROR(WriteAll(tokens_, song.tokens.data(), song.tokens.size() * sizeof(LyricToken),
                           JoinPath(tmp_dir_, "tokens.data")));
  offsets_.push_back(offsets_.back() + song.tokens.size());
  RETURN_IF_ERROR(WriteAll(vectors_, song.vector.data(), song.vector.size() * sizeof(float),
                           JoinPath(tmp_dir_, "vectors.f32")));
  ++count_;
  return absl::OkStatus();
}

absl::StatusOr<BundleManifest> BundleWriter::Finish() {
  if (count_ == 0) {
    return absl::InvalidArgumentError("the catalogue has no valid songs");
  }
  const int dim = words_->dim();
  const std::string data_path = JoinPath(tmp_dir_, "tokens.data");
  const std::string tokens_path = JoinPath(tmp_dir_, "tokens.bin");
  RETURN_IF_ERROR(CloseSynced(&tokens_, data_path));

  std::vector<const char*> files(std::begin(kBundleFiles), std::end(kBundleFiles));
  // tokens.bin = header + offsets + the streamed token data.
  {
    std::FILE* out = std::fopen(tokens_path.c_str(), "wb");
    if (out == nullptr) return Errno("cannot create", tokens_path);
    uint64_t n = count_;
    absl::Status s = WriteAll(out, kTokMagic, 8, tokens_path);
    if (s.ok()) s = WriteAll(out, &n, 8, tokens_path);
    if (s.ok()) s = WriteAll(out, offsets_.data(), offsets_.size() * 8, tokens_path);
    std::FILE* in = std::fopen(data_path.c_str(), "rb");
    if (in == nullptr) s = Errno("cannot open", data_path);
    std::vector<char> buf(1 << 20);
    while (s.ok()) {
      size_t got = std::fread(buf.data(), 1, buf.size(), in);
      if (got == 0) break;
      s = WriteAll(out, buf.data(), got, tokens_path);
    }
    if (in) std::fclose(in);
    absl::Status c = CloseSynced(&out, tokens_path);
    RETURN_IF_ERROR(s);
    RETURN_IF_ERROR(c);
    ::unlink(data_path.c_str());
  }

  // lexical.bin: the inverted index over the tokens just written.
  {
    ASSIGN_OR_RETURN(MappedFile tokens, MappedFile::Open(tokens_path));
    const LyricToken* all =
        reinterpret_cast<const LyricToken*>(tokens.data() + 16 + offsets_.size() * 8);
    const auto start = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(WriteLexicalIndex(JoinPath(tmp_dir_, kLexicalIndexFile), count_, words_->size(),
                                      [&](int64_t song, std::vector<uint32_t>* words) {
                                        // Each pass reads the whole file: keep few pages
                                        // resident.
                                        if (song % 65536 == 0) tokens.DropResidentPages();
                                        for (uint64_t i = offsets_[song]; i < offsets_[song + 1];
                                             ++i) {
                                          words->push_back(all[i].word);
                                        }
                                      }));
    I2S_LOG(INFO)
        << "lexical index written in "
        << absl::StrFormat(
               "%.1f s",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  // cooccur.bin: the words lyrics use together, from the same tokens.
  static_assert(sizeof(LyricToken) == 8, "tokens are (word, line) u32 pairs");
  if (options_.cooccurrence.neighbours > 0) {
    ASSIGN_OR_RETURN(MappedFile tokens, MappedFile::Open(tokens_path));
    const uint32_t* all =
        reinterpret_cast<const uint32_t*>(tokens.data() + 16 + offsets_.size() * 8);
    I2S_LOG(INFO) << "co-occurrence: counting words used together by "
                  << (options_.cooccurrence.unit == CooccurrenceUnit::kLine ? "line" : "song");
    ASSIGN_OR_RETURN(CooccurrenceStats stats,
                     WriteCooccurrence(
                         JoinPath(tmp_dir_, kCooccurrenceFile), count_, words_->size(),
                         [&](int64_t song) {
                           return absl::Span<const uint32_t>(
                               all + 2 * offsets_[song], 2 * (offsets_[song + 1] - offsets_[song]));
                         },
                         options_.cooccurrence));
    files.push_back(kCooccurrenceFile);
    I2S_LOG(INFO) << "co-occurrence table written in "
                  << absl::StrFormat("%.1f s: %d words, %d neighbours, %d tokens read",
                                     stats.seconds, stats.words, stats.neighbours,
                                     stats.tokens_read);
  }

  BundleManifest m;
  if (sentences_ != nullptr) {
    RETURN_IF_ERROR(sentences_->Finish());
    sentences_.reset();
    files.push_back(kSentenceVectorsFile);
    m.sentence_encoder_id = options_.sentence_encoder_id;
    m.sentence_dim = options_.sentence_dim;
  }
  // Song vectors: memory-mapped from the streamed file, so a catalogue of
  // millions needs no copy in memory; the common component is fitted on an
  // evenly spread sample and removed chunk by chunk as the index is filled.
  const std::string vectors_path = JoinPath(tmp_dir_, "vectors.f32");
  RETURN_IF_ERROR(CloseSynced(&vectors_, vectors_path));
  ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::Open(vectors_path));
  if (mapped.size() != size_t(count_) * dim * sizeof(float)) {
    return absl::InternalError(absl::StrCat(vectors_path, ": size mismatch"));
  }
  const float* raw = reinterpret_cast<const float*>(mapped.data());
  auto sample = [&](int64_t want) {
    const int64_t n = std::min(want, count_);
    std::vector<float> out(size_t(n) * dim);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t src = n == count_ ? i : i * count_ / n;
      std::memcpy(&out[size_t(i) * dim], raw + size_t(src) * dim, dim * sizeof(float));
    }
    return out;
  };
  const bool final_vectors = options_.fixed_common != nullptr;
  if (final_vectors) {
    m.common = *options_.fixed_common;
  } else {
    std::vector<float> fit = sample(200000);
    m.common = SongEmbedder::Fit(fit.data(), int64_t(fit.size() / dim), dim);
  }
  std::unique_ptr<SongIndex> index;
  if (options_.trained_like != nullptr) {
    ASSIGN_OR_RETURN(index, SongIndex::CreateTrainedLike(*options_.trained_like, count_));
  } else {
    ASSIGN_OR_RETURN(index, SongIndex::Create(dim, count_, options_.index));
  }
  I2S_LOG(INFO) << "building " << index->type() << " index over " << count_ << " songs ("
                << index->Describe() << ")";
  const auto build_start = std::chrono::steady_clock::now();
  auto seconds = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  if (index->needs_training()) {
    std::vector<float> train = sample(options_.train_size);
    const int64_t nt = int64_t(train.size() / dim);
    if (!final_vectors) {
      for (int64_t i = 0; i < nt; ++i) m.common.Apply(&train[size_t(i) * dim], dim);
    }
    RETURN_IF_ERROR(index->Train(train.data(), nt));
    I2S_LOG(INFO) << "trained on " << nt << " songs in "
                  << absl::StrFormat("%.1f", seconds(build_start)) << " s";
  }
  const int64_t chunk = 50000;
  std::vector<float> buf;
  auto last_log = std::chrono::steady_clock::now();
  const auto add_start = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < count_; first += chunk) {
    const int64_t n = std::min(chunk, count_ - first);
    buf.assign(raw + size_t(first) * dim, raw + size_t(first + n) * dim);
    if (!final_vectors) {
      for (int64_t i = 0; i < n; ++i) m.common.Apply(&buf[size_t(i) * dim], dim);
    }
    RETURN_IF_ERROR(index->Add(buf.data(), n));
    const int64_t done = first + n;
    if (seconds(last_log) >= 5 || (done == count_ && count_ > chunk)) {
      last_log = std::chrono::steady_clock::now();
      const double rate = done / std::max(1e-9, seconds(add_start));
      I2S_LOG(INFO) << "index: " << done << "/" << count_ << " songs ("
                    << absl::StrFormat("%.1f%%, %.0f songs/s, ETA %.0f s", 100.0 * done / count_,
                                       rate, (count_ - done) / rate)
                    << ")";
    }
  }
  std::vector<float>().swap(buf);
  mapped = MappedFile();
  ::unlink(vectors_path.c_str());
  I2S_LOG(INFO) << "index built in " << absl::StrFormat("%.1f", seconds(build_start)) << " s";
  RETURN_IF_ERROR(index->Save(JoinPath(tmp_dir_, "songs.faiss")));

  // Genre and mood of the songs without them, from their neighbours; the
  // columns get the imputed values, moods.bin the marks.
  if (options_.lexicon != nullptr || options_.imputation.k > 0) {
    const auto impute_start = std::chrono::steady_clock::now();
    const int columns[2] = {kGenreColumn, kMoodColumn};
    const uint8_t marks[2] = {kGenreImputed, kMoodImputed};
    int64_t imputed[2] = {0, 0};
    for (int f = 0; f < 2 && options_.imputation.k > 0; ++f) {
      std::vector<std::string> known(count_);
      for (int64_t i = 0; i < count_; ++i) known[i] = songs_.ColumnValue(i, columns[f]);
      ASSIGN_OR_RETURN(std::vector<ImputedValue> values,
                       ImputeByNeighbours(*index, known, options_.imputation));
      for (int64_t i = 0; i < count_; ++i) {
        if (values[i].value.empty()) continue;
        RETURN_IF_ERROR(songs_.SetColumnValue(i, columns[f], values[i].value));
        moods_[i].flags |= marks[f];
        (f == 0 ? moods_[i].genre_confidence : moods_[i].mood_confidence) = values[i].confidence;
        ++imputed[f];
      }
    }
    // Without a lexicon and with nothing imputed the file would say nothing.
    if (options_.lexicon != nullptr || imputed[0] + imputed[1] > 0) {
      RETURN_IF_ERROR(WriteSongMoods(JoinPath(tmp_dir_, kSongMoodsFile), moods_));
      files.push_back(kSongMoodsFile);
      m.mood_lexicon_id = options_.lexicon != nullptr ? options_.lexicon_id : "";
      m.imputation = options_.imputation;
      m.imputed_genres = imputed[0];
      m.imputed_moods = imputed[1];
    }
    if (options_.lexicon != nullptr) {
      I2S_LOG(INFO) << absl::StrFormat(
          "lyric moods: %d of %d songs have scored words; %d of %d lyric words (%.1f%%) are in "
          "the lexicon",
          mood_songs_, count_, mood_scored_, mood_words_,
          mood_words_ > 0 ? 100.0 * mood_scored_ / mood_words_ : 0.0);
    }
    I2S_LOG(INFO) << "moods: " << imputed[0] << " genres and " << imputed[1] << " moods imputed (k "
                  << options_.imputation.k << ", " << options_.imputation.vote << " vote) in "
                  << absl::StrFormat("%.2f s", seconds(impute_start));
  }
  RETURN_IF_ERROR(songs_.Finish());

  std::string content_sha;
  for (const char* name : files) {
    const std::string path = JoinPath(tmp_dir_, name);
    ASSIGN_OR_RETURN(std::string sha, Sha256File(path));
    ASSIGN_OR_RETURN(int64_t bytes, FileSize(path));
    m.files[name] = FileDigest{sha, bytes};
    content_sha += sha;
  }
  m.version = options_.version.empty()
                  ? absl::StrCat(UtcNow("%Y%m%dT%H%M%SZ"), "-", Sha256Hex(content_sha).substr(0, 8))
                  : options_.version;
  m.created_at = UtcNow("%Y-%m-%dT%H:%M:%SZ");
  m.embedder_id = words_->id();
  m.dim = dim;
  m.song_count = count_;
  m.vocabulary_size = words_->size();
  m.index_type = index->type();
  m.skipped_records = skipped_;
  RETURN_IF_ERROR(WriteFile(JoinPath(tmp_dir_, "manifest.json"), ManifestToJson(m).dump(2) + "\n"));
  RETURN_IF_ERROR(PublishDirectory(tmp_dir_, options_.output_dir));
  finished_ = true;
  return m;
}

}  // namespace image2song
