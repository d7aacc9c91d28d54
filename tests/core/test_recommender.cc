// Tests for core/recommender.h on the generated tiny models and the bundle
// that i2s-index built from the tiny catalogue (fixtures `assets`, `bundle`).
#include "core/recommender.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "core/image/image.h"
#include "core/query.h"
#include "tests/support/test_util.h"
#include "util/file_util.h"

namespace image2song {
namespace {

using ::image2song::testing::ReadWholeFile;
using ::image2song::testing::RequiredEnv;
using ::image2song::testing::TempDir;
using ::image2song::testing::WriteWholeFile;

std::shared_ptr<const ModelSet> LoadModels(bool words_only) {
  ModelSetOptions options;
  options.manifest_path = RequiredEnv("I2S_TEST_ASSETS") + "/models.json";
  options.words_only = words_only;
  auto models = ModelSet::Load(options);
  INFO(models.status().ToString());
  REQUIRE(models.ok());
  return std::shared_ptr<const ModelSet>(std::move(*models));
}

std::shared_ptr<const Bundle> LoadBundle(const std::string& dir) {
  auto bundle = Bundle::Load(dir, BundleLoadOptions{});
  INFO(bundle.status().ToString());
  REQUIRE(bundle.ok());
  return std::shared_ptr<const Bundle>(std::move(*bundle));
}

// Models without image taggers (enough for RecommendForTags).
Snapshot WordsSnapshot() {
  return Snapshot{LoadModels(/*words_only=*/true), LoadBundle(RequiredEnv("I2S_TEST_BUNDLE")),
                  nullptr};
}

Tag MakeTag(const std::string& label, std::vector<std::string> words, float score) {
  Tag t;
  t.label = label;
  t.score = score;
  t.source = "test";
  t.words = std::move(words);
  return t;
}

Tag Ocean() { return MakeTag("ocean", {"sea", "ocean", "waves"}, 0.9f); }
Tag Fire() { return MakeTag("fire", {"fire", "flame"}, 0.3f); }

Recommendation Run(const Snapshot& snap, std::vector<Tag> tags, const RecommendOptions& options) {
  auto rec = RecommendForTags(snap, std::move(tags), options);
  INFO(rec.status().ToString());
  REQUIRE(rec.ok());
  return std::move(*rec);
}

std::vector<std::string> Ids(const Snapshot& snap, const Recommendation& rec) {
  std::vector<std::string> ids;
  for (const SongScore& s : rec.songs) ids.push_back(snap.bundle->song(s.song).id);
  return ids;
}

RgbImage DecodeAsset(const std::string& name) {
  const std::string bytes = ReadWholeFile(RequiredEnv("I2S_TEST_ASSETS") + "/images/" + name);
  REQUIRE(!bytes.empty());
  auto image = DecodeImage(bytes, DecodeOptions{});
  INFO(image.status().ToString());
  REQUIRE(image.ok());
  return std::move(*image);
}

}  // namespace

TEST_CASE("An ocean tag ranks the sea songs first") {
  Snapshot snap = WordsSnapshot();
  RecommendOptions options;
  options.bm25_weight = 0;  // the score is cosine and attention only (see below for BM25)
  Recommendation rec = Run(snap, {Ocean()}, options);
  REQUIRE(rec.songs.size() == 10);  // default top_k
  std::vector<std::string> ids = Ids(snap, rec);
  std::vector<std::string> top2(ids.begin(), ids.begin() + 2);
  std::sort(top2.begin(), top2.end());
  CHECK(top2 == std::vector<std::string>{"sea-01", "sea-02"});
  for (size_t i = 1; i < rec.songs.size(); ++i) {
    CHECK(rec.songs[i].score <= rec.songs[i - 1].score);
  }
  for (const SongScore& s : rec.songs) {
    CHECK(s.score == Approx(options.retrieval_weight * s.retrieval +
                            (1 - options.retrieval_weight) * s.attention));
    CHECK(s.retrieval <= 1.0001f);
    CHECK(s.attention <= 1.0001f);
    CHECK(s.tags.empty());  // explain = false
    CHECK(s.lines.empty());
  }
  // The tags are passed through.
  REQUIRE(rec.tags.size() == 1);
  CHECK(rec.tags[0].label == "ocean");
}

TEST_CASE("The lyric word table and its cached cosines rank the same bits") {
  // Plain: the models' word table, cosines computed per request.
  Snapshot plain = WordsSnapshot();
  // The lyric word table: vectors from one block, cosines cached per tag.
  Snapshot fast{plain.models, plain.bundle, nullptr};
  auto table = LyricWordTable::Build(*fast.bundle, fast.models->words());
  REQUIRE(table != nullptr);
  CHECK(table->rows() == table->distinct());
  CHECK(table->rows() > 20);
  const LyricWordTable* t = table.get();
  fast.lyric_words = std::move(table);
  // A word of the lyrics comes from the block, the same bits as the models'.
  const WordVectors& words = fast.models->words();
  const LyricToken first = fast.bundle->tokens(0)[0];
  CHECK(t->Row(first.word) >= 0);
  CHECK(t->UnitVector(first.word) != words.UnitVector(int32_t(first.word)));
  CHECK(std::equal(words.UnitVector(int32_t(first.word)),
                   words.UnitVector(int32_t(first.word)) + words.dim(), t->UnitVector(first.word)));
  CHECK(t->Row(uint32_t(words.size()) + 5) == -1);
  // A small budget keeps only the most frequent words; the rest come from
  // the models' table.
  auto small = LyricWordTable::Build(*fast.bundle, words,
                                     (size_t(words.size()) + 10 * size_t(words.dim())) * 4);
  REQUIRE(small != nullptr);
  CHECK(small->rows() < small->distinct());
  CHECK(small->rows() <= 10);
  // Every song has its list of distinct words (the lists' budget holds the
  // whole bundle) in the order the words first appear, with their counts;
  // with the small table only songs of its 10 words would.
  const Bundle& bundle = *fast.bundle;
  CHECK(t->listed_songs() == bundle.size());
  for (int64_t song = 0; song < bundle.size(); ++song) {
    absl::Span<const LyricWordTable::SongWord> list;
    REQUIRE(t->SongWords(song, &list));
    std::vector<uint32_t> order;
    std::map<uint32_t, float> count;
    for (const LyricToken& token : bundle.tokens(song)) {
      if (count[token.word]++ == 0) order.push_back(token.word);
    }
    REQUIRE(list.size() == order.size());
    for (size_t i = 0; i < list.size(); ++i) {
      CHECK(t->WordOfRow(list[i].row) == order[i]);
      CHECK(int32_t(list[i].row) == t->Row(order[i]));
      CHECK(list[i].count == count[order[i]]);
    }
  }
  absl::Span<const LyricWordTable::SongWord> none;
  CHECK_FALSE(t->SongWords(bundle.size(), &none));
  CHECK_FALSE(t->SongWords(-1, &none));
  CHECK(small->listed_songs() < bundle.size());
  // Lists for the songs whose words all made the block (its budget holds
  // half of them): the others' words come from their tokens.
  auto some = LyricWordTable::Build(
      bundle, words, (size_t(words.size()) + t->rows() / 2 * size_t(words.dim())) * 4);
  REQUIRE(some != nullptr);
  CHECK(some->listed_songs() > 0);
  CHECK(some->listed_songs() < bundle.size());
  Snapshot some_lists{plain.models, plain.bundle, std::move(some)};
  // A bundle whose tokens do not fit the lists' budget has none.
  size_t tokens = 0;
  for (int64_t song = 0; song < bundle.size(); ++song) tokens += bundle.tokens(song).size();
  auto unlisted = LyricWordTable::Build(bundle, words, size_t(64) << 20, 20'000'000,
                                        (tokens - 1) * sizeof(LyricWordTable::SongWord));
  REQUIRE(unlisted != nullptr);
  CHECK(unlisted->listed_songs() == 0);
  CHECK_FALSE(unlisted->SongWords(0, &none));
  CHECK(LyricWordTable::Build(bundle, words, size_t(64) << 20, 20'000'000,
                              tokens * sizeof(LyricWordTable::SongWord))
            ->listed_songs() == bundle.size());
  Snapshot no_lists{plain.models, plain.bundle, std::move(unlisted)};
  Snapshot partial{plain.models, plain.bundle, std::move(small)};
  RecommendOptions options;
  options.top_k = 20;
  const std::vector<std::vector<Tag>> queries = {
      {Ocean()}, {Ocean(), Fire()}, {Fire()}, {Ocean()}};  // the last: cached columns
  for (const std::vector<Tag>& tags : queries) {
    Recommendation a = Run(plain, tags, options);
    for (const Snapshot* other : {&fast, &partial, &some_lists, &no_lists}) {
      Recommendation b = Run(*other, tags, options);
      REQUIRE(a.songs.size() == b.songs.size());
      for (size_t i = 0; i < a.songs.size(); ++i) {
        INFO("rank " << i);
        CHECK(a.songs[i].song == b.songs[i].song);
        CHECK(a.songs[i].attention == b.songs[i].attention);  // bit for bit
        CHECK(a.songs[i].lexical_score == b.songs[i].lexical_score);
        CHECK(a.songs[i].score == b.songs[i].score);
      }
    }
  }
  // Each distinct tag vector's cosines were computed once and kept.
  CHECK(t->cached_columns() >= 2);
  CHECK(t->computed_columns() == int64_t(t->cached_columns()));
  // The cached column is the tag's cosine with every row.
  std::vector<float> unit(words.UnitVector(int32_t(first.word)),
                          words.UnitVector(int32_t(first.word)) + words.dim());
  auto column = t->Cosines(unit);
  REQUIRE(column->size() == t->rows());
  CHECK((*column)[size_t(t->Row(first.word))] == Approx(1.0f).margin(1e-5));
}

TEST_CASE("Explanations: matched tags and lyric lines") {
  Snapshot snap = WordsSnapshot();
  RecommendOptions options;
  options.explain = true;
  options.top_k = 5;
  Recommendation rec = Run(snap, {Ocean(), Fire()}, options);
  REQUIRE(rec.songs.size() == 5);
  for (const SongScore& s : rec.songs) {
    const SongMeta& song = snap.bundle->song(s.song);
    INFO(song.id);
    REQUIRE(!s.tags.empty());
    float weight_sum = 0;
    for (const MatchedTagInfo& t : s.tags) {
      CHECK((t.label == "ocean" || t.label == "fire"));
      CHECK(t.weight >= 0.0f);
      CHECK(!t.lyric_word.empty());
      weight_sum += t.weight;
    }
    CHECK(weight_sum == Approx(1.0f).epsilon(1e-4));
    for (size_t i = 1; i < s.tags.size(); ++i) {
      CHECK(s.tags[i].weight <= s.tags[i - 1].weight);
    }
    REQUIRE(!s.lines.empty());
    CHECK(s.lines.size() <= size_t(options.explain_lines));
    float line_sum = 0;
    for (size_t i = 0; i < s.lines.size(); ++i) {
      const LineInfo& l = s.lines[i];
      REQUIRE(l.line >= 0);
      REQUIRE(l.line < int(song.lines.size()));
      CHECK(l.text == song.lines[l.line]);
      CHECK(l.weight > 0.0f);
      if (i > 0) CHECK(l.weight <= s.lines[i - 1].weight);
      line_sum += l.weight;
    }
    CHECK(line_sum <= 1.0001f);
  }
  // The best sea song: the ocean tag dominates, its lyric word is a sea word,
  // and all three of its lines carry the whole attention mass.
  const SongScore& first = rec.songs[0];
  const SongMeta& song = snap.bundle->song(first.song);
  REQUIRE(absl::StartsWith(song.id, "sea-"));
  CHECK(first.tags[0].label == "ocean");
  if (song.id == "sea-01") {
    REQUIRE(first.lines.size() == 3);
    float sum = 0;
    for (const LineInfo& l : first.lines) sum += l.weight;
    CHECK(sum == Approx(1.0f).epsilon(1e-4));
  }
  // Explaining does not change the ranking or the scores.
  options.explain = false;
  Recommendation plain = Run(snap, {Ocean(), Fire()}, options);
  REQUIRE(plain.songs.size() == rec.songs.size());
  for (size_t i = 0; i < plain.songs.size(); ++i) {
    CHECK(plain.songs[i].song == rec.songs[i].song);
    CHECK(plain.songs[i].score == rec.songs[i].score);
    CHECK(plain.songs[i].attention == rec.songs[i].attention);
    CHECK(plain.songs[i].tags.empty());
    CHECK(plain.songs[i].lines.empty());
  }
}

TEST_CASE("Filters are applied inside the search") {
  Snapshot snap = WordsSnapshot();
  RecommendOptions options;
  options.top_k = 14;
  SECTION("genre rock: only the fire songs") {
    options.filters.genres = {"rock"};
    std::vector<std::string> ids = Ids(snap, Run(snap, {Ocean()}, options));
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::string>{"fire-01", "fire-02"});
  }
  SECTION("several values of one field, several fields") {
    options.filters.genres = {"folk", "classical"};
    options.filters.moods = {"sad"};
    std::vector<std::string> ids = Ids(snap, Run(snap, {Ocean()}, options));
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::string>{"forest-02", "snow-02"});
  }
  SECTION("license and language") {
    options.filters.licenses = {"cc-by"};
    options.filters.languages = {"en"};
    std::vector<std::string> ids = Ids(snap, Run(snap, {Ocean()}, options));
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::string>{"forest-02", "sea-02"});
  }
  SECTION("exclude_ids") {
    options.filters.exclude_ids = {"sea-01", "filler-00"};
    std::vector<std::string> ids = Ids(snap, Run(snap, {Ocean()}, options));
    CHECK(ids.size() == 12);
    CHECK(std::find(ids.begin(), ids.end(), "sea-01") == ids.end());
    CHECK(std::find(ids.begin(), ids.end(), "filler-00") == ids.end());
    CHECK(ids[0] == "sea-02");
  }
  SECTION("nothing matches: an empty result, not an error") {
    options.filters.languages = {"xx"};
    Recommendation rec = Run(snap, {Ocean()}, options);
    CHECK(rec.songs.empty());
    CHECK(rec.tags.size() == 1);
  }
}

