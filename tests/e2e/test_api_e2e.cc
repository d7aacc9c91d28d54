// End-to-end tests (label e2e): the real i2s-server binary on port 0 with the tiny
// generated models and bundle (tests/support/server_fixture.h), called over gRPC.
// The API: ranking with explanations and filters, GetSong/GetInfo, health,
// reflection, /metrics, i2s-client, the full tagger set, the faces tagger,
// sentence attention, the image's mood.
// sentence attention, song moods and imputed values.
#include <algorithm>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "tests/support/server_fixture.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using testing::Context;
using testing::HttpGet;
using testing::Image;
using testing::MetricValue;
using testing::Recommend;
using testing::RequiredEnv;
using testing::TestServer;
namespace pb = ::image2song::v1;

const pb::ImageTag* FindTag(const pb::RecommendResponse& resp, const std::string& label,
                            bool boxed) {
  for (const auto& t : resp.tags()) {
    if (t.label() == label && t.has_box() == boxed) return &t;
  }
  return nullptr;
}

TEST_CASE("Recommend ranks the matching songs first, with explanations") {
  TestServer server;
  struct Case {
    const char* image;
    const char* tag;
    std::vector<std::string> top_two;
  };
  const std::vector<Case> cases = {
      {"blue.png", "ocean", {"sea-01", "sea-02"}},
      {"red.jpg", "fire", {"fire-01", "fire-02"}},
      {"green.webp", "forest", {"forest-01", "forest-02"}},
      {"white.bmp", "snowfield", {"snow-01", "snow-02"}},
      {"big_blue.jpg", "ocean", {"sea-01", "sea-02"}},
  };
  for (const Case& c : cases) {
    INFO("image " << c.image);
    pb::RecommendRequest req;
    req.set_image(Image(c.image));
    req.set_top_k(5);
    req.set_explain(true);
    pb::RecommendResponse resp;
    grpc::Status s = Recommend(server, req, &resp);
    REQUIRE(s.ok());
    REQUIRE(resp.tags_size() >= 1);
    CHECK(resp.tags(0).label() == c.tag);
    CHECK(resp.tags(0).source() == "tiny_color");
    CHECK(resp.tags(0).score() > 0.5f);
    REQUIRE(resp.matches_size() == 5);
    std::vector<std::string> top = {resp.matches(0).song_id(), resp.matches(1).song_id()};
    std::sort(top.begin(), top.end());
    CHECK(top == c.top_two);
    for (int i = 0; i < resp.matches_size(); ++i) {
      const pb::SongMatch& m = resp.matches(i);
      CHECK(m.rank() == i + 1);
      if (i > 0) CHECK(m.score() <= resp.matches(i - 1).score());
      CHECK_FALSE(m.title().empty());
      REQUIRE(m.has_explanation());
    }
    const pb::Explanation& e = resp.matches(0).explanation();
    REQUIRE(e.matched_tags_size() >= 1);
    CHECK(e.matched_tags(0).label() == c.tag);
    CHECK_FALSE(e.matched_tags(0).lyric_word().empty());
    REQUIRE(e.lines_size() >= 1);
    CHECK_FALSE(e.lines(0).text().empty());
    CHECK(e.lines(0).weight() > 0);
    // Which channel found the song, and the lyric words behind each match.
    CHECK(e.dense_rank() >= 1);
    CHECK(e.dense_words_size() >= 1);
    for (const pb::SongMatch& m : resp.matches()) {
      if (std::string(c.tag) != "ocean" || m.song_id() != "sea-01") continue;
      // "The ocean waves roll on the shore ... tide and sea": the ocean tag's
      // words (sea, ocean, waves) are in the lyrics.
      const pb::Explanation& sea = m.explanation();
      CHECK(sea.lexical_rank() == 1);
      CHECK(sea.lexical_score() > 0);
      REQUIRE(sea.lexical_words_size() == 3);
      for (const pb::ChannelWord& w : sea.lexical_words()) {
        CHECK(w.tags_size() == 1);
        CHECK(w.tags(0) == "ocean");
        CHECK(w.count() >= 1);
      }
    }
    CHECK(resp.index_version() == "test-bundle-1");
    CHECK(resp.model_version() == "tiny_color@1");
  }

  SECTION("same input, same answer; no explanation unless asked") {
    pb::RecommendRequest req;
    req.set_image(Image("blue.png"));
    pb::RecommendResponse a, b;
    REQUIRE(Recommend(server, req, &a).ok());
    REQUIRE(Recommend(server, req, &b).ok());
    CHECK(a.SerializeAsString() == b.SerializeAsString());
    CHECK(a.matches_size() == 10);  // default top_k
    CHECK_FALSE(a.matches(0).has_explanation());
  }

  SECTION("filters are applied") {
    pb::RecommendRequest req;
    req.set_image(Image("blue.png"));
    req.set_top_k(3);
    req.mutable_filters()->add_genres("Rock");
    pb::RecommendResponse resp;
    REQUIRE(Recommend(server, req, &resp).ok());
    REQUIRE(resp.matches_size() == 2);
    for (const auto& m : resp.matches()) CHECK(absl::StartsWith(m.song_id(), "fire-"));

    req.clear_filters();
    req.mutable_filters()->add_exclude_song_ids("sea-01");
    REQUIRE(Recommend(server, req, &resp).ok());
    CHECK(resp.matches(0).song_id() == "sea-02");
    for (const auto& m : resp.matches()) CHECK(m.song_id() != "sea-01");

    req.clear_filters();
    req.mutable_filters()->add_languages("xx");
    resp.Clear();
    REQUIRE(Recommend(server, req, &resp).ok());
    CHECK(resp.matches_size() == 0);  // nothing passes: empty, not an error
    CHECK(!resp.index_version().empty());

    // sea-01 is explicit and 180 s long, sea-02 200 s.
    req.clear_filters();
    req.mutable_filters()->set_exclude_explicit(true);
    REQUIRE(Recommend(server, req, &resp).ok());
    REQUIRE(resp.matches_size() == 3);
    CHECK(resp.matches(0).song_id() == "sea-02");
    for (const auto& m : resp.matches()) CHECK(m.song_id() != "sea-01");

    req.clear_filters();
    req.mutable_filters()->set_min_duration_seconds(190);
    req.mutable_filters()->set_max_duration_seconds(200);
    REQUIRE(Recommend(server, req, &resp).ok());
    REQUIRE(resp.matches_size() >= 1);
    CHECK(resp.matches(0).song_id() == "sea-02");
    for (const auto& m : resp.matches()) CHECK(m.song_id() != "sea-01");

    req.mutable_filters()->set_min_duration_seconds(300);
    grpc::Status bad = Recommend(server, req, &resp);
    CHECK(bad.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StrContains(bad.error_message(), "duration range"));
  }
}

