// End-to-end tests: start the real i2s-server binary on port 0 with the tiny
// generated models and bundle, and call it over gRPC.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "tests/support/server_fixture.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using testing::ChildProcess;
using testing::Context;
using testing::HttpGet;
using testing::Image;
using testing::MetricValue;
using testing::ProcMiB;
using testing::ReadWholeFile;
using testing::Recommend;
using testing::RequiredEnv;
using testing::TempDir;
using testing::TestServer;
namespace pb = ::image2song::v1;

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
    std::vector<std::string> top = {resp.matches(0).song_id(),
                                    resp.matches(1).song_id()};
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

TEST_CASE("Bad input gets INVALID_ARGUMENT or NOT_FOUND, and the server lives") {
  TestServer server;
  auto expect = [&](const std::string& image, int top_k, grpc::StatusCode code,
                    const std::string& needle) {
    pb::RecommendRequest req;
    req.set_image(image);
    req.set_top_k(top_k);
    pb::RecommendResponse resp;
    grpc::Status s = Recommend(server, req, &resp);
    INFO("message: " << s.error_message());
    CHECK(s.error_code() == code);
    CHECK(absl::StrContains(s.error_message(), needle));
  };
  const std::string jpeg = Image("red.jpg");
  const std::string png = Image("blue.png");
  expect("", 5, grpc::INVALID_ARGUMENT, "empty");
  expect(jpeg.substr(0, jpeg.size() / 2), 5, grpc::INVALID_ARGUMENT, "truncated JPEG");
  expect(png.substr(0, png.size() - 20), 5, grpc::INVALID_ARGUMENT, "truncated PNG");
  expect(png.substr(0, 20), 5, grpc::INVALID_ARGUMENT, "PNG");
  expect("hello, this is not an image at all", 5, grpc::INVALID_ARGUMENT,
         "not a supported image");
  expect(std::string(17 << 20, 'x'), 5, grpc::INVALID_ARGUMENT, "limit");
  expect(png, 101, grpc::INVALID_ARGUMENT, "top_k");
  expect(png, -1, grpc::INVALID_ARGUMENT, "top_k");
  // A PNG header declaring 50000 x 50000 pixels (decompression bomb).
  std::string bomb = png;
  const unsigned char dims[8] = {0, 0, 0xC3, 0x50, 0, 0, 0xC3, 0x50};
  bomb.replace(16, 8, reinterpret_cast<const char*>(dims), 8);
  expect(bomb, 5, grpc::INVALID_ARGUMENT, "pixels");
  // Corrupt JPEG body: keep header and end marker, garble the middle.
  std::string garbled = jpeg;
  for (size_t i = jpeg.size() / 3; i < jpeg.size() - 2; ++i) garbled[i] = char(0xFF);
  pb::RecommendRequest req;
  req.set_image(garbled);
  pb::RecommendResponse resp;
  grpc::Status s = Recommend(server, req, &resp);
  // libjpeg may recover a damaged scan; either it decodes or it is refused
  // with INVALID_ARGUMENT, never anything else.
  CHECK((s.ok() || s.error_code() == grpc::INVALID_ARGUMENT));

  pb::GetSongRequest gs;
  pb::GetSongResponse song;
  gs.set_song_id("no-such-song");
  auto ctx = Context();
  s = server.stub().GetSong(ctx.get(), gs, &song);
  CHECK(s.error_code() == grpc::NOT_FOUND);
  CHECK(absl::StrContains(s.error_message(), "no-such-song"));
  gs.set_song_id("");
  ctx = Context();
  CHECK(server.stub().GetSong(ctx.get(), gs, &song).error_code() ==
        grpc::INVALID_ARGUMENT);

  // Still serving after all that.
  req.set_image(png);
  resp.Clear();
  REQUIRE(Recommend(server, req, &resp).ok());
  CHECK(resp.matches_size() > 0);
  CHECK(server.process().Running());
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

  auto reflection =
      grpc::reflection::v1alpha::ServerReflection::NewStub(server.channel());
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
  CHECK(std::count(services.begin(), services.end(),
                   "image2song.v1.SongRecommender") == 1);
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
  CHECK(MetricValue(metrics,
                    "i2s_requests_total{code=\"OK\",method=\"Recommend\"}") == 2);
  CHECK(MetricValue(metrics, "i2s_requests_total{code=\"INVALID_ARGUMENT\","
                             "method=\"Recommend\"}") == 1);
  CHECK(MetricValue(metrics, "i2s_requests_total{code=\"OK\",method=\"GetSong\"}") == 1);
  for (const char* stage : {"decode", "model", "forward", "search", "rerank"}) {
    CHECK(MetricValue(metrics, absl::StrCat("i2s_stage_duration_seconds_count{stage=\"",
                                            stage, "\"}")) == 2);
  }
  CHECK(MetricValue(metrics, "i2s_songs") == 14);
}

