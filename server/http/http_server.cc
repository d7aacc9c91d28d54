#include "server/http/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/http/http_api.h"
#include "util/log.h"

namespace image2song {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kListenKey = 0;
constexpr uint64_t kWakeKey = 1;
constexpr uint64_t kFirstConnKey = 2;
// After a reply that closes the connection: how long the server keeps
// reading (and dropping) what the client still sends.
constexpr auto kLinger = std::chrono::milliseconds(2000);
// Refused connections answered and lingering at once; beyond that they are
// closed without an answer.
constexpr int kMaxRefusedLingering = 256;
constexpr size_t kReadChunk = 64 * 1024;
// Bytes read from one connection per wake-up (fairness between clients).
constexpr size_t kReadBudget = 1 << 20;
// How long accepting pauses when the process is out of file descriptors.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

// gRPC codes for the JSON error body (grpc/status.h, without gRPC here).
constexpr int kInvalidArgument = 3;
constexpr int kDeadlineExceeded = 4;
constexpr int kResourceExhausted = 8;
constexpr int kUnimplemented = 12;
constexpr int kUnavailable = 14;

int GrpcCodeForHttp(int status) {
  switch (status) {
    case 408:
      return kDeadlineExceeded;
    case 413:
    case 429:
    case 431:
      return kResourceExhausted;
    case 501:
    case 505:
      return kUnimplemented;
    case 503:
      return kUnavailable;
    default:
      return kInvalidArgument;
  }
}

HttpReply ErrorReply(int status, absl::string_view message) {
  HttpReply r;
  r.status = status;
  r.body = ErrorJson(GrpcCodeForHttp(status), message);
  if (status == 429 || status == 503) r.headers = "Retry-After: 1\r\n";
  return r;
}

// Splits "host:port", "[v6]:port" or ":port".
absl::Status SplitHostPort(const std::string& listen, std::string* host, std::string* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP listen address '", listen, "' is not host:port"));
  }
  *host = listen.substr(0, colon);
  *port = listen.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  if (*host == "*") host->clear();
  int n = 0;
  if (!absl::SimpleAtoi(*port, &n) || n < 0 || n > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP listen address '", listen, "' has no valid port"));
  }
  return absl::OkStatus();
}

// The client's address: the key of the per-client bound (IPv4-mapped IPv6
// addresses count as IPv4), and its printable form.
void ClientAddress(const sockaddr_storage& addr, std::string* key, std::string* text) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    key->assign(reinterpret_cast<const char*>(&a->sin_addr), 4);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      key->assign(reinterpret_cast<const char*>(&a->sin6_addr) + 12, 4);
      inet_ntop(AF_INET, reinterpret_cast<const char*>(&a->sin6_addr) + 12, buf, sizeof(buf));
    } else {
      key->assign(reinterpret_cast<const char*>(&a->sin6_addr), 16);
      inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
    }
  } else {
    key->assign("unix");
  }
  *text = buf;
}

enum class Phase {
  kHead,      // reading a request head (or idle between requests)
  kBody,      // reading a request body
  kHandling,  // the handler has the request
  kWriting,   // writing a reply
  kLinger,    // our side shut, dropping what the client still sends
};

struct Conn {
  uint64_t id = 0;
  int fd = -1;
  std::string client;   // per-client key
  std::string peer;     // printable address
  bool counted = true;  // counts toward the connection bounds (not refusals)
  Phase phase = Phase::kHead;
  bool started = false;  // bytes of the current request have arrived
  bool served = false;   // a request was answered on this connection
  std::string in;        // bytes read and not consumed yet
  size_t scanned = 0;    // of `in`, searched for the end of the head
  HttpRequestHead head;
  std::string body;
  std::optional<ChunkedDecoder> chunked;
  // The request being handled or answered.
  std::string method, path;
  bool keep_alive = true;
  std::string out;
  size_t out_pos = 0;
  bool close_after = false;
  Clock::time_point deadline = Clock::time_point::max();
  uint32_t events = 0;  // registered with epoll
};

// Whether `in`, searched from `from`, holds the empty line that ends a head.
bool HasHeadEnd(absl::string_view in, size_t from) {
  for (size_t i = in.find('\n', from); i != absl::string_view::npos; i = in.find('\n', i + 1)) {
    if (i + 1 < in.size() && in[i + 1] == '\n') return true;
    if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') return true;
  }
  return false;
}

}  // namespace