TEST_CASE("Recommend carries the image's mood: valence, arousal and words") {
  // models.json names the shipped image mood model (image_mood.json).
  TestServer server;
  float valence[2] = {0, 0};
  int i = 0;
  for (const char* image : {"red.jpg", "gray.png"}) {
    INFO("image " << image);
    pb::RecommendRequest req;
    req.set_image(Image(image));
    pb::RecommendResponse resp;
    REQUIRE(Recommend(server, req, &resp).ok());
    REQUIRE(resp.has_image_mood());
    const pb::ImageMood& mood = resp.image_mood();
    CHECK(mood.valence() >= -1);
    CHECK(mood.valence() <= 1);
    CHECK(mood.arousal() >= -1);
    CHECK(mood.arousal() <= 1);
    REQUIRE(mood.words_size() >= 1);
    CHECK(mood.words_size() <= 2);
    CHECK_FALSE(mood.words(0).empty());
    valence[i++] = mood.valence();
  }
  // A saturated red picture is more pleasant than a flat grey one (colour).
  CHECK(valence[0] > valence[1]);
  // Text only: no picture, no image mood.
  pb::RecommendRequest text;
  text.set_text("the sea");
  pb::RecommendResponse resp;
  REQUIRE(Recommend(server, text, &resp).ok());
  CHECK_FALSE(resp.has_image_mood());
}