TEST_CASE("Lexical channel: songs whose lyrics hold the tag words are fused into the candidates") {
  Snapshot snap = WordsSnapshot();
  const Bundle& bundle = *snap.bundle;
  const Tag smoke = MakeTag("smoke", {"smoke"}, 0.8f);
  std::vector<float> query;
  std::vector<std::vector<float>> tag_vectors;
  RecommendOptions options;
  options.top_k = 14;
  SECTION("lexical only (dense weight 0): exactly the songs holding the word") {
    options.fusion.dense_weight = 0;
    Recommendation rec = Run(snap, {smoke}, options);
    std::vector<std::string> ids = Ids(snap, rec);
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::string>{"fire-01", "fire-02"});
    REQUIRE(
        BuildQuery(rec.tags, snap.models->words(), bundle.manifest().common, &query, &tag_vectors));
    for (const SongScore& s : rec.songs) {
      CHECK(s.lexical_rank >= 1);
      CHECK(s.lexical_rank <= 2);
      CHECK(s.lexical_score > 0);
      // The cosine comes from the index whichever channel found the song.
      auto cosine = bundle.index().Score(query.data(), {s.song});
      REQUIRE(cosine.ok());
      CHECK(s.retrieval == Approx((*cosine)[0]).margin(1e-5));
    }
    CHECK(rec.lexical_ms >= 0);
    CHECK(rec.lexical_ms <= rec.search_ms);
  }
  SECTION("every candidate shown: the final score adds BM25 over the best candidate's") {
    options.bm25_weight = 0.5f;
    Recommendation rec = Run(snap, {Ocean(), smoke}, options);
    REQUIRE(rec.songs.size() == 14);  // all candidates
    float best = 0;
    for (const SongScore& s : rec.songs) best = std::max(best, s.lexical_score);
    REQUIRE(best > 0);
    int holding = 0;
    for (const SongScore& s : rec.songs) {
      CHECK(s.score == Approx(options.retrieval_weight * s.retrieval +
                              (1 - options.retrieval_weight) * s.attention +
                              options.bm25_weight * s.lexical_score / best));
      holding += s.lexical_score > 0;
    }
    CHECK(holding == 3);  // sea-01 (sea, ocean, waves), fire-01 and fire-02 (smoke)
    // sea-01 holds three of the words: the best BM25, and first.
    CHECK(snap.bundle->song(rec.songs[0].song).id == "sea-01");
    CHECK(rec.songs[0].lexical_score == best);
  }
  SECTION("lexical weight 0 and bm25 weight 0: the dense ranking, as before the lexical channel") {
    options.fusion.lexical_weight = 0;
    options.bm25_weight = 0;
    Recommendation rec = Run(snap, {Ocean(), smoke}, options);
    REQUIRE(rec.songs.size() == 14);
    for (const SongScore& s : rec.songs) {
      CHECK(s.dense_rank >= 1);
      CHECK(s.lexical_rank == 0);
      CHECK(s.lexical_score == 0);
    }
    CHECK(rec.lexical_ms == 0);
  }
  SECTION("both channels honour the filters") {
    options.fusion.dense_weight = 0;
    options.filters.exclude_ids = {"fire-01"};
    CHECK(Ids(snap, Run(snap, {smoke}, options)) == std::vector<std::string>{"fire-02"});
    options.filters.exclude_ids.clear();
    options.filters.languages = {"en"};  // fire-02 is "de"
    CHECK(Ids(snap, Run(snap, {smoke}, options)) == std::vector<std::string>{"fire-01"});
    options.fusion.dense_weight = 1;
    for (const std::string& id : Ids(snap, Run(snap, {smoke, Ocean()}, options))) {
      CHECK(id != "fire-02");
    }
  }
}