class HttpServer::Loop {
 public:
  Loop(const HttpServerOptions& options, Handler handler)
      : options_(options), handler_(std::move(handler)) {}
  ~Loop();

  absl::StatusOr<int> Bind();
  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Reply(uint64_t id, HttpReply reply);
  bool Drain(Clock::time_point deadline);
  void Stop();

 private:
  void Run();
  void Wake();
  void RunCommands();
  void Accept();
  void PauseAccept();
  void AddConn(int fd, std::string client, std::string peer, bool counted);
  void Refuse(int fd, const std::string& peer, int status, const std::string& message,
              const char* reason);
  // Each returns false when it closed the connection.
  bool OnReadable(Conn* c);
  bool ReadInput(Conn* c, bool* eof);
  bool Process(Conn* c);
  bool Flush(Conn* c);
  bool WriteDone(Conn* c);
  void Dispatch(Conn* c);
  void Send(Conn* c, const HttpReply& reply, bool close);
  bool RefuseRequest(Conn* c, int status, absl::string_view message, const char* reason);
  void StartLinger(Conn* c);
  void Close(Conn* c);
  void ExpireTimers();
  void SetDeadline(Conn* c, Clock::time_point t);
  void UpdateEvents(Conn* c);
  void BeginDrain();
  void CheckDrained();
  void Note(const char* reason, const std::string& peer);

  const HttpServerOptions options_;
  const Handler handler_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;

  // I/O thread only.
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::set<std::pair<Clock::time_point, uint64_t>> timers_;
  std::map<std::string, int> per_client_;
  int counted_ = 0;
  int refused_lingering_ = 0;
  uint64_t next_id_ = kFirstConnKey;
  bool draining_ = false;
  bool accept_paused_ = false;
  Clock::time_point accept_resume_;
  std::map<std::string, int64_t> notes_;
  std::vector<char> scratch_ = std::vector<char>(kReadChunk);

  // Shared with other threads.
  std::mutex mu_;
  std::condition_variable drained_cv_;
  std::vector<std::pair<uint64_t, HttpReply>> replies_;
  bool drain_requested_ = false;
  bool drained_ = false;
  bool stop_requested_ = false;
  bool stopped_ = false;
};

HttpServer::Loop::~Loop() {
  Stop();
  if (wake_fd_ >= 0) close(wake_fd_);
}

absl::StatusOr<int> HttpServer::Loop::Bind() {
  std::string host, port;
  absl::Status s = SplitHostPort(options_.listen, &host, &port);
  if (!s.ok()) return s;
  addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot resolve HTTP listen address '",
                                                   options_.listen, "': ", gai_strerror(rc)));
  }
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = std::strerror(errno);
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
      error = std::strerror(errno);
      close(fd);
      continue;
    }
    listen_fd_ = fd;
    break;
  }
  freeaddrinfo(found);
  if (listen_fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", options_.listen, ": ", error));
  }
  sockaddr_storage bound;
  socklen_t len = sizeof(bound);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  const int bound_port = bound.ss_family == AF_INET6
                             ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                             : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("epoll/eventfd: ", std::strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kListenKey;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.u64 = kWakeKey;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);

  rlimit files;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY &&
      files.rlim_cur < static_cast<rlim_t>(options_.max_connections) + 256) {
    I2S_LOG(WARNING) << "http: the file descriptor limit (" << files.rlim_cur
                     << ", ulimit -n) is below --http_max_connections (" << options_.max_connections
                     << ") + 256; accepting pauses when it is reached";
  }
  return bound_port;
}

void HttpServer::Loop::Wake() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

void HttpServer::Loop::Reply(uint64_t id, HttpReply reply) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    replies_.emplace_back(id, std::move(reply));
  }
  Wake();
}

bool HttpServer::Loop::Drain(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  if (stopped_) return true;
  drain_requested_ = true;
  lock.unlock();
  Wake();
  lock.lock();
  return drained_cv_.wait_until(lock, deadline, [this] { return drained_ || stopped_; });
}

void HttpServer::Loop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stop_requested_ = true;
  }
  if (thread_.joinable()) {
    Wake();
    thread_.join();
  }
  for (auto& [id, c] : conns_) close(c->fd);
  conns_.clear();
  timers_.clear();
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
  if (epoll_fd_ >= 0) close(epoll_fd_);
  epoll_fd_ = -1;
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  replies_.clear();
  drained_cv_.notify_all();
}

