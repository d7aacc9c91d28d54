#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace image2song {
namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* kBuckets = new prometheus::Histogram::BucketBoundaries{
      0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0};
  return *kBuckets;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create(const std::string& listen) {
  auto m = std::unique_ptr<Metrics>(new Metrics());
  m->registry_ = std::make_shared<prometheus::Registry>();
  m->requests_ = &prometheus::BuildCounter()
                      .Name("i2s_requests_total")
                      .Help("RPCs finished, by method and gRPC status code")
                      .Register(*m->registry_);
  m->latency_ = &prometheus::BuildHistogram()
                     .Name("i2s_request_duration_seconds")
                     .Help("RPC latency inside the server, by method")
                     .Register(*m->registry_);
  m->stages_ = &prometheus::BuildHistogram()
                    .Name("i2s_stage_duration_seconds")
                    .Help(
                        "Recommend latency per stage: decode, model (of it forward: the "
                        "model forward passes), "
                        "search, rerank")
                    .Register(*m->registry_);
  m->queue_depth_ = &prometheus::BuildGauge()
                         .Name("i2s_queue_depth")
                         .Help("Requests waiting for a worker")
                         .Register(*m->registry_)
                         .Add({});
  m->songs_ = &prometheus::BuildGauge()
                   .Name("i2s_songs")
                   .Help("Songs in the serving index bundle")
                   .Register(*m->registry_)
                   .Add({});
  m->batch_size_ = &prometheus::BuildHistogram()
                        .Name("i2s_batch_size")
                        .Help("Images per batched model forward pass, by model")
                        .Register(*m->registry_);
  m->batch_wait_ = &prometheus::BuildHistogram()
                        .Name("i2s_batch_wait_seconds")
                        .Help(
                            "How long the oldest call of a batch waited for its forward "
                            "pass, by model")
                        .Register(*m->registry_);
  m->bundle_loads_ = &prometheus::BuildCounter()
                          .Name("i2s_bundle_loads_total")
                          .Help("Bundle loads after start-up (SIGHUP, Admin.LoadBundle) by result")
                          .Register(*m->registry_);
  // Both results exist from the start, so increase() sees the first load.
  m->bundle_loads_->Add({{"result", "ok"}});
  m->bundle_loads_->Add({{"result", "rejected"}});
  m->http_requests_ = &prometheus::BuildCounter()
                           .Name("i2s_http_requests_total")
                           .Help("HTTP gateway answers by route and HTTP status")
                           .Register(*m->registry_);
  m->http_connections_ = &prometheus::BuildGauge()
                              .Name("i2s_http_connections")
                              .Help("HTTP connections held by the gateway")
                              .Register(*m->registry_)
                              .Add({});
  m->http_refused_ = &prometheus::BuildCounter()
                          .Name("i2s_http_connections_refused_total")
                          .Help(
                              "HTTP connections refused (total_limit, client_limit) or "
                              "closed at a deadline (header_timeout, body_timeout, "
                              "write_timeout)")
                          .Register(*m->registry_);
  for (const char* reason :
       {"total_limit", "client_limit", "header_timeout", "body_timeout", "write_timeout"}) {
    m->http_refused_->Add({{"reason", reason}});
  }
  m->bundle_info_ = &prometheus::BuildGauge()
                         .Name("i2s_bundle_info")
                         .Help("1 for the version of the serving index bundle")
                         .Register(*m->registry_);
  if (!listen.empty()) {
    try {
      m->exposer_ = std::make_unique<prometheus::Exposer>(listen, 2);
      m->exposer_->RegisterCollectable(m->registry_);
      std::vector<int> ports = m->exposer_->GetListeningPorts();
      m->port_ = ports.empty() ? 0 : ports[0];
    } catch (const std::exception& e) {
      return absl::UnavailableError(
          absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
    }
  }
  return m;
}

Metrics::~Metrics() = default;

void Metrics::CountRequest(const std::string& method, const char* code, double seconds) {
  requests_->Add({{"method", method}, {"code", code}}).Increment();
  latency_->Add({{"method", method}}, LatencyBuckets()).Observe(seconds);
}

void Metrics::ObserveStage(const char* stage, double seconds) {
  stages_->Add({{"stage", stage}}, LatencyBuckets()).Observe(seconds);
}

void Metrics::ObserveBatch(const std::string& model, int images, double wait_seconds) {
  // Half-integer bounds: a bucket holds one batch size, so histogram_quantile
  // answers that size (with bounds 1, 2, ... it interpolated size 1 as 0.5).
  static const auto* kSizes = new prometheus::Histogram::BucketBoundaries{
      0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 12.5, 16.5, 24.5, 32.5};
  batch_size_->Add({{"model", model}}, *kSizes).Observe(images);
  batch_wait_->Add({{"model", model}}, LatencyBuckets()).Observe(wait_seconds);
}

void Metrics::SetQueueDepth(double n) { queue_depth_->Set(n); }
void Metrics::SetSongs(double n) { songs_->Set(n); }

void Metrics::CountBundleLoad(const char* result) {
  bundle_loads_->Add({{"result", result}}).Increment();
}

void Metrics::CountHttp(const char* route, int status) {
  http_requests_->Add({{"route", route}, {"status", std::to_string(status)}}).Increment();
}

void Metrics::SetHttpConnections(double n) { http_connections_->Set(n); }

void Metrics::CountHttpRefused(const char* reason) {
  http_refused_->Add({{"reason", reason}}).Increment();
}

void Metrics::SetBundleVersion(const std::string& version) {
  std::lock_guard<std::mutex> lock(bundle_mu_);
  if (!bundle_version_.empty()) bundle_info_->Add({{"version", bundle_version_}}).Set(0);
  bundle_version_ = version;
  bundle_info_->Add({{"version", version}}).Set(1);
}

}  // namespace image2song
