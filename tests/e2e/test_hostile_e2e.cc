// End-to-end tests of hostile and odd input (issue 13) against the real
// i2s-server binary: image geometry, byte layouts of real photos, strings
// that are not UTF-8, unparseable requests, cheap checks before the queue,
// bundle paths that are files.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/image/image.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "tests/support/server_fixture.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using testing::Context;
using testing::HttpGet;
using testing::Image;
using testing::MetricValue;
using testing::ProcMiB;
using testing::ReadWholeFile;
using testing::Recommend;
using testing::TempDir;
using testing::TestServer;
namespace pb = ::image2song::v1;

std::string SolidImage(int width, int height, const std::string& ext) {
  RgbImage img;
  img.width = width;
  img.height = height;
  img.pixels.resize(size_t(width) * height * 3);
  for (size_t i = 0; i < img.pixels.size(); i += 3) {
    img.pixels[i] = 20;
    img.pixels[i + 1] = 60;
    img.pixels[i + 2] = 230;
  }
  absl::StatusOr<std::string> bytes = EncodeImage(img, ext);
  REQUIRE(bytes.ok());
  return *bytes;
}

bool Serving(TestServer& server) {
  auto stub = grpc::health::v1::Health::NewStub(server.channel());
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  auto ctx = Context(5000);
  return stub->Check(ctx.get(), req, &resp).ok() &&
         resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

// Sends `bytes` as the request of `method` ("/pkg.Service/Method"), as a
// client with its own serializer (or none) would.
grpc::Status RawCall(TestServer& server, const std::string& method, const std::string& bytes,
                     const std::string& token = "") {
  grpc::GenericStub stub(server.channel());
  auto ctx = Context(30000);
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1), response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(ctx.get(), method, grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

constexpr char kRecommend[] = "/image2song.v1.SongRecommender/Recommend";

TEST_CASE("Images of any aspect ratio are answered and never stop the server") {
  // The full tiny tagger set: whole image, 2x2 grid and centre regions,
  // backdrop check and colour cues.
  TestServer server({}, "models_full.json");
  const std::vector<std::pair<int, int>> sizes = {{1, 300},    {300, 1}, {450, 1}, {10000, 10},
                                                  {10, 10000}, {1, 1},   {2, 3},   {1, 20000},
                                                  {20000, 1},  {3, 5000}};
  for (const auto& [w, h] : sizes) {
    for (const char* ext : {".png", ".jpg"}) {
      INFO(w << "x" << h << " " << ext);
      pb::RecommendRequest req;
      req.set_image(SolidImage(w, h, ext));
      req.set_top_k(3);
      req.set_explain(true);
      pb::RecommendResponse resp;
      grpc::Status s = Recommend(server, req, &resp);
      INFO(s.error_code() << " " << s.error_message() << "\nserver log:\n" << server.log());
      REQUIRE(s.ok());
      CHECK(resp.matches_size() == 3);
    }
  }
  // Several odd images in one request, too.
  pb::RecommendRequest req;
  for (const auto& [w, h] : sizes) req.add_images(SolidImage(w, h, ".png"));
  pb::RecommendResponse resp;
  CHECK(Recommend(server, req, &resp).ok());
  CHECK(server.process().Running());
  CHECK(Serving(server));
  CHECK_FALSE(absl::StrContains(server.log(), "terminate"));
}

TEST_CASE("Photos with bytes after the end marker or without it get songs") {
  TestServer server;
  const std::string jpeg = Image("red.jpg");
  pb::RecommendRequest req;
  req.set_image(jpeg);
  req.set_top_k(3);
  pb::RecommendResponse plain;
  REQUIRE(Recommend(server, req, &plain).ok());
  REQUIRE(plain.matches_size() == 3);
  std::mt19937 rng(3);
  std::string video(300 * 1024, '\0');
  for (char& c : video) c = char(rng());
  for (const std::string& bytes :
       {jpeg + "\n", jpeg + "\r\n", jpeg + video, jpeg.substr(0, jpeg.size() - 2)}) {
    INFO(bytes.size() << " bytes");
    req.set_image(bytes);
    pb::RecommendResponse resp;
    grpc::Status s = Recommend(server, req, &resp);
    INFO(s.error_message());
    REQUIRE(s.ok());
    REQUIRE(resp.matches_size() == 3);
    CHECK(resp.matches(0).song_id() == plain.matches(0).song_id());
  }
  // Cut inside the image data: refused, with the reason.
  req.set_image(jpeg.substr(0, jpeg.size() / 2));
  pb::RecommendResponse resp;
  grpc::Status s = Recommend(server, req, &resp);
  CHECK(s.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(absl::StrContains(s.error_message(), "truncated JPEG"));
}

// A PNG chunk with a bad CRC: libpng warns "tEXt: CRC error" (and, through
// OpenCV, printed it to stderr on every request).
std::string WithBadTextChunk(const std::string& png) {
  const std::string chunk = std::string("\0\0\0\x05tEXtab\0cd", 13) + "\xDE\xAD\xBE\xEF";
  return png.substr(0, 33) + chunk + png.substr(33);  // after the IHDR chunk
}

TEST_CASE("Files libpng and libjpeg warn about are answered without a log line each") {
  TestServer server;
  const std::string jpeg = Image("red.jpg");
  // Two stray bytes before the end marker: "Corrupt JPEG data: 2 extraneous
  // bytes before marker 0xd9".
  const std::string stray = jpeg.substr(0, jpeg.size() - 2) + "\x12\x34\xFF\xD9";
  const std::string png = WithBadTextChunk(Image("blue.png"));
  for (int i = 0; i < 3; ++i) {
    for (const std::string& bytes : {stray, png}) {
      pb::RecommendRequest req;
      req.set_image(bytes);
      pb::RecommendResponse resp;
      grpc::Status s = Recommend(server, req, &resp);
      INFO(s.error_message());
      CHECK(s.ok());
      CHECK(resp.matches_size() > 0);
    }
  }
  const std::string log = server.log();
  INFO(log);
  CHECK_FALSE(absl::StrContains(log, "libpng"));
  CHECK_FALSE(absl::StrContains(log, "CRC"));
  CHECK_FALSE(absl::StrContains(log, "Corrupt JPEG"));
  CHECK_FALSE(absl::StrContains(log, "extraneous"));
}

TEST_CASE(
    "Strings that are not UTF-8 and unparseable bytes get INVALID_ARGUMENT naming the problem") {
  TempDir tmp;
  testing::WriteWholeFile(tmp.File("token"), "adm1n\n");
  TestServer server({"--admin_token_file=" + tmp.File("token"), "--bundle_root=" + tmp.path()});
  struct Case {
    const char* field;
    pb::RecommendRequest req;
  };
  std::vector<Case> cases(4);
  const std::string bad = "caf\xC3 \xFF\xFE";
  cases[0].field = "'text'";
  cases[0].req.set_text(bad);
  cases[1].field = "'filters.genres[1]'";
  cases[1].req.mutable_filters()->add_genres("folk");
  cases[1].req.mutable_filters()->add_genres(bad);
  cases[2].field = "'filters.exclude_song_ids[0]'";
  cases[2].req.mutable_filters()->add_exclude_song_ids(bad);
  cases[3].field = "'filters.moods[0]'";
  cases[3].req.mutable_filters()->add_moods("\xED\xA0\x80");  // a UTF-16 surrogate
  for (Case& c : cases) {
    INFO(c.field);
    c.req.set_image(Image("blue.png"));
    std::string bytes;
    REQUIRE(c.req.SerializeToString(&bytes));
    grpc::Status s = RawCall(server, kRecommend, bytes);
    CHECK(s.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StrContains(s.error_message(), c.field));
    CHECK(absl::StrContains(s.error_message(), "not valid UTF-8"));
  }
  for (const std::string& garbage :
       {std::string("\xFF\xFF\xFF\xFF"), std::string("\x0A\x80"), std::string(1000, '\x0F')}) {
    grpc::Status s = RawCall(server, kRecommend, garbage);
    CHECK(s.error_code() == grpc::INVALID_ARGUMENT);
    CHECK(absl::StrContains(s.error_message(), "image2song.v1.RecommendRequest"));
  }
  pb::GetSongRequest song;
  song.set_song_id(bad);
  std::string bytes;
  REQUIRE(song.SerializeToString(&bytes));
  grpc::Status s = RawCall(server, "/image2song.v1.SongRecommender/GetSong", bytes);
  CHECK(s.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(absl::StrContains(s.error_message(), "'song_id' is not valid UTF-8"));
  pb::LoadBundleRequest load;
  load.set_path(bad);
  REQUIRE(load.SerializeToString(&bytes));
  s = RawCall(server, "/image2song.v1.Admin/LoadBundle", bytes, "adm1n");
  CHECK(s.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(absl::StrContains(s.error_message(), "'path' is not valid UTF-8"));
  // Valid requests still work, and nothing was logged per bad request.
  pb::RecommendRequest req;
  req.set_image(Image("blue.png"));
  pb::RecommendResponse resp;
  CHECK(Recommend(server, req, &resp).ok());
  const std::string log = server.log();
  CHECK_FALSE(absl::StrContains(log, "UTF-8"));
  CHECK_FALSE(absl::StrContains(log, "libprotobuf"));
  const std::string metrics = HttpGet(server.metrics_port(), "/metrics");
  CHECK(MetricValue(metrics,
                    "i2s_requests_total{code=\"INVALID_ARGUMENT\",method=\"Recommend\"}") == 7);
}

TEST_CASE("Admin.LoadBundle on a file answers INVALID_ARGUMENT without server paths") {
  TempDir tmp;
  testing::WriteWholeFile(tmp.File("token"), "adm1n\n");
  testing::WriteWholeFile(tmp.File("manifest.json"), "{}");
  TestServer server({"--admin_token_file=" + tmp.File("token"), "--bundle_root=" + tmp.path()});
  pb::LoadBundleRequest load;
  load.set_path("manifest.json");
  std::string bytes;
  REQUIRE(load.SerializeToString(&bytes));
  grpc::Status s = RawCall(server, "/image2song.v1.Admin/LoadBundle", bytes, "adm1n");
  CHECK(s.error_code() == grpc::INVALID_ARGUMENT);
  CHECK(absl::StrContains(s.error_message(), "'manifest.json' is not a directory"));
  CHECK_FALSE(absl::StrContains(s.error_message(), tmp.path()));
}

TEST_CASE("Invalid requests are refused before the queue, never behind valid ones") {
  // One worker, one queue slot, ~50 ms a forward pass: four closed-loop
  // clients keep the queue full, so a request that reached the queue would
  // be refused RESOURCE_EXHAUSTED.
  TestServer server({"--workers=1", "--queue_size=1"}, "models_slow.json");
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, exhausted{0}, other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      pb::RecommendRequest req;
      req.set_image(Image("blue.png"));
      while (!stop) {
        pb::RecommendResponse resp;
        grpc::Status s = Recommend(server, req, &resp);
        (s.ok() ? ok : s.error_code() == grpc::RESOURCE_EXHAUSTED ? exhausted : other)++;
      }
    });
  }
  std::vector<std::string> invalid = {
      "not an image at all",
      std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\x01\x00\x00\0\x01\x00\x00", 24),  // 65536^2
      std::string("GIF89a") + std::string(20, '\0')};
  int refused = 0;
  for (int round = 0; round < 20; ++round) {
    for (const std::string& bytes : invalid) {
      pb::RecommendRequest req;
      req.set_image(bytes);
      pb::RecommendResponse resp;
      grpc::Status s = Recommend(server, req, &resp);
      INFO(s.error_code() << " " << s.error_message());
      CHECK(s.error_code() == grpc::INVALID_ARGUMENT);
      refused += s.error_code() == grpc::INVALID_ARGUMENT;
    }
  }
  stop = true;
  for (auto& t : clients) t.join();
  CHECK(refused == 60);
  CHECK(ok > 0);
  CHECK(exhausted > 0);  // the queue was full while they were refused
  CHECK(other == 0);
}

// Noise: incompressible, so the encoded image is as large as it can be.
std::string NoiseImage(int width, int height, const std::string& ext, uint32_t seed) {
  RgbImage img;
  img.width = width;
  img.height = height;
  img.pixels.resize(size_t(width) * height * 3);
  std::mt19937 rng(seed);
  for (uint8_t& v : img.pixels) v = uint8_t(rng());
  absl::StatusOr<std::string> bytes = EncodeImage(img, ext);
  REQUIRE(bytes.ok());
  return *bytes;
}

TEST_CASE("A long run of large and hostile images: memory levels off") {
  // Requests of up to ~15 MB from 4 clients at once: gRPC buffers, request
  // copies and decoded pixels of every size class, for 12 rounds. What the
  // server keeps after each round must level off (glibc kept freed 16 MB
  // buffers in up to 16 per-thread arenas: RSS kept rising).
  TestServer server({"--workers=2", "--max_image_pixels=50000000"});
  const std::vector<std::string> inputs = {
      NoiseImage(2200, 2200, ".png", 1),                       // ~14.5 MB PNG
      NoiseImage(3000, 2000, ".jpg", 2),                       // ~5 MB JPEG
      SolidImage(7000, 7000, ".png"),                          // 49 MP, small file
      SolidImage(1, 20000, ".png"),                            // a strip
      NoiseImage(2200, 2200, ".png", 3).substr(0, 9'000'000),  // truncated
      std::string(12'000'000, '\x5A'),                         // not an image
  };
  constexpr int kRounds = 12, kClients = 4;
  std::vector<double> rss;
  const pid_t pid = server.process().pid();
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> clients;
    std::atomic<int> failures{0};
    for (int c = 0; c < kClients; ++c) {
      clients.emplace_back([&, c] {
        for (size_t k = 0; k < inputs.size(); ++k) {
          pb::RecommendRequest req;
          req.set_image(inputs[(k + c) % inputs.size()]);
          pb::RecommendResponse resp;
          grpc::Status s = Recommend(server, req, &resp);
          if (!s.ok() && s.error_code() != grpc::INVALID_ARGUMENT &&
              s.error_code() != grpc::RESOURCE_EXHAUSTED) {
            ++failures;
          }
        }
      });
    }
    for (auto& t : clients) t.join();
    CHECK(failures == 0);
    // What the server keeps between bursts: the lowest RSS over 3 s of
    // idling (the server trims free heap pages every 2 s).
    double kept = ProcMiB(pid, "VmRSS");
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      kept = std::min(kept, ProcMiB(pid, "VmRSS"));
    }
    rss.push_back(kept);
  }
  std::string series;
  for (double r : rss) absl::StrAppend(&series, static_cast<int>(r), " ");
  const double peak = ProcMiB(pid, "VmHWM");
  WARN("RSS MiB kept after each round: " << series << "; peak " << static_cast<int>(peak));
  // Levels off: the median of the second half stays within 20 % of the first
  // half's. Medians, not highs: one round in ten keeps a fragment of a large
  // buffer (a single 322 in a flat 220-260 run of 30 rounds), and a loaded CI
  // machine moves every round by 10-15 %. The defect this guards against,
  // untrimmed arenas, showed as a climb of 35 % and more (288 -> 391).
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double first_half = median({rss.begin(), rss.begin() + kRounds / 2});
  const double second_half = median({rss.begin() + kRounds / 2, rss.end()});
  CHECK(second_half <= first_half * 1.2);
  CHECK(server.process().Running());
  CHECK(Serving(server));
}

}  // namespace
}  // namespace image2song