TEST_CASE("GetSong, GetInfo, health, reflection and metrics") {
  TestServer server;

  pb::GetSongRequest gs;
  gs.set_song_id("sea-01");
  pb::GetSongResponse song;
  auto ctx = Context();
  REQUIRE(server.stub().GetSong(ctx.get(), gs, &song).ok());
  CHECK(song.song().title() == "The Wide Ocean");
  CHECK(song.song().genre() == "folk");
  CHECK(absl::StrContains(song.song().lyrics(), "The ocean waves roll on the shore"));
  CHECK(song.song().duration_seconds() == 180);
  CHECK(song.song().explicit_lyrics());

  pb::GetInfoResponse info;
  ctx = Context();
  REQUIRE(server.stub().GetInfo(ctx.get(), pb::GetInfoRequest(), &info).ok());
  CHECK(info.song_count() == 14);
  CHECK(info.vocabulary_size() == 240);
  CHECK(info.dimension() == 16);
  CHECK(info.index_version() == "test-bundle-1");
  CHECK(info.embedder_id() == "test-words-16d@1");
  CHECK(info.index_type() == "flat");
  REQUIRE(info.models_size() == 1);
  CHECK(info.models(0).name() == "tiny_color");
  CHECK(info.models(0).label_count() == 5);
  CHECK(info.limits().max_image_bytes() == (16 << 20));
  CHECK(info.limits().max_top_k() == 100);

  auto health = grpc::health::v1::Health::NewStub(server.channel());
  for (const char* name : {"", "image2song.v1.SongRecommender"}) {
    grpc::health::v1::HealthCheckRequest hreq;
    hreq.set_service(name);
    grpc::health::v1::HealthCheckResponse hresp;
    ctx = Context();
    REQUIRE(health->Check(ctx.get(), hreq, &hresp).ok());
    CHECK(hresp.status() == grpc::health::v1::HealthCheckResponse::SERVING);
  }

  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(server.channel());
  ctx = Context();
  auto stream = reflection->ServerReflectionInfo(ctx.get());
  grpc::reflection::v1alpha::ServerReflectionRequest rreq;
  rreq.set_list_services("*");
  REQUIRE(stream->Write(rreq));
  grpc::reflection::v1alpha::ServerReflectionResponse rresp;
  REQUIRE(stream->Read(&rresp));
  std::vector<std::string> services;
  for (const auto& svc : rresp.list_services_response().service()) {
    services.push_back(svc.name());
  }
  CHECK(std::count(services.begin(), services.end(), "image2song.v1.SongRecommender") == 1);
  CHECK(std::count(services.begin(), services.end(), "grpc.health.v1.Health") == 1);
  // The descriptor of the API can be fetched (what grpcurl/ghz need).
  rreq.set_file_containing_symbol("image2song.v1.SongRecommender");
  REQUIRE(stream->Write(rreq));
  REQUIRE(stream->Read(&rresp));
  CHECK(rresp.file_descriptor_response().file_descriptor_proto_size() >= 1);
  stream->WritesDone();
  CHECK(stream->Finish().ok());

  // Two good and one bad Recommend, then read the counters.
  pb::RecommendRequest req;
  req.set_image(Image("blue.png"));
  pb::RecommendResponse resp;
  REQUIRE(Recommend(server, req, &resp).ok());
  REQUIRE(Recommend(server, req, &resp).ok());
  req.set_image("junk");
  CHECK(Recommend(server, req, &resp).error_code() == grpc::INVALID_ARGUMENT);
  std::string metrics = HttpGet(server.metrics_port(), "/metrics");
  INFO(metrics);
  CHECK(absl::StrContains(metrics, "200 OK"));
  CHECK(MetricValue(metrics, "i2s_requests_total{code=\"OK\",method=\"Recommend\"}") == 2);
  CHECK(MetricValue(metrics,
                    "i2s_requests_total{code=\"INVALID_ARGUMENT\","
                    "method=\"Recommend\"}") == 1);
  CHECK(MetricValue(metrics, "i2s_requests_total{code=\"OK\",method=\"GetSong\"}") == 1);
  for (const char* stage : {"decode", "model", "forward", "search", "rerank"}) {
    CHECK(MetricValue(metrics, absl::StrCat("i2s_stage_duration_seconds_count{stage=\"", stage,
                                            "\"}")) == 2);
  }
  CHECK(MetricValue(metrics, "i2s_songs") == 14);
}

