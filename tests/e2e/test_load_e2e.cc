// End-to-end tests (label e2e): the real i2s-server binary on port 0 with the tiny
// generated models and bundle (tests/support/server_fixture.h), called over gRPC.
// Load: i2s-loadgen, dynamic batching and parallel taggers, a full model
// queue, ten times the sustainable load, expired and cancelled calls, SIGTERM
// with calls in flight.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
using testing::Recommend;
using testing::RequiredEnv;
using testing::TestServer;
namespace pb = ::image2song::v1;

// The number after "key": in i2s-loadgen --json output (-1 when missing).
double JsonNumber(const std::string& json, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(json, m, std::regex("\"" + key + "\": ([0-9.]+)"))) return -1;
  return std::stod(m[1]);
}

TEST_CASE("i2s-loadgen drives the server closed and open loop and counts codes") {
  TestServer server;
  const std::string target = absl::StrCat("--server=127.0.0.1:", server.grpc_port());
  const std::string images = "--images=" + RequiredEnv("I2S_TEST_ASSETS") + "/images";
  std::string out;
  REQUIRE(testing::RunCommand({RequiredEnv("I2S_LOADGEN_BIN"), target, images, "--concurrency=2",
                               "--warmup=0.3", "--duration=1.5", "--json"},
                              &out) == 0);
  INFO(out);
  std::smatch m;
  REQUIRE(std::regex_search(out, m, std::regex("\"calls\": ([0-9]+), \"ok\": ([0-9]+)")));
  CHECK(std::stoi(m[1]) >= 10);
  CHECK(m[1] == m[2]);  // every image decodes: all OK
  CHECK(absl::StrContains(out, "\"mode\": \"closed\""));
  // Open loop at 20 QPS for 1.5 s: about 30 calls, whatever the latency.
  REQUIRE(testing::RunCommand({RequiredEnv("I2S_LOADGEN_BIN"), target, images, "--qps=20",
                               "--warmup=0.2", "--duration=1.5", "--json"},
                              &out) == 0);
  INFO(out);
  REQUIRE(std::regex_search(out, m, std::regex("\"calls\": ([0-9]+), \"ok\": ([0-9]+)")));
  CHECK(std::stoi(m[1]) >= 25);
  CHECK(std::stoi(m[1]) <= 35);
  CHECK(absl::StrContains(out, "\"OK\": "));
  // A deadline too short for any answer is counted by code, not a crash.
  REQUIRE(testing::RunCommand({RequiredEnv("I2S_LOADGEN_BIN"), target, images, "--concurrency=1",
                               "--warmup=0", "--count=5", "--timeout_ms=0", "--json"},
                              &out) == 0);
  INFO(out);
  CHECK(absl::StrContains(out, "\"DEADLINE_EXCEEDED\": "));
  CHECK(testing::RunCommand({RequiredEnv("I2S_LOADGEN_BIN"), target}, &out) == 2);
  CHECK(absl::StrContains(out, "--images is required"));
}

TEST_CASE("Dynamic batching and parallel taggers answer as the plain server does") {
  TestServer plain({}, "models_full.json");
  TestServer fast({"--batching", "--parallel_taggers", "--workers=4", "--batch_delay_us=20000"},
                  "models_full.json");
  pb::GetInfoResponse info;
  auto ctx = Context();
  REQUIRE(fast.stub().GetInfo(ctx.get(), pb::GetInfoRequest(), &info).ok());
  CHECK(info.models(0).max_batch() == 8);  // the tiny classifier can batch
  CHECK(info.models(1).max_batch() == 0);  // cues: no model
  CHECK(absl::StrContains(fast.log(), "tiny_color: dynamic batching on"));

  const std::vector<std::string> names = {"blue.png",  "red.jpg",   "green.webp",
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

TEST_CASE("Ten times the sustainable load: quick refusals, bounded memory, recovery") {
  // slow_color.pt: ~50 ms a call; 2 workers sustain ~40 QPS. A short queue
  // makes the server refuse the excess at once.
  TestServer server({"--workers=2", "--queue_size=4"}, "models_slow.json");
  const std::string loadgen = RequiredEnv("I2S_LOADGEN_BIN");
  const std::string target = absl::StrCat("--server=127.0.0.1:", server.grpc_port());
  const std::string images = "--images=" + RequiredEnv("I2S_TEST_ASSETS") + "/images";
  std::string before;
  REQUIRE(testing::RunCommand(
              {loadgen, target, images, "--concurrency=1", "--warmup=0.5", "--count=20", "--json"},
              &before) == 0);
  const double p50_before = JsonNumber(before, "p50");
  const double rss_before = ProcMiB(server.process().pid(), "VmRSS");
  REQUIRE(p50_before > 0);

  // 400 QPS for 4 s, while a prober checks health every 50 ms.
  std::string burst;
  std::atomic<bool> done{false};
  std::thread load([&] {
    testing::RunCommand({loadgen, target, images, "--qps=400", "--warmup=0", "--duration=4",
                         "--timeout_ms=5000", "--json"},
                        &burst);
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
        slowest_probe_ms,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
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
  CHECK(refused >= calls / 2);     // the excess is refused ...
  CHECK(ok + refused == calls);    // ... and nothing else fails
  CHECK(peak < rss_before + 256);  // memory stays bounded
  CHECK(probes == serving);        // health answers SERVING throughout
  CHECK(slowest_probe_ms < 1000);

  // Back to normal latency right after.
  std::string after;
  REQUIRE(testing::RunCommand(
              {loadgen, target, images, "--concurrency=1", "--warmup=0.2", "--count=20", "--json"},
              &after) == 0);
  INFO(after);
  CHECK(JsonNumber(after, "ok") == 20);
  CHECK(JsonNumber(after, "p50") < 2 * p50_before + 20);
}

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
  constexpr int kFill = 60;  // + 2 below: within the default queue of 64
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
  // The two calls must queue behind the fill calls, not race them to the
  // server: wait until half the fill work waits for the worker (>= 300 ms).
  for (int i = 0; i < 500; ++i) {
    if (MetricValue(HttpGet(server.metrics_port(), "/metrics"), "i2s_queue_depth") >= kFill / 2) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  Call* expiring = start_call(150);     // expires while queued
  Call* cancelled = start_call(30000);  // cancelled by the client while queued
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
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
    expired_seen =
        MetricValue(metrics, "i2s_requests_total{code=\"DEADLINE_EXCEEDED\",method=\"Recommend\"}");
    cancelled_seen =
        MetricValue(metrics, "i2s_requests_total{code=\"CANCELLED\",method=\"Recommend\"}");
    model_runs = MetricValue(metrics, "i2s_stage_duration_seconds_count{stage=\"model\"}");
    if (expired_seen >= 1 && cancelled_seen >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(expired_seen == 1);
  CHECK(cancelled_seen == 1);
  CHECK(model_runs == kFill);
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
    server.stub().async()->Recommend(&c->ctx, &c->req, &c->resp, [&, c](grpc::Status s) {
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
  // UNAVAILABLE from the service ("the server is shutting down"), or
  // CANCELLED from gRPC itself when the call lands after its Shutdown began.
  INFO(late_status.error_code() << " " << late_status.error_message());
  CHECK((late_status.error_code() == grpc::UNAVAILABLE ||
         late_status.error_code() == grpc::CANCELLED));

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
