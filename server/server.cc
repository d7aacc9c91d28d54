#include "server/server.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "core/models/image_model.h"
#include "core/snapshot.h"
#include "server/admin.h"
#include "server/malloc_trim.h"
#include "server/metrics.h"
#include "util/file_util.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

constexpr char kService[] = "image2song.v1.SongRecommender";

}  // namespace

ServerOptions::ServerOptions() {
  models.parallel_taggers = true;
  http.listen = "0.0.0.0:8080";
}

Server::Server(ServerOptions options) : options_(std::move(options)) {}

Server::~Server() { Shutdown(std::chrono::milliseconds(0)); }

int Server::metrics_port() const { return metrics_->port(); }
int Server::http_port() const { return http_ != nullptr ? http_->port() : 0; }

namespace {

// Waits up to `wait_ms` for `dir`/manifest.json (logged once); the load
// that follows reports a bundle still missing.
void WaitForBundle(const std::string& dir, int wait_ms) {
  const std::string manifest = JoinPath(dir, "manifest.json");
  if (wait_ms <= 0 || PathExists(manifest)) return;
  I2S_LOG(INFO) << "waiting up to " << wait_ms / 1000.0 << " s for bundle " << dir
                << " (no manifest.json yet)";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  while (!PathExists(manifest) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (PathExists(manifest)) I2S_LOG(INFO) << "bundle " << dir << " is there";
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::BuildAndStart(ServerOptions options) {
  if (options.models_path.empty()) options.models_path = DefaultModelsPath();
  if (options.bundle_dir.empty()) options.bundle_dir = DefaultBundleDir();
  if (options.bundle_root.empty()) options.bundle_root = ParentDir(options.bundle_dir);
  options.torch_threads = std::max(1, options.torch_threads);
  options.service.workers = std::max(1, options.service.workers);
  options.service.queue_size = std::max(1, options.service.queue_size);
  options.service.max_images = std::max(1, options.service.max_images);
  options.http.server.max_body_bytes = options.max_receive_bytes;
  std::unique_ptr<Server> s(new Server(std::move(options)));
  ServerOptions& o = s->options_;

  s->malloc_trimmer_ =
      std::make_unique<MallocTrimmer>(o.malloc_trim_interval_ms, o.malloc_trim_min_request_bytes);
  const int torch_threads = o.torch_threads;
  SetTorchThreads(torch_threads, 1);
  omp_set_num_threads(torch_threads);

  auto metrics = Metrics::Create(o.metrics_listen);
  if (!metrics.ok()) return WithContext("metrics endpoint", metrics.status());
  s->metrics_ = std::move(*metrics);
  Metrics* m = s->metrics_.get();

  SnapshotOptions so;
  so.models = o.models;
  so.models.manifest_path = o.models_path;
  so.models.on_batch = [m](const std::string& model, int images, int /*calls*/, double wait_s) {
    m->ObserveBatch(model, images, wait_s);
  };
  so.models.on_thread_start = [torch_threads] {
    SetTorchThreads(torch_threads, 0);
    omp_set_num_threads(torch_threads);
  };
  so.models.tagger_threads = o.service.workers;  // one per request running at once
  // The sentence encoder only serves sentence attention.
  so.models.sentence_encoder = o.service.ranking.sentence_weight > 0;
  so.bundle_dir = o.bundle_dir;
  so.bundle = o.bundle;
  WaitForBundle(o.bundle_dir, o.bundle_wait_ms);
  ASSIGN_OR_RETURN(std::shared_ptr<const Snapshot> snapshot, LoadSnapshot(so));

  auto credentials = MakeServerCredentials(o.tls);
  if (!credentials.ok()) return WithContext("TLS set-up", credentials.status());
  s->service_ = std::make_unique<SongRecommenderService>(o.service, m, so.models.on_thread_start);
  s->service_->SetSnapshot(std::move(snapshot));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(o.listen, *credentials, &s->grpc_port_);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<int64_t>(o.max_receive_bytes, INT32_MAX)));
  builder.RegisterService(s->service_.get());

  // Hot swap: Reload() (SIGHUP) reloads bundle_dir; the Admin service (with
  // a token) loads any bundle under bundle_root.
  s->reloader_ = std::make_unique<BundleReloader>(s->service_.get(), m, o.bundle);
  if (!o.admin_token.empty()) {
    AdminOptions ao;
    ao.token = o.admin_token;
    ao.default_bundle = o.bundle_dir;
    ao.bundle_root = o.bundle_root;
    I2S_LOG(INFO) << "Admin service on: LoadBundle paths under " << ao.bundle_root;
    s->admin_ = std::make_unique<AdminService>(ao, s->reloader_.get(), m);
    builder.RegisterService(s->admin_.get());
  }
  s->grpc_ = builder.BuildAndStart();
  if (s->grpc_ == nullptr || s->grpc_port_ == 0) {
    s->grpc_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen: cannot bind ", o.listen));
  }
  // The HTTP gateway calls the service through the in-process channel.
  if (!o.http.listen.empty()) {
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(-1);
    args.SetMaxReceiveMessageSize(-1);
    auto gateway = HttpGateway::Start(o.http, s->grpc_->InProcessChannel(args), m);
    if (!gateway.ok()) return WithContext("cannot start the HTTP gateway", gateway.status());
    s->http_ = std::move(*gateway);
    I2S_LOG(INFO) << "HTTP gateway and web page on " << o.http.listen << " (port "
                  << s->http_->port() << ", plaintext"
                  << (o.tls.cert_file.empty() ? "" : ": terminate TLS in front of it") << ")";
  }
  s->grpc_->GetHealthCheckService()->SetServingStatus(true);
  s->grpc_->GetHealthCheckService()->SetServingStatus(kService, true);
  I2S_LOG(INFO) << "serving " << kService << " on " << o.listen << " (port " << s->grpc_port_
                << ", "
                << (o.tls.cert_file.empty()        ? "plaintext"
                    : o.tls.client_ca_file.empty() ? "TLS"
                                                   : "mutual TLS")
                << (o.service.auth_token.empty() ? "" : ", bearer token required")
                << "), metrics on port " << m->port() << ", " << o.service.workers << " workers, "
                << torch_threads << " torch thread(s) each"
                << (o.models.batching ? ", dynamic batching" : "")
                << (o.models.parallel_taggers ? ", parallel taggers" : "");
  return s;
}

absl::Status Server::Reload() {
  I2S_LOG(INFO) << "reloading bundle " << options_.bundle_dir;
  return reloader_->Reload(options_.bundle_dir).status();
}

void Server::Shutdown(std::chrono::milliseconds grace) {
  if (shut_down_ || grpc_ == nullptr) return;
  shut_down_ = true;
  grpc_->GetHealthCheckService()->SetServingStatus(false);
  grpc_->GetHealthCheckService()->SetServingStatus(kService, false);
  // New gRPC calls are refused from here (the gateway's are still answered
  // while it drains); the ones accepted finish within the grace period.
  service_->StopAcceptingCalls();
  I2S_LOG(INFO) << "not serving any more: new calls get UNAVAILABLE, finishing in-flight requests";
  const auto grace_end = std::chrono::steady_clock::now() + grace;
  // HTTP first: its requests are gRPC calls over the in-process channel,
  // which takes no new call once Shutdown begins. The HTTP port closes, the
  // requests already received are answered, then gRPC stops taking calls.
  if (http_ != nullptr && !http_->Drain(grace_end)) {
    I2S_LOG(WARNING) << "HTTP requests still unanswered after the shutdown grace period";
  }
  grpc_->Shutdown(std::chrono::system_clock::now() +
                  std::max(grace_end - std::chrono::steady_clock::now(),
                           std::chrono::steady_clock::duration::zero()));
  service_->Drain();
  if (http_ != nullptr) http_->Stop();
  grpc_->Wait();
}

}  // namespace image2song
