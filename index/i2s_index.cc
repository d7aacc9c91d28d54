// i2s-index: turns a song catalogue (JSONL or CSV) into an index bundle.
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "core/bundle/bundle.h"
#include "core/bundle/bundle_update.h"
#include "core/bundle/catalogue.h"
#include "core/bundle/embedder.h"
#include "core/bundle/imputation.h"
#include "core/bundle/song_mood.h"
#include "core/models/image_model.h"
#include "core/models/model_manifest.h"
#include "core/text/sentence_encoder.h"
#include "util/cli.h"
#include "util/file_util.h"
#include "util/log.h"
#include "util/status_macros.h"

#ifndef I2S_VERSION
#define I2S_VERSION "dev"
#endif

namespace {
// The flags' defaults are the writer's.
const image2song::BundleWriterOptions& W() {
  static const auto* defaults = new image2song::BundleWriterOptions();
  return *defaults;
}
}  // namespace

ABSL_FLAG(std::string, catalogue, "",
          "Catalogue file: .jsonl (one JSON object per line) or .csv (header "
          "row). Required.");
ABSL_FLAG(std::string, format, "",
          "Catalogue format: jsonl or csv. Default: from the file extension.");
ABSL_FLAG(std::string, models, "",
          "Model manifest (models.json) naming the word vectors. Default: "
          "$I2S_CACHE/models/default/models.json, I2S_CACHE defaulting to "
          "~/.cache/image2song.");
ABSL_FLAG(std::string, output, "",
          "Bundle directory to create or replace "
          "atomically. Required.");
ABSL_FLAG(std::string, bundle_version, "", "Bundle version. Default: <UTC time>-<content hash>.");
ABSL_FLAG(bool, skip_invalid, false,
          "Skip and count invalid records instead of failing on the first.");
ABSL_FLAG(std::string, index_type, W().index.type,
          "auto | flat (exact) | hnsw (graph) | ivf (inverted lists) | ivfpq "
          "(inverted lists of product codes + 8-bit re-scoring; tens of "
          "millions). auto: flat below --hnsw_threshold songs, hnsw below "
          "--ivfpq_threshold, ivfpq above.");
ABSL_FLAG(int64_t, hnsw_threshold, W().index.hnsw_threshold, "Songs from which auto picks HNSW.");
ABSL_FLAG(int64_t, ivfpq_threshold, W().index.ivfpq_threshold,
          "Songs from which auto picks IVF-PQ.");
ABSL_FLAG(int, hnsw_m, W().index.hnsw_m, "HNSW graph degree.");
ABSL_FLAG(int, ef_construction, W().index.ef_construction, "HNSW build beam width.");
ABSL_FLAG(int, ivf_nlist, W().index.ivf_nlist, "IVF lists (0: 4 * sqrt(songs)).");
ABSL_FLAG(int, pq_m, W().index.pq_m, "IVF-PQ sub-vectors, dividing the dimension (0: dim / 4).");
ABSL_FLAG(int64_t, train_size, W().train_size, "Songs sampled to train IVF indexes.");
ABSL_FLAG(int, cooccurrence_neighbours, W().cooccurrence.neighbours,
          "Words kept per lyric word in cooccur.bin, the words lyrics use together "
          "(normalised PMI; i2s-server --cooccurrence_weight expands tag words with "
          "them). 0: no cooccur.bin.");
ABSL_FLAG(std::string, cooccurrence_unit, "song",
          "What counts as used together for cooccur.bin: song or line.");
ABSL_FLAG(int, cooccurrence_min_count, W().cooccurrence.min_count,
          "Songs (or lines) a pair of words must share to be kept in cooccur.bin.");
ABSL_FLAG(int64_t, cooccurrence_max_songs, W().cooccurrence.max_songs_per_word,
          "Songs read per word for cooccur.bin (an evenly spaced sample of those "
          "holding it; bounds the time of frequent words). 0: all.");
ABSL_FLAG(std::string, changes, "",
          "Incremental build: a JSONL change file (records to add or replace "
          "by id; {\"id\": ..., \"deleted\": true} to remove) applied to "
          "--base. Unchanged songs are not re-embedded.");
ABSL_FLAG(std::string, base, "",
          "With --changes: the previous bundle (default: --output, replaced "
          "atomically).");
