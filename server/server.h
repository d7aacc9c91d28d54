// The whole server behind i2s-server: ServerOptions (every setting, with its
// documented default; the binary's flags take their defaults from it) and
// Server::BuildAndStart, which loads the snapshot (models + bundle), starts
// the gRPC service, the Admin service, metrics and the HTTP gateway, and
// stops them in order.
//
//   ServerOptions options;               // defaults
//   options.bundle = "/srv/bundle";
//   ASSIGN_OR_RETURN(auto server, Server::BuildAndStart(options));
//   ... server->grpc_port() ...
//   server->Shutdown(std::chrono::seconds(10));
//
// Thread-safety: Reload() may run from any thread; Shutdown() once, from
// one thread.
#ifndef IMAGE2SONG_SERVER_SERVER_H_
#define IMAGE2SONG_SERVER_SERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/bundle/bundle.h"
#include "core/models/model_set.h"
#include "server/auth.h"
#include "server/http/http_gateway.h"
#include "server/service.h"

namespace image2song {

struct ServerOptions {
  ServerOptions();

  // gRPC listen address host:port (port 0 picks a free port).
  std::string listen = "0.0.0.0:50051";
  // Prometheus endpoint host:port (GET /metrics); empty: none.
  std::string metrics_listen = "0.0.0.0:9464";
  // Largest gRPC message accepted (gRPC refuses larger ones with
  // RESOURCE_EXHAUSTED). Default: 64 MiB; also the HTTP body limit.
  int64_t max_receive_bytes = int64_t{64} << 20;

  // The model manifest; empty: $I2S_CACHE/models/default/models.json.
  // models.manifest_path is set from it.
  std::string models_path;
  // Model loading and running. Defaults: optimized TorchScript, parallel
  // taggers on, dynamic batching off.
  ModelSetOptions models;
  // LibTorch intra-op (and OpenMP) threads per worker. Default: 1.
  int torch_threads = 1;

  // The bundle directory; empty: $I2S_CACHE/bundles/demo.
  std::string bundle_dir;
  // Checksums and index search settings of every bundle loaded.
  BundleLoadOptions bundle;
  // Admin.LoadBundle paths resolve under this; empty: the bundle's parent.
  std::string bundle_root;
  // At start, how long to wait for bundle_dir to appear (its manifest.json:
  // i2s-index publishes a bundle by renaming a finished directory), e.g.
  // while a Compose index job is still writing it. 0: fail at once.
  int bundle_wait_ms = 0;
  // Bearer token of the Admin service; empty: no Admin service.
  std::string admin_token;

  // Workers, queue, request limits, ranking settings, auth token.
  ServiceOptions service;
  TlsOptions tls;

  // HTTP gateway; http.listen empty: none. Default listen 0.0.0.0:8080.
  // http.server.max_body_bytes is max_receive_bytes (set by BuildAndStart).
  HttpGatewayOptions http;

  // malloc_trim at most this often after a large request (0: never), and
  // the request size that arms it (server/malloc_trim.h).
  int malloc_trim_interval_ms = 2000;
  int64_t malloc_trim_min_request_bytes = int64_t{4} << 20;

  // On SIGTERM/SIGINT, how long in-flight requests may take (i2s-server
  // passes it to Shutdown()). Default: 10 s.
  int shutdown_grace_ms = 10000;
};

class SongRecommenderService;
class AdminService;
class BundleReloader;
class Metrics;
class MallocTrimmer;

class Server {
 public:
  // Loads the models and bundle, then starts every endpoint; logs what it
  // loaded and where it serves. Errors say which step failed.
  static absl::StatusOr<std::unique_ptr<Server>> BuildAndStart(ServerOptions options);
  ~Server();

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const;
  int http_port() const;  // 0 without the gateway

  // Reloads the bundle directory it started with (SIGHUP).
  absl::Status Reload();

  // Health checks turn NOT_SERVING; HTTP drains first (its calls go through
  // the in-process channel), then gRPC stops taking calls and in-flight
  // requests get until `grace` to finish; then the workers stop.
  void Shutdown(std::chrono::milliseconds grace);

 private:
  explicit Server(ServerOptions options);

  ServerOptions options_;
  std::unique_ptr<MallocTrimmer> malloc_trimmer_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<SongRecommenderService> service_;
  std::unique_ptr<BundleReloader> reloader_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<HttpGateway> http_;
  int grpc_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_SERVER_H_