TEST_CASE("i2s-client prints rankings, JSON and health") {
  TestServer server;
  const std::string client = RequiredEnv("I2S_CLIENT_BIN");
  const std::string addr = absl::StrCat("--server=127.0.0.1:", server.grpc_port());
  const std::string images = RequiredEnv("I2S_TEST_ASSETS") + "/images/";
  std::string out;
  REQUIRE(testing::RunCommand({client, addr, "recommend", images + "blue.png"}, &out) == 0);
  INFO(out);
  CHECK(absl::StrContains(out, "The Wide Ocean"));
  CHECK(absl::StrContains(out, "ocean"));
  REQUIRE(testing::RunCommand(
              {client, addr, "--json", "--top_k=2", "recommend", images + "red.jpg"}, &out) == 0);
  CHECK(absl::StrContains(out, "\"song_id\":\"fire-0"));
  CHECK(testing::RunCommand({client, addr, "health"}, &out) == 0);
  CHECK(absl::StrContains(out, "SERVING"));
  CHECK(testing::RunCommand({client, addr, "info"}, &out) == 0);
  CHECK(absl::StrContains(out, "test-bundle-1"));
  // An RPC error is reported by code name with a non-zero exit.
  CHECK(testing::RunCommand({client, addr, "song", "nope"}, &out) == 2);
  CHECK(absl::StrContains(out, "NOT_FOUND"));
}

