// Tests for core/bundle/bundle.h (with core/index/song_index.h and
// core/query.h): the bundle round trip on the generated tiny word vectors and
// catalogue, index search, atomic replace, corruption detected.
#include "core/bundle/bundle.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "core/bundle/catalogue.h"
#include "core/bundle/embedder.h"
#include "core/query.h"
#include "core/words/word_vectors.h"
#include "tests/support/test_util.h"
#include "tests/support/tiny_words.h"

namespace image2song {
namespace {

using ::image2song::testing::Assets;
using ::image2song::testing::ListDir;
using ::image2song::testing::LoadTiny;
using ::image2song::testing::MakeTag;
using ::image2song::testing::Norm;
using ::image2song::testing::ReadWholeFile;
using ::image2song::testing::Record;
using ::image2song::testing::TempDir;
using ::image2song::testing::WriteWholeFile;

std::vector<SongRecord> TinyCatalogue() {
  std::vector<SongRecord> records;
  absl::Status s = ReadCatalogue(
      Assets() + "/catalogue.jsonl", CatalogueOptions{},
      [&](SongRecord&& r) {
        records.push_back(std::move(r));
        return absl::OkStatus();
      },
      nullptr);
  REQUIRE(s.ok());
  REQUIRE(records.size() == 14);
  return records;
}

// Writes `records` as a bundle into `dir`.
absl::StatusOr<BundleManifest> WriteBundle(const std::string& dir, const WordVectors& words,
                                           const std::vector<SongRecord>& records,
                                           const std::string& version,
                                           const std::string& index_type = "auto",
                                           const CooccurrenceOptions& cooccurrence = {}) {
  BundleWriterOptions options;
  options.cooccurrence = cooccurrence;
  options.output_dir = dir;
  options.version = version;
  options.index.type = index_type;
  auto writer = BundleWriter::Create(options, &words);
  if (!writer.ok()) return writer.status();
  SongEmbedder embedder(&words);
  for (const SongRecord& r : records) {
    absl::Status s = (*writer)->Add(r, embedder.Embed(r));
    if (!s.ok()) return s;
  }
  return (*writer)->Finish();
}

std::unique_ptr<Bundle> LoadBundle(const std::string& dir) {
  auto b = Bundle::Load(dir, BundleLoadOptions{});
  INFO(b.status().ToString());
  REQUIRE(b.ok());
  return std::move(*b);
}

bool NoTmpDirs(const std::string& dir) {
  for (const std::string& n : ListDir(dir)) {
    if (absl::StrContains(n, ".tmp-")) return false;
  }
  return true;
}

// Ids of the k best songs for a query made of `tag_words`.
std::vector<std::string> SearchIds(const Bundle& bundle, const WordVectors& words,
                                   const std::vector<std::string>& tag_words, int k,
                                   const std::vector<uint8_t>* allowed = nullptr) {
  std::vector<float> query;
  std::vector<std::vector<float>> tag_vectors;
  REQUIRE(
      BuildQuery({MakeTag("q", tag_words)}, words, bundle.manifest().common, &query, &tag_vectors));
  auto hits = bundle.index().Search(query.data(), k, allowed);
  INFO(hits.status().ToString());
  REQUIRE(hits.ok());
  std::vector<std::string> ids;
  for (size_t i = 0; i < hits->size(); ++i) {
    if (i > 0) CHECK((*hits)[i].score <= (*hits)[i - 1].score);
    CHECK((*hits)[i].score <= 1.0001f);
    ids.push_back(bundle.song((*hits)[i].id).id);
  }
  return ids;
}

void FlipByte(const std::string& path, size_t offset) {
  std::string data = ReadWholeFile(path);
  REQUIRE(offset < data.size());
  data[offset] ^= 0x01;
  WriteWholeFile(path, data);
}

}  // namespace

// ------------------------------------------------------------------ Bundle

TEST_CASE("Bundle round trip: BundleWriter then Bundle::Load") {
  auto words = LoadTiny();
  const std::vector<SongRecord> records = TinyCatalogue();
  TempDir tmp;
  const std::string dir = tmp.File("bundle");
  auto written = WriteBundle(dir, *words, records, "v-test");
  INFO(written.status().ToString());
  REQUIRE(written.ok());
  CHECK(written->song_count == 14);
  CHECK(NoTmpDirs(tmp.path()));

  auto bundle = LoadBundle(dir);
  const BundleManifest& m = bundle->manifest();
  CHECK(m.format_version == kBundleFormatVersion);
  CHECK(m.version == "v-test");
  CHECK(m.embedder_id == "test-words-16d@1");
  CHECK(m.dim == 16);
  CHECK(m.song_count == 14);
  CHECK(m.vocabulary_size == 240);
  CHECK(m.index_type == "flat");  // "auto" below the HNSW threshold
  CHECK(m.skipped_records == 0);
  CHECK(!m.created_at.empty());
  CHECK(m.common.mean.size() == 16);
  CHECK(Norm(m.common.pc) == Approx(1.0).epsilon(1e-4));
  CHECK(m.files.size() == 7);  // with cooccur.bin
  for (const char* f :
       {"songs.faiss", "songs.bin", "columns.bin", "columns.json", "tokens.bin", "lexical.bin"}) {
    INFO(f);
    REQUIRE(m.files.count(f) == 1);
    CHECK(m.files.at(f).sha256.size() == 64);
    CHECK(m.files.at(f).bytes > 0);
  }
  CHECK(bundle->size() == 14);
  CHECK(bundle->index().size() == 14);
  CHECK(bundle->index().dim() == 16);
  CHECK(bundle->dir() == dir);

  SongEmbedder embedder(words.get());
  for (size_t i = 0; i < records.size(); ++i) {
    const SongRecord& r = records[i];
    INFO(r.id);
    const int64_t n = bundle->Find(r.id);
    REQUIRE(n == int64_t(i));  // file order
    const SongMeta& s = bundle->song(n);
    CHECK(s.id == r.id);
    CHECK(s.title == r.title);
    CHECK(s.artist == r.artist);
    CHECK(s.genre == r.genre);
    CHECK(s.mood == r.mood);
    CHECK(s.language == r.language);
    CHECK(s.license == r.license);
    CHECK(s.duration_seconds == r.duration_seconds);
    CHECK(s.tags == r.tags);
    const EmbeddedSong e = embedder.Embed(r);
    CHECK(s.lines == e.lines);
    auto tokens = bundle->tokens(n);
    REQUIRE(tokens.size() == e.tokens.size());
    CHECK(bundle->lexical().Length(n) == tokens.size());
    for (size_t t = 0; t < tokens.size(); ++t) {
      CHECK(tokens[t].word == e.tokens[t].word);
      CHECK(tokens[t].line == e.tokens[t].line);
    }
  }
  CHECK(bundle->Find("no-such-song") == -1);
  // sea-01 has a blank lyric line: three lines are kept.
  CHECK(bundle->song(bundle->Find("sea-01")).lines.size() == 3);
}

TEST_CASE("Bundle index search finds the theme songs") {
  auto words = LoadTiny();
  TempDir tmp;
  REQUIRE(WriteBundle(tmp.File("b"), *words, TinyCatalogue(), "v").ok());
  auto bundle = LoadBundle(tmp.File("b"));

  std::vector<std::string> sea = SearchIds(*bundle, *words, {"sea", "ocean"}, 14);
  REQUIRE(sea.size() == 14);
  CHECK(absl::StartsWith(sea[0], "sea-"));
  CHECK(absl::StartsWith(sea[1], "sea-"));
  std::vector<std::string> fire = SearchIds(*bundle, *words, {"fire", "flame"}, 3);
  REQUIRE(fire.size() == 3);
  CHECK(absl::StartsWith(fire[0], "fire-"));
  CHECK(absl::StartsWith(fire[1], "fire-"));
  CHECK(SearchIds(*bundle, *words, {"forest", "trees"}, 1) ==
        std::vector<std::string>{"forest-01"});
}

TEST_CASE("Bundle index search with a bitmap filter") {
  auto words = LoadTiny();
  TempDir tmp;
  REQUIRE(WriteBundle(tmp.File("b"), *words, TinyCatalogue(), "v").ok());
  auto bundle = LoadBundle(tmp.File("b"));
  std::vector<uint8_t> allowed(2, 0);
  for (const char* id : {"fire-01", "forest-02", "filler-05"}) {
    const int64_t n = bundle->Find(id);
    REQUIRE(n >= 0);
    allowed[n / 8] |= uint8_t(1u << (n % 8));
  }
  std::vector<std::string> ids = SearchIds(*bundle, *words, {"sea", "ocean"}, 10, &allowed);
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::string>{"filler-05", "fire-01", "forest-02"});

