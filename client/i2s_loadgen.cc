// i2s-loadgen: drives Recommend with images from a folder and prints achieved
// QPS, latency percentiles and errors by status code.
//
//   closed loop:  i2s-loadgen --server=HOST:PORT --images=DIR --concurrency=4 --duration=30
//   open loop:    i2s-loadgen --server=HOST:PORT --images=DIR --qps=20 --duration=30
//
// Open loop sends at fixed intervals whatever the answers do, and measures
// each call from its scheduled start, so a slow server shows up as latency
// (no coordinated omission). A warm-up period is sent but not counted.
#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/connection.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "util/cli.h"
#include "util/stats.h"

ABSL_FLAG(std::string, server, "localhost:50051", "Server address host:port.");
ABSL_FLAG(std::string, images, "",
          "Folder of images (.jpg .jpeg .png .webp .bmp), sent round-robin; or "
          "one image file. Required.");
ABSL_FLAG(int32_t, concurrency, 1, "Closed loop: calls in flight (one per thread).");
ABSL_FLAG(double, qps, 0, "Open loop: calls started per second (0: closed loop).");
ABSL_FLAG(double, duration, 10, "Seconds to measure (after the warm-up).");
ABSL_FLAG(int64_t, count, 0, "Stop after this many measured calls (0: by --duration).");
ABSL_FLAG(double, warmup, 2, "Seconds sent before measuring.");
ABSL_FLAG(int32_t, top_k, 10, "Songs per call.");
ABSL_FLAG(bool, explain, false, "Ask for explanations.");
ABSL_FLAG(int32_t, timeout_ms, 10000, "Deadline per call.");
ABSL_FLAG(int32_t, max_in_flight, 2000,
          "Open loop: calls allowed in flight; beyond it a scheduled call is "
          "counted as CLIENT_OVERLOAD and not sent.");
ABSL_FLAG(bool, json, false, "Print one JSON object.");

namespace image2song {
namespace {

namespace pb = ::image2song::v1;
using Clock = std::chrono::steady_clock;

std::vector<std::string> LoadImages(const std::string& path, std::string* error) {
  std::vector<std::string> files;
  if (DIR* d = ::opendir(path.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      std::string low = n;
      std::transform(low.begin(), low.end(), low.begin(), ::tolower);
      for (const char* ext : {".jpg", ".jpeg", ".png", ".webp", ".bmp"}) {
        if (absl::EndsWith(low, ext)) files.push_back(path + "/" + n);
      }
    }
    ::closedir(d);
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  std::vector<std::string> images;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) {
      *error = absl::StrCat("cannot read ", f);
      return {};
    }
    images.push_back(ss.str());
  }
  if (images.empty()) *error = absl::StrCat("no images in ", path);
  return images;
}

// Latencies (ms) and status counts of measured calls.
class Recorder {
 public:
  void Add(double ms, grpc::StatusCode code, bool measured) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!measured) return;
    if (code == grpc::OK) ok_ms_.push_back(ms);
    ++codes_[code];
  }
  void AddClientOverload() {
    std::lock_guard<std::mutex> lock(mu_);
    ++client_overload_;
  }
  int64_t total() {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t n = client_overload_;
    for (const auto& [c, k] : codes_) n += k;
    return n;
  }
  std::vector<double> ok_ms() {
    std::lock_guard<std::mutex> lock(mu_);
    return ok_ms_;
  }
  std::map<int, int64_t> codes() {
    std::lock_guard<std::mutex> lock(mu_);
    return codes_;
  }
  int64_t client_overload() {
    std::lock_guard<std::mutex> lock(mu_);
    return client_overload_;
  }

 private:
  std::mutex mu_;
  std::vector<double> ok_ms_;
  std::map<int, int64_t> codes_;
  int64_t client_overload_ = 0;
};

const char* CodeName(int code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "?";
}

pb::RecommendRequest Request(const std::string& image) {
  pb::RecommendRequest req;
  req.set_image(image);
  req.set_top_k(absl::GetFlag(FLAGS_top_k));
  req.set_explain(absl::GetFlag(FLAGS_explain));
  return req;
}