TEST_CASE("Explanations name the lyric words each channel matched") {
  Snapshot snap = WordsSnapshot();
  const WordVectors& words = snap.models->words();
  RecommendOptions options;
  options.explain = true;
  options.top_k = 14;
  Recommendation rec = Run(snap, {Ocean(), MakeTag("smoke", {"smoke"}, 0.3f)}, options);
  REQUIRE(rec.songs.size() == 14);
  bool saw_sea_01 = false, saw_fire_02 = false;
  for (const SongScore& s : rec.songs) {
    const std::string id = snap.bundle->song(s.song).id;
    INFO(id);
    CHECK(s.dense_rank >= 1);  // 14 songs: the dense channel returns them all
    // Dense: the song's words that pull it towards the query, shares in (0, 1].
    CHECK(s.dense_words.size() <= 5);
    float share = 0;
    for (size_t i = 0; i < s.dense_words.size(); ++i) {
      const ChannelWordInfo& w = s.dense_words[i];
      CHECK(w.score > 0);
      CHECK(w.count >= 1);
      CHECK(words.Find(w.word) >= 0);
      CHECK(w.tags.empty());
      if (i > 0) CHECK(w.score <= s.dense_words[i - 1].score);
      share += w.score;
    }
    CHECK(share <= 1.0001f);
    // Lexical: the tag words found in the lyrics, adding up to the BM25 score.
    float sum = 0;
    for (size_t i = 0; i < s.lexical_words.size(); ++i) {
      const ChannelWordInfo& w = s.lexical_words[i];
      CHECK(w.score > 0);
      CHECK(w.count >= 1);
      REQUIRE(!w.tags.empty());
      if (i > 0) CHECK(w.score <= s.lexical_words[i - 1].score);
      sum += w.score;
    }
    CHECK(s.lexical_score == Approx(sum));
    CHECK((s.lexical_rank > 0) == !s.lexical_words.empty());
    if (id == "sea-01") {
      saw_sea_01 = true;
      // "The ocean waves roll on the shore ... of tide and sea".
      std::vector<std::string> found;
      for (const ChannelWordInfo& w : s.lexical_words) {
        found.push_back(w.word);
        CHECK(w.tags == std::vector<std::string>{"ocean"});
      }
      std::sort(found.begin(), found.end());
      CHECK(found == std::vector<std::string>{"ocean", "sea", "waves"});
      REQUIRE(!s.dense_words.empty());
      CHECK(s.dense_words[0].word != "the");
    }
    if (id == "fire-02") {
      saw_fire_02 = true;
      REQUIRE(s.lexical_words.size() == 1);
      CHECK(s.lexical_words[0].word == "smoke");
      CHECK(s.lexical_words[0].tags == std::vector<std::string>{"smoke"});
    }
  }
  CHECK(saw_sea_01);
  CHECK(saw_fire_02);
}

