// The gateway's HTTP/1.1 server (server/http/http_server.h) with a test handler,
// over real sockets on 127.0.0.x: keep-alive and pipelining, chunked bodies,
// 100-continue, deadlines, connection bounds, refusals that close, and the
// graceful drain. Waits poll the socket with a time limit; nothing sleeps
// for timing.
#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace image2song {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A server whose handler answers /echo at once (method, path, query and
// body) and keeps /hold requests until the test answers them.
class TestServer {
 public:
  explicit TestServer(HttpServerOptions options) {
    options.listen = "127.0.0.1:0";
    options.on_refused = [this](const char* reason) {
      std::lock_guard<std::mutex> lock(mu_);
      ++refused_[reason];
    };
    auto server = HttpServer::Start(options, [this](uint64_t id, HttpRequest request) {
      if (request.head.path == "/hold") {
        std::lock_guard<std::mutex> lock(mu_);
        held_.push_back(id);
        return;
      }
      HttpReply reply;
      reply.content_type = "text/plain";
      reply.body = absl::StrCat(request.head.method, " ", request.head.path, "?",
                                request.head.query, "\n", request.body);
      server_->Reply(id, std::move(reply));
    });
    REQUIRE(server.ok());
    server_ = std::move(*server);
  }

  HttpServer& server() { return *server_; }
  int port() const { return server_->port(); }

  // Waits until `n` /hold requests have arrived; returns their ids.
  std::vector<uint64_t> WaitHeld(size_t n) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (held_.size() >= n) return held_;
      }
      std::this_thread::yield();
    }
    FAIL("the /hold requests did not arrive");
    return {};
  }
  int refused(const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu_);
    return refused_[reason];
  }

 private:
  std::mutex mu_;
  std::vector<uint64_t> held_;
  std::map<std::string, int> refused_;
  std::unique_ptr<HttpServer> server_;  // stopped first: its hooks use the above
};