TEST_CASE("i2s-client prints rankings, JSON and health") {
  TestServer server;
  const std::string client = RequiredEnv("I2S_CLIENT_BIN");
  const std::string addr = absl::StrCat("--server=127.0.0.1:", server.grpc_port());
  const std::string images = RequiredEnv("I2S_TEST_ASSETS") + "/images/";
  std::string out;
  REQUIRE(testing::RunCommand({client, addr, "recommend", images + "blue.png"},
                              &out) == 0);
  INFO(out);
  CHECK(absl::StrContains(out, "The Wide Ocean"));
  CHECK(absl::StrContains(out, "ocean"));
  REQUIRE(testing::RunCommand({client, addr, "--json", "--top_k=2", "recommend",
                               images + "red.jpg"}, &out) == 0);
  CHECK(absl::StrContains(out, "\"song_id\":\"fire-0"));
  CHECK(testing::RunCommand({client, addr, "health"}, &out) == 0);
  CHECK(absl::StrContains(out, "SERVING"));
  CHECK(testing::RunCommand({client, addr, "info"}, &out) == 0);
  CHECK(absl::StrContains(out, "test-bundle-1"));
  // An RPC error is reported by code name with a non-zero exit.
  CHECK(testing::RunCommand({client, addr, "song", "nope"}, &out) == 2);
  CHECK(absl::StrContains(out, "NOT_FOUND"));
}

TEST_CASE("SIGTERM finishes in-flight requests, refuses new ones, exits 0") {
  // slow_color.pt takes ~50 ms a call; one worker makes a queue.
  TestServer server({"--workers=1"}, "models_slow.json");
  constexpr int kCalls = 6;
  struct Call {
    grpc::ClientContext ctx;
    pb::RecommendRequest req;
    pb::RecommendResponse resp;
    grpc::Status status;
    bool done = false;
  };
  std::vector<std::unique_ptr<Call>> calls;
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto call = std::make_unique<Call>();
    call->req.set_image(Image("blue.png"));
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    Call* c = call.get();
    server.stub().async()->Recommend(&c->ctx, &c->req, &c->resp,
                                     [&, c](grpc::Status s) {
                                       std::lock_guard<std::mutex> lock(mu);
                                       c->status = s;
                                       c->done = true;
                                       ++finished;
                                       cv.notify_all();
                                     });
    calls.push_back(std::move(call));
  }
  {
    // Once the first answer is back the server holds the others.
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return finished >= 1; }));
    REQUIRE(finished < kCalls);
  }
  REQUIRE(::kill(server.process().pid(), SIGTERM) == 0);
  // Wait until the server has begun shutting down, then try a new call.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!absl::StrContains(server.log(), "not serving any more")) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pb::RecommendRequest late;
  late.set_image(Image("blue.png"));
  pb::RecommendResponse late_resp;
  auto ctx = Context(5000);
  grpc::Status late_status = server.stub().Recommend(ctx.get(), late, &late_resp);
  CHECK_FALSE(late_status.ok());

  int code = server.process().Wait(60000);
  INFO("server log:\n" << server.log());
  CHECK(code == 0);
  std::unique_lock<std::mutex> lock(mu);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return finished == kCalls; }));
  for (const auto& c : calls) {
    INFO("status " << c->status.error_code() << " " << c->status.error_message());
    CHECK(c->status.ok());
    CHECK(c->resp.matches_size() > 0);
  }
}

}  // namespace
}  // namespace image2song