TEST_CASE("top_k is respected") {
  Snapshot snap = WordsSnapshot();
  RecommendOptions options;
  for (int k : {1, 3, 14, 50}) {
    INFO(k);
    options.top_k = k;
    Recommendation rec = Run(snap, {Ocean()}, options);
    CHECK(rec.songs.size() == size_t(std::min(k, 14)));
    CHECK(absl::StartsWith(snap.bundle->song(rec.songs[0].song).id, "sea-"));
  }
  for (int bad : {0, -1}) {
    options.top_k = bad;
    auto rec = RecommendForTags(snap, {Ocean()}, options);
    CHECK(rec.status().code() == absl::StatusCode::kInvalidArgument);
  }
  // Few first-stage candidates are raised to 4 * top_k.
  options.top_k = 3;
  options.candidates = 1;
  CHECK(Run(snap, {Ocean()}, options).songs.size() == 3);
}

TEST_CASE("Tags without known words give no songs") {
  Snapshot snap = WordsSnapshot();
  Recommendation rec = Run(snap, {MakeTag("mystery", {"nosuchword"}, 0.9f)}, RecommendOptions{});
  CHECK(rec.songs.empty());
  CHECK(rec.tags.size() == 1);
  CHECK(Run(snap, {}, RecommendOptions{}).songs.empty());
}

TEST_CASE("Recommendations are deterministic") {
  Snapshot snap = WordsSnapshot();
  RecommendOptions options;
  options.explain = true;
  options.top_k = 14;
  Recommendation a = Run(snap, {Ocean(), Fire()}, options);
  Recommendation b = Run(snap, {Ocean(), Fire()}, options);
  REQUIRE(a.songs.size() == b.songs.size());
  for (size_t i = 0; i < a.songs.size(); ++i) {
    const SongScore& x = a.songs[i];
    const SongScore& y = b.songs[i];
    CHECK(x.song == y.song);
    CHECK(x.score == y.score);
    CHECK(x.retrieval == y.retrieval);
    CHECK(x.attention == y.attention);
    REQUIRE(x.tags.size() == y.tags.size());
    for (size_t j = 0; j < x.tags.size(); ++j) {
      CHECK(x.tags[j].label == y.tags[j].label);
      CHECK(x.tags[j].weight == y.tags[j].weight);
      CHECK(x.tags[j].lyric_word == y.tags[j].lyric_word);
    }
    REQUIRE(x.lines.size() == y.lines.size());
    for (size_t j = 0; j < x.lines.size(); ++j) {
      CHECK(x.lines[j].line == y.lines[j].line);
      CHECK(x.lines[j].weight == y.lines[j].weight);
    }
  }
}