// A client socket.
class Client {
 public:
  Client(int port, const char* source = "127.0.0.1") {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    inet_pton(AF_INET, source, &src.sin_addr);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof(src)) == 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) == 0;
    error_ = connected_ ? 0 : errno;
  }
  ~Client() { Close(); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  bool connected() const { return connected_; }
  int error() const { return error_; }

  void Send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      REQUIRE(n > 0);
      off += static_cast<size_t>(n);
    }
  }

  // Reads until `buf_` holds `n` bytes, EOF or the time limit. False at the
  // limit.
  bool Fill(size_t n, milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (buf_.size() < n && !eof_) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char tmp[65536];
      ssize_t got = recv(fd_, tmp, sizeof(tmp), 0);
      if (got > 0) {
        buf_.append(tmp, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        eof_ = true;
        reset_ = got < 0;
      }
    }
    return true;
  }

  struct Reply {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
  };
  // The next reply (within `limit`); status 0 when none came. `head`: the
  // reply to a HEAD request (no body).
  Reply Read(milliseconds limit = milliseconds(5000), bool head = false) {
    Reply r;
    const auto deadline = Clock::now() + limit;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (eof_ || Clock::now() >= deadline) return r;
      Fill(buf_.size() + 1, std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
    }
    std::vector<std::string> lines = absl::StrSplit(buf_.substr(0, end), "\r\n");
    std::vector<std::string> first = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
    REQUIRE(first.size() >= 2);
    REQUIRE(absl::SimpleAtoi(first[1], &r.status));
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      r.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    buf_.erase(0, end + 4);
    size_t length = 0;
    if (!head && r.headers.count("content-length")) {
      REQUIRE(absl::SimpleAtoi(r.headers["content-length"], &length));
    }
    Fill(length, std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
    REQUIRE(buf_.size() >= length);
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  // Whether the server closed the connection (EOF, no more bytes) within
  // `limit`.
  bool ClosedWithin(milliseconds limit) {
    const size_t before = buf_.size();
    Fill(SIZE_MAX, limit);
    return eof_ && buf_.size() == before;
  }
  bool reset() const { return reset_; }

 private:
  int fd_ = -1;
  bool connected_ = false;
  int error_ = 0;
  std::string buf_;
  bool eof_ = false;
  bool reset_ = false;
};

HttpServerOptions ShortTimeouts() {
  HttpServerOptions o;
  o.max_body_bytes = 1000;
  o.header_timeout_ms = 300;
  o.body_timeout_ms = 300;
  o.idle_timeout_ms = 300;
  return o;
}

TEST_CASE("Kept-alive connections answer pipelined requests in order") {
  TestServer server{HttpServerOptions()};
  Client c(server.port());
  REQUIRE(c.connected());
  c.Send(
      "GET /echo?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
      "PUT /echo?x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
      "HEAD /echo HTTP/1.1\r\nConnection: close\r\n\r\n");
  Client::Reply r = c.Read();
  CHECK(r.status == 200);
  CHECK(r.body == "GET /echo?a=1\n");
  CHECK(r.headers.count("connection") == 0);
  CHECK(r.headers["cache-control"] == "no-store");
  r = c.Read();
  CHECK(r.body == "POST /echo?\nabc");
  r = c.Read();
  CHECK(r.body == "PUT /echo?x\nhi");
  // HEAD: the length of the body that GET would get, no body.
  const std::string before_eof = "HEAD /echo?\n";
  r = c.Read(milliseconds(5000), /*head=*/true);
  CHECK(r.status == 200);
  CHECK(r.headers["content-length"] == std::to_string(before_eof.size()));
  CHECK(r.headers["connection"] == "close");
  CHECK(c.ClosedWithin(milliseconds(5000)));

  // HTTP/1.0 closes after the reply.
  Client old(server.port());
  old.Send("GET /echo HTTP/1.0\r\n\r\n");
  CHECK(old.Read().status == 200);
  CHECK(old.ClosedWithin(milliseconds(5000)));
}

TEST_CASE("Expect: 100-continue gets 100 before the body is sent") {
  TestServer server{HttpServerOptions()};
  Client c(server.port());
  c.Send("POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  Client::Reply interim = c.Read();
  CHECK(interim.status == 100);
  c.Send("hello");
  Client::Reply r = c.Read();
  CHECK(r.status == 200);
  CHECK(r.body == "POST /echo?\nhello");
}

TEST_CASE("A body over the limit is answered 413 with Connection: close, then EOF") {
  TestServer server{ShortTimeouts()};
  SECTION("the client waits (Expect or not) without sending the body") {
    Client c(server.port());
    c.Send("POST /echo HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");
    const auto start = Clock::now();
    Client::Reply r = c.Read();
    CHECK(r.status == 413);
    CHECK(r.headers["connection"] == "close");
    CHECK(r.headers["content-type"] == "application/json");
    CHECK(absl::StrContains(r.body, "request body of 5000 bytes is over the limit of 1000"));
    CHECK(absl::StrContains(r.body, "RESOURCE_EXHAUSTED"));
    CHECK(c.ClosedWithin(milliseconds(1000)));
    CHECK(Clock::now() - start < milliseconds(1000));
  }
  SECTION("the client sends the whole body first and still reads the answer") {
    Client c(server.port());
    c.Send("POST /echo HTTP/1.1\r\nContent-Length: 200000\r\n\r\n" + std::string(200000, 'x'));
    Client::Reply r = c.Read();
    CHECK(r.status == 413);
    CHECK(c.ClosedWithin(milliseconds(3000)));
    CHECK_FALSE(c.reset());
  }
  SECTION("a chunked body that grows over the limit") {
    Client c(server.port());
    c.Send("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n" +
           std::string(1024, 'x') + "\r\n");
    Client::Reply r = c.Read();
    CHECK(r.status == 413);
    CHECK(absl::StrContains(r.body, "over the limit of 1000 bytes"));
    CHECK(c.ClosedWithin(milliseconds(3000)));
  }
}

TEST_CASE("Malformed requests are answered with the reason and closed") {
  TestServer server{HttpServerOptions()};
  struct Case {
    const char* request;
    int status;
    const char* message;
  };
  for (const Case& k :
       {Case{"GET / HTTP/1.1\r\nBad header\r\n\r\n", 400, "malformed header"},
        Case{"GET / HTTP/3.0\r\n\r\n", 505, "not supported"},
        Case{"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "only chunked"},
        Case{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "chunk size"}}) {
    INFO(k.request);
    Client c(server.port());
    c.Send(k.request);
    Client::Reply r = c.Read();
    CHECK(r.status == k.status);
    CHECK(r.headers["connection"] == "close");
    CHECK(absl::StrContains(r.body, k.message));
    CHECK(c.ClosedWithin(milliseconds(3000)));
  }
  HttpServerOptions small;
  small.head_limits.max_head_bytes = 2000;
  TestServer limited{small};
  Client c(limited.port());
  c.Send("GET / HTTP/1.1\r\nX: " + std::string(3000, 'a'));
  Client::Reply r = c.Read();
  CHECK(r.status == 431);
  CHECK(c.ClosedWithin(milliseconds(3000)));
}

TEST_CASE("Late heads and bodies get 408 and are closed at their deadline") {
  TestServer server{ShortTimeouts()};
  const auto start = Clock::now();
  Client half_head(server.port());
  half_head.Send("POST /echo HTTP/1.1\r\nContent-Ty");
  Client half_body(server.port());
  half_body.Send("POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n012");
  Client silent(server.port());
  Client idle(server.port());
  idle.Send("GET /echo HTTP/1.1\r\n\r\n");
  REQUIRE(idle.Read().status == 200);

  Client::Reply r = half_head.Read();
  REQUIRE(r.status == 408);
  CHECK(r.headers["connection"] == "close");
  CHECK(absl::StrContains(r.body, "the request head did not arrive within 300 ms"));
  CHECK(half_head.ClosedWithin(milliseconds(3000)));
  r = half_body.Read();
  CHECK(r.status == 408);
  CHECK(absl::StrContains(r.body, "the request body did not arrive within 300 ms (3 of 10 bytes)"));
  CHECK(half_body.ClosedWithin(milliseconds(3000)));
  // No request started: closed without an answer.
  CHECK(silent.ClosedWithin(milliseconds(3000)));
  CHECK(idle.ClosedWithin(milliseconds(3000)));
  CHECK(Clock::now() - start >= milliseconds(300));
  CHECK(server.refused("header_timeout") == 2);  // half_head and silent
  CHECK(server.refused("body_timeout") == 1);

  // A client that trickles bytes is still cut at the head deadline.
  Client trickle(server.port());
  const auto t0 = Clock::now();
  trickle.Send("GET /echo HTTP/1.1\r\n");
  r = Client::Reply();
  for (int i = 0; i < 100 && r.status != 408; ++i) {
    trickle.Send("X");
    r = trickle.Read(milliseconds(50));
  }
  CHECK(r.status == 408);
  CHECK(Clock::now() - t0 < milliseconds(3000));
  CHECK(trickle.ClosedWithin(milliseconds(3000)));
}

TEST_CASE("Connections are bounded per client address and in total") {
  HttpServerOptions o;
  o.max_connections = 6;
  o.max_connections_per_client = 3;
  TestServer server{o};
  std::vector<std::unique_ptr<Client>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<Client>(server.port(), "127.0.0.2"));
    held.back()->Send("GET /echo HTTP/1.1\r\n");  // half a head
  }
  Client over(server.port(), "127.0.0.2");
  over.Send("GET /echo HTTP/1.1\r\n\r\n");
  Client::Reply r = over.Read();
  CHECK(r.status == 429);
  CHECK(r.headers["connection"] == "close");
  CHECK(r.headers["retry-after"] == "1");
  CHECK(absl::StrContains(r.body, "RESOURCE_EXHAUSTED"));
  CHECK(absl::StrContains(r.body, "--http_max_connections_per_client"));
  CHECK(over.ClosedWithin(milliseconds(3000)));
  CHECK_FALSE(over.reset());

  // Another address is served.
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<Client>(server.port(), "127.0.0.3"));
    held.back()->Send("GET /echo HTTP/1.1\r\n");
  }
  Client other(server.port(), "127.0.0.4");
  other.Send("GET /echo HTTP/1.1\r\n\r\n");
  CHECK(other.Read().status == 200);
  // Six held now: the total bound.
  Client full(server.port(), "127.0.0.5");
  full.Send("GET /echo HTTP/1.1\r\n\r\n");
  r = full.Read();
  CHECK(r.status == 503);
  CHECK(absl::StrContains(r.body, "--http_max_connections"));
  CHECK(absl::StrContains(r.body, "UNAVAILABLE"));
  CHECK(full.ClosedWithin(milliseconds(3000)));
  CHECK(server.refused("client_limit") == 1);
  CHECK(server.refused("total_limit") == 1);

  // A slot frees when a client closes.
  held[0]->Close();
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  int status = 0;
  while (status != 200 && Clock::now() < deadline) {
    Client again(server.port(), "127.0.0.2");
    again.Send("GET /echo HTTP/1.1\r\n\r\n");
    status = again.Read().status;
  }
  CHECK(status == 200);
}