int Run() {
  if (absl::GetFlag(FLAGS_images).empty()) {
    std::cerr << "i2s-loadgen: --images is required (a folder of images or one image)\n";
    return 2;
  }
  std::string error;
  const std::vector<std::string> images = LoadImages(absl::GetFlag(FLAGS_images), &error);
  if (images.empty()) {
    std::cerr << "i2s-loadgen: " << error << "\n";
    return 2;
  }
  std::vector<pb::RecommendRequest> requests;
  for (const std::string& img : images) requests.push_back(Request(img));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto conn = i2s::client::ConnectFromFlags(absl::GetFlag(FLAGS_server), args);
  if (!conn.ok()) {
    std::cerr << "i2s-loadgen: " << conn.status().message() << "\n";
    return 2;
  }
  auto channel = conn->channel;
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(10))) {
    std::cerr << "i2s-loadgen: cannot connect to " << absl::GetFlag(FLAGS_server) << "\n";
    return 1;
  }
  auto stub = pb::SongRecommender::NewStub(channel);
  const double qps = absl::GetFlag(FLAGS_qps);
  const double warmup = std::max(0.0, absl::GetFlag(FLAGS_warmup));
  const double duration = std::max(0.1, absl::GetFlag(FLAGS_duration));
  const int64_t count = absl::GetFlag(FLAGS_count);
  const int timeout_ms = absl::GetFlag(FLAGS_timeout_ms);
  const auto start = Clock::now();
  const auto measure_from =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
  const auto measure_to = measure_from + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(duration));
  Recorder rec;
  std::atomic<bool> stop{false};
  auto done = [&]() {
    return stop.load() || Clock::now() >= measure_to || (count > 0 && rec.total() >= count);
  };
  std::atomic<int64_t> next{0};
  auto deadline = [&] {
    return std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms);
  };
  Clock::time_point measured_end;

  if (qps <= 0) {
    // Closed loop: each thread keeps one call in flight.
    const int n = std::max(1, absl::GetFlag(FLAGS_concurrency));
    std::vector<std::thread> threads;
    for (int t = 0; t < n; ++t) {
      threads.emplace_back([&] {
        while (!done()) {
          const pb::RecommendRequest& req = requests[next++ % requests.size()];
          pb::RecommendResponse resp;
          grpc::ClientContext ctx;
          ctx.set_deadline(deadline());
          conn->Authorize(&ctx);
          const auto t0 = Clock::now();
          grpc::Status s = stub->Recommend(&ctx, req, &resp);
          const auto t1 = Clock::now();
          rec.Add(std::chrono::duration<double, std::milli>(t1 - t0).count(), s.error_code(),
                  t0 >= measure_from);
        }
      });
    }
    for (std::thread& t : threads) t.join();
  } else {
    // Open loop: start calls on a fixed schedule with the callback API.
    struct Call {
      grpc::ClientContext ctx;
      pb::RecommendResponse resp;
      Clock::time_point scheduled;
      bool measured = false;
    };
    std::mutex mu;
    std::condition_variable cv;
    int64_t in_flight = 0;
    const int64_t max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
    const auto period =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / qps));
    auto when = start;
    while (!done()) {
      std::this_thread::sleep_until(when);
      const bool measured = when >= measure_from;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (in_flight >= max_in_flight) {
          if (measured) rec.AddClientOverload();
          when += period;
          continue;
        }
        ++in_flight;
      }
      auto* call = new Call;
      call->scheduled = when;
      call->measured = measured;
      call->ctx.set_deadline(deadline());
      conn->Authorize(&call->ctx);
      stub->async()->Recommend(
          &call->ctx, &requests[next++ % requests.size()], &call->resp, [&, call](grpc::Status s) {
            rec.Add(
                std::chrono::duration<double, std::milli>(Clock::now() - call->scheduled).count(),
                s.error_code(), call->measured);
            delete call;
            std::lock_guard<std::mutex> lock(mu);
            --in_flight;
            cv.notify_all();
          });
      when += period;
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  measured_end = std::min(Clock::now(), measure_to);
  const double seconds =
      std::max(1e-9, std::chrono::duration<double>(measured_end - measure_from).count());
  std::vector<double> ms = rec.ok_ms();
  const std::map<int, int64_t> codes = rec.codes();
  int64_t total = rec.client_overload();
  for (const auto& [c, k] : codes) total += k;
  const int64_t ok = codes.count(0) ? codes.at(0) : 0;
  const double p50 = Percentile(ms, 0.5), p90 = Percentile(ms, 0.9), p99 = Percentile(ms, 0.99),
               p999 = Percentile(ms, 0.999);
  const double mean = Mean(ms);
  if (absl::GetFlag(FLAGS_json)) {
    std::string by_code;
    for (const auto& [c, k] : codes) {
      absl::StrAppend(&by_code, by_code.empty() ? "" : ", ", "\"", CodeName(c), "\": ", k);
    }
    if (rec.client_overload() > 0) {
      absl::StrAppend(&by_code, by_code.empty() ? "" : ", ",
                      "\"CLIENT_OVERLOAD\": ", rec.client_overload());
    }
    std::cout << absl::StrFormat(
        "{\"mode\": \"%s\", \"concurrency\": %d, \"target_qps\": %g, \"seconds\": %.3f, "
        "\"calls\": %d, \"ok\": %d, \"achieved_qps\": %.2f, \"ok_qps\": %.2f, "
        "\"latency_ms\": {\"mean\": %.3f, \"p50\": %.3f, \"p90\": %.3f, \"p99\": %.3f, "
        "\"p999\": %.3f}, \"codes\": {%s}}\n",
        qps > 0 ? "open" : "closed", absl::GetFlag(FLAGS_concurrency), qps, seconds, total, ok,
        total / seconds, ok / seconds, mean, p50, p90, p99, p999, by_code);
  } else {
    std::cout << absl::StrFormat(
        "%s loop, %s, %d images, %.1f s measured after %.1f s warm-up\n"
        "calls %d (ok %d), achieved %.1f QPS (ok %.1f QPS)\n"
        "latency of OK calls, ms: mean %.2f  p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f\n",
        qps > 0 ? "open" : "closed",
        qps > 0 ? absl::StrFormat("target %g QPS", qps)
                : absl::StrFormat("concurrency %d", absl::GetFlag(FLAGS_concurrency)),
        requests.size(), seconds, warmup, total, ok, total / seconds, ok / seconds, mean, p50, p90,
        p99, p999);
    std::cout << "by status:";
    for (const auto& [c, k] : codes) std::cout << " " << CodeName(c) << "=" << k;
    if (rec.client_overload() > 0) std::cout << " CLIENT_OVERLOAD=" << rec.client_overload();
    std::cout << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace image2song

int main(int argc, char** argv) {
  image2song::ParseCommandLineOrHelp(
      argc, argv,
      {"i2s-loadgen",
       "load generator for image2song.v1.SongRecommender/Recommend: closed loop "
       "(--concurrency) or open loop (--qps); prints achieved QPS, latency "
       "percentiles and errors by status code.\n\n"
       "usage: i2s-loadgen --server=HOST:PORT --images=DIR [flags]",
       "client/i2s_loadgen", I2S_VERSION});
  return image2song::Run();
}