TEST_CASE("The lexical search beside the dense one (spare threads) gives the same answer") {
  ModelSetOptions mo;
  mo.manifest_path = RequiredEnv("I2S_TEST_ASSETS") + "/models.json";
  mo.words_only = true;
  mo.parallel_taggers = true;
  auto spare_models = ModelSet::Load(mo);
  INFO(spare_models.status().ToString());
  REQUIRE(spare_models.ok());
  REQUIRE((*spare_models)->spare_threads() != nullptr);
  Snapshot plain = WordsSnapshot();
  Snapshot side{std::shared_ptr<const ModelSet>(std::move(*spare_models)), plain.bundle, nullptr};
  RecommendOptions options;
  options.top_k = 14;
  options.bm25_weight = 0.5f;
  options.side_search_min_songs = 0;  // a tiny bundle: beside when a core is free
  const Tag smoke = MakeTag("smoke", {"smoke"}, 0.8f);
  for (int round = 0; round < 3; ++round) {
    Recommendation a = Run(plain, {Ocean(), Fire(), smoke}, options);
    Recommendation b = Run(side, {Ocean(), Fire(), smoke}, options);
    REQUIRE(a.songs.size() == b.songs.size());
    for (size_t i = 0; i < a.songs.size(); ++i) {
      CHECK(a.songs[i].song == b.songs[i].song);
      CHECK(a.songs[i].score == b.songs[i].score);
      CHECK(a.songs[i].dense_rank == b.songs[i].dense_rank);
      CHECK(a.songs[i].lexical_rank == b.songs[i].lexical_rank);
    }
    CHECK(b.lexical_ms > 0);
    CHECK(b.lexical_ms <= b.search_ms);
  }
  // A filter that keeps nothing returns before any search, side or not.
  options.filters.genres = {"no-such-genre"};
  CHECK(Run(side, {Ocean()}, options).songs.empty());
}

// The attention term computed here the plain way, token by token: per
// active tag, the softmax over the song's tokens of cosine / temperature
// (shifted by the best cosine), the attended cosine, weighted by the tag's
// share of score x weight.
double DirectAttention(const Snapshot& snap, const std::vector<Tag>& tags, int64_t song,
                       float temperature) {
  const WordVectors& words = snap.models->words();
  std::vector<float> query;
  std::vector<std::vector<float>> tag_vectors;
  REQUIRE(BuildQuery(tags, words, snap.bundle->manifest().common, &query, &tag_vectors));
  double total_weight = 0, attention = 0;
  for (size_t j = 0; j < tags.size(); ++j) {
    const double c = tags[j].score * tags[j].weight;
    bool known = false;
    for (float x : tag_vectors[j]) known |= x != 0;
    if (!known || c <= 0) continue;
    total_weight += c;
    std::vector<double> sims;
    for (const LyricToken& t : snap.bundle->tokens(song)) {
      double s = 0;
      const float* u = words.UnitVector(static_cast<int32_t>(t.word));
      for (int k = 0; k < words.dim(); ++k) s += double(u[k]) * tag_vectors[j][k];
      sims.push_back(s);
    }
    const double best = *std::max_element(sims.begin(), sims.end());
    double z = 0, match = 0;
    for (double s : sims) {
      const double a = std::exp((s - best) / temperature);
      z += a;
      match += a * s;
    }
    attention += c * match / z;
  }
  return attention / total_weight;
}

TEST_CASE("Attention is the softmax of word-tag cosines, at any temperature") {
  Snapshot snap = WordsSnapshot();
  // 0.001: exp((cosine - 1) / temperature) underflows, and the scorer falls
  // back to shifting by each song's best cosine.
  for (float temperature : {0.5f, 0.1f, 0.02f, 0.001f}) {
    RecommendOptions options;
    options.temperature = temperature;
    options.top_k = 20;
    Recommendation rec = Run(snap, {Ocean(), Fire()}, options);
    REQUIRE(rec.songs.size() >= 5);
    for (const SongScore& s : rec.songs) {
      INFO("temperature " << temperature << " song " << snap.bundle->song(s.song).id);
      REQUIRE(std::isfinite(s.attention));
      CHECK(s.attention ==
            Approx(DirectAttention(snap, rec.tags, s.song, temperature)).margin(1e-4));
    }
  }
}

TEST_CASE("Recommend tags a decoded image and ranks its songs") {
  Snapshot snap{LoadModels(/*words_only=*/false), LoadBundle(RequiredEnv("I2S_TEST_BUNDLE")),
                nullptr};
  REQUIRE(CheckCompatible(*snap.models, *snap.bundle).ok());
  struct Case {
    const char* image;
    const char* label;
    const char* song_prefix;
  };
  for (const Case& c :
       {Case{"blue.png", "ocean", "sea-"}, Case{"red.jpg", "fire", "fire-"},
        Case{"green.webp", "forest", "forest-"}, Case{"white.bmp", "snowfield", "snow-"}}) {
    INFO(c.image);
    RecommendOptions options;
    options.top_k = 3;
    auto rec = Recommend(snap, DecodeAsset(c.image), options);
    INFO(rec.status().ToString());
    REQUIRE(rec.ok());
    REQUIRE(!rec->tags.empty());
    CHECK(rec->tags[0].label == c.label);
    CHECK(rec->tags[0].source == "tiny_color");
    REQUIRE(rec->songs.size() == 3);
    CHECK(absl::StartsWith(snap.bundle->song(rec->songs[0].song).id, c.song_prefix));
    CHECK(rec->model_ms >= 0);
    CHECK(rec->forward_ms > 0);  // the tiny model ran
    CHECK(rec->forward_ms <= rec->model_ms);
  }
}

