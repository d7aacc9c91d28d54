// The real i2s-server binary as a test fixture: started on port 0 with the
// tiny generated models and bundle (tests/CMakeLists.txt), with helpers to
// call it over gRPC and plain HTTP. Header-only; used by the e2e tests
// (tests/e2e/).
#ifndef IMAGE2SONG_TESTS_SUPPORT_SERVER_FIXTURE_H_
#define IMAGE2SONG_TESTS_SUPPORT_SERVER_FIXTURE_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace testing {

namespace pb = ::image2song::v1;

// Parses {"grpc_port": N, "metrics_port": M}.
inline bool ParsePorts(const std::string& text, int* grpc_port, int* metrics_port) {
  std::smatch m;
  std::regex re("\"grpc_port\": *([0-9]+), *\"metrics_port\": *([0-9]+)");
  if (!std::regex_search(text, m, re)) return false;
  *grpc_port = std::stoi(m[1]);
  *metrics_port = std::stoi(m[2]);
  return true;
}

// A running i2s-server with its own temp dir, log and ports.
class TestServer {
 public:
  explicit TestServer(std::vector<std::string> extra_flags = {},
                      const std::string& models = "models.json") {
    const std::string assets = RequiredEnv("I2S_TEST_ASSETS");
    std::vector<std::string> argv = {
        RequiredEnv("I2S_SERVER_BIN"),           "--listen=127.0.0.1:0",
        "--metrics_listen=127.0.0.1:0",          "--http_listen=127.0.0.1:0",
        "--models=" + assets + "/" + models,     "--bundle=" + RequiredEnv("I2S_TEST_BUNDLE"),
        "--port_file=" + dir_.File("ports.json")};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    log_ = dir_.File("server.log");
    process_ = std::make_unique<ChildProcess>(argv, log_);
    // Wait for the server to announce its ports (it loads models first).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!ParsePorts(ReadWholeFile(dir_.File("ports.json")), &grpc_port_, &metrics_port_)) {
      INFO("server log:\n" << ReadWholeFile(log_));
      REQUIRE(process_->Running());
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port_),
                                   grpc::InsecureChannelCredentials());
    stub_ = pb::SongRecommender::NewStub(channel_);
  }

  pb::SongRecommender::Stub& stub() { return *stub_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  // The HTTP gateway's port (0 when off).
  int http_port() const {
    std::smatch m;
    const std::string text = ReadWholeFile(dir_.File("ports.json"));
    std::regex re("\"http_port\": *([0-9]+)");
    return std::regex_search(text, m, re) ? std::stoi(m[1]) : 0;
  }
  ChildProcess& process() { return *process_; }
  std::string log() const { return ReadWholeFile(log_); }

 private:
  TempDir dir_;
  std::string log_;
  std::unique_ptr<ChildProcess> process_;
  int grpc_port_ = 0, metrics_port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::SongRecommender::Stub> stub_;
};

inline std::unique_ptr<grpc::ClientContext> Context(int timeout_ms = 30000) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  return ctx;
}

inline std::string Image(const std::string& name) {
  return ReadWholeFile(RequiredEnv("I2S_TEST_ASSETS") + "/images/" + name);
}

inline grpc::Status Recommend(TestServer& server, const pb::RecommendRequest& req,
                              pb::RecommendResponse* resp) {
  auto ctx = Context();
  return server.stub().Recommend(ctx.get(), req, resp);
}

inline std::string HttpRequest(int port, const std::string& method, const std::string& path,
                               const std::string& body = "") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  std::string req = method + " " + path +
                    " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  REQUIRE(::write(fd, req.data(), req.size()) == ssize_t(req.size()));
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, size_t(n));
  ::close(fd);
  return out;
}

inline std::string HttpGet(int port, const std::string& path) {
  return HttpRequest(port, "GET", path);
}

// A file of the test TLS setup in the generated assets (tls/: ca.crt,
// server.crt/.key, client.crt/.key, stranger.crt/.key, other_ca.crt, token).
inline std::string Tls(const std::string& name) {
  return RequiredEnv("I2S_TEST_ASSETS") + "/tls/" + name;
}

// Admin.LoadBundle(path), with `token` as the bearer token when not empty.
inline grpc::Status LoadBundle(TestServer& server, const std::string& token,
                               const std::string& path, pb::LoadBundleResponse* out) {
  auto stub = pb::Admin::NewStub(server.channel());
  auto ctx = Context();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  pb::LoadBundleRequest req;
  req.set_path(path);
  return stub->LoadBundle(ctx.get(), req, out);
}

// Value of the first sample line that starts with `prefix` (-1 if none).
inline double MetricValue(const std::string& text, const std::string& prefix) {
  size_t pos = 0;
  while ((pos = text.find(prefix, pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      size_t end = text.find('\n', pos);
      std::string line = text.substr(pos, end - pos);
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
    pos += prefix.size();
  }
  return -1;
}

// A /proc/PID/status value in MiB ("VmRSS", "VmHWM"); -1 if missing.
inline double ProcMiB(pid_t pid, const std::string& key) {
  const std::string status = ReadWholeFile(absl::StrCat("/proc/", pid, "/status"));
  std::smatch m;
  if (!std::regex_search(status, m, std::regex(key + ":\\s+([0-9]+) kB"))) return -1;
  return std::stod(m[1]) / 1024;
}

}  // namespace testing
}  // namespace image2song

#endif  // IMAGE2SONG_TESTS_SUPPORT_SERVER_FIXTURE_H_