void HttpServer::Loop::Run() {
  std::vector<epoll_event> events(256);
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_requested_) break;
    }
    int timeout_ms = -1;
    const Clock::time_point now = Clock::now();
    Clock::time_point next = Clock::time_point::max();
    if (!timers_.empty()) next = timers_.begin()->first;
    if (accept_paused_) next = std::min(next, accept_resume_);
    if (next != Clock::time_point::max()) {
      timeout_ms =
          next <= now
              ? 0
              : static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
    }
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) {
      I2S_LOG(ERROR) << "http: epoll_wait: " << std::strerror(errno);
      break;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t key = events[i].data.u64;
      const uint32_t what = events[i].events;
      if (key == kListenKey) {
        Accept();
        continue;
      }
      if (key == kWakeKey) {
        uint64_t count;
        (void)!read(wake_fd_, &count, sizeof(count));
        RunCommands();
        continue;
      }
      auto it = conns_.find(key);
      if (it == conns_.end()) continue;
      Conn* c = it->second.get();
      if ((what & EPOLLERR) ||
          ((what & EPOLLHUP) && (c->phase == Phase::kHandling || c->phase == Phase::kWriting))) {
        Close(c);  // the client is gone (reset)
        continue;
      }
      if ((what & (EPOLLIN | EPOLLHUP)) && !OnReadable(c)) continue;
      if ((what & EPOLLOUT) && c->out_pos < c->out.size()) Flush(c);
    }
    ExpireTimers();
    if (accept_paused_ && Clock::now() >= accept_resume_ && listen_fd_ >= 0) {
      accept_paused_ = false;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = kListenKey;
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
    }
  }
}

void HttpServer::Loop::RunCommands() {
  std::vector<std::pair<uint64_t, HttpReply>> replies;
  bool drain = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    replies.swap(replies_);
    drain = drain_requested_ && !draining_;
  }
  for (auto& [id, reply] : replies) {
    auto it = conns_.find(id);
    if (it == conns_.end() || it->second->phase != Phase::kHandling) continue;
    Conn* c = it->second.get();
    Send(c, reply, !c->keep_alive || draining_);
  }
  if (drain) BeginDrain();
  CheckDrained();
}

void HttpServer::Loop::Accept() {
  while (listen_fd_ >= 0) {
    sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    const int fd =
        accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        Note("accept_paused", std::strerror(errno));
        PauseAccept();
      }
      return;  // EAGAIN or a pause
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::string client, peer;
    ClientAddress(addr, &client, &peer);
    if (counted_ >= options_.max_connections) {
      Refuse(fd, peer, 503,
             absl::StrCat("the HTTP gateway holds its limit of ", options_.max_connections,
                          " connections (--http_max_connections); try again later"),
             "total_limit");
    } else if (options_.max_connections_per_client > 0 &&
               per_client_[client] >= options_.max_connections_per_client) {
      Refuse(fd, peer, 429,
             absl::StrCat("this client holds ", options_.max_connections_per_client,
                          " HTTP connections, the limit per client "
                          "(--http_max_connections_per_client)"),
             "client_limit");
    } else {
      AddConn(fd, std::move(client), std::move(peer), true);
    }
  }
}

void HttpServer::Loop::PauseAccept() {
  if (accept_paused_ || listen_fd_ < 0) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
  accept_paused_ = true;
  accept_resume_ = Clock::now() + kAcceptPause;
}