TEST_CASE("CheckCompatible refuses a bundle built with other word vectors") {
  auto models = LoadModels(/*words_only=*/true);
  const std::string original = RequiredEnv("I2S_TEST_BUNDLE");
  REQUIRE(CheckCompatible(*models, *LoadBundle(original)).ok());

  // A copy of the bundle whose manifest names other vectors.
  TempDir tmp;
  for (const char* f : {"songs.faiss", "songs.bin", "columns.bin", "columns.json", "tokens.bin",
                        "lexical.bin", "cooccur.bin"}) {
    WriteWholeFile(tmp.File(f), ReadWholeFile(original + "/" + f));
  }
  nlohmann::json manifest = nlohmann::json::parse(ReadWholeFile(original + "/manifest.json"));
  REQUIRE(manifest["embedder"]["id"] == "test-words-16d@1");

  SECTION("other embedder id") {
    manifest["embedder"]["id"] = "glove-6b-100d@other";
    WriteWholeFile(tmp.File("manifest.json"), manifest.dump(2));
    auto bundle = LoadBundle(tmp.path());
    absl::Status s = CheckCompatible(*models, *bundle);
    CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
    CHECK(absl::StrContains(s.message(), "glove-6b-100d@other"));
    CHECK(absl::StrContains(s.message(), "test-words-16d@1"));
    CHECK(absl::StrContains(s.message(), "rebuild the bundle"));
  }
  SECTION("same id, other vocabulary size") {
    manifest["embedder"]["vocabulary_size"] = 241;
    WriteWholeFile(tmp.File("manifest.json"), manifest.dump(2));
    auto bundle = LoadBundle(tmp.path());
    CHECK(CheckCompatible(*models, *bundle).code() == absl::StatusCode::kFailedPrecondition);
  }
}

TEST_CASE("CheckCompatible refuses word vectors the bundle was not built with") {
  // Same bundle, models wrapping in-memory vectors under another id.
  std::vector<std::string> words;
  std::vector<float> vectors;
  for (int i = 0; i < 240; ++i) {
    words.push_back("w" + std::to_string(i));
    for (int d = 0; d < 16; ++d) vectors.push_back(float((i + d) % 7) - 3.0f);
  }
  auto wv = WordVectors::FromData(words, vectors, 16, "in-memory@1");
  REQUIRE(wv.ok());
  ModelSet other(std::move(*wv), {});
  CHECK(other.version().empty());
  auto bundle = LoadBundle(RequiredEnv("I2S_TEST_BUNDLE"));
  absl::Status s = CheckCompatible(other, *bundle);
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(s.message(), "in-memory@1"));
}

// ---------------------------------------------------- sentence attention

namespace {

std::shared_ptr<const ModelSet> LoadSentenceModels(const std::string& manifest) {
  ModelSetOptions options;
  options.manifest_path = manifest;
  auto models = ModelSet::Load(options);
  INFO(models.status().ToString());
  REQUIRE(models.ok());
  REQUIRE((*models)->phrases() != nullptr);
  return std::shared_ptr<const ModelSet>(std::move(*models));
}

// models_sentence.json (the tiny sentence encoder) with the bundle built by
// i2s-index --sentence_vectors.
Snapshot SentenceSnapshot() {
  return Snapshot{LoadSentenceModels(RequiredEnv("I2S_TEST_ASSETS") + "/models_sentence.json"),
                  LoadBundle(RequiredEnv("I2S_TEST_ASSETS") + "/bundle_sentences"), nullptr};
}

// The sentence attention of `song` for one tag, the plain way.
float DirectSentence(const Snapshot& snap, const std::string& label, int64_t song,
                     float temperature) {
  auto phrase = snap.models->phrases()->Vectors({label});
  REQUIRE(phrase.ok());
  const SentenceVectors& sv = *snap.bundle->sentences();
  std::vector<float> line(sv.dim());
  std::vector<double> sims;
  for (int64_t i = 0; i < sv.lines(song); ++i) {
    sv.Line(song, i, line.data());
    double dot = 0;
    for (int k = 0; k < sv.dim(); ++k) dot += double(line[k]) * (*phrase)[k];
    sims.push_back(dot);
  }
  if (sims.empty()) return 0;
  const double top = *std::max_element(sims.begin(), sims.end());
  double z = 0, match = 0;
  for (double u : sims) {
    const double a = std::exp((u - top) / temperature);
    z += a;
    match += a * u;
  }
  return float(match / z);
}

int RankOf(const Snapshot& snap, const Recommendation& rec, const std::string& id) {
  const std::vector<std::string> ids = Ids(snap, rec);
  return int(std::find(ids.begin(), ids.end(), id) - ids.begin());
}

}  // namespace

TEST_CASE("Sentence attention: bundle and models load with it, weight 0 ranks as without") {
  Snapshot plain = WordsSnapshot();
  Snapshot with = SentenceSnapshot();
  REQUIRE(with.bundle->sentences() != nullptr);
  CHECK(with.bundle->manifest().sentence_encoder_id == "tiny-use@1");
  CHECK(with.bundle->sentences()->dim() == with.models->phrases()->dim());
  CHECK(CheckCompatible(*with.models, *with.bundle).ok());
  // The ImageNet-style label file's phrases are embedded at load.
  CHECK(with.models->phrases()->cached() >= 4);
  RecommendOptions options;
  options.top_k = 14;
  const Recommendation a = Run(plain, {Ocean(), Fire()}, options);
  const Recommendation b = Run(with, {Ocean(), Fire()}, options);
  CHECK(Ids(plain, a) == Ids(with, b));
  REQUIRE(a.songs.size() == b.songs.size());
  for (size_t i = 0; i < a.songs.size(); ++i) {
    CHECK(a.songs[i].score == Approx(b.songs[i].score).margin(1e-5));
    CHECK(b.songs[i].sentence == 0);
  }
  CHECK(b.sentence_ms == 0);
}