ABSL_FLAG(int64_t, max_record_bytes, image2song::CatalogueOptions().max_record_bytes,
          "Longest accepted catalogue record in bytes.");
ABSL_FLAG(bool, quiet, false, "No progress lines.");
ABSL_FLAG(bool, sentence_vectors, false,
          "Embed every lyric line with the sentence encoder that --models names "
          "(its \"sentence_encoder\" entry) into sentences.bin, for i2s-server "
          "--sentence_weight (~470 lines/s per core; docs/indexing.md). With "
          "--changes: the base's sentence vectors are kept (copied for kept songs, "
          "embedded for changed and new ones).");
ABSL_FLAG(int, sentence_threads, 2, "LibTorch threads for --sentence_vectors.");
ABSL_FLAG(std::string, mood_lexicon, "",
          "Word lexicon (word<TAB>score -5..5, tools/assets/convert_lexicon.py) to score each "
          "song's lyrics with: valence, arousal and an impression word in moods.bin. Default: "
          "the \"mood_lexicon\" of --models; none: no lyric moods.");
ABSL_FLAG(std::string, imputation_eval, "",
          "Evaluation mode: the bundle directory whose genre, mood and lyric impression are "
          "imputed for held-out songs (k-fold over the songs holding catalogue values) and "
          "compared with the majority class; prints a table and writes no bundle.");
ABSL_FLAG(std::string, imputation_eval_k, "1,5,10,20",
          "With --imputation_eval: the neighbour counts to evaluate (comma-separated).");
ABSL_FLAG(int, imputation_eval_folds, 5, "With --imputation_eval: folds (fixed seed 17).");

namespace image2song {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "i2s-index: error: " << status.message() << "\n";
  return 1;
}

std::string ModelsPath();

// The lexicon and imputation settings of --models (and --mood_lexicon).
struct MoodSettings {
  std::unique_ptr<MoodLexicon> lexicon;
  std::string lexicon_id;
  MoodOptions mood;
  ImputationOptions imputation;
};

absl::StatusOr<MoodSettings> LoadMoodSettings(const std::string& models_path) {
  MoodSettings out;
  ASSIGN_OR_RETURN(ModelManifest models, ReadModelManifest(models_path));
  out.imputation.k = models.imputation.k;
  out.imputation.vote = models.imputation.vote;
  out.imputation.min_confidence = models.imputation.min_confidence;
  out.mood.valence_threshold = models.mood_lexicon.valence_threshold;
  out.mood.arousal_threshold = models.mood_lexicon.arousal_threshold;
  std::string path = models.mood_lexicon.path;
  out.lexicon_id = models.mood_lexicon.id;
  const std::string flag = absl::GetFlag(FLAGS_mood_lexicon);
  if (flag == "none") {
    path.clear();
  } else if (!flag.empty()) {
    path = flag;
    out.lexicon_id = absl::StrCat("file:", flag.substr(flag.find_last_of('/') + 1));
  }
  if (!path.empty()) {
    ASSIGN_OR_RETURN(MoodLexicon lexicon, MoodLexicon::Load(path));
    out.lexicon = std::make_unique<MoodLexicon>(std::move(lexicon));
    I2S_LOG(INFO) << "mood lexicon " << path << ": " << out.lexicon->size() << " words";
  }
  return out;
}

