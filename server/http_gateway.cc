#include "server/http_gateway.h"

#include <civetweb.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <cstring>
#include <future>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/log.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "server/http_api.h"
#include "server/metrics.h"
#include "server/work_queue.h"

namespace image2song {

// server/web/index.html, embedded at build time (server/CMakeLists.txt).
extern const char kWebIndexHtml[];
extern const size_t kWebIndexHtmlSize;

// One HTTP request, copied off the connection so it can be handled on a
// worker thread.
struct HttpRequest {
  std::string method, path, query, content_type, authorization, body;
};

struct HttpReply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::string headers;  // extra header lines, each ending in \r\n
};

namespace {

namespace pb = ::image2song::v1;

constexpr char kJson[] = "application/json";
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

// One write for headers and body: two small writes would meet Nagle's
// algorithm and the client's delayed ACK (a 40 ms stall per response).
void Send(mg_connection* conn, const HttpReply& reply, bool head) {
  std::string out = absl::StrCat(
      "HTTP/1.1 ", reply.status, " ", HttpReason(reply.status),
      "\r\nContent-Type: ", reply.content_type,
      "\r\nContent-Length: ", reply.body.size(),
      "\r\nCache-Control: no-store\r\n", reply.headers, "\r\n");
  if (!head) out += reply.body;
  mg_write(conn, out.data(), out.size());
}

// Reads the request body, at most `limit` bytes, into a heap buffer
// (civetweb's threads have 100 KiB stacks). Returns the HTTP status to
// answer instead (413, 400) or 0.
int ReadBody(mg_connection* conn, int64_t limit, std::string* body,
             std::string* error) {
  const mg_request_info* info = mg_get_request_info(conn);
  if (info->content_length > limit) {
    *error = absl::StrCat("request body of ", info->content_length,
                          " bytes is over the limit of ", limit, " bytes");
    return 413;
  }
  constexpr size_t kChunk = 64 * 1024;
  if (info->content_length > 0) {
    body->reserve(static_cast<size_t>(info->content_length) + kChunk);
  }
  size_t size = 0;
  while (true) {
    body->resize(size + kChunk);
    int n = mg_read(conn, &(*body)[size], kChunk);
    if (n <= 0) {
      body->resize(size);
      if (n == 0) break;
      *error = "the request body could not be read (connection closed?)";
      return 400;
    }
    size += static_cast<size_t>(n);
    if (static_cast<int64_t>(size) > limit) {
      body->clear();
      *error = absl::StrCat("request body is over the limit of ", limit, " bytes");
      return 413;
    }
  }
  if (info->content_length > 0 &&
      static_cast<int64_t>(body->size()) != info->content_length) {
    *error = absl::StrCat("request body ended after ", body->size(), " of ",
                          info->content_length, " bytes");
    return 400;
  }
  return 0;
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
    const HttpGatewayOptions& options, std::shared_ptr<grpc::Channel> channel,
    Metrics* metrics) {
  auto gateway = std::unique_ptr<HttpGateway>(new HttpGateway());
  gateway->options_ = options;
  gateway->metrics_ = metrics;
  gateway->stubs_ = std::make_unique<Stubs>();
  gateway->stubs_->recommender = pb::SongRecommender::NewStub(channel);
  gateway->stubs_->health = grpc::health::v1::Health::NewStub(channel);
  // Handler threads with normal stacks, one per civetweb thread: each
  // civetweb thread waits for its own request, so the queue never holds more
  // than `threads` tasks.
  const int threads_n = std::max(1, options.threads);
  gateway->handlers_ = std::make_unique<WorkQueue>(threads_n, threads_n);

  mg_init_library(0);
  const std::string threads = std::to_string(threads_n);
  const char* mg_options[] = {"listening_ports", options.listen.c_str(),
                              "num_threads", threads.c_str(),
                              "request_timeout_ms", "30000",
                              "enable_keep_alive", "yes",
                              "keep_alive_timeout_ms", "5000",
                              "tcp_nodelay", "1",
                              nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  callbacks.log_message = [](const mg_connection*, const char* message) {
    I2S_LOG(WARNING) << "http: " << message;
    return 1;
  };
  gateway->ctx_ = mg_start(&callbacks, nullptr, mg_options);
  if (gateway->ctx_ == nullptr) {
    mg_exit_library();
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", options.listen));
  }
  mg_set_request_handler(gateway->ctx_, "/", &HttpGateway::Handle, gateway.get());
  mg_server_port ports[4];
  int n = mg_get_server_ports(gateway->ctx_, 4, ports);
  gateway->port_ = n > 0 ? ports[0].port : 0;
  return gateway;
}

HttpGateway::~HttpGateway() { Stop(); }

void HttpGateway::Stop() {
  if (ctx_ == nullptr) return;
  mg_stop(ctx_);
  ctx_ = nullptr;
  mg_exit_library();
  handlers_.reset();
}

int HttpGateway::Handle(mg_connection* conn, void* self) {
  return static_cast<HttpGateway*>(self)->Serve(conn);
}

int HttpGateway::Serve(mg_connection* conn) {
  // Only I/O here: civetweb's threads have 100 KiB stacks, too small for
  // gRPC calls and JSON printing, which run on the gateway's own threads.
  const mg_request_info* info = mg_get_request_info(conn);
  HttpRequest request;
  request.method = info->request_method != nullptr ? info->request_method : "";
  request.path = info->local_uri != nullptr ? info->local_uri : "";
  request.query = info->query_string != nullptr ? info->query_string : "";
  if (const char* v = mg_get_header(conn, "Content-Type"); v != nullptr) {
    request.content_type = v;
  }
  if (const char* v = mg_get_header(conn, "Authorization"); v != nullptr) {
    request.authorization = v;
  }
  const char* route = RouteName(request.path);
  HttpReply reply;
  std::string error;
  if (request.method == "POST" || request.method == "PUT") {
    if (int http = ReadBody(conn, options_.max_body_bytes, &request.body, &error);
        http != 0) {
      reply = ErrorReply(grpc::INVALID_ARGUMENT, error, http);
    }
  }
  if (error.empty()) {
    std::promise<HttpReply> done;
    if (handlers_->TrySubmit([this, &request, &done] { done.set_value(Respond(request)); })) {
      reply = done.get_future().get();
    } else {  // cannot happen while threads match civetweb's; never block
      reply = ErrorReply(grpc::RESOURCE_EXHAUSTED, "HTTP gateway overloaded");
    }
  }
  Send(conn, reply, request.method == "HEAD");
  if (metrics_ != nullptr) metrics_->CountHttp(route, reply.status);
  return reply.status;
}

HttpReply HttpGateway::Respond(const HttpRequest& request) {
  const std::string& path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  auto call_context = [&](grpc::ClientContext* ctx) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(options_.timeout_ms));
    if (!request.authorization.empty()) {
      ctx->AddMetadata("authorization", request.authorization);
    }
  };
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
        status.ok() &&
        response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
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
    pb::GetSongResponse response;
    return answer(stubs_->recommender->GetSong(&ctx, song, &response), response);
  }
  if (path == "/v1/recommend") {
    if (request.method != "POST") {
      return ErrorReply(grpc::UNIMPLEMENTED, "POST an image to /v1/recommend", 405);
    }
    absl::StatusOr<pb::RecommendRequest> recommend =
        ParseHttpRecommend(request.query, request.content_type, request.body);
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