namespace image2song {
namespace {

const pb::ImageTag* FindTag(const pb::RecommendResponse& resp,
                            const std::string& label, bool boxed) {
  for (const auto& t : resp.tags()) {
    if (t.label() == label && t.has_box() == boxed) return &t;
  }
  return nullptr;
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


// Builds a bundle of the tiny catalogue with the real i2s-index.
void IndexTiny(const std::string& out, const std::string& version) {
  const std::string assets = RequiredEnv("I2S_TEST_ASSETS");
  std::string output;
  INFO(output);
  REQUIRE(testing::RunCommand({RequiredEnv("I2S_INDEX_BIN"), "--quiet",
                               "--catalogue=" + assets + "/catalogue.jsonl",
                               "--models=" + assets + "/models.json",
                               "--output=" + out, "--bundle_version=" + version},
                              &output) == 0);
}

grpc::Status LoadBundle(TestServer& server, const std::string& token,
                        const std::string& path, pb::LoadBundleResponse* out) {
  auto stub = pb::Admin::NewStub(server.channel());
  auto ctx = Context();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  pb::LoadBundleRequest req;
  req.set_path(path);
  return stub->LoadBundle(ctx.get(), req, out);
}

TEST_CASE("Bundles swap under load with zero failed requests and bad ones are refused") {
  TempDir tmp;
  const std::string root = tmp.File("bundles");
  REQUIRE(::mkdir(root.c_str(), 0755) == 0);
  IndexTiny(root + "/live", "v1");
  IndexTiny(root + "/v2", "v2");
  IndexTiny(root + "/bad", "bad");
  {  // a flipped byte inside a song record: the sha256 check must catch it
    const std::string path = root + "/bad/songs.bin";
    std::string data = ReadWholeFile(path);
    data[data.size() / 2] ^= 0x20;
    testing::WriteWholeFile(path, data);
  }
  REQUIRE(::symlink("/tmp", (root + "/escape").c_str()) == 0);
  testing::WriteWholeFile(tmp.File("token"), "s3cret-token\n");
  TestServer server({"--bundle=" + root + "/live", "--bundle_root=" + root,
                     "--admin_token_file=" + tmp.File("token")});

  // Clients send requests the whole time.
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> failures;
  std::map<std::string, int> versions;
  bool went_back = false;
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&] {
      auto stub = pb::SongRecommender::NewStub(server.channel());
      pb::RecommendRequest req;
      req.set_image(Image("blue.png"));
      req.set_top_k(3);
      std::string last;
      while (!stop) {
        pb::RecommendResponse resp;
        auto ctx = Context();
        grpc::Status s = stub->Recommend(ctx.get(), req, &resp);
        std::lock_guard<std::mutex> lock(mu);
        if (!s.ok() || resp.matches_size() != 3) {
          failures.push_back(absl::StrCat(s.error_code(), " ", s.error_message(),
                                          " matches ", resp.matches_size()));
          continue;
        }
        const std::string& v = resp.index_version();
        ++versions[v];
        // Versions only move forward: v1 -> v2 -> v3.
        if (!last.empty() && v < last) went_back = true;
        last = v;
      }
    });
  }
  auto wait_for_version = [&](const std::string& v) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (versions[v] >= 5) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };
  REQUIRE(wait_for_version("v1"));

  pb::LoadBundleResponse resp;
  // Token and path checks.
  CHECK(LoadBundle(server, "", "v2", &resp).error_code() == grpc::UNAUTHENTICATED);
  CHECK(LoadBundle(server, "wrong", "v2", &resp).error_code() == grpc::UNAUTHENTICATED);
  for (const char* path : {"../bundles/v2", "/etc", "v2/../../x", "escape"}) {
    INFO(path);
    grpc::Status s = LoadBundle(server, "s3cret-token", path, &resp);
    CHECK(s.error_code() == grpc::INVALID_ARGUMENT);
  }
  CHECK(LoadBundle(server, "s3cret-token", "nope", &resp).error_code() == grpc::NOT_FOUND);
  // A corrupt bundle is refused; v1 keeps serving.
  grpc::Status bad = LoadBundle(server, "s3cret-token", "bad", &resp);
  CHECK(bad.error_code() == grpc::DATA_LOSS);
  CHECK(absl::StrContains(bad.error_message(), "songs.bin"));
  REQUIRE(wait_for_version("v1"));

  // Admin swap to v2.
  grpc::Status ok = LoadBundle(server, "s3cret-token", "v2", &resp);
  INFO(ok.error_message());
  REQUIRE(ok.ok());
  CHECK(resp.version() == "v2");
  CHECK(resp.previous_version() == "v1");
  CHECK(resp.song_count() == 14);
  REQUIRE(wait_for_version("v2"));

  // SIGHUP swap: i2s-index replaces the --bundle directory atomically, then
  // the server reloads it.
  IndexTiny(root + "/live", "v3");
  REQUIRE(::kill(server.process().pid(), SIGHUP) == 0);
  REQUIRE(wait_for_version("v3"));

  stop = true;
  for (std::thread& t : clients) t.join();
  INFO("server log:\n" << server.log());
  CHECK(failures.empty());
  if (!failures.empty()) FAIL_CHECK(failures.front());
  CHECK_FALSE(went_back);
  int total = 0;
  for (const auto& [v, n] : versions) {
    CHECK((v == "v1" || v == "v2" || v == "v3"));
    total += n;
  }
  CHECK(total > 30);
  const std::string log = server.log();
  CHECK(absl::StrContains(log, "rejected, still serving v1"));
  CHECK(absl::StrContains(log, "now serving bundle v2"));
  CHECK(absl::StrContains(log, "now serving bundle v3"));
  CHECK_FALSE(absl::StrContains(log, "s3cret-token"));  // never logged
  const std::string metrics = HttpGet(server.metrics_port(), "/metrics");
  CHECK(absl::StrContains(metrics, "i2s_bundle_loads_total{result=\"rejected\"} 1"));
  CHECK(absl::StrContains(metrics, "i2s_bundle_loads_total{result=\"ok\"} 2"));
  CHECK(absl::StrContains(metrics, "i2s_bundle_info{version=\"v3\"} 1"));
}

