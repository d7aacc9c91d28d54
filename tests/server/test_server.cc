// Tests for server/server.h: ServerOptions' defaults and Server run in the
// test process (the library use of the server, without the binary's flags).
#include "server/server.h"

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/recommender.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

namespace pb = ::image2song::v1;
using testing::RequiredEnv;

ServerOptions TinyServer() {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.metrics_listen = "127.0.0.1:0";
  o.http.listen = "127.0.0.1:0";
  o.models_path = RequiredEnv("I2S_TEST_ASSETS") + "/models.json";
  o.bundle_dir = RequiredEnv("I2S_TEST_BUNDLE");
  return o;
}

TEST_CASE("ServerOptions holds the documented defaults, shared with the core options") {
  const ServerOptions o;
  CHECK(o.listen == "0.0.0.0:50051");
  CHECK(o.metrics_listen == "0.0.0.0:9464");
  CHECK(o.http.listen == "0.0.0.0:8080");
  CHECK(o.models.parallel_taggers);
  CHECK(o.models.optimize);
  CHECK_FALSE(o.models.batching);
  CHECK(o.service.workers == 2);
  CHECK(o.service.ranking.candidates == 200);
  CHECK(o.service.ranking.retrieval_weight == 0.5f);
  CHECK(o.service.ranking.text_weight == 0.7f);
  CHECK(o.bundle.index.ef_search == SongIndexOptions().ef_search);
  CHECK(o.shutdown_grace_ms == 10000);
}

TEST_CASE("Server::BuildAndStart serves in-process, reloads and shuts down") {
  auto server = Server::BuildAndStart(TinyServer());
  INFO(server.status().ToString());
  REQUIRE(server.ok());
  CHECK((*server)->grpc_port() > 0);
  CHECK((*server)->metrics_port() > 0);
  CHECK((*server)->http_port() > 0);
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = pb::SongRecommender::NewStub(channel);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    pb::RecommendRequest req;
    req.set_image(testing::ReadWholeFile(RequiredEnv("I2S_TEST_ASSETS") + "/images/blue.png"));
    req.set_top_k(3);
    pb::RecommendResponse resp;
    grpc::Status s = stub->Recommend(&ctx, req, &resp);
    INFO(s.error_message());
    REQUIRE(s.ok());
    CHECK(resp.matches_size() == 3);
  }
  CHECK((*server)->Reload().ok());
  {
    grpc::ClientContext ctx;
    pb::GetInfoRequest req;
    pb::GetInfoResponse resp;
    REQUIRE(stub->GetInfo(&ctx, req, &resp).ok());
    CHECK(resp.song_count() > 0);
    CHECK(resp.limits().max_top_k() == SongRecommenderService::kMaxTopK);
  }
  (*server)->Shutdown(std::chrono::milliseconds(2000));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  pb::GetInfoRequest req;
  pb::GetInfoResponse resp;
  CHECK_FALSE(stub->GetInfo(&ctx, req, &resp).ok());
}

TEST_CASE("Server::BuildAndStart says which step failed") {
  SECTION("models") {
    ServerOptions o = TinyServer();
    o.models_path = "/nonexistent/models.json";
    auto server = Server::BuildAndStart(o);
    REQUIRE_FALSE(server.ok());
    CHECK(absl::StartsWith(server.status().message(), "cannot load models: "));
  }
  SECTION("bundle") {
    ServerOptions o = TinyServer();
    o.bundle_dir = "/nonexistent/bundle";
    auto server = Server::BuildAndStart(o);
    REQUIRE_FALSE(server.ok());
    CHECK(absl::StartsWith(server.status().message(), "cannot load bundle /nonexistent/bundle: "));
  }
  SECTION("TLS") {
    ServerOptions o = TinyServer();
    o.tls.cert_file = "/nonexistent/cert.pem";
    auto server = Server::BuildAndStart(o);
    REQUIRE_FALSE(server.ok());
    CHECK(absl::StartsWith(server.status().message(), "TLS set-up: "));
  }
}

}  // namespace
}  // namespace image2song
