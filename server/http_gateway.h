// HTTP/JSON gateway and web page, served by civetweb on their own port and
// forwarded to the SongRecommender service over the server's in-process
// gRPC channel, so HTTP calls get the same checks, queue, auth, deadlines
// and metrics as gRPC calls.
//
//   POST /v1/recommend      image upload -> RecommendResponse as JSON
//                           (request forms: server/http_api.h)
//   GET  /v1/info           GetInfoResponse as JSON
//   GET  /v1/songs/{id}     GetSongResponse as JSON
//   GET  /healthz           200 {"status":"SERVING"} or 503
//   GET  /                  the web page (server/web/index.html)
//
// Errors are {"error":{"code":N,"message":"...","status":"NAME"}} with the
// HTTP status of the gRPC code (http_api.h). An `Authorization: Bearer`
// header is passed on as gRPC metadata.
//
// Thread-safety: Start/Stop from one thread; requests are served on
// civetweb's worker threads.
#ifndef IMAGE2SONG_SERVER_HTTP_GATEWAY_H_
#define IMAGE2SONG_SERVER_HTTP_GATEWAY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class Channel;
}  // namespace grpc

struct mg_context;
struct mg_connection;

namespace image2song {

struct HttpRequest;
struct HttpReply;

class Metrics;
class WorkQueue;

struct HttpGatewayOptions {
  // "host:port"; port 0 picks a free port.
  std::string listen;
  // Connections served at once (civetweb worker threads). Default: 16.
  int threads = 16;
  // Largest request body; larger ones get 413. Default: 64 MiB.
  int64_t max_body_bytes = int64_t{64} << 20;
  // Deadline of the gRPC call behind one HTTP request. Default: 30 s.
  int timeout_ms = 30000;
};

class HttpGateway {
 public:
  // Starts serving; `channel` reaches the SongRecommender service and the
  // health service. `metrics` may be null.
  static absl::StatusOr<std::unique_ptr<HttpGateway>> Start(
      const HttpGatewayOptions& options, std::shared_ptr<grpc::Channel> channel,
      Metrics* metrics);
  ~HttpGateway();

  // Closes the port and waits for the requests being served. Idempotent.
  void Stop();
  // The port listened on.
  int port() const { return port_; }

 private:
  struct Stubs;
  HttpGateway() = default;
  static int Handle(mg_connection* conn, void* self);
  // On a civetweb thread: reads the request, has Respond run on a handler
  // thread (server/work_queue.h), writes the reply.
  int Serve(mg_connection* conn);
  // On a handler thread: the reply to one request.
  HttpReply Respond(const HttpRequest& request);

  HttpGatewayOptions options_;
  std::unique_ptr<Stubs> stubs_;
  std::unique_ptr<WorkQueue> handlers_;
  Metrics* metrics_ = nullptr;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_HTTP_GATEWAY_H_
