// Prometheus metrics of the server, served over HTTP on their own port.
//
//   i2s_requests_total{method,code}           counter
//   i2s_request_duration_seconds{method}      histogram (handler to Finish)
//   i2s_stage_duration_seconds{stage}         histogram, stage = decode |
//                                             model | search | rerank
//   i2s_batch_size{model}                     histogram, images per batched
//                                             forward pass
//   i2s_batch_wait_seconds{model}             histogram, queueing of a batch
//   i2s_queue_depth                           gauge, requests waiting
//   i2s_songs                                 gauge, songs in the bundle
//   i2s_http_requests_total{route,status}     counter, HTTP gateway answers
//   i2s_http_connections                      gauge, HTTP connections held
//   i2s_http_connections_refused_total{reason} counter, HTTP connections
//                                             refused or cut by a deadline
//
// Thread-safety: all methods are thread-safe.
#ifndef IMAGE2SONG_SERVER_METRICS_H_
#define IMAGE2SONG_SERVER_METRICS_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace prometheus {
class Exposer;
class Registry;
class Gauge;
template <typename T>
class Family;
class Counter;
class Histogram;
}  // namespace prometheus

namespace image2song {

class Metrics {
 public:
  // `listen` is "host:port" ("0.0.0.0:0" picks a free port); empty: no HTTP
  // endpoint (metrics are still counted).
  static absl::StatusOr<std::unique_ptr<Metrics>> Create(const std::string& listen);
  ~Metrics();

  void CountRequest(const std::string& method, const char* code, double seconds);
  void ObserveStage(const char* stage, double seconds);
  // A dynamic batch of `model` ran (core/models/batching_model.h).
  void ObserveBatch(const std::string& model, int images, double wait_seconds);
  // The HTTP gateway answered `route` (recommend, info, song, healthz,
  // page, other) with HTTP `status`.
  void CountHttp(const char* route, int status);
  // HTTP connections held by the gateway.
  void SetHttpConnections(double n);
  // The HTTP gateway refused a connection or closed it at a deadline:
  // reason total_limit, client_limit, header_timeout, body_timeout,
  // write_timeout (server/http/http_server.h).
  void CountHttpRefused(const char* reason);
  void SetQueueDepth(double n);
  void SetSongs(double n);
  // A bundle load by SIGHUP or the Admin service: result "ok" or "rejected".
  void CountBundleLoad(const char* result);
  // i2s_bundle_info{version=...} 1 for the serving bundle (0 for the others
  // seen before).
  void SetBundleVersion(const std::string& version);
  // Port of the HTTP endpoint, 0 when none.
  int port() const { return port_; }

 private:
  Metrics() = default;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  prometheus::Family<prometheus::Counter>* requests_ = nullptr;
  prometheus::Family<prometheus::Histogram>* latency_ = nullptr;
  prometheus::Family<prometheus::Histogram>* stages_ = nullptr;
  prometheus::Family<prometheus::Histogram>* batch_size_ = nullptr;
  prometheus::Family<prometheus::Histogram>* batch_wait_ = nullptr;
  prometheus::Gauge* queue_depth_ = nullptr;
  prometheus::Gauge* songs_ = nullptr;
  prometheus::Family<prometheus::Counter>* bundle_loads_ = nullptr;
  prometheus::Family<prometheus::Counter>* http_requests_ = nullptr;
  prometheus::Gauge* http_connections_ = nullptr;
  prometheus::Family<prometheus::Counter>* http_refused_ = nullptr;
  prometheus::Family<prometheus::Gauge>* bundle_info_ = nullptr;
  std::mutex bundle_mu_;
  std::string bundle_version_;
  int port_ = 0;
};

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_METRICS_H_
