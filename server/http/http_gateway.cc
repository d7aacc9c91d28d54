#include "server/http/http_gateway.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "server/http/http_api.h"
#include "server/metrics.h"
#include "server/request.h"
#include "server/service.h"
#include "server/work_queue.h"
#include "util/log.h"

namespace image2song {

// server/http/web/index.html, embedded at build time (server/CMakeLists.txt).
extern const char kWebIndexHtml[];
extern const size_t kWebIndexHtmlSize;

namespace {

namespace pb = ::image2song::v1;

constexpr char kService[] = "image2song.v1.SongRecommender";

// Only our own inline script and style; images only from the picked file.
constexpr char kPageHeaders[] =
    "Content-Security-Policy: default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src blob: data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n";

HttpReply JsonReply(std::string body) {
  HttpReply r;
  r.body = std::move(body);
  return r;
}

HttpReply ErrorReply(int grpc_code, const std::string& message, int http_status = 0) {
  HttpReply r;
  r.status = http_status != 0 ? http_status : HttpStatusForGrpcCode(grpc_code);
  r.body = ErrorJson(grpc_code, message);
  if (r.status == 429 || r.status == 503) r.headers = "Retry-After: 1\r\n";
  if (r.status == 405) r.headers = "Allow: GET, POST\r\n";
  return r;
}

const char* RouteName(absl::string_view path) {
  if (path == "/v1/recommend") return "recommend";
  if (path == "/v1/info") return "info";
  if (absl::StartsWith(path, "/v1/songs/")) return "song";
  if (path == "/healthz") return "healthz";
  if (path == "/" || path == "/index.html") return "page";
  return "other";
}

}  // namespace

struct HttpGateway::Stubs {
  std::unique_ptr<pb::SongRecommender::Stub> recommender;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
};

absl::StatusOr<std::unique_ptr<HttpGateway>> HttpGateway::Start(
    const HttpGatewayOptions& options, std::shared_ptr<grpc::Channel> channel, Metrics* metrics) {
  auto gateway = std::unique_ptr<HttpGateway>(new HttpGateway());
  gateway->options_ = options;
  gateway->metrics_ = metrics;
  gateway->stubs_ = std::make_unique<Stubs>();
  gateway->stubs_->recommender = pb::SongRecommender::NewStub(channel);
  gateway->stubs_->health = grpc::health::v1::Health::NewStub(channel);
  const int threads = std::max(1, options.threads);
  gateway->recommend_ = std::make_unique<WorkQueue>(threads, 4 * threads);
  gateway->light_ = std::make_unique<WorkQueue>(2, 64);

  HttpServerOptions so = options.server;
  so.listen = options.listen;
  if (metrics != nullptr) {
    so.on_reply = [metrics](absl::string_view path, int status) {
      metrics->CountHttp(RouteName(path), status);
    };
    so.on_refused = [metrics](const char* reason) { metrics->CountHttpRefused(reason); };
    so.on_connections = [metrics](int open) { metrics->SetHttpConnections(open); };
  }
  HttpGateway* self = gateway.get();
  auto server = HttpServer::Start(
      so, [self](uint64_t id, HttpRequest request) { self->Handle(id, std::move(request)); });
  if (!server.ok()) return server.status();
  gateway->server_ = std::move(*server);
  gateway->port_ = gateway->server_->port();
  return gateway;
}

HttpGateway::~HttpGateway() { Stop(); }

bool HttpGateway::Drain(std::chrono::steady_clock::time_point deadline) {
  return server_ == nullptr || server_->Drain(deadline);
}

void HttpGateway::Stop() {
  if (server_ == nullptr) return;
  server_->Stop();
  // Handlers still running finish their calls; their replies are dropped.
  recommend_.reset();
  light_.reset();
  server_.reset();
}

void HttpGateway::Handle(uint64_t id, HttpRequest request) {
  const bool recommend = request.head.path == "/v1/recommend" && request.head.method == "POST";
  auto shared = std::make_shared<HttpRequest>(std::move(request));
  auto task = [this, id, shared] { server_->Reply(id, Respond(*shared)); };
  WorkQueue* queue = recommend ? recommend_.get() : light_.get();
  if (!queue->TrySubmit(std::move(task))) {
    server_->Reply(id, ErrorReply(grpc::RESOURCE_EXHAUSTED,
                                  "the HTTP gateway has too many requests waiting; "
                                  "try again later"));
  }
}

HttpReply HttpGateway::Respond(const HttpRequest& request) {
  const std::string& path = request.head.path;
  const std::string& method = request.head.method;
  const bool get = method == "GET" || method == "HEAD";
  // The call's deadline counts from when the request was received, so time
  // spent waiting for a handler thread is part of it.
  const auto waited = std::chrono::steady_clock::now() - request.received;
  const auto left = std::chrono::milliseconds(options_.timeout_ms) - waited;
  const absl::string_view authorization = request.head.Header("authorization");
  auto call_context = [&](grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
    if (!authorization.empty()) {
      ctx->AddMetadata("authorization", std::string(authorization));
    }
    // Requests the gateway has received are answered while the server
    // drains (SongRecommenderService::StopAcceptingCalls).
    ctx->AddMetadata(kGatewayCallHeader, "1");
  };
  if (left <= std::chrono::milliseconds(0) && path != "/healthz") {
    return ErrorReply(
        grpc::DEADLINE_EXCEEDED,
        absl::StrCat("the request waited ",
                     std::chrono::duration_cast<std::chrono::milliseconds>(waited).count(),
                     " ms for an HTTP handler thread, past its deadline"));
  }
  auto answer = [](const grpc::Status& status, const google::protobuf::Message& m) {
    return status.ok() ? JsonReply(ToJson(m))
                       : ErrorReply(status.error_code(), status.error_message());
  };

  if (path == "/" || path == "/index.html") {
    if (!get) return ErrorReply(grpc::UNIMPLEMENTED, "use GET", 405);
    HttpReply page;
    page.content_type = "text/html; charset=utf-8";
    page.body.assign(kWebIndexHtml, kWebIndexHtmlSize);
    page.headers = kPageHeaders;
    return page;
  }
  if (path == "/healthz") {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::health::v1::HealthCheckRequest check;
    check.set_service(kService);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = stubs_->health->Check(&ctx, check, &response);
    const bool serving =
        status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    HttpReply r = JsonReply(serving ? R"({"status":"SERVING"})" : R"({"status":"NOT_SERVING"})");
    r.status = serving ? 200 : 503;
    return r;
  }
  if (path == "/v1/info") {
    if (!get) return ErrorReply(grpc::UNIMPLEMENTED, "use GET", 405);
    grpc::ClientContext ctx;
    call_context(&ctx);
    pb::GetInfoResponse response;
    return answer(stubs_->recommender->GetInfo(&ctx, {}, &response), response);
  }
  if (absl::StartsWith(path, "/v1/songs/")) {
    if (!get) return ErrorReply(grpc::UNIMPLEMENTED, "use GET", 405);
    grpc::ClientContext ctx;
    call_context(&ctx);
    pb::GetSongRequest song;
    song.set_song_id(std::string(absl::StripPrefix(path, "/v1/songs/")));
    // The path is percent-decoded bytes: check UTF-8 before serializing.
    if (absl::Status utf8 = CheckStringsAreUtf8(song); !utf8.ok()) {
      return ErrorReply(grpc::INVALID_ARGUMENT, std::string(utf8.message()));
    }
    pb::GetSongResponse response;
    return answer(stubs_->recommender->GetSong(&ctx, song, &response), response);
  }
  if (path == "/v1/recommend") {
    if (method != "POST") {
      return ErrorReply(grpc::UNIMPLEMENTED, "POST an image to /v1/recommend", 405);
    }
    absl::StatusOr<pb::RecommendRequest> recommend =
        ParseHttpRecommend(request.head.query, request.head.Header("content-type"), request.body);
    if (!recommend.ok()) {
      const int code = static_cast<int>(recommend.status().code());
      return ErrorReply(code, std::string(recommend.status().message()),
                        code == grpc::UNIMPLEMENTED ? 415 : 0);
    }
    grpc::ClientContext ctx;
    call_context(&ctx);
    pb::RecommendResponse response;
    return answer(stubs_->recommender->Recommend(&ctx, *recommend, &response), response);
  }
  return ErrorReply(grpc::NOT_FOUND,
                    absl::StrCat("no such path: ", absl::string_view(path).substr(0, 200),
                                 " (POST /v1/recommend, GET /v1/info, "
                                 "GET /v1/songs/{id}, GET /healthz, GET /)"));
}

}  // namespace image2song