void HttpServer::Loop::AddConn(int fd, std::string client, std::string peer, bool counted) {
  auto conn = std::make_unique<Conn>();
  Conn* c = conn.get();
  c->id = next_id_++;
  c->fd = fd;
  c->client = std::move(client);
  c->peer = std::move(peer);
  c->counted = counted;
  conns_.emplace(c->id, std::move(conn));
  if (counted) {
    ++counted_;
    ++per_client_[c->client];
    if (options_.on_connections) options_.on_connections(counted_);
  } else {
    ++refused_lingering_;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = c->id;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  c->events = EPOLLIN;
  SetDeadline(c, Clock::now() + std::chrono::milliseconds(options_.header_timeout_ms));
}

void HttpServer::Loop::Refuse(int fd, const std::string& peer, int status,
                              const std::string& message, const char* reason) {
  Note(reason, peer);
  if (options_.on_refused) options_.on_refused(reason);
  if (refused_lingering_ >= kMaxRefusedLingering) {
    close(fd);
    return;
  }
  AddConn(fd, "", peer, /*counted=*/false);
  Conn* c = conns_.find(next_id_ - 1)->second.get();
  c->phase = Phase::kHandling;
  c->path.clear();
  Send(c, ErrorReply(status, message), /*close=*/true);
}

void HttpServer::Loop::Close(Conn* c) {
  if (c->deadline != Clock::time_point::max()) timers_.erase({c->deadline, c->id});
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c->fd, nullptr);
  close(c->fd);
  if (c->counted) {
    --counted_;
    auto it = per_client_.find(c->client);
    if (it != per_client_.end() && --it->second <= 0) per_client_.erase(it);
    if (options_.on_connections) options_.on_connections(counted_);
  } else {
    --refused_lingering_;
  }
  conns_.erase(c->id);
  CheckDrained();
}

void HttpServer::Loop::SetDeadline(Conn* c, Clock::time_point t) {
  if (c->deadline != Clock::time_point::max()) timers_.erase({c->deadline, c->id});
  c->deadline = t;
  if (t != Clock::time_point::max()) timers_.insert({t, c->id});
}

void HttpServer::Loop::UpdateEvents(Conn* c) {
  uint32_t want = 0;
  if (c->phase == Phase::kHead || c->phase == Phase::kBody || c->phase == Phase::kLinger) {
    want |= EPOLLIN;
  }
  if (c->out_pos < c->out.size()) want |= EPOLLOUT;
  if (want == c->events) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.u64 = c->id;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &ev);
  c->events = want;
}

bool HttpServer::Loop::OnReadable(Conn* c) {
  if (c->phase == Phase::kLinger) {
    char buf[16384];
    while (true) {
      const ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
      if (n > 0) continue;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
      Close(c);  // the client has closed too
      return false;
    }
  }
  if (c->phase != Phase::kHead && c->phase != Phase::kBody) return true;
  bool eof = false;
  if (!ReadInput(c, &eof)) return false;
  if (eof && (c->phase == Phase::kHead || c->phase == Phase::kBody)) {
    // The client closed before a whole request: nobody to answer.
    Close(c);
    return false;
  }
  return true;
}