TEST_CASE("Without a token the Admin service is not served") {
  TestServer server;
  pb::LoadBundleResponse resp;
  CHECK(LoadBundle(server, "x", "", &resp).error_code() == grpc::UNIMPLEMENTED);
}

TEST_CASE("i2s-loadgen drives the server closed and open loop and counts codes") {
  TestServer server;
  const std::string target = absl::StrCat("--server=127.0.0.1:", server.grpc_port());
  const std::string images = "--images=" + RequiredEnv("I2S_TEST_ASSETS") + "/images";
  std::string out;
  REQUIRE(testing::RunCommand({RequiredEnv("I2S_LOADGEN_BIN"), target, images,
                               "--concurrency=2", "--warmup=0.3", "--duration=1.5",
                               "--json"},
                              &out) == 0);
  INFO(out);
  std::smatch m;
  REQUIRE(std::regex_search(out, m, std::regex("\"calls\": ([0-9]+), \"ok\": ([0-9]+)")));
  CHECK(std::stoi(m[1]) >= 10);
  CHECK(m[1] == m[2]);  // every image decodes: all OK
  CHECK(absl::StrContains(out, "\"mode\": \"closed\""));
  // Open loop at 20 QPS for 1.5 s: about 30 calls, whatever the latency.
  REQUIRE(testing::RunCommand({RequiredEnv("I2S_LOADGEN_BIN"), target, images,
                               "--qps=20", "--warmup=0.2", "--duration=1.5", "--json"},
                              &out) == 0);
  INFO(out);
  REQUIRE(std::regex_search(out, m, std::regex("\"calls\": ([0-9]+), \"ok\": ([0-9]+)")));
  CHECK(std::stoi(m[1]) >= 25);
  CHECK(std::stoi(m[1]) <= 35);
  CHECK(absl::StrContains(out, "\"OK\": "));
  // A deadline too short for any answer is counted by code, not a crash.
  REQUIRE(testing::RunCommand({RequiredEnv("I2S_LOADGEN_BIN"), target, images,
                               "--concurrency=1", "--warmup=0", "--count=5",
                               "--timeout_ms=0", "--json"},
                              &out) == 0);
  INFO(out);
  CHECK(absl::StrContains(out, "\"DEADLINE_EXCEEDED\": "));
  CHECK(testing::RunCommand({RequiredEnv("I2S_LOADGEN_BIN"), target}, &out) == 2);
  CHECK(absl::StrContains(out, "--images is required"));
}
}  // namespace
}  // namespace image2song

