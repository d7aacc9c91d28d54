// Tests of the i2s-index command line tool: runs the real binary
// ($I2S_INDEX_BIN) on the generated tiny catalogue (fixture `assets`).
#include <dirent.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "core/bundle/bundle.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using ::image2song::testing::ListDir;
using ::image2song::testing::ReadWholeFile;
using ::image2song::testing::RequiredEnv;
using ::image2song::testing::RunCommand;
using ::image2song::testing::TempDir;
using ::image2song::testing::WriteWholeFile;

std::string Assets() { return RequiredEnv("I2S_TEST_ASSETS"); }

struct Outcome {
  int exit_code = -1;
  std::string output;  // stdout + stderr
};

Outcome RunIndex(std::vector<std::string> args) {
  args.insert(args.begin(), RequiredEnv("I2S_INDEX_BIN"));
  Outcome o;
  o.exit_code = RunCommand(args, &o.output);
  INFO(o.output);
  return o;
}

bool Exists(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d != nullptr) ::closedir(d);
  return d != nullptr;
}

// The tiny catalogue with line `line` (1-based) replaced by `replacement`.
std::string CatalogueWithLine(int line, const std::string& replacement) {
  std::string text = ReadWholeFile(Assets() + "/catalogue.jsonl");
  size_t start = 0;
  for (int i = 1; i < line; ++i) start = text.find('\n', start) + 1;
  const size_t end = text.find('\n', start);
  REQUIRE(end != std::string::npos);
  return text.replace(start, end - start, replacement);
}

}  // namespace

TEST_CASE("i2s-index builds a bundle from the tiny JSONL catalogue") {
  TempDir tmp;
  const std::string out = tmp.File("bundle");
  Outcome o = RunIndex({"--catalogue=" + Assets() + "/catalogue.jsonl",
                        "--models=" + Assets() + "/models.json", "--output=" + out,
                        "--bundle_version=cli-1"});
  INFO(o.output);
  REQUIRE(o.exit_code == 0);
  CHECK(absl::StrContains(o.output, "bundle cli-1 written to " + out));
  CHECK(absl::StrContains(o.output, "14 songs, 0 skipped"));
  CHECK(absl::StrContains(o.output, "index flat"));
  CHECK(absl::StrContains(o.output, "test-words-16d@1"));
  for (const char* f : {"manifest.json", "songs.faiss", "songs.bin", "columns.bin", "columns.json",
                        "tokens.bin", "lexical.bin"}) {
    CHECK(!ReadWholeFile(out + "/" + f).empty());
  }
  CHECK(absl::StrContains(ReadWholeFile(out + "/manifest.json"), "\"version\": \"cli-1\""));
  CHECK(ListDir(tmp.path()) == std::vector<std::string>{"bundle"});
}

TEST_CASE("i2s-index reads the CSV catalogue and builds HNSW on request") {
  TempDir tmp;
  Outcome o = RunIndex({"--catalogue=" + Assets() + "/catalogue.csv",
                        "--models=" + Assets() + "/models.json", "--output=" + tmp.File("bundle"),
                        "--quiet", "--index_type=hnsw"});
  INFO(o.output);
  REQUIRE(o.exit_code == 0);
  CHECK(absl::StrContains(o.output, "14 songs, 0 skipped"));
  CHECK(absl::StrContains(o.output, "index hnsw"));
}

TEST_CASE("i2s-index fails on a bad record and leaves nothing behind") {
  TempDir tmp;
  const std::string catalogue = tmp.File("bad.jsonl");
  WriteWholeFile(catalogue, CatalogueWithLine(3, R"({"id": "no-title", "artist": "A", )"
                                                 R"("lyrics": "la"})"));
  Outcome o = RunIndex({"--catalogue=" + catalogue, "--models=" + Assets() + "/models.json",
                        "--output=" + tmp.File("bundle")});
  INFO(o.output);
  CHECK(o.exit_code != 0);
  CHECK(absl::StrContains(o.output, catalogue + ":3: field 'title'"));
  CHECK_FALSE(Exists(tmp.File("bundle")));
  CHECK(ListDir(tmp.path()) == std::vector<std::string>{"bad.jsonl"});
}