  std::vector<uint8_t> none(2, 0);
  CHECK(SearchIds(*bundle, *words, {"sea"}, 10, &none).empty());
}

TEST_CASE("Bundle lexical index: a word finds the songs whose lyrics hold it") {
  auto words = LoadTiny();
  TempDir tmp;
  REQUIRE(WriteBundle(tmp.File("b"), *words, TinyCatalogue(), "v").ok());
  auto bundle = LoadBundle(tmp.File("b"));
  const LexicalIndex& lexical = bundle->lexical();
  CHECK(lexical.size() == 14);
  auto ids_for = [&](const std::string& word, const std::vector<uint8_t>* allowed) {
    const int32_t id = words->Find(word);
    REQUIRE(id >= 0);
    std::vector<std::string> ids;
    for (const ScoredId& h : lexical.Search({{uint32_t(id), 1.0f}}, 14, allowed)) {
      ids.push_back(bundle->song(h.id).id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  // "smoke" is in the lyrics of both fire songs, "frozen" in both snow songs.
  CHECK(ids_for("smoke", nullptr) == std::vector<std::string>{"fire-01", "fire-02"});
  CHECK(ids_for("frozen", nullptr) == std::vector<std::string>{"snow-01", "snow-02"});
  CHECK(ids_for("ocean", nullptr) == std::vector<std::string>{"sea-01"});
  // Filters: the same bitmap the dense channel gets.
  Filters german;
  german.languages = {"de"};
  int64_t kept = 0;
  std::vector<uint8_t> allowed = bundle->Select(german, &kept);
  CHECK(kept == 1);
  CHECK(ids_for("smoke", &allowed) == std::vector<std::string>{"fire-02"});
  CHECK(ids_for("frozen", &allowed).empty());
}

TEST_CASE("Bundle with flat and hnsw indexes") {
  auto words = LoadTiny();
  const auto records = TinyCatalogue();
  for (const char* type : {"flat", "hnsw"}) {
    INFO(type);
    TempDir tmp;
    auto m = WriteBundle(tmp.File("b"), *words, records, "v", type);
    INFO(m.status().ToString());
    REQUIRE(m.ok());
    CHECK(m->index_type == type);
    auto bundle = LoadBundle(tmp.File("b"));
    CHECK(bundle->manifest().index_type == type);
    CHECK(bundle->index().type() == type);
    std::vector<std::string> ids = SearchIds(*bundle, *words, {"sea", "ocean"}, 5);
    REQUIRE(ids.size() == 5);
    CHECK(absl::StartsWith(ids[0], "sea-"));
    // Filtered search works on both.
    std::vector<uint8_t> only_snow(2, 0);
    const int64_t n = bundle->Find("snow-02");
    only_snow[n / 8] |= uint8_t(1u << (n % 8));
    CHECK(SearchIds(*bundle, *words, {"sea"}, 5, &only_snow) ==
          std::vector<std::string>{"snow-02"});
    std::vector<uint8_t> none(2, 0);
    CHECK(SearchIds(*bundle, *words, {"sea"}, 5, &none).empty());
  }
}

TEST_CASE("BundleWriter replaces an existing bundle atomically") {
  auto words = LoadTiny();
  const auto records = TinyCatalogue();
  TempDir tmp;
  const std::string dir = tmp.File("bundle");
  REQUIRE(WriteBundle(dir, *words, records, "old").ok());
  WriteWholeFile(dir + "/stray-old-file", "old");
  std::vector<SongRecord> three(records.begin(), records.begin() + 3);
  auto m = WriteBundle(dir, *words, three, "new");
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  auto bundle = LoadBundle(dir);
  CHECK(bundle->manifest().version == "new");
  CHECK(bundle->size() == 3);
  CHECK(bundle->Find("forest-01") == -1);
  CHECK_FALSE(PathExists(dir + "/stray-old-file"));
  CHECK(ListDir(tmp.path()) == std::vector<std::string>{"bundle"});
  // Publishing into a directory path given with a trailing slash works too.
  REQUIRE(WriteBundle(dir + "/", *words, records, "third").ok());
  CHECK(LoadBundle(dir)->manifest().version == "third");
  CHECK(ListDir(tmp.path()) == std::vector<std::string>{"bundle"});
}

TEST_CASE("BundleWriter failures leave nothing behind") {
  auto words = LoadTiny();
  TempDir tmp;
  const std::string dir = tmp.File("bundle");
  SECTION("no songs") {
    auto m = WriteBundle(dir, *words, {}, "v");
    CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(m.status().message(), "no valid songs"));
  }
  SECTION("unknown index type") {
    auto m = WriteBundle(dir, *words, TinyCatalogue(), "v", "annoy");
    CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(m.status().message(), "unknown index type 'annoy'"));
  }
  SECTION("an IVF index over fewer songs than lists") {
    auto m = WriteBundle(dir, *words, TinyCatalogue(), "v", "ivf");
    CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(m.status().message(), "training vectors"));
  }
  SECTION("abandoned without Finish") {
    BundleWriterOptions options;
    options.output_dir = dir;
    auto writer = BundleWriter::Create(options, words.get());
    REQUIRE(writer.ok());
    SongEmbedder embedder(words.get());
    SongRecord r = Record("x", "sea");
    REQUIRE((*writer)->Add(r, embedder.Embed(r)).ok());
    CHECK((*writer)->count() == 1);
    CHECK(ListDir(tmp.path()).size() == 1);  // the temporary directory
    writer->reset();
  }
  SECTION("a vector of the wrong dimension") {
    BundleWriterOptions options;
    options.output_dir = dir;
    auto writer = BundleWriter::Create(options, words.get());
    REQUIRE(writer.ok());
    EmbeddedSong bad;
    bad.vector.assign(3, 0.5f);
    CHECK((*writer)->Add(Record("x", "sea"), bad).code() == absl::StatusCode::kInvalidArgument);
  }
  SECTION("no output directory") {
    BundleWriterOptions options;
    CHECK(BundleWriter::Create(options, words.get()).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  CHECK(ListDir(tmp.path()).empty());
}

TEST_CASE("Bundle co-occurrence table: written, checked, optional") {
  auto words = LoadTiny();
  TempDir tmp;
  const std::string dir = tmp.File("b");
  CooccurrenceOptions o;
  o.min_count = 2;  // the tiny catalogue has two songs per theme
  auto m = WriteBundle(dir, *words, TinyCatalogue(), "v", "auto", o);
  REQUIRE(m.ok());
  REQUIRE(m->files.count(kCooccurrenceFile) == 1);
  {
    auto bundle = LoadBundle(dir);
    const CooccurrenceTable* table = bundle->cooccurrence();
    REQUIRE(table != nullptr);
    CHECK(table->units() == 14);
    CHECK(table->word_count() > 0);
    // "smoke" is in both fire songs, and only there: its best neighbours are
    // words only those two songs say (npmi 1, 2 songs).
    auto smoke = table->Neighbours(uint32_t(words->Find("smoke")));
    REQUIRE_FALSE(smoke.empty());
    CHECK(smoke[0].npmi == Approx(1.0f));
    CHECK(smoke[0].count == 2);
  }
  SECTION("a damaged cooccur.bin is refused, naming it") {
    const std::string path = dir + "/" + kCooccurrenceFile;
    std::string data = ReadWholeFile(path);
    data[9] ^= 0x01;  // the vocabulary size
    WriteWholeFile(path, data);
    auto b = Bundle::Load(dir, BundleLoadOptions{});
    CHECK(b.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(b.status().message(), kCooccurrenceFile));
    BundleLoadOptions fast;  // the structure checks catch it too
    fast.verify_checksums = false;
    b = Bundle::Load(dir, fast);
    CHECK(b.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(b.status().message(), kCooccurrenceFile));
  }
  SECTION("listed but missing is an error") {
    REQUIRE(::unlink((dir + "/" + kCooccurrenceFile).c_str()) == 0);
    auto b = Bundle::Load(dir, BundleLoadOptions{});
    CHECK_FALSE(b.ok());
    CHECK(absl::StrContains(b.status().message(), kCooccurrenceFile));
  }
  SECTION("a bundle without it (older, or --cooccurrence_neighbours=0) loads, expanding nothing") {
    o.neighbours = 0;
    auto m0 = WriteBundle(dir, *words, TinyCatalogue(), "v0", "auto", o);
    REQUIRE(m0.ok());
    CHECK(m0->files.count(kCooccurrenceFile) == 0);
    auto bundle = LoadBundle(dir);
    CHECK(bundle->cooccurrence() == nullptr);
  }
}

// A unit vector of `dim` for line `line` of song `song` (two non-zero
// values, so songs differ and means are not unit).
std::vector<float> LineVector(int dim, size_t song, size_t line) {
  std::vector<float> v(size_t(dim), 0.0f);
  v[(song + line) % dim] = 0.8f;
  v[(song + 2 * line + 1) % dim] += 0.6f;
  const float n = Norm(v);
  for (float& x : v) x /= n;
  return v;
}

// Writes the tiny catalogue with 4-d sentence vectors (LineVector).
absl::StatusOr<BundleManifest> WriteSentenceBundle(const std::string& dir,
                                                   const WordVectors& words) {
  BundleWriterOptions options;
  options.output_dir = dir;
  options.version = "sentences";
  options.sentence_dim = 4;
  options.sentence_encoder_id = "test-encoder@1";
  auto writer = BundleWriter::Create(options, &words);
  if (!writer.ok()) return writer.status();
  SongEmbedder embedder(&words);
  const std::vector<SongRecord> records = TinyCatalogue();
  for (size_t s = 0; s < records.size(); ++s) {
    EmbeddedSong song = embedder.Embed(records[s]);
    std::vector<float> lines;
    for (size_t i = 0; i < song.lines.size(); ++i) {
      const std::vector<float> v = LineVector(4, s, i);
      lines.insert(lines.end(), v.begin(), v.end());
    }
    lines.resize(lines.size() + 1);  // never null
    absl::Status st = (*writer)->Add(records[s], song, lines.data());
    if (!st.ok()) return st;
  }
  return (*writer)->Finish();
}

TEST_CASE("Bundle sentence vectors: written, checked, optional") {
  auto words = LoadTiny();
  TempDir tmp;
  const std::string dir = tmp.File("b");
  auto m = WriteSentenceBundle(dir, *words);
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  REQUIRE(m->files.count(kSentenceVectorsFile) == 1);
  CHECK(m->sentence_dim == 4);
  {
    auto bundle = LoadBundle(dir);
    CHECK(bundle->manifest().sentence_encoder_id == "test-encoder@1");
    CHECK(bundle->manifest().sentence_dim == 4);
    const SentenceVectors* sv = bundle->sentences();
    REQUIRE(sv != nullptr);
    CHECK(sv->dim() == 4);
    CHECK(sv->song_count() == 14);
    int64_t total = 0;
    for (int64_t s = 0; s < bundle->size(); ++s) {
      REQUIRE(sv->lines(s) == int64_t(bundle->line_count(s)));
      total += sv->lines(s);
      std::vector<float> mean(4, 0.0f), got(4), song(4);
      for (int64_t i = 0; i < sv->lines(s); ++i) {
        const std::vector<float> want = LineVector(4, size_t(s), size_t(i));
        sv->Line(s, i, got.data());
        for (int k = 0; k < 4; ++k) {
          CHECK(got[k] == Approx(want[k]).margin(0.005));  // 8 bits
          mean[k] += want[k];
        }
      }
      const float n = Norm(mean);
      sv->Song(s, song.data());
      for (int k = 0; k < 4; ++k) CHECK(song[k] == Approx(mean[k] / n).margin(0.005));
    }
    CHECK(sv->line_count() == total);
  }
  SECTION("a damaged sentences.bin is refused, naming it; no byte crashes the load") {
    const std::string path = dir + "/" + kSentenceVectorsFile;
    const std::string data = ReadWholeFile(path);
    std::string bad = data;
    bad[8] ^= 0x01;  // the dimension
    WriteWholeFile(path, bad);
    auto b = Bundle::Load(dir, BundleLoadOptions{});
    CHECK(b.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(b.status().message(), kSentenceVectorsFile));
    BundleLoadOptions fast;  // the structure checks catch it too
    fast.verify_checksums = false;
    b = Bundle::Load(dir, fast);
    CHECK(b.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(b.status().message(), kSentenceVectorsFile));
    int refused = 0;
    for (size_t i = 0; i < data.size(); ++i) {
      bad = data;
      bad[i] ^= 0x5a;
      WriteWholeFile(path, bad);
      b = Bundle::Load(dir, fast);
      if (!b.ok()) {
        ++refused;
        CHECK(b.status().code() == absl::StatusCode::kDataLoss);
      }
    }
    CHECK(refused > 0);
    WriteWholeFile(path, data.substr(0, data.size() - 8));  // truncated
    b = Bundle::Load(dir, fast);
    CHECK(b.status().code() == absl::StatusCode::kDataLoss);
  }
  SECTION("line vectors are required by a bundle with sentence vectors, refused by one without") {
    BundleWriterOptions options;
    options.output_dir = tmp.File("c");
    options.sentence_dim = 4;
    auto writer = BundleWriter::Create(options, words.get());
    REQUIRE(writer.ok());
    const SongRecord r = TinyCatalogue()[0];
    SongEmbedder embedder(words.get());
    CHECK((*writer)->Add(r, embedder.Embed(r)).code() == absl::StatusCode::kInvalidArgument);
    options.sentence_dim = 0;
    auto plain = BundleWriter::Create(options, words.get());
    REQUIRE(plain.ok());
    const float v[4] = {1, 0, 0, 0};
    CHECK((*plain)->Add(r, embedder.Embed(r), v).code() == absl::StatusCode::kInvalidArgument);
  }
  SECTION("a bundle without it loads, without sentence vectors") {
    auto m0 = WriteBundle(dir, *words, TinyCatalogue(), "v0");
    REQUIRE(m0.ok());
    CHECK(m0->files.count(kSentenceVectorsFile) == 0);
    auto bundle = LoadBundle(dir);
    CHECK(bundle->sentences() == nullptr);
    CHECK(bundle->manifest().sentence_dim == 0);
  }
}

TEST_CASE("Bundle::Load detects damaged files") {
  auto words = LoadTiny();
  TempDir tmp;
  const std::string dir = tmp.File("b");
  REQUIRE(WriteBundle(dir, *words, TinyCatalogue(), "v").ok());

  auto expect_data_loss = [&](const char* file) {
    auto b = Bundle::Load(dir, BundleLoadOptions{});
    INFO(b.status().ToString());
    CHECK(b.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(b.status().message(), file));
  };
  SECTION("a flipped byte in songs.bin") {
    // Inside the first song's artist name.
    const size_t at = ReadWholeFile(dir + "/songs.bin").find(TinyCatalogue()[0].artist);
    REQUIRE(at != std::string::npos);
    FlipByte(dir + "/songs.bin", at + 1);
    expect_data_loss("songs.bin");
    // Without checksum verification the file is read as it is.
    BundleLoadOptions fast;
    fast.verify_checksums = false;
    CHECK(Bundle::Load(dir, fast).ok());
  }
  SECTION("a flipped byte in tokens.bin") {
    FlipByte(dir + "/tokens.bin", 20);
    expect_data_loss("tokens.bin");
  }
  SECTION("a flipped byte in lexical.bin") {
    // The last posting byte.
    const std::string path = dir + "/lexical.bin";
    FlipByte(path, ReadWholeFile(path).size() - 1);
    expect_data_loss("lexical.bin");
    // Caught by the structure checks too.
    std::string data = ReadWholeFile(path);
    data.back() = char(uint8_t(data.back()) | 0x80);
    WriteWholeFile(path, data);
    BundleLoadOptions fast;
    fast.verify_checksums = false;
    auto b = Bundle::Load(dir, fast);
    CHECK(b.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(b.status().message(), "lexical.bin"));
  }
  SECTION("a missing lexical.bin") {
    REQUIRE(::unlink((dir + "/lexical.bin").c_str()) == 0);
    auto b = Bundle::Load(dir, BundleLoadOptions{});
    CHECK_FALSE(b.ok());
    CHECK(absl::StrContains(b.status().message(), "lexical.bin"));
  }
  SECTION("a truncated songs.faiss") {
    std::string data = ReadWholeFile(dir + "/songs.faiss");
    WriteWholeFile(dir + "/songs.faiss", data.substr(0, data.size() - 100));
    expect_data_loss("songs.faiss");
  }
  SECTION("a truncated tokens.bin") {
    std::string data = ReadWholeFile(dir + "/tokens.bin");
    WriteWholeFile(dir + "/tokens.bin", data.substr(0, data.size() - 8));
    expect_data_loss("tokens.bin");
  }
  SECTION("a missing file") {
    REQUIRE(::unlink((dir + "/tokens.bin").c_str()) == 0);
    auto b = Bundle::Load(dir, BundleLoadOptions{});
    CHECK_FALSE(b.ok());
    CHECK(absl::StrContains(b.status().message(), "tokens.bin"));
  }
  SECTION("a manifest that is not JSON") {
    WriteWholeFile(dir + "/manifest.json", "{not json");
    expect_data_loss("manifest.json");
  }
  SECTION("no bundle at all") {
    auto b = Bundle::Load(tmp.File("nothing"), BundleLoadOptions{});
    CHECK(b.status().code() == absl::StatusCode::kNotFound);
    CHECK(absl::StrContains(b.status().message(), "manifest.json"));
  }
}

TEST_CASE("Bundle::Load checks the manifest") {
  auto words = LoadTiny();
  TempDir tmp;
  const std::string dir = tmp.File("b");
  REQUIRE(WriteBundle(dir, *words, TinyCatalogue(), "v").ok());
  const std::string path = dir + "/manifest.json";
  nlohmann::json manifest = nlohmann::json::parse(ReadWholeFile(path));

  SECTION("wrong format_version") {
    manifest["format_version"] = kBundleFormatVersion + 1;
    WriteWholeFile(path, manifest.dump());
    auto b = Bundle::Load(dir, BundleLoadOptions{});
    CHECK(b.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(absl::StrContains(b.status().message(),
                            "format version " + std::to_string(kBundleFormatVersion + 1)));
    CHECK(absl::StrContains(b.status().message(), "newer than this build reads"));
  }
  SECTION("an older format (2: no lexical index) is refused with what to do") {
    manifest["format_version"] = 2;
    manifest["files"].erase("lexical.bin");
    WriteWholeFile(path, manifest.dump());
    REQUIRE(::unlink((dir + "/lexical.bin").c_str()) == 0);
    auto b = Bundle::Load(dir, BundleLoadOptions{});
    INFO(b.status().ToString());
    CHECK(b.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(absl::StrContains(b.status().message(), "bundle format version 2 is older"));
    CHECK(absl::StrContains(b.status().message(), "re-run i2s-index"));
  }
  SECTION("song count disagrees") {
    manifest["song_count"] = 15;
    WriteWholeFile(path, manifest.dump());
    auto b = Bundle::Load(dir, BundleLoadOptions{});
    CHECK(b.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(b.status().message(), "15"));
  }
  SECTION("common component of the wrong size") {
    manifest["common_component"]["pc"] = std::vector<float>{1, 0};
    WriteWholeFile(path, manifest.dump());
    auto b = Bundle::Load(dir, BundleLoadOptions{});
    CHECK(b.status().code() == absl::StatusCode::kDataLoss);
  }
  SECTION("a file missing from the manifest") {
    manifest["files"].erase("songs.faiss");
    WriteWholeFile(path, manifest.dump());
    auto b = Bundle::Load(dir, BundleLoadOptions{});
    CHECK(b.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(b.status().message(), "songs.faiss"));
  }
  SECTION("an unchanged manifest loads") {
    WriteWholeFile(path, manifest.dump());
    CHECK(Bundle::Load(dir, BundleLoadOptions{}).ok());
  }
}

namespace {

// The gap catalogue (snow-03 without genre and mood, fire-03 without genre)
// written with the tiny mood lexicon and imputation from 2 neighbours.
absl::StatusOr<BundleManifest> WriteMoodBundle(const std::string& dir, const WordVectors& words,
                                               const MoodLexicon* lexicon,
                                               std::vector<SongRecord>* records) {
  absl::Status s = ReadCatalogue(
      Assets() + "/catalogue_gaps.jsonl", CatalogueOptions{},
      [&](SongRecord&& r) {
        records->push_back(std::move(r));
        return absl::OkStatus();
      },
      nullptr);
  if (!s.ok()) return s;
  BundleWriterOptions options;
  options.output_dir = dir;
  options.version = "moods";
  options.lexicon = lexicon;
  options.lexicon_id = "tiny-lexicon@1";
  options.imputation.k = 2;
  auto writer = BundleWriter::Create(options, &words);
  if (!writer.ok()) return writer.status();
  SongEmbedder embedder(&words);
  for (const SongRecord& r : *records) {
    s = (*writer)->Add(r, embedder.Embed(r));
    if (!s.ok()) return s;
  }
  return (*writer)->Finish();
}

}  // namespace

TEST_CASE("Bundle moods: lyric moods and imputed values round trip") {
  auto words = LoadTiny();
  auto lexicon = MoodLexicon::Load(Assets() + "/mood_lexicon.tsv");
  INFO(lexicon.status().ToString());
  REQUIRE(lexicon.ok());
  TempDir tmp;
  const std::string dir = tmp.File("b");
  std::vector<SongRecord> records;
  auto m = WriteMoodBundle(dir, *words, &*lexicon, &records);
  INFO(m.status().ToString());
  REQUIRE(m.ok());
  REQUIRE(records.size() == 16);
  REQUIRE(m->files.count(kSongMoodsFile) == 1);
  CHECK(m->files.at(kSongMoodsFile).sha256.size() == 64);
  CHECK(m->imputed_genres == 2);
  CHECK(m->imputed_moods == 1);
  {
    auto bundle = LoadBundle(dir);
    CHECK(bundle->manifest().mood_lexicon_id == "tiny-lexicon@1");
    CHECK(bundle->manifest().imputation.k == 2);
    CHECK(bundle->manifest().imputed_genres == 2);
    const SongMoods* moods = bundle->moods();
    REQUIRE(moods != nullptr);
    SongEmbedder embedder(words.get());
    MoodOptions mo;
    for (size_t i = 0; i < records.size(); ++i) {
      INFO(records[i].id);
      const MoodRecord r = moods->Get(int64_t(i));
      const LyricMood want = ScoreLyrics(embedder.Embed(records[i]).lines, *lexicon, mo);
      CHECK(r.valence == want.valence);
      CHECK(r.arousal == want.arousal);
      CHECK(r.impression == want.impression);
      CHECK(r.scored_words == want.scored_words);
      CHECK(bool(r.flags & kHasLyricMood) == (want.impression != 0));
      // The record keeps the catalogue's values.
      CHECK(bundle->song(int64_t(i)).genre == records[i].genre);
      CHECK(bundle->song(int64_t(i)).mood == records[i].mood);
    }
    // "Burning Night" says fire, burning, smoke: negative.
    CHECK(moods->Get(bundle->Find("fire-01")).valence < 0);

    const int64_t snow = bundle->Find("snow-03"), fire = bundle->Find("fire-03");
    const MoodRecord s = moods->Get(snow), f = moods->Get(fire);
    CHECK(s.flags & kGenreImputed);
    CHECK(s.flags & kMoodImputed);
    CHECK(bundle->column_value(snow, kGenreColumn) == "classical");
    CHECK(s.genre_confidence == Approx(1.0f));
    CHECK(bundle->column_value(snow, kMoodColumn) == "calm");
    CHECK(s.mood_confidence > 0.5f);
    CHECK(s.mood_confidence < 1.0f);
    CHECK(f.flags & kGenreImputed);
    CHECK_FALSE(f.flags & kMoodImputed);
    CHECK(bundle->column_value(fire, kGenreColumn) == "rock");
    CHECK(bundle->column_value(fire, kMoodColumn) == "dark");
    CHECK(f.mood_confidence == 0);
    const MoodRecord catalogue = moods->Get(bundle->Find("snow-01"));
    CHECK((catalogue.flags & (kGenreImputed | kMoodImputed)) == 0);

    // Filters see imputed values unless catalogue_values_only.
    Filters classical;
    classical.genres = {"classical"};
    int64_t kept = 0;
    std::vector<uint8_t> bits = bundle->Select(classical, &kept);
    CHECK(kept == 3);
    CHECK((bits[snow >> 3] & (1u << (snow & 7))) != 0);
    classical.catalogue_values_only = true;
    bits = bundle->Select(classical, &kept);
    CHECK(kept == 2);
    CHECK((bits[snow >> 3] & (1u << (snow & 7))) == 0);
    Filters dark;
    dark.moods = {"dark"};
    dark.catalogue_values_only = true;  // fire-03's mood is the catalogue's
    bundle->Select(dark, &kept);
    CHECK(kept == 2);
    Filters calm;
    calm.moods = {"calm"};
    bundle->Select(calm, &kept);
    const int64_t calm_all = kept;
    calm.catalogue_values_only = true;
    bundle->Select(calm, &kept);
    CHECK(kept == calm_all - 1);
  }
  SECTION("a damaged moods.bin is refused, naming it; the checksum covers it") {
    const std::string path = dir + "/" + kSongMoodsFile;
    std::string data = ReadWholeFile(path);
    data[16 + 4] ^= 0x01;  // song 0's arousal: still in range, only the checksum sees it
    WriteWholeFile(path, data);
    auto b = Bundle::Load(dir, BundleLoadOptions{});
    CHECK(b.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(b.status().message(), kSongMoodsFile));
    data[8] ^= 0x01;  // the song count: the structure check sees it
    WriteWholeFile(path, data);
    BundleLoadOptions fast;
    fast.verify_checksums = false;
    b = Bundle::Load(dir, fast);
    CHECK(b.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(b.status().message(), kSongMoodsFile));
  }
  SECTION("listed but missing is an error") {
    REQUIRE(::unlink((dir + "/" + kSongMoodsFile).c_str()) == 0);
    auto b = Bundle::Load(dir, BundleLoadOptions{});
    CHECK_FALSE(b.ok());
    CHECK(absl::StrContains(b.status().message(), kSongMoodsFile));
  }
  SECTION("without a lexicon and with nothing to impute there is no moods.bin") {
    auto m0 = WriteBundle(dir, *words, TinyCatalogue(), "v0");
    REQUIRE(m0.ok());
    CHECK(m0->files.count(kSongMoodsFile) == 0);
    auto bundle = LoadBundle(dir);
    CHECK(bundle->moods() == nullptr);
    Filters f;
    f.genres = {"folk"};
    f.catalogue_values_only = true;
    int64_t kept = 0;
    bundle->Select(f, &kept);
    CHECK(kept == 3);
  }
}

}  // namespace image2song