TEST_CASE("Full tagger set: region boxes, colour cues, several images, text") {
  TestServer server({}, "models_full.json");

  pb::GetInfoResponse info;
  auto ctx = Context();
  REQUIRE(server.stub().GetInfo(ctx.get(), pb::GetInfoRequest(), &info).ok());
  REQUIRE(info.models_size() == 2);
  CHECK(info.models(0).kind() == "classifier");
  CHECK(info.models(1).name() == "colour");
  CHECK(info.models(1).kind() == "cues");
  CHECK(info.models(1).execution() == "none");
  CHECK(info.models(1).weight() == Approx(0.5));
  CHECK(info.limits().max_images() == 16);

  SECTION("regions find what the whole image blurs, with boxes") {
    pb::RecommendRequest req;
    req.set_image(Image("split.png"));  // left half blue, right half red
    pb::RecommendResponse resp;
    REQUIRE(Recommend(server, req, &resp).ok());
    const pb::ImageTag* ocean = FindTag(resp, "ocean", true);
    const pb::ImageTag* fire = FindTag(resp, "fire", true);
    REQUIRE(ocean != nullptr);
    REQUIRE(fire != nullptr);
    CHECK(ocean->box().x_max() <= 0.5f + 1e-6);
    CHECK(fire->box().x_min() >= 0.5f - 1e-6);
    CHECK(ocean->score() > 0.9f);
    // The whole image is purple: lower scores, no box.
    const pb::ImageTag* whole = FindTag(resp, "ocean", false);
    if (whole != nullptr) CHECK(whole->score() < ocean->score());
  }

  SECTION("colour cues tag a dark image as night") {
    pb::RecommendRequest req;
    req.set_image(Image("dark.png"));
    pb::RecommendResponse resp;
    REQUIRE(Recommend(server, req, &resp).ok());
    const pb::ImageTag* night = FindTag(resp, "night", false);
    REQUIRE(night != nullptr);
    CHECK(night->source() == "colour");
    REQUIRE(night->words_size() >= 1);
    CHECK(night->words(0) == "night");
    CHECK(FindTag(resp, "bright", false) == nullptr);
  }

  SECTION("several images count together; tags say where they come from") {
    pb::RecommendRequest req;
    req.add_images(Image("blue.png"));
    req.add_images(Image("red.jpg"));
    req.add_images(Image("blue.png"));
    req.set_top_k(3);
    pb::RecommendResponse resp;
    REQUIRE(Recommend(server, req, &resp).ok());
    const pb::ImageTag* ocean = FindTag(resp, "ocean", false);
    const pb::ImageTag* fire = FindTag(resp, "fire", false);
    REQUIRE(ocean != nullptr);
    REQUIRE(fire != nullptr);
    CHECK(ocean->image_count() == 2);
    CHECK(fire->image_count() == 1);
    CHECK(fire->image_index() == 1);
    CHECK(ocean->score() > fire->score());  // seen in more frames
    CHECK(absl::StartsWith(resp.matches(0).song_id(), "sea-"));
  }

  SECTION("a text hint is blended in, and works alone") {
    pb::RecommendRequest req;
    req.set_text("Forest trees, please!");
    req.set_top_k(2);
    pb::RecommendResponse resp;
    REQUIRE(Recommend(server, req, &resp).ok());
    REQUIRE(resp.matches_size() == 2);
    CHECK(absl::StartsWith(resp.matches(0).song_id(), "forest-"));
    const pb::ImageTag* forest = FindTag(resp, "forest", false);
    REQUIRE(forest != nullptr);
    CHECK(forest->source() == "text");

    // Blue image alone ranks sea songs first; with a strong fire hint a fire
    // song enters the top 3.
    req.set_image(Image("blue.png"));
    req.set_text("fire flame fire");
    req.set_top_k(3);
    resp.Clear();
    REQUIRE(Recommend(server, req, &resp).ok());
    bool fire_song = false;
    for (const auto& m : resp.matches()) fire_song |= absl::StartsWith(m.song_id(), "fire-");
    CHECK(fire_song);
  }

  SECTION("limits on count, size and text give INVALID_ARGUMENT") {
    auto expect = [&](const pb::RecommendRequest& req, const std::string& needle) {
      pb::RecommendResponse resp;
      grpc::Status s = Recommend(server, req, &resp);
      INFO(s.error_message());
      CHECK(s.error_code() == grpc::INVALID_ARGUMENT);
      CHECK(absl::StrContains(s.error_message(), needle));
    };
    pb::RecommendRequest req;
    for (int i = 0; i < 17; ++i) req.add_images(Image("blue.png"));
    expect(req, "17 images; the limit is 16");
    req.Clear();
    req.add_images(Image("blue.png"));
    req.add_images("");
    expect(req, "images[1] is empty");
    req.Clear();
    req.add_images(Image("blue.png"));
    req.add_images("not an image");
    expect(req, "images[1]: not a supported image");
    req.Clear();
    req.set_image(Image("blue.png"));
    req.set_text(std::string(1025, 'a'));
    expect(req, "text is 1025 bytes");
    req.Clear();
    for (int i = 0; i < 4; ++i) req.add_images(std::string(15 << 20, 'x'));
    expect(req, "the images total");
  }
}

TEST_CASE("Faces tagger: a face's expression as a tag with its box") {
  TestServer server({}, "models_faces.json");
  pb::GetInfoResponse info;
  auto ctx = Context();
  REQUIRE(server.stub().GetInfo(ctx.get(), pb::GetInfoRequest(), &info).ok());
  REQUIRE(info.models_size() == 1);
  CHECK(info.models(0).kind() == "faces");
  CHECK(info.models(0).file() == "tiny_faces.pt");

  pb::RecommendRequest req;
  req.set_image(Image("face.png"));  // a red square "face" (40..72 x 24..56) on grey
  pb::RecommendResponse resp;
  REQUIRE(Recommend(server, req, &resp).ok());
  const pb::ImageTag* smile = FindTag(resp, "smiling face", true);
  REQUIRE(smile != nullptr);
  CHECK(smile->source() == "faces");
  CHECK(smile->box().x_min() < 40.0f / 128);  // the face, enlarged 1.4x and squared
  CHECK(smile->box().x_max() > 72.0f / 128);
  CHECK(resp.matches_size() > 0);  // its words (love, heart, dance) find songs
}