TEST_CASE("Sentence attention ranks by the tags' phrases over the lyric lines") {
  Snapshot snap = SentenceSnapshot();
  RecommendOptions options;
  options.top_k = 14;
  options.retrieval_weight = 0;
  options.bm25_weight = 0;
  options.sentence_weight = 1;
  const Recommendation rec = Run(snap, {Ocean()}, options);
  REQUIRE(rec.songs.size() == 14);
  for (size_t i = 0; i < rec.songs.size(); ++i) {
    const SongScore& s = rec.songs[i];
    INFO("song " << snap.bundle->song(s.song).id);
    CHECK(s.sentence ==
          Approx(DirectSentence(snap, "ocean", s.song, options.sentence_temperature)).margin(2e-4));
    CHECK(s.score == Approx(s.sentence).margin(1e-6));  // sentence attention only
    if (i > 0) CHECK(rec.songs[i - 1].score >= s.score);
  }
  CHECK(Ids(snap, rec)[0].rfind("sea-", 0) == 0);
  // The tiny encoder puts "river" near the sea words, the word vectors among
  // the fillers: "The river is frozen" moves up with sentence attention.
  RecommendOptions words_only = options;
  words_only.sentence_weight = 0;
  const Recommendation before = Run(snap, {Ocean()}, words_only);
  CHECK(RankOf(snap, rec, "snow-02") < RankOf(snap, before, "snow-02"));
  // Half and half lies between.
  RecommendOptions half = options;
  half.sentence_weight = 0.5f;
  const Recommendation mixed = Run(snap, {Ocean()}, half);
  for (const SongScore& s : mixed.songs) {
    CHECK(s.score == Approx(0.5f * s.attention + 0.5f * s.sentence).margin(1e-6));
  }
}

TEST_CASE("Sentence attention explanations name the lines and their similarity") {
  Snapshot snap = SentenceSnapshot();
  RecommendOptions options;
  options.top_k = 3;
  options.explain = true;
  options.sentence_weight = 1;
  const Recommendation rec = Run(snap, {Ocean(), Fire()}, options);
  REQUIRE(!rec.songs.empty());
  CHECK(rec.sentence_ms > 0);
  const SongScore& top = rec.songs[0];
  REQUIRE(!top.lines.empty());
  const SongMeta meta = snap.bundle->song(top.song);
  for (const LineInfo& l : top.lines) {
    CHECK(l.text == meta.lines[l.line]);
    CHECK((l.sentence_tag == "ocean" || l.sentence_tag == "fire"));
    CHECK(l.sentence_similarity > -1.0f);
    CHECK(l.sentence_similarity <= 1.0f);
  }
  CHECK(top.lines[0].sentence_tag == "ocean");
  CHECK(top.lines[0].sentence_similarity > 0.5f);
  options.sentence_weight = 0;
  const Recommendation plain = Run(snap, {Ocean(), Fire()}, options);
  REQUIRE(!plain.songs[0].lines.empty());
  CHECK(plain.songs[0].lines[0].sentence_tag.empty());
}

TEST_CASE("CheckCompatible refuses sentence vectors of another encoder") {
  const std::string assets = RequiredEnv("I2S_TEST_ASSETS");
  nlohmann::json manifest = nlohmann::json::parse(ReadWholeFile(assets + "/models_sentence.json"));
  manifest["word_vectors"]["file"] = assets + "/words.i2sv";
  manifest["taggers"][0]["file"] = assets + "/tiny_color.pt";
  manifest["taggers"][0]["labels"] = assets + "/labels.tsv";
  manifest["sentence_encoder"]["file"] = assets + "/tiny_use.pt";
  manifest["sentence_encoder"]["vocab"] = assets + "/tiny_use_vocab.txt";
  manifest["sentence_encoder"]["id"] = "another-encoder@2";
  TempDir tmp;
  WriteWholeFile(tmp.File("models.json"), manifest.dump());
  auto models = LoadSentenceModels(tmp.File("models.json"));
  auto bundle = LoadBundle(assets + "/bundle_sentences");
  const absl::Status s = CheckCompatible(*models, *bundle);
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(s.message(), "another-encoder@2"));
  // A bundle without sentence vectors fits them (no sentence attention).
  CHECK(CheckCompatible(*models, *LoadBundle(RequiredEnv("I2S_TEST_BUNDLE"))).ok());
}

// Mood-aware ranking (issue 17 item 4) on the bundle with lyric moods
// (bundle_mood: the tiny lexicon scores fire, smoke and cold words negative
// and love, happy, gold, light positive).
Snapshot MoodSnapshot() {
  return Snapshot{LoadModels(/*words_only=*/false),
                  LoadBundle(RequiredEnv("I2S_TEST_ASSETS") + "/bundle_mood"), nullptr};
}

float MeanLyricValence(const Recommendation& rec, int n) {
  float sum = 0;
  int count = 0;
  for (int i = 0; i < n && i < int(rec.songs.size()); ++i) {
    if (!rec.songs[i].has_lyric_mood) continue;
    sum += rec.songs[i].lyric_mood.valence;
    ++count;
  }
  return count > 0 ? sum / count : 0;
}

TEST_CASE("Mood words: the model's words map to their points, others are refused by name") {
  Snapshot snap = MoodSnapshot();
  REQUIRE(snap.models->mood() != nullptr);
  REQUIRE(snap.bundle->moods() != nullptr);
  CHECK(snap.bundle->moods()->stats().songs > 0);
  CHECK(snap.bundle->moods()->stats().valence_sd > 0);
  auto sad = MoodWordPoint(*snap.models->mood(), "SAD");
  REQUIRE(sad.ok());
  CHECK(sad->valence < 0);
  auto bad = MoodWordPoint(*snap.models->mood(), "jolly");
  CHECK(bad.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(bad.status().message(), "unknown mood 'jolly'"));
  CHECK(absl::StrContains(bad.status().message(), "calm"));
}