namespace image2song {
namespace {

TEST_CASE("Dynamic batching and parallel taggers answer as the plain server does") {
  TestServer plain({}, "models_full.json");
  TestServer fast({"--batching", "--parallel_taggers", "--workers=4",
                   "--batch_delay_us=20000"},
                  "models_full.json");
  pb::GetInfoResponse info;
  auto ctx = Context();
  REQUIRE(fast.stub().GetInfo(ctx.get(), pb::GetInfoRequest(), &info).ok());
  CHECK(info.models(0).max_batch() == 8);  // the tiny classifier can batch
  CHECK(info.models(1).max_batch() == 0);  // cues: no model
  CHECK(absl::StrContains(fast.log(), "tiny_color: dynamic batching on"));

  const std::vector<std::string> names = {"blue.png", "red.jpg", "green.webp",
                                          "white.bmp", "split.png", "gray.png"};
  std::vector<pb::RecommendResponse> got(names.size());
  std::vector<grpc::Status> status(names.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < names.size(); ++i) {
    threads.emplace_back([&, i] {
      pb::RecommendRequest req;
      req.set_image(Image(names[i]));
      req.set_top_k(5);
      status[i] = Recommend(fast, req, &got[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < names.size(); ++i) {
    INFO(names[i] << ": " << status[i].error_message());
    REQUIRE(status[i].ok());
    pb::RecommendRequest req;
    req.set_image(Image(names[i]));
    req.set_top_k(5);
    pb::RecommendResponse want;
    REQUIRE(Recommend(plain, req, &want).ok());
    REQUIRE(got[i].matches_size() == want.matches_size());
    for (int k = 0; k < want.matches_size(); ++k) {
      CHECK(got[i].matches(k).song_id() == want.matches(k).song_id());
      CHECK(got[i].matches(k).score() == Approx(want.matches(k).score()).margin(1e-4));
    }
    REQUIRE(got[i].tags_size() == want.tags_size());
    for (int k = 0; k < want.tags_size(); ++k) {
      CHECK(got[i].tags(k).label() == want.tags(k).label());
    }
  }
  const std::string metrics = HttpGet(fast.metrics_port(), "/metrics");
  CHECK(MetricValue(metrics, "i2s_batch_size_count{model=\"tiny_color\"}") > 0);
}

TEST_CASE("A full model queue answers RESOURCE_EXHAUSTED and the rest succeed") {
  // slow_color.pt (tagger tiny_color): ~50 ms a call. One image may wait for
  // the model; the rest are refused.
  TestServer server({"--batching", "--max_batch=1", "--batch_queue=1", "--workers=8"},
                    "models_slow.json");
  constexpr int kCalls = 8;
  std::vector<grpc::Status> status(kCalls);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCalls; ++i) {
    threads.emplace_back([&, i] {
      pb::RecommendRequest req;
      req.set_image(Image("blue.png"));
      pb::RecommendResponse resp;
      status[i] = Recommend(server, req, &resp);
      if (status[i].ok()) CHECK(resp.matches_size() > 0);
    });
  }
  for (auto& t : threads) t.join();
  int ok = 0, refused = 0;
  for (const grpc::Status& s : status) {
    INFO(s.error_code() << " " << s.error_message());
    if (s.ok()) {
      ++ok;
    } else {
      CHECK(s.error_code() == grpc::RESOURCE_EXHAUSTED);
      CHECK(absl::StrContains(s.error_message(), "model tiny_color is overloaded"));
      ++refused;
    }
  }
  CHECK(ok >= 1);
  CHECK(refused >= 1);
  // The server lives and serves once the burst is over.
  pb::RecommendRequest req;
  req.set_image(Image("blue.png"));
  pb::RecommendResponse resp;
  CHECK(Recommend(server, req, &resp).ok());
}

}  // namespace
}  // namespace image2song

namespace image2song {
namespace {

std::string Tls(const std::string& name) {
  return RequiredEnv("I2S_TEST_ASSETS") + "/tls/" + name;
}

// A TLS channel to the server trusting `ca`, optionally with a client
// certificate (`client` = "client" or "stranger").
std::shared_ptr<grpc::Channel> TlsChannel(const TestServer& server, const std::string& ca,
                                          const std::string& client = "") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadWholeFile(Tls(ca));
  if (!client.empty()) {
    ssl.pem_cert_chain = ReadWholeFile(Tls(client + ".crt"));
    ssl.pem_private_key = ReadWholeFile(Tls(client + ".key"));
  }
  return grpc::CreateChannel(absl::StrCat("localhost:", server.grpc_port()),
                             grpc::SslCredentials(ssl));
}

grpc::Status Info(const std::shared_ptr<grpc::Channel>& channel,
                  const std::string& token = "") {
  auto stub = pb::SongRecommender::NewStub(channel);
  auto ctx = Context(5000);
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  pb::GetInfoResponse info;
  return stub->GetInfo(ctx.get(), pb::GetInfoRequest(), &info);
}

TEST_CASE("With a token every SongRecommender call needs it and health stays open") {
  const std::string token = "test-token-7f3a";  // the content of tls/token
  TestServer server({"--auth_token_file=" + Tls("token")});
  CHECK(absl::StrContains(server.log(), "bearer token required"));
  auto stub = pb::SongRecommender::NewStub(server.channel());
  for (const std::string& given : {std::string(), std::string("wrong"), token + "x"}) {
    INFO("token '" << given << "'");
    auto call = [&](auto&& rpc) {
      auto ctx = Context(5000);
      if (!given.empty()) ctx->AddMetadata("authorization", "Bearer " + given);
      return rpc(ctx.get());
    };
    pb::RecommendRequest req;
    req.set_image(Image("blue.png"));
    pb::RecommendResponse rec;
    grpc::Status s = call([&](grpc::ClientContext* c) { return stub->Recommend(c, req, &rec); });
    CHECK(s.error_code() == grpc::UNAUTHENTICATED);
    CHECK(absl::StrContains(s.error_message(), "authorization: Bearer"));
    CHECK(rec.matches_size() == 0);
    pb::GetSongRequest song_req;
    song_req.set_song_id("sea-01");
    pb::GetSongResponse song;
    s = call([&](grpc::ClientContext* c) { return stub->GetSong(c, song_req, &song); });
    CHECK(s.error_code() == grpc::UNAUTHENTICATED);
    CHECK(Info(server.channel(), given).error_code() == grpc::UNAUTHENTICATED);
  }
  // The right token works for every call.
  CHECK(Info(server.channel(), token).ok());
  pb::RecommendRequest req;
  req.set_image(Image("blue.png"));
  pb::RecommendResponse rec;
  auto ctx = Context();
  ctx->AddMetadata("authorization", "Bearer " + token);
  REQUIRE(stub->Recommend(ctx.get(), req, &rec).ok());
  CHECK(rec.matches_size() > 0);
  // Health needs no token (probes).
  auto health = grpc::health::v1::Health::NewStub(server.channel());
  grpc::health::v1::HealthCheckRequest hreq;
  grpc::health::v1::HealthCheckResponse hresp;
  auto hctx = Context(5000);
  REQUIRE(health->Check(hctx.get(), hreq, &hresp).ok());
  CHECK(hresp.status() == grpc::health::v1::HealthCheckResponse::SERVING);
  // The client reads the token from a file; the token never reaches the log.
  const std::string client = RequiredEnv("I2S_CLIENT_BIN");
  const std::string addr = absl::StrCat("--server=127.0.0.1:", server.grpc_port());
  std::string out;
  CHECK(testing::RunCommand({client, addr, "--token_file=" + Tls("token"), "info"}, &out) == 0);
  CHECK(testing::RunCommand({client, addr, "info"}, &out) == 2);
  CHECK(absl::StrContains(out, "UNAUTHENTICATED"));
  CHECK_FALSE(absl::StrContains(server.log(), token));
  const std::string metrics = HttpGet(server.metrics_port(), "/metrics");
  CHECK(MetricValue(metrics, "i2s_requests_total{code=\"UNAUTHENTICATED\",method=\"Recommend\"}") == 3);
}

TEST_CASE("TLS: the test CA's clients connect, plaintext and untrusting clients do not") {
  TestServer server({"--tls_cert_file=" + Tls("server.crt"), "--tls_key_file=" + Tls("server.key")});
  CHECK(absl::StrContains(server.log(), "(port " + std::to_string(server.grpc_port()) + ", TLS)"));
  CHECK(Info(TlsChannel(server, "ca.crt")).ok());
  CHECK(Info(server.channel()).error_code() == grpc::UNAVAILABLE);  // plaintext
  CHECK_FALSE(Info(TlsChannel(server, "other_ca.crt")).ok());       // untrusted server cert
  // i2s-client over TLS.
  const std::string client = RequiredEnv("I2S_CLIENT_BIN");
  std::string out;
  CHECK(testing::RunCommand({client, absl::StrCat("--server=localhost:", server.grpc_port()),
                             "--tls_ca_file=" + Tls("ca.crt"), "--wait_ready=false", "info"},
                            &out) == 0);
  CHECK(absl::StrContains(out, "test-bundle-1"));
}

TEST_CASE("Mutual TLS: only clients with a certificate from the trusted CA get in") {
  TestServer server({"--tls_cert_file=" + Tls("server.crt"), "--tls_key_file=" + Tls("server.key"),
                     "--tls_client_ca_file=" + Tls("ca.crt")});
  CHECK(absl::StrContains(server.log(), "mutual TLS"));
  CHECK(Info(TlsChannel(server, "ca.crt", "client")).ok());
  CHECK_FALSE(Info(TlsChannel(server, "ca.crt")).ok());              // no client certificate
  CHECK_FALSE(Info(TlsChannel(server, "ca.crt", "stranger")).ok());  // other CA
}

TEST_CASE("Bad TLS or token settings stop start-up with a clear message") {
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  for (const Case& c :
       {Case{{"--tls_cert_file=" + Tls("server.crt")}, "--tls_key_file"},
        Case{{"--tls_cert_file=" + Tls("server.crt"), "--tls_key_file=/nonexistent.key"},
             "/nonexistent.key"},
        Case{{"--tls_cert_file=" + Tls("token"), "--tls_key_file=" + Tls("server.key")},
             "not a PEM file"},
        Case{{"--auth_token_file=/nonexistent-token"}, "auth_token_file"}}) {
    TempDir dir;
    const std::string assets = RequiredEnv("I2S_TEST_ASSETS");
    std::vector<std::string> argv = {RequiredEnv("I2S_SERVER_BIN"), "--listen=127.0.0.1:0",
                                     "--metrics_listen=", "--http_listen=", "--models=" + assets + "/models.json",
                                     "--bundle=" + RequiredEnv("I2S_TEST_BUNDLE")};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    ChildProcess process(argv, dir.File("log"));
    const int code = process.Wait(60000);
    const std::string log = ReadWholeFile(dir.File("log"));
    INFO(log);
    CHECK(code == 1);
    CHECK(absl::StrContains(log, c.message));
  }
}

}  // namespace
}  // namespace image2song

namespace image2song {
namespace {

// "VmRSS" or "VmHWM" of a process, in MiB (-1 when unreadable).
double JsonNumber(const std::string& json, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + key + "\": ([0-9.]+)"))) return -1;
  return std::stod(m[1]);
}

TEST_CASE("Ten times the sustainable load: quick refusals, bounded memory, recovery") {
  // slow_color.pt: ~50 ms a call; 2 workers sustain ~40 QPS. A short queue
  // makes the server refuse the excess at once.
  TestServer server({"--workers=2", "--queue_size=4"}, "models_slow.json");
  const std::string loadgen = RequiredEnv("I2S_LOADGEN_BIN");
  const std::string target = absl::StrCat("--server=127.0.0.1:", server.grpc_port());
  const std::string images = "--images=" + RequiredEnv("I2S_TEST_ASSETS") + "/images";
  std::string before;
  REQUIRE(testing::RunCommand({loadgen, target, images, "--concurrency=1", "--warmup=0.5",
                               "--count=20", "--json"}, &before) == 0);
  const double p50_before = JsonNumber(before, "p50");
  const double rss_before = ProcMiB(server.process().pid(), "VmRSS");
  REQUIRE(p50_before > 0);

  // 400 QPS for 4 s, while a prober checks health every 50 ms.
  std::string burst;
  std::atomic<bool> done{false};
  std::thread load([&] {
    testing::RunCommand({loadgen, target, images, "--qps=400", "--warmup=0", "--duration=4",
                         "--timeout_ms=5000", "--json"}, &burst);
    done = true;
  });
  auto health = grpc::health::v1::Health::NewStub(server.channel());
  int probes = 0, serving = 0;
  double slowest_probe_ms = 0;
  while (!done) {
    grpc::health::v1::HealthCheckRequest hreq;
    grpc::health::v1::HealthCheckResponse hresp;
    auto ctx = Context(2000);
    const auto t0 = std::chrono::steady_clock::now();
    grpc::Status s = health->Check(ctx.get(), hreq, &hresp);
    slowest_probe_ms = std::max(
        slowest_probe_ms, std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - t0).count());
    ++probes;
    if (s.ok() && hresp.status() == grpc::health::v1::HealthCheckResponse::SERVING) ++serving;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  load.join();
  INFO(burst);
  const double peak = ProcMiB(server.process().pid(), "VmHWM");
  const double calls = JsonNumber(burst, "calls"), ok = JsonNumber(burst, "ok");
  const double refused = JsonNumber(burst, "RESOURCE_EXHAUSTED");
  WARN("overload: " << calls << " calls at 400 QPS, " << ok << " OK, " << refused
       << " RESOURCE_EXHAUSTED; RSS " << rss_before << " MiB before, peak " << peak
       << " MiB; slowest health probe " << slowest_probe_ms << " ms");
  CHECK(calls >= 1200);
  CHECK(ok >= 20);
  CHECK(refused >= calls / 2);           // the excess is refused ...
  CHECK(ok + refused == calls);          // ... and nothing else fails
  CHECK(peak < rss_before + 256);        // memory stays bounded
  CHECK(probes == serving);              // health answers SERVING throughout
  CHECK(slowest_probe_ms < 1000);

  // Back to normal latency right after.
  std::string after;
  REQUIRE(testing::RunCommand({loadgen, target, images, "--concurrency=1", "--warmup=0.2",
                               "--count=20", "--json"}, &after) == 0);
  INFO(after);
  CHECK(JsonNumber(after, "ok") == 20);
  CHECK(JsonNumber(after, "p50") < 2 * p50_before + 20);
}

}  // namespace
}  // namespace image2song

