// i2s-server: the image2song gRPC server.
#include <omp.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/bundle.h"
#include "core/cli.h"
#include "core/file_util.h"
#include "core/image_model.h"
#include "core/log.h"
#include "core/model_set.h"
#include "core/recommender.h"
#include "server/admin.h"
#include "server/metrics.h"
#include "server/auth.h"
#include "server/http_gateway.h"
#include "server/malloc_trim.h"
#include "server/request_check.h"
#include "server/service.h"

#ifndef I2S_VERSION
#define I2S_VERSION "dev"
#endif

ABSL_FLAG(std::string, listen, "0.0.0.0:50051",
          "gRPC listen address host:port (port 0 picks a free port).");
ABSL_FLAG(std::string, bundle, "",
          "Index bundle directory (from i2s-index). Default: "
          "$I2S_CACHE/bundles/demo, I2S_CACHE defaulting to "
          "~/.cache/image2song.");
ABSL_FLAG(std::string, models, "",
          "Model manifest models.json. Default: "
          "$I2S_CACHE/models/default/models.json.");
ABSL_FLAG(int, workers, 2, "Worker threads running Recommend.");
ABSL_FLAG(int, queue_size, 64,
          "Recommend requests that may wait for a worker; beyond that the "
          "server answers RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, torch_threads, 1, "LibTorch intra-op threads per worker.");
ABSL_FLAG(int64_t, max_image_bytes, int64_t{16} << 20,
          "Largest encoded image accepted (bytes); larger -> "
          "INVALID_ARGUMENT.");
ABSL_FLAG(int64_t, max_image_pixels, 100'000'000,
          "Largest image accepted (width*height, checked on the header "
          "before decoding).");
ABSL_FLAG(int, max_images, 16,
          "Images per Recommend request (image + images).");
ABSL_FLAG(int64_t, max_request_image_bytes, int64_t{48} << 20,
          "Encoded bytes of all images of one Recommend request.");
ABSL_FLAG(int, max_text_bytes, 1024, "Longest Recommend text hint (bytes).");
ABSL_FLAG(double, text_weight, 0.7,
          "Weight of the text hint's words in the query (image tags: their "
          "tagger's weight).");
ABSL_FLAG(int64_t, max_receive_bytes, int64_t{64} << 20,
          "Largest gRPC message accepted; gRPC itself refuses larger ones "
          "with RESOURCE_EXHAUSTED.");
ABSL_FLAG(std::string, metrics_listen, "0.0.0.0:9464",
          "Prometheus metrics HTTP address host:port (GET /metrics); empty "
          "disables.");
ABSL_FLAG(std::string, http_listen, "0.0.0.0:8080",
          "HTTP/JSON gateway and web page address host:port (POST "
          "/v1/recommend, GET /v1/info, GET /v1/songs/{id}, GET /healthz, GET "
          "/); plaintext (terminate TLS in front of it); empty disables.");
ABSL_FLAG(int, http_threads, 16,
          "HTTP gateway handler threads: POST /v1/recommend requests answered "
          "at once (each waits on its gRPC call); 4x as many more may wait, "
          "beyond that 429. Connections are bounded by --http_max_connections, "
          "not by this.");
ABSL_FLAG(int, http_max_connections, 1024,
          "HTTP connections held at once; beyond that a new connection is "
          "answered 503 (Retry-After: 1, Connection: close) and closed.");
ABSL_FLAG(int, http_max_connections_per_client, 64,
          "HTTP connections held at once per client IP address; beyond that "
          "a new one is answered 429 and closed. 0: no bound (use 0 or a "
          "large value behind a proxy, whose address all clients share).");
ABSL_FLAG(int, http_header_timeout_ms, 10000,
          "An HTTP request head (request line and headers) must arrive within "
          "this of the connection (of its first byte on a kept-alive "
          "connection); otherwise 408 and the connection is closed.");
ABSL_FLAG(int, http_body_timeout_ms, 60000,
          "An HTTP request body must arrive within this of its head, and a "
          "reply be read by the client within this; otherwise 408 (body) and "
          "the connection is closed.");
ABSL_FLAG(int, http_idle_timeout_ms, 5000,
          "A kept-alive HTTP connection without a request is closed after "
          "this.");
ABSL_FLAG(int, http_timeout_ms, 30000,
          "Deadline of the gRPC call behind one HTTP request, counted from "
          "when the request was received (a wait for a handler thread "
          "included).");
ABSL_FLAG(std::string, port_file, "",
          "If set, write {\"grpc_port\":N,\"metrics_port\":M,\"http_port\":H} "
          "here once serving (for port 0).");
ABSL_FLAG(int, candidates, 200, "First-stage FAISS candidates reranked.");
ABSL_FLAG(int, ef_search, 300, "HNSW search beam width (raised to the candidates).");
ABSL_FLAG(int, ivf_nprobe, 64, "IVF lists visited per query (ivf, ivfpq bundles).");
ABSL_FLAG(int, refine_factor, 4,
          "IVF-PQ: candidates re-scored from the 8-bit copy per requested song.");
ABSL_FLAG(double, exact_filter_share, 0.05,
          "A filter keeping at most this share of the songs is searched by an "
          "exact scan of the allowed songs (graph and IVF bundles).");
ABSL_FLAG(double, retrieval_weight, 0.5,
          "Weight of the first-stage cosine in the final score (rest: tag "
          "attention).");
ABSL_FLAG(bool, optimize_models, true,
          "Use TorchScript freeze/optimize_for_inference where the outputs "
          "match the plain model.");
ABSL_FLAG(bool, batching, false,
          "Dynamic batching: concurrent requests share a model forward pass "
          "(models that fail the load-time batch check run unbatched).");
ABSL_FLAG(int, max_batch, 8,
          "Batching: most images per forward pass (a model's manifest entry "
          "may lower it).");
ABSL_FLAG(int, batch_delay_us, 2000,
          "Batching: how long a forward pass waits for more images.");
ABSL_FLAG(int, batch_queue, 64,
          "Batching: images that may wait for a model; beyond that Recommend "
          "answers RESOURCE_EXHAUSTED.");
ABSL_FLAG(bool, parallel_taggers, true,
          "Run an image's model taggers concurrently (one thread each): "
          "lower latency and, on 2 cores, more throughput at the p99 budget.");
ABSL_FLAG(bool, verify_checksums, true,
          "Check the bundle files' sha256 against its manifest at load.");
ABSL_FLAG(std::string, admin_token_file, "",
          "Enables the image2song.v1.Admin service (hot bundle swap): a file "
          "holding its bearer token (or set I2S_ADMIN_TOKEN). Off when "
          "neither is set. The token is never logged.");
ABSL_FLAG(std::string, auth_token_file, "",
          "When set (or I2S_AUTH_TOKEN), every SongRecommender call needs "
          "'authorization: Bearer <token>' (UNAUTHENTICATED otherwise); "
          "health and reflection stay open. The token is never logged.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM server certificate (chain): with --tls_key_file the gRPC port "
          "serves TLS only.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle: clients must present a certificate it signed "
          "(mutual TLS).");
ABSL_FLAG(std::string, bundle_root, "",
          "Admin.LoadBundle paths are relative to this directory and may not "
          "leave it. Default: the parent directory of --bundle.");
ABSL_FLAG(int, shutdown_grace_ms, 10000,
          "On SIGTERM/SIGINT, how long in-flight requests may take to finish.");
ABSL_FLAG(int, malloc_trim_interval_ms, 2000,
          "At most this often, free heap memory is returned to the system "
          "(malloc_trim) after a large request (0 = never).");
ABSL_FLAG(int64_t, malloc_trim_min_request_bytes, int64_t{4} << 20,
          "A request at least this large arms the trim.");

namespace image2song {
namespace {

int Fail(absl::string_view what, const absl::Status& status) {
  I2S_LOG(ERROR) << what << ": " << status.message();
  std::cerr << "i2s-server: " << what << ": " << status.message() << "\n";
  return 1;
}

int Run() {
  // SIGTERM/SIGINT are taken by sigwait() below; block them before any
  // thread starts so no other thread receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);  // reload the bundle
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  RouteProtobufLogs();
  MallocTrimmer malloc_trimmer(absl::GetFlag(FLAGS_malloc_trim_interval_ms),
                               absl::GetFlag(FLAGS_malloc_trim_min_request_bytes));

  const int torch_threads = std::max(1, absl::GetFlag(FLAGS_torch_threads));
  SetTorchThreads(torch_threads, 1);
  omp_set_num_threads(torch_threads);

  auto metrics = Metrics::Create(absl::GetFlag(FLAGS_metrics_listen));
  if (!metrics.ok()) return Fail("metrics endpoint", metrics.status());

  ModelSetOptions mo;
  mo.manifest_path = absl::GetFlag(FLAGS_models).empty()
                         ? DefaultModelsPath()
                         : absl::GetFlag(FLAGS_models);
  mo.optimize = absl::GetFlag(FLAGS_optimize_models);
  mo.batching = absl::GetFlag(FLAGS_batching);
  mo.batching_options.max_batch = absl::GetFlag(FLAGS_max_batch);
  mo.batching_options.max_delay_us = absl::GetFlag(FLAGS_batch_delay_us);
  mo.batching_options.max_queue = absl::GetFlag(FLAGS_batch_queue);
  mo.on_batch = [m = metrics->get()](const std::string& model, int images,
                                     int /*calls*/, double wait_s) {
    m->ObserveBatch(model, images, wait_s);
  };
  mo.parallel_taggers = absl::GetFlag(FLAGS_parallel_taggers);
  mo.on_thread_start = [torch_threads] {
    SetTorchThreads(torch_threads, 0);
    omp_set_num_threads(torch_threads);
  };
  auto start = std::chrono::steady_clock::now();
  auto models = ModelSet::Load(mo);
  if (!models.ok()) return Fail("cannot load models", models.status());
  I2S_LOG(INFO) << "models ready (" << (*models)->version() << ") in "
                << std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - start).count()
                << " ms";

  const std::string bundle_dir = absl::GetFlag(FLAGS_bundle).empty()
                                     ? DefaultBundleDir()
                                     : absl::GetFlag(FLAGS_bundle);
  BundleLoadOptions bo;
  bo.verify_checksums = absl::GetFlag(FLAGS_verify_checksums);
  bo.index.ef_search = absl::GetFlag(FLAGS_ef_search);
  bo.index.ivf_nprobe = absl::GetFlag(FLAGS_ivf_nprobe);
  bo.index.refine_factor = absl::GetFlag(FLAGS_refine_factor);
  bo.index.exact_filter_share = absl::GetFlag(FLAGS_exact_filter_share);
  start = std::chrono::steady_clock::now();
  auto bundle = Bundle::Load(bundle_dir, bo);
  if (!bundle.ok()) return Fail("cannot load bundle " + bundle_dir, bundle.status());
  absl::Status compatible = CheckCompatible(**models, **bundle);
  if (!compatible.ok()) return Fail("bundle does not fit the models", compatible);
  const BundleManifest& bm = (*bundle)->manifest();
  I2S_LOG(INFO) << "loaded bundle " << bm.version << " from " << bundle_dir
                << ": " << bm.song_count << " songs, "
                << (*bundle)->index().Describe() << " index, " << bm.dim << "-d, embedder " << bm.embedder_id
                << ", in "
                << std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - start).count()
                << " ms";

  auto snapshot = std::make_shared<Snapshot>();
  snapshot->models = std::move(*models);
  snapshot->bundle = std::move(*bundle);

  ServiceOptions so;
  so.workers = std::max(1, absl::GetFlag(FLAGS_workers));
  so.queue_size = std::max(1, absl::GetFlag(FLAGS_queue_size));
  so.decode.max_bytes = absl::GetFlag(FLAGS_max_image_bytes);
  so.decode.max_pixels = absl::GetFlag(FLAGS_max_image_pixels);
  so.candidates = absl::GetFlag(FLAGS_candidates);
  so.retrieval_weight = static_cast<float>(absl::GetFlag(FLAGS_retrieval_weight));
  so.server_version = I2S_VERSION;
  so.max_images = std::max(1, absl::GetFlag(FLAGS_max_images));
  so.max_request_image_bytes = absl::GetFlag(FLAGS_max_request_image_bytes);
  so.max_text_bytes = absl::GetFlag(FLAGS_max_text_bytes);
  so.text_weight = static_cast<float>(absl::GetFlag(FLAGS_text_weight));
  auto auth_token = ReadSecret(absl::GetFlag(FLAGS_auth_token_file), "I2S_AUTH_TOKEN");
  if (!auth_token.ok()) return Fail("cannot read --auth_token_file", auth_token.status());
  so.auth_token = *auth_token;
  TlsOptions tls;
  tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  auto credentials = MakeServerCredentials(tls);
  if (!credentials.ok()) return Fail("TLS set-up", credentials.status());
  SongRecommenderService service(so, metrics->get(), mo.on_thread_start);
  service.SetSnapshot(snapshot);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  const std::string listen = absl::GetFlag(FLAGS_listen);
  builder.AddListeningPort(listen, *credentials, &port);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<int64_t>(absl::GetFlag(FLAGS_max_receive_bytes),
                                         INT32_MAX)));
  builder.RegisterService(&service);

  // Hot swap: SIGHUP reloads --bundle; the Admin service (with a token)
  // loads any bundle under --bundle_root.
  BundleReloader reloader(&service, metrics->get(), bo);
  std::unique_ptr<AdminService> admin;
  {
    auto admin_token = ReadSecret(absl::GetFlag(FLAGS_admin_token_file), "I2S_ADMIN_TOKEN");
    if (!admin_token.ok()) return Fail("cannot read --admin_token_file", admin_token.status());
    const std::string& token = *admin_token;
    if (!token.empty()) {
      AdminOptions ao;
      ao.token = token;
      ao.default_bundle = bundle_dir;
      ao.bundle_root = absl::GetFlag(FLAGS_bundle_root);
      if (ao.bundle_root.empty()) ao.bundle_root = ParentDir(bundle_dir);
      I2S_LOG(INFO) << "Admin service on: LoadBundle paths under " << ao.bundle_root;
      admin = std::make_unique<AdminService>(ao, &reloader, metrics->get());
      builder.RegisterService(admin.get());
    }
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Fail("cannot listen", absl::UnavailableError(
                                     absl::StrCat("cannot bind ", listen)));
  }
  // The HTTP gateway calls the service through the in-process channel.
  std::unique_ptr<HttpGateway> http;
  if (const std::string http_listen = absl::GetFlag(FLAGS_http_listen);
      !http_listen.empty()) {
    HttpGatewayOptions ho;
    ho.listen = http_listen;
    ho.threads = absl::GetFlag(FLAGS_http_threads);
    ho.timeout_ms = absl::GetFlag(FLAGS_http_timeout_ms);
    ho.server.max_body_bytes = absl::GetFlag(FLAGS_max_receive_bytes);
    ho.server.max_connections = std::max(1, absl::GetFlag(FLAGS_http_max_connections));
    ho.server.max_connections_per_client =
        std::max(0, absl::GetFlag(FLAGS_http_max_connections_per_client));
    ho.server.header_timeout_ms = std::max(1, absl::GetFlag(FLAGS_http_header_timeout_ms));
    ho.server.body_timeout_ms = std::max(1, absl::GetFlag(FLAGS_http_body_timeout_ms));
    ho.server.idle_timeout_ms = std::max(1, absl::GetFlag(FLAGS_http_idle_timeout_ms));
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(-1);
    args.SetMaxReceiveMessageSize(-1);
    auto gateway = HttpGateway::Start(ho, server->InProcessChannel(args), metrics->get());
    if (!gateway.ok()) return Fail("cannot start the HTTP gateway", gateway.status());
    http = std::move(*gateway);
    I2S_LOG(INFO) << "HTTP gateway and web page on " << http_listen << " (port "
                  << http->port() << ", plaintext"
                  << (tls.cert_file.empty() ? "" : ": terminate TLS in front of it")
                  << ")";
  }
  const std::string kService = "image2song.v1.SongRecommender";
  server->GetHealthCheckService()->SetServingStatus(true);
  server->GetHealthCheckService()->SetServingStatus(kService, true);
  I2S_LOG(INFO) << "serving " << kService << " on " << listen
                << " (port " << port << ", "
                << (tls.cert_file.empty() ? "plaintext"
                                          : tls.client_ca_file.empty() ? "TLS"
                                                                       : "mutual TLS")
                << (so.auth_token.empty() ? "" : ", bearer token required")
                << "), metrics on port "
                << (*metrics)->port() << ", " << so.workers << " workers, "
                << torch_threads << " torch thread(s) each"
                << (mo.batching ? ", dynamic batching" : "")
                << (mo.parallel_taggers ? ", parallel taggers" : "");
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    std::string tmp = port_file + ".tmp";
    absl::Status s = WriteFile(
        tmp, absl::StrCat("{\"grpc_port\": ", port, ", \"metrics_port\": ",
                          (*metrics)->port(), ", \"http_port\": ",
                          http != nullptr ? http->port() : 0, "}\n"));
    if (s.ok() && std::rename(tmp.c_str(), port_file.c_str()) != 0) {
      s = absl::InternalError("rename failed");
    }
    if (!s.ok()) return Fail("cannot write --port_file", s);
  }

  // Signals: SIGHUP reloads on a helper thread (one at a time; a second
  // SIGHUP during a reload queues behind it); SIGTERM/SIGINT stop.
  int sig = 0;
  std::vector<std::thread> reloads;
  while (true) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    I2S_LOG(INFO) << "received SIGHUP: reloading bundle " << bundle_dir;
    reloads.emplace_back([&reloader, bundle_dir] { (void)reloader.Reload(bundle_dir); });
  }
  for (std::thread& t : reloads) t.join();
  I2S_LOG(INFO) << "received " << (sig == SIGTERM ? "SIGTERM" : "SIGINT")
                << ": not serving any more, finishing in-flight requests";
  server->GetHealthCheckService()->SetServingStatus(false);
  server->GetHealthCheckService()->SetServingStatus(kService, false);
  const auto grace = std::chrono::milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms));
  const auto grace_end = std::chrono::steady_clock::now() + grace;
  // HTTP first: its requests are gRPC calls over the in-process channel,
  // which takes no new call once Shutdown begins. The HTTP port closes, the
  // requests already received are answered, then gRPC stops taking calls.
  if (http != nullptr && !http->Drain(grace_end)) {
    I2S_LOG(WARNING) << "HTTP requests still unanswered after --shutdown_grace_ms";
  }
  server->Shutdown(std::chrono::system_clock::now() +
                   std::max(grace_end - std::chrono::steady_clock::now(),
                            std::chrono::steady_clock::duration::zero()));
  service.Drain();
  if (http != nullptr) http->Stop();
  server->Wait();
  I2S_LOG(INFO) << "stopped";
  return 0;
}

}  // namespace
}  // namespace image2song

int main(int argc, char** argv) {
  image2song::ParseCommandLineOrHelp(
      argc, argv,
      {"i2s-server",
       "serves image2song.v1.SongRecommender (plus grpc.health.v1 and server "
       "reflection) over gRPC.\n\nusage: i2s-server [flags]",
       "server/i2s_server", I2S_VERSION});
  return image2song::Run();
}