TEST_CASE("Sentence attention over gRPC: explanations name lines with their sentence match") {
  // The tiny sentence encoder (models_sentence.json) and the test catalogue
  // indexed with --sentence_vectors (bundle_sentences, a CTest fixture).
  const std::string bundle = RequiredEnv("I2S_TEST_ASSETS") + "/bundle_sentences";
  pb::RecommendRequest req;
  req.set_image(Image("blue.png"));
  req.set_top_k(5);
  req.set_explain(true);
  {
    TestServer server({"--bundle=" + bundle, "--sentence_weight=1"}, "models_sentence.json");
    pb::RecommendResponse resp;
    REQUIRE(Recommend(server, req, &resp).ok());
    REQUIRE(resp.matches_size() == 5);
    CHECK(resp.tags(0).label() == "ocean");
    const pb::Explanation& e = resp.matches(0).explanation();
    REQUIRE(e.lines_size() >= 1);
    CHECK_FALSE(e.lines(0).text().empty());
    CHECK(e.lines(0).sentence_similarity() != 0.0f);
    CHECK(e.lines(0).sentence_tag() == "ocean");
  }
  {
    // Weight 0 (the default): the same bundle, no sentence part.
    TestServer server({"--bundle=" + bundle}, "models_sentence.json");
    pb::RecommendResponse resp;
    REQUIRE(Recommend(server, req, &resp).ok());
    REQUIRE(resp.matches_size() == 5);
    for (const pb::SongMatch& m : resp.matches()) {
      for (const pb::LyricLine& l : m.explanation().lines()) {
        CHECK(l.sentence_similarity() == 0.0f);
        CHECK(l.sentence_tag().empty());
      }
    }
  }
}

// The ids of the matches, in order.
std::vector<std::string> MatchIds(const pb::RecommendResponse& resp) {
  std::vector<std::string> ids;
  for (const pb::SongMatch& m : resp.matches()) ids.push_back(m.song_id());
  return ids;
}