TEST_CASE("i2s-index --skip_invalid skips and counts bad records") {
  TempDir tmp;
  const std::string catalogue = tmp.File("bad.jsonl");
  WriteWholeFile(catalogue, CatalogueWithLine(3, R"({"id": "no-title", "artist": "A", )"
                                                 R"("lyrics": "la"})"));
  Outcome o = RunIndex({"--catalogue=" + catalogue, "--models=" + Assets() + "/models.json",
                        "--output=" + tmp.File("bundle"), "--skip_invalid"});
  INFO(o.output);
  REQUIRE(o.exit_code == 0);
  CHECK(absl::StrContains(o.output, "13 songs, 1 skipped"));
  CHECK(absl::StrContains(o.output, "skipped: " + catalogue + ":3: field 'title'"));
  CHECK(
      absl::StrContains(ReadWholeFile(tmp.File("bundle/manifest.json")), "\"skipped_records\": 1"));
}

TEST_CASE("i2s-index without --output is a usage error") {
  Outcome o = RunIndex(
      {"--catalogue=" + Assets() + "/catalogue.jsonl", "--models=" + Assets() + "/models.json"});
  INFO(o.output);
  CHECK(o.exit_code == 2);
  CHECK(absl::StrContains(o.output, "--output"));
  CHECK(absl::StrContains(o.output, "required"));
}

TEST_CASE("i2s-index names a nonexistent catalogue") {
  TempDir tmp;
  Outcome o = RunIndex({"--catalogue=" + tmp.File("nope.jsonl"),
                        "--models=" + Assets() + "/models.json", "--output=" + tmp.File("bundle")});
  INFO(o.output);
  CHECK(o.exit_code == 1);
  CHECK(absl::StrContains(o.output, tmp.File("nope.jsonl")));
  // No bundle and no temporary directory left behind.
  CHECK(ListDir(tmp.path()).empty());
}

TEST_CASE("i2s-index --help documents the flags") {
  Outcome o = RunIndex({"--help"});
  CHECK(absl::StrContains(o.output, "--catalogue"));
  CHECK(absl::StrContains(o.output, "--output"));
  CHECK(absl::StrContains(o.output, "--skip_invalid"));
  CHECK(absl::StrContains(o.output, "usage: i2s-index"));
}

}  // namespace image2song