TEST_CASE("SongMoodPoint puts a song on the pictures' scale; MoodAgreement is a halved dot") {
  LyricMoodStats stats;
  stats.songs = 10;
  stats.valence_mean = 0.1f;
  stats.valence_sd = 0.1f;
  stats.arousal_mean = 0.2f;
  stats.arousal_sd = 0.05f;
  MoodRecord r;
  r.flags = kHasLyricMood;
  r.valence = 0.2f;  // one sd above: 0.5
  r.arousal = 0.5f;  // six sd above: clamped to 1
  MoodPoint p;
  REQUIRE(SongMoodPoint(r, stats, &p));
  CHECK(p.valence == Approx(0.5f));
  CHECK(p.arousal == Approx(1.0f));
  CHECK(MoodAgreement(MoodPoint{1, 0}, p) == Approx(0.25f));
  CHECK(MoodAgreement(MoodPoint{-1, -1}, p) == Approx(-0.75f));
  r.flags = 0;  // no lyric mood: no point
  CHECK_FALSE(SongMoodPoint(r, stats, &p));
  r.flags = kHasLyricMood;
  stats.valence_sd = 0;  // a catalogue without spread: no point
  CHECK_FALSE(SongMoodPoint(r, stats, &p));
}

TEST_CASE("A requested mood steers the ranking without filtering it") {
  Snapshot snap = MoodSnapshot();
  RecommendOptions options;
  options.top_k = 16;
  options.explain = true;
  const Recommendation plain = Run(snap, {Ocean(), Fire()}, options);
  CHECK_FALSE(plain.has_mood_target);
  options.requested_mood_weight = 2;
  options.mood = "happy";
  const Recommendation happy = Run(snap, {Ocean(), Fire()}, options);
  options.mood = "sad";
  const Recommendation sad = Run(snap, {Ocean(), Fire()}, options);
  REQUIRE(happy.has_mood_target);
  CHECK(happy.mood_target.source == "request");
  CHECK(happy.mood_target.word == "happy");
  CHECK(happy.mood_target.weight == 2);
  // Nothing is filtered out: the same songs, in another order.
  std::vector<std::string> a = Ids(snap, plain), b = Ids(snap, happy), c = Ids(snap, sad);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  std::sort(c.begin(), c.end());
  CHECK(a == b);
  CHECK(a == c);
  CHECK(Ids(snap, happy) != Ids(snap, sad));
  CHECK(MeanLyricValence(happy, 3) > MeanLyricValence(sad, 3));
  // Every song with a lyric mood carries its agreement and what it added.
  for (const SongScore& s : happy.songs) {
    if (!s.has_lyric_mood) continue;
    CHECK(s.mood_score == Approx(2 * s.mood_agreement));
    CHECK(std::abs(s.mood_agreement) <= 1);
  }
  // A sad song agrees with "sad" and disagrees with "happy".
  for (size_t i = 0; i < sad.songs.size(); ++i) {
    if (sad.songs[i].has_lyric_mood && sad.songs[i].lyric_mood.valence < -0.1f) {
      CHECK(sad.songs[i].mood_agreement > 0);
    }
  }
}

TEST_CASE("Mood weight 0 ranks as without a mood; the pictures' mood steers only with a weight") {
  Snapshot snap = MoodSnapshot();
  RecommendOptions options;
  options.top_k = 16;
  const Recommendation plain = Run(snap, {Ocean(), Fire()}, options);
  options.mood = "sad";
  options.requested_mood_weight = 0;
  const Recommendation off = Run(snap, {Ocean(), Fire()}, options);
  CHECK(Ids(snap, off) == Ids(snap, plain));
  CHECK_FALSE(off.has_mood_target);
  // The pictures' mood: no target at weight 0, a target at weight > 0.
  ImageMood gloomy;
  gloomy.valence = -0.8f;
  gloomy.arousal = -0.5f;
  gloomy.words = {"gloomy"};
  RecommendOptions image_options;
  image_options.top_k = 16;
  image_options.mood_weight = 0;
  auto r0 = RecommendForTags(snap, {Ocean(), Fire()}, image_options, &gloomy);
  REQUIRE(r0.ok());
  CHECK_FALSE(r0->has_mood_target);
  CHECK(Ids(snap, *r0) == Ids(snap, plain));
  image_options.mood_weight = 2;
  auto r1 = RecommendForTags(snap, {Ocean(), Fire()}, image_options, &gloomy);
  REQUIRE(r1.ok());
  REQUIRE(r1->has_mood_target);
  CHECK(r1->mood_target.source == "image");
  CHECK(r1->mood_target.word == "gloomy");
  CHECK(MeanLyricValence(*r1, 3) <= MeanLyricValence(plain, 3));
}

TEST_CASE("A requested mood needs a mood model and lyric moods") {
  RecommendOptions options;
  options.mood = "calm";
  // The default test bundle has no moods.bin.
  Snapshot no_moods{LoadModels(/*words_only=*/false), LoadBundle(RequiredEnv("I2S_TEST_BUNDLE")),
                    nullptr};
  auto r = RecommendForTags(no_moods, {Ocean()}, options);
  CHECK(r.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(r.status().message(), "no lyric moods"));
  // Models without a mood model (words only).
  Snapshot no_model{LoadModels(/*words_only=*/true),
                    LoadBundle(RequiredEnv("I2S_TEST_ASSETS") + "/bundle_mood"), nullptr};
  r = RecommendForTags(no_model, {Ocean()}, options);
  CHECK(r.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(absl::StrContains(r.status().message(), "no mood model"));
  options.mood = "furious";
  Snapshot snap = MoodSnapshot();
  r = RecommendForTags(snap, {Ocean()}, options);
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace image2song
