// HTTP/JSON gateway and web page on their own port, forwarded to the
// SongRecommender service over the server's in-process gRPC channel, so
// HTTP calls get the same checks, queue, auth, deadlines and metrics as gRPC
// calls.
//
//   POST /v1/recommend      image upload -> RecommendResponse as JSON
//                           (request forms: server/http/http_api.h)
//   GET  /v1/info           GetInfoResponse as JSON
//   GET  /v1/songs/{id}     GetSongResponse as JSON
//   GET  /healthz           200 {"status":"SERVING"} or 503
//   GET  /                  the web page (server/http/web/index.html)
//
// Errors are {"error":{"code":N,"message":"...","status":"NAME"}} with the
// HTTP status of the gRPC code (http_api.h). An `Authorization: Bearer`
// header is passed on as gRPC metadata.
//
// Connections are served by server/http/http_server.h (one I/O thread, read
// deadlines, connection bounds). Complete requests are answered on handler
// threads (server/work_queue.h), each waiting on its gRPC call: `threads`
// for POST /v1/recommend, with up to 4 x `threads` more waiting (beyond
// that 429), and 2 for the other routes, so /healthz never waits behind
// recommendations.
//
// Thread-safety: Start/Drain/Stop from one thread.
#ifndef IMAGE2SONG_SERVER_HTTP_HTTP_GATEWAY_H_
#define IMAGE2SONG_SERVER_HTTP_HTTP_GATEWAY_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/http/http_server.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace image2song {

class Metrics;
class WorkQueue;

struct HttpGatewayOptions {
  // "host:port"; port 0 picks a free port.
  std::string listen;
  // Recommend requests answered at once (handler threads, each waiting on
  // its gRPC call); 4 x as many more may wait. Default: 16.
  int threads = 16;
  // Deadline of the gRPC call behind one HTTP request, counted from when
  // the request was received. Default: 30 s.
  int timeout_ms = 30000;
  // Connections, deadlines and the body limit (max_body_bytes).
  HttpServerOptions server;
};

class HttpGateway {
 public:
  // Starts serving; `channel` reaches the SongRecommender service and the
  // health service. `metrics` may be null.
  static absl::StatusOr<std::unique_ptr<HttpGateway>> Start(const HttpGatewayOptions& options,
                                                            std::shared_ptr<grpc::Channel> channel,
                                                            Metrics* metrics);
  ~HttpGateway();

  // Graceful stop (HttpServer::Drain): the port closes, requests already
  // received are answered, then their connections close. The gRPC server
  // must keep serving until this returns. True when all were answered
  // before `deadline`.
  bool Drain(std::chrono::steady_clock::time_point deadline);
  // Closes the port and every connection, then waits for the handler
  // threads. Idempotent.
  void Stop();
  // The port listened on.
  int port() const { return port_; }

 private:
  struct Stubs;
  HttpGateway() = default;
  // On the I/O thread: hands the request to a handler thread, or answers 429.
  void Handle(uint64_t id, HttpRequest request);
  // On a handler thread: the reply to one request.
  HttpReply Respond(const HttpRequest& request);

  HttpGatewayOptions options_;
  std::unique_ptr<Stubs> stubs_;
  std::unique_ptr<WorkQueue> recommend_;  // POST /v1/recommend
  std::unique_ptr<WorkQueue> light_;      // every other request
  std::unique_ptr<HttpServer> server_;
  Metrics* metrics_ = nullptr;
  int port_ = 0;
};

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_HTTP_HTTP_GATEWAY_H_