namespace image2song {
namespace {

TEST_CASE("Missing or corrupt model files stop start-up with exit 1 and a clear message") {
  const std::string assets = RequiredEnv("I2S_TEST_ASSETS");
  TempDir dir;
  const std::string manifest = ReadWholeFile(assets + "/models.json");
  // Absolute paths so the manifest can live in the temp dir.
  auto with_model = [&](const std::string& model) {
    std::string m = manifest;
    for (const std::string& file : {std::string("words.i2sv"), std::string("labels.tsv")}) {
      m = std::regex_replace(m, std::regex("\"" + file + "\""), "\"" + assets + "/" + file + "\"");
    }
    return std::regex_replace(m, std::regex("\"tiny_color.pt\""), "\"" + model + "\"");
  };
  std::string garbage(4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = char((i * 131) % 251);
  testing::WriteWholeFile(dir.File("garbage.pt"), garbage);
  const std::string real = ReadWholeFile(assets + "/tiny_color.pt");
  testing::WriteWholeFile(dir.File("truncated.pt"), real.substr(0, real.size() / 2));
  struct Case {
    std::string model;
    std::string message;
  };
  for (const Case& c : {Case{dir.File("missing.pt"), "missing.pt"},
                        Case{dir.File("garbage.pt"), "cannot load TorchScript model"},
                        Case{dir.File("truncated.pt"), "cannot load TorchScript model"}}) {
    INFO(c.model);
    testing::WriteWholeFile(dir.File("models.json"), with_model(c.model));
    ChildProcess process({RequiredEnv("I2S_SERVER_BIN"), "--listen=127.0.0.1:0",
                          "--metrics_listen=", "--http_listen=", "--models=" + dir.File("models.json"),
                          "--bundle=" + RequiredEnv("I2S_TEST_BUNDLE")},
                         dir.File("log"));
    const int code = process.Wait(60000);
    const std::string log = ReadWholeFile(dir.File("log"));
    INFO(log);
    CHECK(code == 1);  // an error exit, not a signal
    CHECK(absl::StrContains(log, "cannot load models"));
    CHECK(absl::StrContains(log, c.message));
  }
}

}  // namespace
}  // namespace image2song

namespace image2song {
namespace {

TEST_CASE("Expired and cancelled calls are dropped before the models run") {
  // One worker and the ~50 ms model: calls queue behind each other.
  TestServer server({"--workers=1"}, "models_slow.json");
  struct Call {
    grpc::ClientContext ctx;
    pb::RecommendRequest req;
    pb::RecommendResponse resp;
    grpc::Status status;
  };
  // Work ahead of the two calls below: each fill call takes 10-50 ms here.
  constexpr int kFill = 40;
  std::vector<std::unique_ptr<Call>> calls;
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  auto start_call = [&](int deadline_ms) {
    auto call = std::make_unique<Call>();
    call->req.set_image(Image("blue.png"));
    call->ctx.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::milliseconds(deadline_ms));
    Call* c = call.get();
    server.stub().async()->Recommend(&c->ctx, &c->req, &c->resp, [&, c](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      c->status = s;
      ++finished;
      cv.notify_all();
    });
    calls.push_back(std::move(call));
    return c;
  };
  for (int i = 0; i < kFill; ++i) start_call(30000);
  Call* expiring = start_call(60);       // expires while queued
  Call* cancelled = start_call(30000);   // cancelled by the client while queued
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  cancelled->ctx.TryCancel();
  {
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return finished == kFill + 2; }));
  }
  CHECK(expiring->status.error_code() == grpc::DEADLINE_EXCEEDED);
  CHECK(cancelled->status.error_code() == grpc::CANCELLED);
  int ok = 0;
  for (int i = 0; i < kFill; ++i) ok += calls[i]->status.ok() ? 1 : 0;
  CHECK(ok == kFill);
  // The server saw both and ran the models only for the others.
  double expired_seen = -1, cancelled_seen = -1, model_runs = -1;
  for (int i = 0; i < 200; ++i) {
    const std::string metrics = HttpGet(server.metrics_port(), "/metrics");
    expired_seen = MetricValue(metrics, "i2s_requests_total{code=\"DEADLINE_EXCEEDED\",method=\"Recommend\"}");
    cancelled_seen = MetricValue(metrics, "i2s_requests_total{code=\"CANCELLED\",method=\"Recommend\"}");
    model_runs = MetricValue(metrics, "i2s_stage_duration_seconds_count{stage=\"model\"}");
    if (expired_seen >= 1 && cancelled_seen >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(expired_seen == 1);
  CHECK(cancelled_seen == 1);
  CHECK(model_runs == kFill);
}

}  // namespace
}  // namespace image2song
