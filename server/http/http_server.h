// A small event-driven HTTP/1.1 server for the gateway
// (server/http/http_gateway.h). One I/O thread (epoll, non-blocking sockets)
// accepts connections, reads request heads and bodies under deadlines and
// limits, hands each complete request to a handler, and writes the reply the
// handler gives back from any thread. A connection costs a buffer and a file
// descriptor, never a thread, so clients that stall cannot take the threads
// that answer the others.
//
// Per connection: the request head must arrive within `header_timeout_ms`
// of the connection (or of its first byte, on a kept-alive connection), the
// body within `body_timeout_ms` of the head, and the reply must be taken by
// the client within `body_timeout_ms`; a kept-alive connection may sit idle
// for `idle_timeout_ms`. A late head or body is answered 408 and the
// connection closed. Connections over `max_connections` are answered 503,
// those of a client (IP address) over `max_connections_per_client` 429,
// both with Connection: close. Bodies: Content-Length or chunked, at most
// `max_body_bytes` (413). "Expect: 100-continue" is answered. Requests on a
// connection are answered in order, one at a time.
//
// Every reply that leaves the server before its request was read in full
// (413, 408, 400, refusals) says Connection: close; the server then shuts
// its side, reads and drops what the client still sends for up to 2 s (so
// the client reads the reply instead of a reset) and closes.
//
// Thread-safety: Reply() may be called from any thread; Drain() and Stop()
// from one thread (not the handler). The handler and the hooks run on the
// I/O thread and must not block.
#ifndef IMAGE2SONG_SERVER_HTTP_HTTP_SERVER_H_
#define IMAGE2SONG_SERVER_HTTP_HTTP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/http/http_wire.h"

namespace image2song {

struct HttpServerOptions {
  // "host:port" ("0.0.0.0:8080", "127.0.0.1:0", "[::]:8080", ":8080");
  // port 0 picks a free port.
  std::string listen;
  // Largest request body; larger ones are answered 413 without reading
  // them. Default: 64 MiB.
  int64_t max_body_bytes = int64_t{64} << 20;
  // Connections held at once; beyond it new ones get 503. Default: 1024.
  int max_connections = 1024;
  // Connections held at once per client IP address; beyond it new ones get
  // 429. 0: no bound (behind a proxy all clients share its address).
  // Default: 64.
  int max_connections_per_client = 64;
  // A request head must arrive within this (from the connection, or from
  // its first byte on a kept-alive connection). Default: 10 s.
  int header_timeout_ms = 10000;
  // A request body must arrive, and a reply be taken, within this. Default:
  // 60 s.
  int body_timeout_ms = 60000;
  // A kept-alive connection without a request is closed after this.
  // Default: 5 s.
  int idle_timeout_ms = 5000;
  HttpHeadLimits head_limits;

  // Hooks, run on the I/O thread (optional). Each reply sent, with the path
  // of its request ("" when no head was read) and its status:
  std::function<void(absl::string_view path, int status)> on_reply;
  // Each connection refused or closed by a deadline, with the reason:
  // "total_limit", "client_limit", "header_timeout", "body_timeout",
  // "write_timeout".
  std::function<void(const char* reason)> on_refused;
  // The number of connections held, after each change.
  std::function<void(int open)> on_connections;
};

// A complete request, as the handler gets it.
struct HttpRequest {
  HttpRequestHead head;
  std::string body;  // chunked bodies decoded
  std::string peer;  // client address, for logs
  // When its last byte arrived.
  std::chrono::steady_clock::time_point received;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string headers;  // extra header lines, each ending in \r\n
};

class HttpServer {
 public:
  // Gets each complete request on the I/O thread; must not block, and must
  // see to it that Reply(id, ...) is called once (from any thread).
  using Handler = std::function<void(uint64_t id, HttpRequest request)>;

  // Binds options.listen and starts the I/O thread.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           Handler handler);
  ~HttpServer();  // Stop()

  // The reply to request `id`. Dropped when its connection has gone.
  void Reply(uint64_t id, HttpReply reply);

  // Graceful stop: new connections are refused (the port is closed after
  // the ones already waiting are accepted); requests already received,
  // bytes waiting in the socket included, are handled and answered with
  // Connection: close; idle connections and those still sending a request
  // are closed. Returns true when every such request was answered before
  // `deadline`, false at the deadline.
  bool Drain(std::chrono::steady_clock::time_point deadline);
  // Stops the I/O thread and closes every connection and the port. Replies
  // given later are dropped. Idempotent.
  void Stop();

  // The port listened on.
  int port() const { return port_; }

 private:
  class Loop;
  HttpServer() = default;

  std::unique_ptr<Loop> loop_;
  int port_ = 0;
};

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_HTTP_HTTP_SERVER_H_