bool HttpServer::Loop::ReadInput(Conn* c, bool* eof) {
  size_t budget = kReadBudget;
  while (budget > 0 && (c->phase == Phase::kHead || c->phase == Phase::kBody)) {
    ssize_t n;
    if (c->phase == Phase::kBody && !c->chunked && c->in.empty()) {
      // Straight into the body (its size is known and reserved).
      const size_t old = c->body.size();
      const size_t room = std::min(static_cast<size_t>(c->head.content_length) - old, budget);
      if (room == 0) return true;
      c->body.resize(old + room);
      n = recv(c->fd, &c->body[old], room, 0);
      c->body.resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
    } else {
      // Through a scratch buffer, so a connection's buffer grows only with
      // what it was sent.
      n = recv(c->fd, scratch_.data(), scratch_.size(), 0);
      if (n > 0) c->in.append(scratch_.data(), static_cast<size_t>(n));
    }
    if (n > 0) {
      budget -= std::min(budget, static_cast<size_t>(n));
      if (!Process(c)) return false;
      continue;
    }
    if (n == 0) {
      *eof = true;
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    Close(c);
    return false;
  }
  return true;
}

bool HttpServer::Loop::Process(Conn* c) {
  const Clock::time_point now = Clock::now();
  if (c->phase == Phase::kHead) {
    if (c->in.empty()) return true;
    if (!c->started) {
      c->started = true;
      if (c->served) {  // a kept-alive connection: the head's clock starts now
        SetDeadline(c, now + std::chrono::milliseconds(options_.header_timeout_ms));
      }
    }
    const size_t limit = options_.head_limits.max_head_bytes;
    if (!HasHeadEnd(c->in, c->scanned > 2 ? c->scanned - 2 : 0) && c->in.size() <= limit + 64) {
      c->scanned = c->in.size();
      return true;
    }
    HttpHeadParse parse = ParseRequestHead(c->in, options_.head_limits, &c->head);
    if (parse.result == HttpHeadParse::Result::kIncomplete) {
      c->scanned = c->in.size();
      return true;
    }
    c->path = c->head.path;
    if (parse.result == HttpHeadParse::Result::kError) {
      return RefuseRequest(c, parse.status, parse.message, nullptr);
    }
    c->in.erase(0, parse.size);
    c->scanned = 0;
    c->method = c->head.method;
    c->keep_alive = c->head.keep_alive;
    if (c->head.content_length > options_.max_body_bytes) {
      return RefuseRequest(
          c, 413,
          absl::StrCat("request body of ", c->head.content_length, " bytes is over the limit of ",
                       options_.max_body_bytes, " bytes"),
          nullptr);
    }
    c->body.clear();
    c->chunked.reset();
    if (c->head.chunked) {
      c->chunked.emplace(options_.max_body_bytes);
    } else if (c->head.content_length > 0) {
      c->body.reserve(static_cast<size_t>(c->head.content_length));
    }
    c->phase = Phase::kBody;
    SetDeadline(c, now + std::chrono::milliseconds(options_.body_timeout_ms));
    if (c->head.expect_continue && c->head.has_body() && c->head.minor_version >= 1) {
      c->out += "HTTP/1.1 100 Continue\r\n\r\n";
      if (!Flush(c)) return false;
    }
  }
  if (c->phase == Phase::kBody) {
    if (c->chunked) {
      absl::StatusOr<size_t> used = c->chunked->Feed(c->in, &c->body);
      if (!used.ok()) {
        return RefuseRequest(c, absl::IsResourceExhausted(used.status()) ? 413 : 400,
                             absl::StrCat("chunked body: ", used.status().message()), nullptr);
      }
      c->in.erase(0, *used);
      if (!c->chunked->done()) return true;
    } else {
      const size_t want = static_cast<size_t>(c->head.content_length) - c->body.size();
      const size_t take = std::min(want, c->in.size());
      c->body.append(c->in, 0, take);
      c->in.erase(0, take);
      if (c->body.size() < static_cast<size_t>(c->head.content_length)) return true;
    }
    Dispatch(c);
  }
  return true;
}

void HttpServer::Loop::Dispatch(Conn* c) {
  c->phase = Phase::kHandling;
  SetDeadline(c, Clock::time_point::max());
  UpdateEvents(c);
  HttpRequest request;
  request.head = std::move(c->head);
  request.body = std::move(c->body);
  request.peer = c->peer;
  request.received = Clock::now();
  c->head = HttpRequestHead();
  c->body = std::string();
  c->chunked.reset();
  handler_(c->id, std::move(request));
}

void HttpServer::Loop::Send(Conn* c, const HttpReply& reply, bool close) {
  c->out +=
      FormatReplyHead(reply.status, reply.content_type, reply.body.size(), reply.headers, close);
  if (c->method != "HEAD") c->out += reply.body;
  c->close_after = close;
  c->phase = Phase::kWriting;
  SetDeadline(c, Clock::now() + std::chrono::milliseconds(options_.body_timeout_ms));
  if (options_.on_reply) options_.on_reply(c->path, reply.status);
  Flush(c);
}

bool HttpServer::Loop::RefuseRequest(Conn* c, int status, absl::string_view message,
                                     const char* reason) {
  if (reason != nullptr) {
    Note(reason, c->peer);
    if (options_.on_refused) options_.on_refused(reason);
  }
  c->in.clear();
  c->body = std::string();
  c->chunked.reset();
  c->phase = Phase::kHandling;
  Send(c, ErrorReply(status, message), /*close=*/true);
  return conns_.count(c->id) > 0;
}

bool HttpServer::Loop::Flush(Conn* c) {
  while (c->out_pos < c->out.size()) {
    const ssize_t n =
        send(c->fd, c->out.data() + c->out_pos, c->out.size() - c->out_pos, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_pos += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      UpdateEvents(c);
      return true;
    }
    Close(c);
    return false;
  }
  c->out.clear();
  c->out_pos = 0;
  if (c->phase == Phase::kWriting) return WriteDone(c);
  UpdateEvents(c);
  return true;
}

bool HttpServer::Loop::WriteDone(Conn* c) {
  if (c->close_after) {
    StartLinger(c);
    return true;
  }
  c->served = true;
  c->started = false;
  c->phase = Phase::kHead;
  c->method.clear();
  c->path.clear();
  SetDeadline(c, Clock::now() + std::chrono::milliseconds(options_.idle_timeout_ms));
  UpdateEvents(c);
  CheckDrained();
  // A pipelined request may be waiting in `in`.
  return Process(c);
}

void HttpServer::Loop::StartLinger(Conn* c) {
  shutdown(c->fd, SHUT_WR);
  c->phase = Phase::kLinger;
  c->in = std::string();
  c->body = std::string();
  c->out = std::string();
  c->out_pos = 0;
  SetDeadline(c, Clock::now() + kLinger);
  UpdateEvents(c);
  CheckDrained();
}

void HttpServer::Loop::ExpireTimers() {
  const Clock::time_point now = Clock::now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    const uint64_t id = timers_.begin()->second;
    timers_.erase(timers_.begin());
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Conn* c = it->second.get();
    c->deadline = Clock::time_point::max();
    switch (c->phase) {
      case Phase::kHead:
        if (!c->started) {
          // Nothing of a request arrived: close without an answer (a
          // kept-alive connection that went idle, or a silent one).
          if (!c->served) {
            Note("header_timeout", c->peer);
            if (options_.on_refused) options_.on_refused("header_timeout");
          }
          Close(c);
        } else {
          RefuseRequest(c, 408,
                        absl::StrCat("the request head did not arrive within ",
                                     options_.header_timeout_ms, " ms"),
                        "header_timeout");
        }
        break;
      case Phase::kBody: {
        const int64_t got = static_cast<int64_t>(c->body.size() + c->in.size());
        RefuseRequest(
            c, 408,
            absl::StrCat("the request body did not arrive within ", options_.body_timeout_ms,
                         " ms (", c->head.chunked ? "chunked, " : "", got,
                         c->head.chunked ? "" : absl::StrCat(" of ", c->head.content_length),
                         " bytes)"),
            "body_timeout");
        break;
      }
      case Phase::kWriting:
        Note("write_timeout", c->peer);
        if (options_.on_refused) options_.on_refused("write_timeout");
        Close(c);
        break;
      case Phase::kLinger:
        Close(c);
        break;
      case Phase::kHandling:
        break;
    }
  }
}