// --imputation_eval: k-fold over the songs holding a value of each field;
// each fold's values are hidden and imputed from the others.
int RunImputationEval(const std::string& dir, const std::string& models_path) {
  BundleLoadOptions lo;
  auto bundle = Bundle::Load(dir, lo);
  if (!bundle.ok()) return Fail(bundle.status());
  const Bundle& b = **bundle;
  auto settings = LoadMoodSettings(models_path);
  if (!settings.ok()) return Fail(settings.status());
  const int64_t n = b.size();
  const SongMoods* moods = b.moods();
  // The known values: the catalogue's genre and mood (imputed ones left
  // out) and the lyric impression.
  struct Field {
    std::string name;
    std::vector<std::string> values;
  };
  std::vector<Field> fields = {{"genre", {}}, {"mood", {}}, {"lyric impression", {}}};
  for (Field& f : fields) f.values.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    const MoodRecord r = moods != nullptr ? moods->Get(i) : MoodRecord();
    if (!(r.flags & kGenreImputed)) fields[0].values[i] = b.column_value(i, kGenreColumn);
    if (!(r.flags & kMoodImputed)) fields[1].values[i] = b.column_value(i, kMoodColumn);
    if (r.flags & kHasLyricMood) fields[2].values[i] = kImpressions[r.impression];
  }
  std::vector<int> ks;
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_imputation_eval_k), ',', absl::SkipEmpty())) {
    int k = 0;
    if (!absl::SimpleAtoi(part, &k) || k <= 0 || k > 1000) {
      std::cerr << "i2s-index: --imputation_eval_k: bad value '" << part << "'\n";
      return 2;
    }
    ks.push_back(k);
  }
  const int folds = absl::GetFlag(FLAGS_imputation_eval_folds);
  if (folds < 2) {
    std::cerr << "i2s-index: --imputation_eval_folds must be at least 2\n";
    return 2;
  }
  std::printf("bundle %s: %lld songs, index %s, %d folds (seed 17)\n", b.manifest().version.c_str(),
              static_cast<long long>(n), b.manifest().index_type.c_str(), folds);
  std::printf("%-17s %6s %7s %-10s %5s %9s %9s %9s\n", "field", "songs", "classes", "vote", "k",
              "accuracy", "majority", "coverage");
  for (const Field& f : fields) {
    std::vector<int64_t> with;
    absl::flat_hash_map<std::string, int64_t> classes;
    for (int64_t i = 0; i < n; ++i) {
      if (!f.values[i].empty()) {
        with.push_back(i);
        ++classes[f.values[i]];
      }
    }
    if (with.size() < size_t(folds) || classes.size() < 2) {
      std::printf("%-17s %6zu %7zu (too few songs or classes to evaluate)\n", f.name.c_str(),
                  with.size(), classes.size());
      continue;
    }
    std::mt19937_64 rng(17);
    std::shuffle(with.begin(), with.end(), rng);
    for (const char* vote : {"similarity", "majority"}) {
      for (int k : ks) {
        ImputationOptions o = settings->imputation;
        o.k = k;
        o.vote = vote;
        int64_t correct = 0, baseline = 0, covered = 0;
        for (int fold = 0; fold < folds; ++fold) {
          std::vector<std::string> known = f.values;
          absl::flat_hash_map<std::string, int64_t> train;
          for (size_t j = 0; j < with.size(); ++j) {
            if (int(j % folds) == fold) {
              known[with[j]].clear();
            } else {
              ++train[f.values[with[j]]];
            }
          }
          std::string majority;
          int64_t best = -1;
          for (const auto& [value, count] : train) {
            if (count > best || (count == best && value < majority)) {
              majority = value;
              best = count;
            }
          }
          auto imputed = ImputeByNeighbours(b.index(), known, o);
          if (!imputed.ok()) return Fail(imputed.status());
          for (size_t j = fold; j < with.size(); j += folds) {
            const int64_t i = with[j];
            covered += !(*imputed)[i].value.empty();
            correct += (*imputed)[i].value == f.values[i];
            baseline += majority == f.values[i];
          }
        }
        const double m = double(with.size());
        std::printf("%-17s %6zu %7zu %-10s %5d %9.3f %9.3f %9.3f\n", f.name.c_str(), with.size(),
                    classes.size(), vote, k, correct / m, baseline / m, covered / m);
      }
    }
  }
  return 0;
}

