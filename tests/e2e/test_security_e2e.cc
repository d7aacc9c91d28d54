// End-to-end tests (label e2e): the real i2s-server binary on port 0 with the tiny
// generated models and bundle (tests/support/server_fixture.h), called over gRPC.
// Security: bearer token, TLS, mutual TLS, no Admin service without a token.
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "tests/support/server_fixture.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using testing::Context;
using testing::HttpGet;
using testing::Image;
using testing::LoadBundle;
using testing::MetricValue;
using testing::ReadWholeFile;
using testing::Recommend;
using testing::RequiredEnv;
using testing::TestServer;
using testing::Tls;
namespace pb = ::image2song::v1;

// A TLS channel to the server trusting `ca`, optionally with a client
// certificate (`client` = "client" or "stranger").
std::shared_ptr<grpc::Channel> TlsChannel(const TestServer& server, const std::string& ca,
                                          const std::string& client = "") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadWholeFile(Tls(ca));
  if (!client.empty()) {
    ssl.pem_cert_chain = ReadWholeFile(Tls(client + ".crt"));
    ssl.pem_private_key = ReadWholeFile(Tls(client + ".key"));
  }
  return grpc::CreateChannel(absl::StrCat("localhost:", server.grpc_port()),
                             grpc::SslCredentials(ssl));
}

grpc::Status Info(const std::shared_ptr<grpc::Channel>& channel, const std::string& token = "") {
  auto stub = pb::SongRecommender::NewStub(channel);
  auto ctx = Context(5000);
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  pb::GetInfoResponse info;
  return stub->GetInfo(ctx.get(), pb::GetInfoRequest(), &info);
}

TEST_CASE("With a token every SongRecommender call needs it and health stays open") {
  const std::string token = "test-token-7f3a";  // the content of tls/token
  TestServer server({"--auth_token_file=" + Tls("token")});
  CHECK(absl::StrContains(server.log(), "bearer token required"));
  auto stub = pb::SongRecommender::NewStub(server.channel());
  for (const std::string& given : {std::string(), std::string("wrong"), token + "x"}) {
    INFO("token '" << given << "'");
    auto call = [&](auto&& rpc) {
      auto ctx = Context(5000);
      if (!given.empty()) ctx->AddMetadata("authorization", "Bearer " + given);
      return rpc(ctx.get());
    };
    pb::RecommendRequest req;
    req.set_image(Image("blue.png"));
    pb::RecommendResponse rec;
    grpc::Status s = call([&](grpc::ClientContext* c) { return stub->Recommend(c, req, &rec); });
    CHECK(s.error_code() == grpc::UNAUTHENTICATED);
    CHECK(absl::StrContains(s.error_message(), "authorization: Bearer"));
    CHECK(rec.matches_size() == 0);
    pb::GetSongRequest song_req;
    song_req.set_song_id("sea-01");
    pb::GetSongResponse song;
    s = call([&](grpc::ClientContext* c) { return stub->GetSong(c, song_req, &song); });
    CHECK(s.error_code() == grpc::UNAUTHENTICATED);
    CHECK(Info(server.channel(), given).error_code() == grpc::UNAUTHENTICATED);
  }
  // The right token works for every call.
  CHECK(Info(server.channel(), token).ok());
  pb::RecommendRequest req;
  req.set_image(Image("blue.png"));
  pb::RecommendResponse rec;
  auto ctx = Context();
  ctx->AddMetadata("authorization", "Bearer " + token);
  REQUIRE(stub->Recommend(ctx.get(), req, &rec).ok());
  CHECK(rec.matches_size() > 0);
  // Health needs no token (probes).
  auto health = grpc::health::v1::Health::NewStub(server.channel());
  grpc::health::v1::HealthCheckRequest hreq;
  grpc::health::v1::HealthCheckResponse hresp;
  auto hctx = Context(5000);
  REQUIRE(health->Check(hctx.get(), hreq, &hresp).ok());
  CHECK(hresp.status() == grpc::health::v1::HealthCheckResponse::SERVING);
  // The client reads the token from a file; the token never reaches the log.
  const std::string client = RequiredEnv("I2S_CLIENT_BIN");
  const std::string addr = absl::StrCat("--server=127.0.0.1:", server.grpc_port());
  std::string out;
  CHECK(testing::RunCommand({client, addr, "--token_file=" + Tls("token"), "info"}, &out) == 0);
  CHECK(testing::RunCommand({client, addr, "info"}, &out) == 2);
  CHECK(absl::StrContains(out, "UNAUTHENTICATED"));
  CHECK_FALSE(absl::StrContains(server.log(), token));
  const std::string metrics = HttpGet(server.metrics_port(), "/metrics");
  CHECK(MetricValue(metrics, "i2s_requests_total{code=\"UNAUTHENTICATED\",method=\"Recommend\"}") ==
        3);
}

TEST_CASE("TLS: the test CA's clients connect, plaintext and untrusting clients do not") {
  TestServer server(
      {"--tls_cert_file=" + Tls("server.crt"), "--tls_key_file=" + Tls("server.key")});
  CHECK(absl::StrContains(server.log(), "(port " + std::to_string(server.grpc_port()) + ", TLS)"));
  CHECK(Info(TlsChannel(server, "ca.crt")).ok());
  CHECK(Info(server.channel()).error_code() == grpc::UNAVAILABLE);  // plaintext
  CHECK_FALSE(Info(TlsChannel(server, "other_ca.crt")).ok());       // untrusted server cert
  // i2s-client over TLS.
  const std::string client = RequiredEnv("I2S_CLIENT_BIN");
  std::string out;
  CHECK(testing::RunCommand({client, absl::StrCat("--server=localhost:", server.grpc_port()),
                             "--tls_ca_file=" + Tls("ca.crt"), "--wait_ready=false", "info"},
                            &out) == 0);
  CHECK(absl::StrContains(out, "test-bundle-1"));
}

TEST_CASE("Mutual TLS: only clients with a certificate from the trusted CA get in") {
  TestServer server({"--tls_cert_file=" + Tls("server.crt"), "--tls_key_file=" + Tls("server.key"),
                     "--tls_client_ca_file=" + Tls("ca.crt")});
  CHECK(absl::StrContains(server.log(), "mutual TLS"));
  CHECK(Info(TlsChannel(server, "ca.crt", "client")).ok());
  CHECK_FALSE(Info(TlsChannel(server, "ca.crt")).ok());              // no client certificate
  CHECK_FALSE(Info(TlsChannel(server, "ca.crt", "stranger")).ok());  // other CA
}

TEST_CASE("Without a token the Admin service is not served") {
  TestServer server;
  pb::LoadBundleResponse resp;
  CHECK(LoadBundle(server, "x", "", &resp).error_code() == grpc::UNIMPLEMENTED);
}

}  // namespace
}  // namespace image2song