bool Holds(const std::vector<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

TEST_CASE("Song moods and imputed values over gRPC and HTTP") {
  // catalogue_gaps.jsonl indexed with the tiny mood lexicon and imputation
  // from 2 neighbours (bundle_mood, a CTest fixture): snow-03 has no genre
  // and mood, fire-03 no genre.
  const std::string bundle = RequiredEnv("I2S_TEST_ASSETS") + "/bundle_mood";
  TestServer server({"--bundle=" + bundle});

  // GetSong shows the imputed fields with their confidence.
  pb::GetSongRequest gs;
  gs.set_song_id("snow-03");
  pb::GetSongResponse song;
  {
    auto ctx = Context();
    grpc::Status st = server.stub().GetSong(ctx.get(), gs, &song);
    INFO(st.error_message());
    REQUIRE(st.ok());
  }
  CHECK(song.song().genre() == "classical");
  CHECK(song.song().mood() == "calm");
  REQUIRE(song.song().imputed_size() == 2);
  CHECK(song.song().imputed(0).field() == "genre");
  CHECK(song.song().imputed(0).value() == "classical");
  CHECK(song.song().imputed(0).confidence() == Approx(1.0f));
  CHECK(song.song().imputed(1).field() == "mood");
  CHECK(song.song().imputed(1).value() == "calm");
  CHECK(song.song().imputed(1).confidence() > 0.5f);
  CHECK(song.song().imputed(1).confidence() < 1.0f);
  // Its lyric mood: "cold", "frozen" are negative in the tiny lexicon.
  REQUIRE(song.song().has_lyric_mood());
  CHECK(song.song().lyric_mood().valence() < 0);
  CHECK(song.song().lyric_mood().scored_words() == 2);
  CHECK_FALSE(song.song().lyric_mood().impression().empty());

  gs.set_song_id("fire-03");
  {
    auto ctx = Context();
    REQUIRE(server.stub().GetSong(ctx.get(), gs, &song).ok());
  }
  CHECK(song.song().genre() == "rock");
  CHECK(song.song().mood() == "dark");  // the catalogue's
  REQUIRE(song.song().imputed_size() == 1);
  CHECK(song.song().imputed(0).field() == "genre");

  gs.set_song_id("snow-01");
  {
    auto ctx = Context();
    REQUIRE(server.stub().GetSong(ctx.get(), gs, &song).ok());
  }
  CHECK(song.song().genre() == "classical");
  CHECK(song.song().imputed_size() == 0);

  // Filters match imputed values unless catalogue_values_only.
  pb::RecommendRequest req;
  req.set_text("snow winter");
  req.set_top_k(10);
  req.mutable_filters()->add_genres("classical");
  pb::RecommendResponse resp;
  REQUIRE(Recommend(server, req, &resp).ok());
  std::vector<std::string> ids = MatchIds(resp);
  CHECK(ids.size() == 3);
  CHECK(Holds(ids, "snow-03"));
  req.mutable_filters()->set_catalogue_values_only(true);
  REQUIRE(Recommend(server, req, &resp).ok());
  ids = MatchIds(resp);
  CHECK(ids.size() == 2);
  CHECK_FALSE(Holds(ids, "snow-03"));
  CHECK(Holds(ids, "snow-01"));

  req.mutable_filters()->Clear();
  req.mutable_filters()->add_moods("calm");
  REQUIRE(Recommend(server, req, &resp).ok());
  ids = MatchIds(resp);
  CHECK(Holds(ids, "snow-03"));
  CHECK(Holds(ids, "snow-01"));
  req.mutable_filters()->set_catalogue_values_only(true);
  REQUIRE(Recommend(server, req, &resp).ok());
  ids = MatchIds(resp);
  CHECK_FALSE(Holds(ids, "snow-03"));
  CHECK(Holds(ids, "snow-01"));

  // The same over HTTP.
  const int http = server.http_port();
  REQUIRE(http > 0);
  std::string got = HttpGet(http, "/v1/songs/snow-03");
  INFO(got);
  CHECK(absl::StrContains(got, "200 OK"));
  CHECK(absl::StrContains(got, "\"imputed\":[{\"field\":\"genre\",\"value\":\"classical\""));
  CHECK(absl::StrContains(got, "\"lyric_mood\":{"));
  CHECK(absl::StrContains(got, "\"impression\":"));
  got = testing::HttpRequest(http, "POST", "/v1/recommend?text=snow&genres=classical&top_k=10");
  CHECK(absl::StrContains(got, "200 OK"));
  CHECK(absl::StrContains(got, "\"song_id\":\"snow-03\""));
  got = testing::HttpRequest(
      http, "POST", "/v1/recommend?text=snow&genres=classical&top_k=10&catalogue_values_only=true");
  CHECK(absl::StrContains(got, "200 OK"));
  CHECK(absl::StrContains(got, "\"song_id\":\"snow-01\""));
  CHECK_FALSE(absl::StrContains(got, "\"song_id\":\"snow-03\""));
  got = testing::HttpRequest(http, "POST", "/v1/recommend?text=snow&catalogue_values_only=maybe");
  CHECK(absl::StrContains(got, "400 "));
}

TEST_CASE("Mood-aware ranking over gRPC and HTTP: a requested mood, the picture's mood, errors") {
  // bundle_mood has lyric moods (the tiny lexicon); the tiny models.json
  // names the image mood model with the default weights (the picture's mood
  // 0, a requested mood 0.3).
  const std::string bundle = RequiredEnv("I2S_TEST_ASSETS") + "/bundle_mood";
  TestServer server({"--bundle=" + bundle});
  pb::RecommendRequest req;
  req.set_text("snow winter fire");
  req.set_top_k(16);
  req.set_explain(true);
  pb::RecommendResponse plain;
  REQUIRE(Recommend(server, req, &plain).ok());
  CHECK_FALSE(plain.has_mood_target());
  req.set_mood("Sad");
  pb::RecommendResponse sad;
  {
    grpc::Status st = Recommend(server, req, &sad);
    INFO(st.error_message());
    REQUIRE(st.ok());
  }
  REQUIRE(sad.has_mood_target());
  CHECK(sad.mood_target().source() == "request");
  CHECK(sad.mood_target().word() == "sad");
  CHECK(sad.mood_target().valence() < 0);
  CHECK(sad.mood_target().weight() == Approx(0.3f));
  // Steered, not filtered: the same songs.
  std::vector<std::string> a = MatchIds(plain), b = MatchIds(sad);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  CHECK(a == b);
  int with_mood = 0;
  for (const pb::SongMatch& m : sad.matches()) {
    if (!m.explanation().has_mood()) continue;
    ++with_mood;
    const pb::SongMoodMatch& mm = m.explanation().mood();
    CHECK_FALSE(mm.lyric_mood().impression().empty());
    CHECK(mm.score() == Approx(0.3f * mm.agreement()).margin(1e-5));
    // A song whose lyrics are negative agrees with "sad".
    if (mm.lyric_mood().valence() < -0.1f) CHECK(mm.agreement() > 0);
  }
  CHECK(with_mood >= 6);

  req.set_mood("jolly");
  pb::RecommendResponse resp;
  grpc::Status bad = Recommend(server, req, &resp);
  CHECK(bad.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(absl::StrContains(bad.error_message(), "unknown mood 'jolly'"));
  CHECK(absl::StrContains(bad.error_message(), "calm"));
  req.set_mood(std::string(100, 'x'));
  CHECK(Recommend(server, req, &resp).error_code() == grpc::INVALID_ARGUMENT);

  // HTTP: ?mood= steers (the filter is ?moods=).
  const int http = server.http_port();
  REQUIRE(http > 0);
  std::string got =
      testing::HttpRequest(http, "POST", "/v1/recommend?text=snow&mood=calm&explain=true");
  INFO(got);
  CHECK(absl::StrContains(got, "200 OK"));
  CHECK(absl::StrContains(got, "\"mood_target\":{\"source\":\"request\",\"word\":\"calm\""));
  CHECK(absl::StrContains(got, "\"mood\":{\"lyric_mood\":{"));
  got = testing::HttpRequest(http, "POST", "/v1/recommend?text=snow&mood=jolly");
  CHECK(absl::StrContains(got, "400 "));
  CHECK(absl::StrContains(got, "unknown mood"));

  // The picture's own mood steers when the server gives it a weight.
  TestServer steered({"--bundle=" + bundle, "--mood_weight=0.5"});
  pb::RecommendRequest image;
  image.set_image(Image("gray.png"));
  image.set_explain(true);
  REQUIRE(Recommend(steered, image, &resp).ok());
  REQUIRE(resp.has_image_mood());
  REQUIRE(resp.has_mood_target());
  CHECK(resp.mood_target().source() == "image");
  CHECK(resp.mood_target().word() == resp.image_mood().words(0));
  CHECK(resp.mood_target().valence() == Approx(resp.image_mood().valence()));
  CHECK(resp.mood_target().weight() == Approx(0.5f));

  // A bundle without lyric moods cannot steer: FAILED_PRECONDITION.
  TestServer no_moods;
  req.set_mood("calm");
  bad = Recommend(no_moods, req, &resp);
  CHECK(bad.error_code() == grpc::FAILED_PRECONDITION);
  CHECK(absl::StrContains(bad.error_message(), "no lyric moods"));
}

}  // namespace
}  // namespace image2song