// The sentence encoder --models names (--sentence_vectors), and its id.
absl::StatusOr<std::unique_ptr<SentenceEncoder>> MakeSentenceEncoder(std::string* id) {
  ASSIGN_OR_RETURN(ModelManifest models, ReadModelManifest(ModelsPath()));
  const SentenceEncoderSpec& spec = models.sentence_encoder;
  if (spec.model_path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--sentence_vectors: ", models.path, " names no sentence_encoder"));
  }
  // glibc maps and unmaps each large activation afresh by default (a fifth
  // of the encoder's time at batch 64: docs/models.md).
  ::mallopt(M_MMAP_THRESHOLD, 256 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
  SetTorchThreads(absl::GetFlag(FLAGS_sentence_threads), 1);
  SentenceEncoderOptions eo;
  eo.model_path = spec.model_path;
  eo.vocab_path = spec.vocab_path;
  *id = spec.id;
  return SentenceEncoder::Create(eo);
}

int RunUpdate(const WordVectors& words) {
  BundleUpdateOptions uo;
  uo.output_dir = absl::GetFlag(FLAGS_output);
  uo.base_dir = absl::GetFlag(FLAGS_base).empty() ? uo.output_dir : absl::GetFlag(FLAGS_base);
  uo.changes_path = absl::GetFlag(FLAGS_changes);
  uo.version = absl::GetFlag(FLAGS_bundle_version);
  uo.catalogue.skip_invalid = absl::GetFlag(FLAGS_skip_invalid);
  uo.catalogue.max_record_bytes = absl::GetFlag(FLAGS_max_record_bytes);
  auto settings = LoadMoodSettings(ModelsPath());
  if (!settings.ok()) return Fail(settings.status());
  uo.lexicon = settings->lexicon.get();
  uo.lexicon_id = settings->lexicon_id;
  uo.mood = settings->mood;
  uo.imputation = settings->imputation;
  // With --sentence_vectors the base's sentence vectors are kept: its
  // songs' copied, changed songs' lines embedded.
  std::unique_ptr<SentenceEncoder> encoder;
  if (absl::GetFlag(FLAGS_sentence_vectors)) {
    auto created = MakeSentenceEncoder(&uo.sentence_encoder_id);
    if (!created.ok()) return Fail(created.status());
    encoder = std::move(*created);
    uo.sentence_dim = encoder->dim();
    uo.encode_lines = [&encoder](const std::vector<std::string>& lines) {
      return encoder->Encode(lines);
    };
  }
  const auto start = std::chrono::steady_clock::now();
  auto stats = UpdateBundle(uo, words);
  if (!stats.ok()) return Fail(stats.status());
  std::printf(
      "bundle %s written to %s from %s + %s: %lld songs (%lld kept without "
      "re-embedding, %lld updated, %lld added, %lld deleted, %lld unknown "
      "deletions), index %s, %.1fs\n",
      stats->manifest.version.c_str(), uo.output_dir.c_str(), uo.base_dir.c_str(),
      uo.changes_path.c_str(), static_cast<long long>(stats->manifest.song_count),
      static_cast<long long>(stats->kept), static_cast<long long>(stats->updated),
      static_cast<long long>(stats->added), static_cast<long long>(stats->deleted),
      static_cast<long long>(stats->unknown_deletes), stats->manifest.index_type.c_str(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return 0;
}

std::string ModelsPath() {
  return absl::GetFlag(FLAGS_models).empty() ? DefaultModelsPath() : absl::GetFlag(FLAGS_models);
}

// The word vectors of --models (the indexer runs no image model; with
// --sentence_vectors, its sentence encoder).
absl::StatusOr<std::unique_ptr<WordVectors>> LoadWords() {
  return LoadManifestWordVectors(ModelsPath());
}

int Run() {
  const std::string catalogue = absl::GetFlag(FLAGS_catalogue);
  const std::string output = absl::GetFlag(FLAGS_output);
  if (!absl::GetFlag(FLAGS_imputation_eval).empty()) {
    return RunImputationEval(absl::GetFlag(FLAGS_imputation_eval), ModelsPath());
  }
  if (!absl::GetFlag(FLAGS_changes).empty()) {
    if (output.empty() || !catalogue.empty()) {
      std::cerr << "i2s-index: --changes needs --output (and --base), not --catalogue\n";
      return 2;
    }
    auto words = LoadWords();
    if (!words.ok()) return Fail(words.status());
    return RunUpdate(**words);
  }
  if (catalogue.empty() || output.empty()) {
    std::cerr << "i2s-index: --catalogue and --output are required (see "
                 "--help)\n";
    return 2;
  }
  auto loaded_words = LoadWords();
  if (!loaded_words.ok()) return Fail(loaded_words.status());
  const WordVectors& words = **loaded_words;

  BundleWriterOptions wo;
  wo.output_dir = output;
  wo.version = absl::GetFlag(FLAGS_bundle_version);
  wo.index.type = absl::GetFlag(FLAGS_index_type);
  wo.index.hnsw_threshold = absl::GetFlag(FLAGS_hnsw_threshold);
  wo.index.hnsw_m = absl::GetFlag(FLAGS_hnsw_m);
  wo.index.ef_construction = absl::GetFlag(FLAGS_ef_construction);
  wo.index.ivfpq_threshold = absl::GetFlag(FLAGS_ivfpq_threshold);
  wo.index.ivf_nlist = absl::GetFlag(FLAGS_ivf_nlist);
  wo.index.pq_m = absl::GetFlag(FLAGS_pq_m);
  wo.train_size = absl::GetFlag(FLAGS_train_size);
  wo.cooccurrence.neighbours = absl::GetFlag(FLAGS_cooccurrence_neighbours);
  wo.cooccurrence.min_count = absl::GetFlag(FLAGS_cooccurrence_min_count);
  wo.cooccurrence.max_songs_per_word = absl::GetFlag(FLAGS_cooccurrence_max_songs);
  const std::string unit = absl::GetFlag(FLAGS_cooccurrence_unit);
  if (unit != "song" && unit != "line") {
    std::cerr << "i2s-index: --cooccurrence_unit must be song or line\n";
    return 2;
  }
  wo.cooccurrence.unit = unit == "line" ? CooccurrenceUnit::kLine : CooccurrenceUnit::kSong;
  // Sentence vectors: the lines of a few thousand songs are embedded at a
  // time (distinct lines of a song once), in batches grouped by length.
  std::unique_ptr<SentenceEncoder> encoder;
  if (absl::GetFlag(FLAGS_sentence_vectors)) {
    auto created = MakeSentenceEncoder(&wo.sentence_encoder_id);
    if (!created.ok()) return Fail(created.status());
    encoder = std::move(*created);
    wo.sentence_dim = encoder->dim();
  }
  auto settings = LoadMoodSettings(ModelsPath());
  if (!settings.ok()) return Fail(settings.status());
  wo.lexicon = settings->lexicon.get();
  wo.lexicon_id = settings->lexicon_id;
  wo.mood = settings->mood;
  wo.imputation = settings->imputation;
  auto writer = BundleWriter::Create(wo, &words);
  if (!writer.ok()) return Fail(writer.status());
  struct Pending {
    SongRecord record;
    EmbeddedSong song;
  };
  std::vector<Pending> pending;
  size_t pending_lines = 0;
  int64_t lines_embedded = 0, lines_total = 0;
  double encode_seconds = 0;
  auto flush = [&]() -> absl::Status {
    if (pending.empty()) return absl::OkStatus();
    std::vector<std::string> distinct;
    std::vector<std::vector<size_t>> rows(pending.size());
    for (size_t p = 0; p < pending.size(); ++p) {
      absl::flat_hash_map<absl::string_view, size_t> seen;
      for (const std::string& line : pending[p].song.lines) {
        auto [it, inserted] = seen.try_emplace(line, distinct.size());
        if (inserted) distinct.push_back(line);
        rows[p].push_back(it->second);
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(std::vector<float> vectors, encoder->Encode(distinct));
    encode_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    lines_embedded += int64_t(distinct.size());
    const int dim = encoder->dim();
    std::vector<float> song_lines;
    for (size_t p = 0; p < pending.size(); ++p) {
      lines_total += int64_t(rows[p].size());
      song_lines.resize(rows[p].size() * dim + 1);
      for (size_t i = 0; i < rows[p].size(); ++i) {
        std::copy_n(&vectors[rows[p][i] * dim], dim, &song_lines[i * dim]);
      }
      RETURN_IF_ERROR((*writer)->Add(pending[p].record, pending[p].song, song_lines.data()));
    }
    pending.clear();
    pending_lines = 0;
    return absl::OkStatus();
  };

  CatalogueOptions co;
  co.skip_invalid = absl::GetFlag(FLAGS_skip_invalid);
  co.max_record_bytes = absl::GetFlag(FLAGS_max_record_bytes);
  co.format = absl::GetFlag(FLAGS_format);
  auto file_size = FileSize(catalogue);
  if (!file_size.ok()) return Fail(file_size.status());

  SongEmbedder embedder(&words);
  const bool quiet = absl::GetFlag(FLAGS_quiet);
  const bool tty = ::isatty(2);
  auto start = std::chrono::steady_clock::now();
  auto last = start;
  int64_t words_total = 0, words_known = 0;
  CatalogueStats stats;
  auto progress = [&](bool final) {
    auto now = std::chrono::steady_clock::now();
    double secs = std::chrono::duration<double>(now - start).count();
    double frac = *file_size > 0 ? double(stats.bytes_read) / *file_size : 1;
    double rate = secs > 0 ? (*writer)->count() / secs : 0;
    double eta = frac > 0 ? secs / frac - secs : 0;
    std::string line = absl::StrFormat(
        "embedded %d songs (%.1f%% of the file, %.0f songs/s, ETA %.0fs, "
        "%d skipped)",
        (*writer)->count(), 100 * frac, rate, final ? 0.0 : eta, stats.skipped);
    if (encoder != nullptr) {
      absl::StrAppend(&line,
                      absl::StrFormat(", %d lines as sentences (%.0f lines/s)", lines_embedded,
                                      encode_seconds > 0 ? lines_embedded / encode_seconds : 0.0));
    }
    if (tty) {
      std::fprintf(stderr, "\r%s%s", line.c_str(), final ? "\n" : "");
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  };
  absl::Status status = ReadCatalogue(
      catalogue, co,
      [&](SongRecord&& record) -> absl::Status {
        EmbeddedSong song = embedder.Embed(record);
        words_total += song.words_total;
        words_known += song.words_known;
        absl::Status s;
        if (encoder == nullptr) {
          s = (*writer)->Add(record, song);
        } else {
          pending_lines += song.lines.size();
          pending.push_back(Pending{std::move(record), std::move(song)});
          if (pending_lines >= 4096) s = flush();
        }
        auto now = std::chrono::steady_clock::now();
        if (!quiet && now - last > std::chrono::seconds(tty ? 1 : 5)) {
          last = now;
          progress(false);
        }
        return s;
      },
      &stats);
  if (status.ok() && encoder != nullptr) status = flush();
  if (!status.ok()) return Fail(status);
  if (!quiet) progress(true);
  if (encoder != nullptr) {
    std::fprintf(stderr,
                 "sentence vectors: %lld lines (%lld distinct within their song) embedded in "
                 "%.1f s, %.0f lines/s\n",
                 static_cast<long long>(lines_total), static_cast<long long>(lines_embedded),
                 encode_seconds, encode_seconds > 0 ? lines_embedded / encode_seconds : 0.0);
  }
  for (const std::string& reason : stats.skip_reasons) {
    std::cerr << "skipped: " << reason << "\n";
  }
  (*writer)->set_skipped_records(stats.skipped);
  auto manifest = (*writer)->Finish();
  if (!manifest.ok()) return Fail(manifest.status());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "bundle %s written to %s: %lld songs, %lld skipped, index %s + lexical (%.1f MiB) + "
      "co-occurrence (%.2f MiB) + sentence vectors (%.1f MiB), "
      "%d-d (%s), %.1f%% of lyric words in the vocabulary, %lld genres and %lld moods "
      "imputed, %.1fs\n",
      manifest->version.c_str(), output.c_str(), static_cast<long long>(manifest->song_count),
      static_cast<long long>(stats.skipped), manifest->index_type.c_str(),
      manifest->files.count(kLexicalIndexFile)
          ? manifest->files.at(kLexicalIndexFile).bytes / 1048576.0
          : 0.0,
      manifest->files.count(kCooccurrenceFile)
          ? manifest->files.at(kCooccurrenceFile).bytes / 1048576.0
          : 0.0,
      manifest->files.count(kSentenceVectorsFile)
          ? manifest->files.at(kSentenceVectorsFile).bytes / 1048576.0
          : 0.0,
      manifest->dim, manifest->embedder_id.c_str(),
      words_total ? 100.0 * words_known / words_total : 0.0,
      static_cast<long long>(manifest->imputed_genres),
      static_cast<long long>(manifest->imputed_moods), secs);
  return 0;
}

}  // namespace
}  // namespace image2song

int main(int argc, char** argv) {
  image2song::ParseCommandLineOrHelp(
      argc, argv,
      {"i2s-index",
       "turns a song catalogue into an index bundle for i2s-server.\n\n"
       "usage: i2s-index --catalogue=songs.jsonl --output=DIR [flags]\n\n"
       "Catalogue fields: id, title, artist, lyrics (required); tags, genre,\n"
       "mood, language, license, duration, explicit (optional). A bad record fails the\n"
       "run with file:line and field unless --skip_invalid.",
       "index/i2s_index", I2S_VERSION});
  return image2song::Run();
}