TEST_CASE("Stalled clients do not hold up the others") {
  HttpServerOptions o;
  o.max_connections_per_client = 0;
  TestServer server{o};
  std::vector<std::unique_ptr<Client>> stalled;
  for (int i = 0; i < 200; ++i) {
    stalled.push_back(std::make_unique<Client>(server.port()));
    stalled.back()->Send(i % 2 ? "POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc"
                               : "POST /echo HTTP/1.1\r\nHost");
  }
  for (int i = 0; i < 20; ++i) {
    Client c(server.port());
    const auto start = Clock::now();
    c.Send("GET /echo HTTP/1.1\r\n\r\n");
    CHECK(c.Read().status == 200);
    CHECK(Clock::now() - start < milliseconds(1000));
  }
}

TEST_CASE("Drain answers the requests received, refuses new connections, closes the rest") {
  TestServer server{HttpServerOptions()};
  std::vector<std::unique_ptr<Client>> holders;
  for (int i = 0; i < 3; ++i) {
    holders.push_back(std::make_unique<Client>(server.port()));
    holders.back()->Send("GET /hold HTTP/1.1\r\n\r\n");
  }
  std::vector<uint64_t> ids = server.WaitHeld(3);
  Client idle(server.port());
  idle.Send("GET /echo HTTP/1.1\r\n\r\n");
  REQUIRE(idle.Read().status == 200);
  Client partial(server.port());
  partial.Send("POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n01");

  auto drained = std::async(std::launch::async, [&] {
    return server.server().Drain(Clock::now() + std::chrono::seconds(20));
  });
  // The port closes at once.
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  bool refused = false;
  while (!refused && Clock::now() < deadline) {
    Client late(server.port());
    refused = !late.connected() && late.error() == ECONNREFUSED;
  }
  CHECK(refused);
  CHECK(idle.ClosedWithin(milliseconds(5000)));
  CHECK(partial.ClosedWithin(milliseconds(5000)));
  CHECK(drained.wait_for(milliseconds(0)) == std::future_status::timeout);

  // The held requests still get their answer, with Connection: close.
  for (uint64_t id : ids) {
    HttpReply reply;
    reply.body = "late answer";
    server.server().Reply(id, reply);
  }
  for (auto& c : holders) {
    Client::Reply r = c->Read();
    CHECK(r.status == 200);
    CHECK(r.body == "late answer");
    CHECK(r.headers["connection"] == "close");
    CHECK(c->ClosedWithin(milliseconds(5000)));
  }
  CHECK(drained.get());
  server.server().Stop();
}

TEST_CASE("Drain gives up at its deadline") {
  TestServer server{HttpServerOptions()};
  Client c(server.port());
  c.Send("GET /hold HTTP/1.1\r\n\r\n");
  server.WaitHeld(1);
  CHECK_FALSE(server.server().Drain(Clock::now() + milliseconds(200)));
  server.server().Stop();
  CHECK(c.ClosedWithin(milliseconds(5000)));
}

}  // namespace
}  // namespace image2song