void HttpServer::Loop::BeginDrain() {
  draining_ = true;
  // Connections waiting in the backlog were made before the drain: take
  // them, then close the port.
  Accept();
  if (listen_fd_ >= 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
    close(listen_fd_);
    listen_fd_ = -1;
  }
  std::vector<uint64_t> ids;
  ids.reserve(conns_.size());
  for (const auto& [id, c] : conns_) ids.push_back(id);
  for (uint64_t id : ids) {
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    Conn* c = it->second.get();
    if (c->phase == Phase::kHead || c->phase == Phase::kBody) {
      // What has arrived may complete a request.
      if (!OnReadable(c)) continue;
      if (c->phase == Phase::kHead || c->phase == Phase::kBody) Close(c);
    } else if (c->phase == Phase::kWriting) {
      c->close_after = true;
    }
  }
}

void HttpServer::Loop::CheckDrained() {
  if (!draining_) return;
  for (const auto& [id, c] : conns_) {
    if (c->phase == Phase::kHandling || c->phase == Phase::kWriting) return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!drained_) {
    drained_ = true;
    drained_cv_.notify_all();
  }
}

// Logs the 1st, 2nd, 4th, 8th, ... event of each kind.
void HttpServer::Loop::Note(const char* reason, const std::string& peer) {
  const int64_t n = ++notes_[reason];
  if ((n & (n - 1)) != 0) return;
  I2S_LOG(WARNING) << "http: " << reason << " (" << peer << "), " << n
                   << (n == 1 ? " time" : " times") << " so far";
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              Handler handler) {
  auto server = std::unique_ptr<HttpServer>(new HttpServer());
  server->loop_ = std::make_unique<Loop>(options, std::move(handler));
  absl::StatusOr<int> port = server->loop_->Bind();
  if (!port.ok()) return port.status();
  server->port_ = *port;
  server->loop_->Start();
  return server;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Reply(uint64_t id, HttpReply reply) { loop_->Reply(id, std::move(reply)); }

bool HttpServer::Drain(std::chrono::steady_clock::time_point deadline) {
  return loop_->Drain(deadline);
}

void HttpServer::Stop() {
  if (loop_ != nullptr) loop_->Stop();
}

}  // namespace image2song
