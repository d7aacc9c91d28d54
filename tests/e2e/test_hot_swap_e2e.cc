// End-to-end tests (label e2e): the real i2s-server binary on port 0 with the tiny
// generated models and bundle (tests/support/server_fixture.h), called over gRPC.
// Bundle hot swap under load: Admin.LoadBundle and SIGHUP, bad bundles and
// paths refused, zero failed requests.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "tests/support/server_fixture.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using testing::Context;
using testing::HttpGet;
using testing::Image;
using testing::LoadBundle;
using testing::ReadWholeFile;
using testing::Recommend;
using testing::RequiredEnv;
using testing::TempDir;
using testing::TestServer;
namespace pb = ::image2song::v1;

// Builds a bundle of the tiny catalogue with the real i2s-index.
void IndexTiny(const std::string& out, const std::string& version) {
  const std::string assets = RequiredEnv("I2S_TEST_ASSETS");
  std::string output;
  INFO(output);
  REQUIRE(
      testing::RunCommand(
          {RequiredEnv("I2S_INDEX_BIN"), "--quiet", "--catalogue=" + assets + "/catalogue.jsonl",
           "--models=" + assets + "/models.json", "--output=" + out, "--bundle_version=" + version},
          &output) == 0);
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
          failures.push_back(absl::StrCat(s.error_code(), " ", s.error_message(), " matches ",
                                          resp.matches_size()));
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

TEST_CASE("With --bundle_wait_ms the server waits for a bundle an index job is still writing") {
  TempDir dir;
  const std::string bundle = dir.File("current");
  const std::string log = dir.File("server.log");
  const std::string ports = dir.File("ports.json");
  testing::ChildProcess server(
      {RequiredEnv("I2S_SERVER_BIN"), "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
       "--http_listen=", "--models=" + RequiredEnv("I2S_TEST_ASSETS") + "/models.json",
       "--bundle=" + bundle, "--bundle_wait_ms=60000", "--port_file=" + ports},
      log);
  // The index job publishes the bundle once the server is waiting for it.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!absl::StrContains(ReadWholeFile(log), "waiting up to 60 s for bundle " + bundle)) {
    INFO(ReadWholeFile(log));
    REQUIRE(server.Running());
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  CHECK(server.Running());  // still waiting, not failed
  IndexTiny(bundle, "late-1");
  int grpc_port = 0, metrics_port = 0;
  while (!testing::ParsePorts(ReadWholeFile(ports), &grpc_port, &metrics_port)) {
    INFO(ReadWholeFile(log));
    REQUIRE(server.Running());
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(absl::StrContains(ReadWholeFile(log), "bundle " + bundle + " is there"));
  auto stub = pb::SongRecommender::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", grpc_port), grpc::InsecureChannelCredentials()));
  pb::RecommendRequest req;
  req.set_image(Image("blue.png"));
  req.set_top_k(3);
  pb::RecommendResponse resp;
  auto ctx = Context();
  grpc::Status st = stub->Recommend(ctx.get(), req, &resp);
  INFO(st.error_message());
  REQUIRE(st.ok());
  CHECK(resp.matches_size() == 3);
  CHECK(resp.index_version() == "late-1");
  CHECK(server.Stop(SIGTERM, 20000) == 0);
}

TEST_CASE("Without --bundle_wait_ms a missing bundle stops the server at once, naming it") {
  TempDir dir;
  const std::string missing = dir.File("not-yet");
  std::string output;
  const int rc = testing::RunCommand(
      {RequiredEnv("I2S_SERVER_BIN"), "--listen=127.0.0.1:0", "--metrics_listen=", "--http_listen=",
       "--models=" + RequiredEnv("I2S_TEST_ASSETS") + "/models.json", "--bundle=" + missing},
      &output);
  CHECK(rc != 0);
  CHECK(absl::StrContains(output, missing));
}

}  // namespace
}  // namespace image2song