namespace image2song {
namespace {

std::string JsonLine(const std::string& id, const std::string& title, const std::string& lyrics) {
  return "{\"id\": \"" + id + "\", \"title\": \"" + title +
         "\", \"artist\": \"Change Band\", \"genre\": \"pop\", \"lyrics\": \"" + lyrics + "\"}\n";
}

// The base bundle and the one an update wrote from it, both loaded.
struct BeforeAfter {
  std::unique_ptr<Bundle> before, after;
};
BeforeAfter LoadBeforeAfter(const std::string& base, const std::string& out) {
  auto before = Bundle::Load(base, BundleLoadOptions{});
  auto after = Bundle::Load(out, BundleLoadOptions{});
  INFO(before.status().ToString());
  REQUIRE(before.ok());
  INFO(after.status().ToString());
  REQUIRE(after.ok());
  return {std::move(*before), std::move(*after)};
}

TEST_CASE("i2s-index --changes updates a bundle without re-embedding unchanged songs") {
  const char* type = GENERATE("flat", "ivf");
  INFO(type);
  TempDir tmp;
  const std::string base = tmp.File("base"), out = tmp.File("out");
  std::vector<std::string> index_flags = {"--index_type=" + std::string(type), "--ivf_nlist=4"};
  std::vector<std::string> args = {"--catalogue=" + Assets() + "/catalogue.jsonl",
                                   "--models=" + Assets() + "/models.json", "--output=" + base,
                                   "--bundle_version=b1"};
  args.insert(args.end(), index_flags.begin(), index_flags.end());
  REQUIRE(RunIndex(args).exit_code == 0);
  WriteWholeFile(
      tmp.File("changes.jsonl"),
      JsonLine("sea-02", "Sailor's Boat (Fire Remix)", "The fire burns and the flame is high") +
          "{\"id\": \"forest-02\", \"deleted\": true}\n"
          "{\"id\": \"no-such-song\", \"deleted\": true}\n" +
          JsonLine("new-01", "Winter Song", "Snow is falling white and cold in winter"));
  Outcome o =
      RunIndex({"--changes=" + tmp.File("changes.jsonl"), "--base=" + base,
                "--models=" + Assets() + "/models.json", "--output=" + out, "--bundle_version=b2"});
  INFO(o.output);
  REQUIRE(o.exit_code == 0);
  CHECK(absl::StrContains(o.output,
                          "14 songs (12 kept without re-embedding, 1 updated, "
                          "1 added, 1 deleted, 1 unknown deletions), index " +
                              std::string(type)));

  const BeforeAfter loaded = LoadBeforeAfter(base, out);
  const Bundle& a = *loaded.after;
  const Bundle& b = *loaded.before;
  CHECK(a.manifest().version == "b2");
  CHECK(a.size() == 14);
  CHECK(a.Find("forest-02") == -1);
  REQUIRE(a.Find("new-01") >= 0);
  REQUIRE(a.Find("sea-02") >= 0);
  CHECK(a.song(a.Find("sea-02")).title == "Sailor's Boat (Fire Remix)");
  CHECK(a.song(a.Find("new-01")).lines ==
        std::vector<std::string>{"Snow is falling white and cold in winter"});
  // The common component is the base's, and unchanged songs carry the
  // base's vectors and tokens unchanged.
  CHECK(a.manifest().common.mean == b.manifest().common.mean);
  CHECK(a.manifest().common.pc == b.manifest().common.pc);
  std::vector<float> va(a.manifest().dim), vb(b.manifest().dim);
  for (const char* id : {"sea-01", "fire-01", "snow-02", "filler-05"}) {
    INFO(id);
    const int64_t ia = a.Find(id), ib = b.Find(id);
    REQUIRE(ia >= 0);
    REQUIRE(ib >= 0);
    a.index().Reconstruct(ia, va.data());
    b.index().Reconstruct(ib, vb.data());
    CHECK(va == vb);
    CHECK(a.tokens(ia).size() == b.tokens(ib).size());
    CHECK(a.song(ia).lines == b.song(ib).lines);
  }
  // The updated song is found by its new lyrics.
  std::vector<float> q(a.manifest().dim);
  a.index().Reconstruct(a.Find("sea-02"), q.data());
  auto hits = a.index().Search(q.data(), 1, nullptr);
  REQUIRE(hits.ok());
  REQUIRE(hits->size() == 1);
  CHECK(a.id((*hits)[0].id) == "sea-02");
  // The lexical index is rebuilt over the new song set: the updated and the
  // added songs' words find them, the deleted song's do not.
  auto words = WordVectors::Load(Assets() + "/words.i2sv", "test-words-16d@1");
  REQUIRE(words.ok());
  auto lexical_ids = [&](const char* word) {
    const int32_t id = (*words)->Find(word);
    REQUIRE(id >= 0);
    std::vector<std::string> ids;
    for (const ScoredId& h : a.lexical().Search({{uint32_t(id), 1.0f}}, 20, nullptr)) {
      ids.emplace_back(a.id(h.id));
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  CHECK(lexical_ids("flame") == std::vector<std::string>{"fire-02", "sea-02"});
  CHECK(lexical_ids("snow") == std::vector<std::string>{"new-01", "snow-01", "snow-02"});
  CHECK(lexical_ids("leaves") == std::vector<std::string>{"forest-01"});
}

TEST_CASE("A deletion record outside a change file is refused") {
  TempDir tmp;
  WriteWholeFile(tmp.File("c.jsonl"), ReadWholeFile(Assets() + "/catalogue.jsonl") +
                                          "{\"id\": \"sea-01\", \"deleted\": true}\n");
  Outcome o = RunIndex({"--catalogue=" + tmp.File("c.jsonl"),
                        "--models=" + Assets() + "/models.json", "--output=" + tmp.File("b")});
  CHECK(o.exit_code == 1);
  CHECK(absl::StrContains(o.output, "deletions are only read from change files"));
}

}  // namespace
}  // namespace image2song

namespace image2song {
namespace {

// The tiny catalogue repeated `copies` times with distinct ids.
std::string BigCatalogue(int copies) {
  const std::string text = ReadWholeFile(Assets() + "/catalogue.jsonl");
  std::string out;
  for (int c = 0; c < copies; ++c) {
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(start, end - start);
      const size_t id = line.find("\"id\": \"");
      if (id != std::string::npos) line.insert(id + 7, "c" + std::to_string(c) + "-");
      if (!line.empty()) out += line + "\n";
      start = end + 1;
    }
  }
  return out;
}

}  // namespace

TEST_CASE(
    "kill -9 during i2s-index leaves the previous bundle serving and the next run cleans up") {
  TempDir tmp;
  const std::string out = tmp.File("bundle");
  REQUIRE(RunIndex({"--catalogue=" + Assets() + "/catalogue.jsonl",
                    "--models=" + Assets() + "/models.json", "--output=" + out,
                    "--bundle_version=before"})
              .exit_code == 0);
  const std::string manifest_before = ReadWholeFile(out + "/manifest.json");
  WriteWholeFile(tmp.File("big.jsonl"), BigCatalogue(20000));
  // Kill it while it writes its temporary directory.
  testing::ChildProcess index(
      {RequiredEnv("I2S_INDEX_BIN"), "--catalogue=" + tmp.File("big.jsonl"),
       "--models=" + Assets() + "/models.json", "--output=" + out, "--bundle_version=after"},
      tmp.File("index.log"));
  std::string temp_dir;
  for (int i = 0; i < 2000 && temp_dir.empty(); ++i) {
    for (const std::string& n : ListDir(tmp.path())) {
      if (absl::StartsWith(n, "bundle.tmp-")) temp_dir = n;
    }
    if (temp_dir.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE_FALSE(temp_dir.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  REQUIRE(index.Running());  // still writing: the kill lands mid-build
  CHECK(index.Stop(SIGKILL, 10000) == 128 + SIGKILL);
  // The published bundle is the previous one, whole; the half-written one
  // is only under its temporary name.
  CHECK(ReadWholeFile(out + "/manifest.json") == manifest_before);
  auto loaded = Bundle::Load(out, BundleLoadOptions{});
  INFO(loaded.status().ToString());
  REQUIRE(loaded.ok());
  CHECK((*loaded)->manifest().version == "before");
  CHECK(Exists(tmp.File(temp_dir)));
  // The next build removes the stale directory and publishes.
  Outcome o = RunIndex({"--catalogue=" + Assets() + "/catalogue.jsonl",
                        "--models=" + Assets() + "/models.json", "--output=" + out,
                        "--bundle_version=next"});
  CHECK(o.exit_code == 0);
  CHECK(absl::StrContains(o.output, "left by an interrupted build"));
  CHECK_FALSE(Exists(tmp.File(temp_dir)));
  auto next = Bundle::Load(out, BundleLoadOptions{});
  REQUIRE(next.ok());
  CHECK((*next)->manifest().version == "next");
}

TEST_CASE("i2s-index scores lyric moods, imputes gaps, keeps them on update, and evaluates") {
  TempDir tmp;
  const std::string base = tmp.File("base"), out = tmp.File("out");
  const std::string models = "--models=" + Assets() + "/models_mood.json";
  Outcome o = RunIndex({"--catalogue=" + Assets() + "/catalogue_gaps.jsonl", models,
                        "--output=" + base, "--bundle_version=m1"});
  REQUIRE(o.exit_code == 0);
  CHECK(absl::StrContains(o.output, "2 genres and 1 moods imputed"));
  CHECK(absl::StrContains(o.output, "lyric moods: "));

  // An update: a new song without genre or mood is imputed too; kept songs
  // keep their lyric mood and imputed values.
  WriteWholeFile(tmp.File("changes.jsonl"),
                 "{\"id\": \"new-01\", \"title\": \"Winter Song\", \"artist\": \"Change Band\", "
                 "\"lyrics\": \"Snow is falling white and cold in winter\"}\n");
  o = RunIndex({"--changes=" + tmp.File("changes.jsonl"), "--base=" + base, models,
                "--output=" + out, "--bundle_version=m2"});
  REQUIRE(o.exit_code == 0);
  const BeforeAfter loaded = LoadBeforeAfter(base, out);
  const Bundle& a = *loaded.after;
  const Bundle& b = *loaded.before;
  REQUIRE(a.moods() != nullptr);
  CHECK(a.manifest().imputed_genres == 3);
  const int64_t n = a.Find("new-01");
  REQUIRE(n >= 0);
  CHECK(a.moods()->Get(n).flags & kGenreImputed);
  CHECK(a.column_value(n, kGenreColumn) == "classical");
  for (const char* id : {"snow-03", "fire-03", "sea-01"}) {
    INFO(id);
    const MoodRecord x = a.moods()->Get(a.Find(id)), y = b.moods()->Get(b.Find(id));
    CHECK(x.valence == y.valence);
    CHECK(x.impression == y.impression);
    CHECK(x.flags == y.flags);
    CHECK(a.column_value(a.Find(id), kGenreColumn) == b.column_value(b.Find(id), kGenreColumn));
  }

  // The held-out evaluation prints each field against the majority class.
  o = RunIndex({"--imputation_eval=" + base, models, "--imputation_eval_k=1,3",
                "--imputation_eval_folds=2"});
  REQUIRE(o.exit_code == 0);
  CHECK(absl::StrContains(o.output, "accuracy  majority  coverage"));
  CHECK(absl::StrContains(o.output, "genre"));
  CHECK(absl::StrContains(o.output, "lyric impression"));
  o = RunIndex({"--imputation_eval=" + base, models, "--imputation_eval_k=0"});
  CHECK(o.exit_code == 2);
  CHECK(absl::StrContains(o.output, "--imputation_eval_k: bad value '0'"));
}

TEST_CASE("i2s-index refuses a bad mood lexicon or imputation setting with a clear message") {
  TempDir tmp;
  WriteWholeFile(tmp.File("bad.tsv"), "love\t3\nhate -3\n");
  Outcome o = RunIndex({"--catalogue=" + Assets() + "/catalogue_gaps.jsonl",
                        "--models=" + Assets() + "/models_mood.json",
                        "--mood_lexicon=" + tmp.File("bad.tsv"), "--output=" + tmp.File("b")});
  CHECK(o.exit_code == 1);
  CHECK(absl::StrContains(o.output, "bad.tsv:2: no tab"));
  CHECK_FALSE(Exists(tmp.File("b")));
  o = RunIndex({"--catalogue=" + Assets() + "/catalogue_gaps.jsonl",
                "--models=" + Assets() + "/models_mood.json",
                "--mood_lexicon=" + tmp.File("missing.tsv"), "--output=" + tmp.File("b")});
  CHECK(o.exit_code == 1);
  CHECK(absl::StrContains(o.output, "missing.tsv"));
  std::string manifest = ReadWholeFile(Assets() + "/models_mood.json");
  const size_t at = manifest.find("\"similarity\"");
  REQUIRE(at != std::string::npos);
  manifest.replace(at, 12, "\"loudest\"");
  // Relative file names resolve against the manifest's directory.
  WriteWholeFile(Assets() + "/models_mood_bad.json", manifest);
  o = RunIndex({"--catalogue=" + Assets() + "/catalogue_gaps.jsonl",
                "--models=" + Assets() + "/models_mood_bad.json", "--output=" + tmp.File("b")});
  CHECK(o.exit_code == 1);
  CHECK(absl::StrContains(o.output, "vote similarity or majority"));
  // --mood_lexicon=none: no lyric moods, imputation still on.
  o = RunIndex({"--catalogue=" + Assets() + "/catalogue_gaps.jsonl",
                "--models=" + Assets() + "/models_mood.json", "--mood_lexicon=none",
                "--output=" + tmp.File("b")});
  REQUIRE(o.exit_code == 0);
  auto bundle = Bundle::Load(tmp.File("b"), BundleLoadOptions{});
  REQUIRE(bundle.ok());
  REQUIRE((*bundle)->moods() != nullptr);
  CHECK((*bundle)->manifest().mood_lexicon_id.empty());
  CHECK_FALSE((*bundle)->moods()->Get((*bundle)->Find("sea-01")).flags & kHasLyricMood);
}

TEST_CASE("i2s-index --changes --sentence_vectors keeps the base's sentence vectors") {
  TempDir tmp;
  const std::string base = tmp.File("base"), out = tmp.File("out");
  const std::string models = "--models=" + Assets() + "/models_sentence.json";
  REQUIRE(RunIndex({"--catalogue=" + Assets() + "/catalogue.jsonl", models, "--output=" + base,
                    "--sentence_vectors", "--sentence_threads=1", "--bundle_version=s1"})
              .exit_code == 0);
  WriteWholeFile(
      tmp.File("changes.jsonl"),
      JsonLine("sea-02", "Sailor's Boat (Fire Remix)", "The fire burns and the flame is high") +
          "{\"id\": \"forest-02\", \"deleted\": true}\n" +
          JsonLine("new-01", "Winter Song", "Snow is falling white and cold in winter"));
  Outcome o = RunIndex({"--changes=" + tmp.File("changes.jsonl"), "--base=" + base, models,
                        "--output=" + out, "--sentence_vectors", "--sentence_threads=1",
                        "--bundle_version=s2"});
  REQUIRE(o.exit_code == 0);
  const BeforeAfter loaded = LoadBeforeAfter(base, out);
  const Bundle& a = *loaded.after;
  const Bundle& b = *loaded.before;
  REQUIRE(a.sentences() != nullptr);
  CHECK(a.manifest().sentence_encoder_id == b.manifest().sentence_encoder_id);
  const int dim = a.sentences()->dim();
  REQUIRE(dim == b.sentences()->dim());
  // Kept songs: the base's line vectors, unchanged.
  for (const char* id : {"sea-01", "fire-01", "snow-02"}) {
    INFO(id);
    const int64_t ia = a.Find(id), ib = b.Find(id);
    REQUIRE(a.sentences()->lines(ia) == b.sentences()->lines(ib));
    std::vector<float> la(size_t(a.sentences()->lines(ia)) * dim + 1),
        lb(size_t(b.sentences()->lines(ib)) * dim + 1);
    a.sentences()->Lines(ia, la.data());
    b.sentences()->Lines(ib, lb.data());
    CHECK(la == lb);
  }
  // Changed and new songs: a unit vector for each of their new lines.
  for (const char* id : {"sea-02", "new-01"}) {
    INFO(id);
    const int64_t i = a.Find(id);
    REQUIRE(i >= 0);
    CHECK(a.sentences()->lines(i) == int64_t(a.song(i).lines.size()));
    std::vector<float> v(size_t(a.sentences()->lines(i)) * dim + 1);
    a.sentences()->Lines(i, v.data());
    double norm = 0;
    for (int k = 0; k < dim; ++k) norm += double(v[k]) * v[k];
    CHECK(norm == Approx(1.0).margin(0.02));
  }
  // sea-02's new first line differs from its old one: its vector moved.
  std::vector<float> va(dim), vb(dim);
  a.sentences()->Line(a.Find("sea-02"), 0, va.data());
  b.sentences()->Line(b.Find("sea-02"), 0, vb.data());
  CHECK(va != vb);
  // Without --sentence_vectors the update says what it drops.
  o = RunIndex({"--changes=" + tmp.File("changes.jsonl"), "--base=" + base, models,
                "--output=" + tmp.File("dropped")});
  REQUIRE(o.exit_code == 0);
  CHECK(absl::StrContains(o.output, "has no sentences.bin"));
  auto dropped = Bundle::Load(tmp.File("dropped"), BundleLoadOptions{});
  REQUIRE(dropped.ok());
  CHECK((*dropped)->sentences() == nullptr);
}

}  // namespace image2song
