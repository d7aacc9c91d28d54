// End-to-end tests (label e2e): the real i2s-server binary on port 0 with the tiny
// generated models and bundle (tests/support/server_fixture.h), called over gRPC.
// Errors: bad input gets its code and the server lives; missing or corrupt
// models and bad TLS or token settings stop start-up with a clear message.
#include <regex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "tests/support/server_fixture.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using testing::ChildProcess;
using testing::Context;
using testing::Image;
using testing::ReadWholeFile;
using testing::Recommend;
using testing::RequiredEnv;
using testing::TempDir;
using testing::TestServer;
using testing::Tls;
namespace pb = ::image2song::v1;

TEST_CASE("Bad input gets INVALID_ARGUMENT or NOT_FOUND, and the server lives") {
  TestServer server;
  auto expect = [&](const std::string& image, int top_k, grpc::StatusCode code,
                    const std::string& needle) {
    pb::RecommendRequest req;
    req.set_image(image);
    req.set_top_k(top_k);
    pb::RecommendResponse resp;
    grpc::Status s = Recommend(server, req, &resp);
    INFO("message: " << s.error_message());
    CHECK(s.error_code() == code);
    CHECK(absl::StrContains(s.error_message(), needle));
  };
  const std::string jpeg = Image("red.jpg");
  const std::string png = Image("blue.png");
  expect("", 5, grpc::INVALID_ARGUMENT, "empty");
  expect(jpeg.substr(0, jpeg.size() / 2), 5, grpc::INVALID_ARGUMENT, "truncated JPEG");
  expect(png.substr(0, png.size() - 20), 5, grpc::INVALID_ARGUMENT, "truncated PNG");
  expect(png.substr(0, 20), 5, grpc::INVALID_ARGUMENT, "PNG");
  expect("hello, this is not an image at all", 5, grpc::INVALID_ARGUMENT, "not a supported image");
  expect(std::string(17 << 20, 'x'), 5, grpc::INVALID_ARGUMENT, "limit");
  expect(png, 101, grpc::INVALID_ARGUMENT, "top_k");
  expect(png, -1, grpc::INVALID_ARGUMENT, "top_k");
  // A PNG header declaring 50000 x 50000 pixels (decompression bomb).
  std::string bomb = png;
  const unsigned char dims[8] = {0, 0, 0xC3, 0x50, 0, 0, 0xC3, 0x50};
  bomb.replace(16, 8, reinterpret_cast<const char*>(dims), 8);
  expect(bomb, 5, grpc::INVALID_ARGUMENT, "pixels");
  // Corrupt JPEG body: keep header and end marker, garble the middle.
  std::string garbled = jpeg;
  for (size_t i = jpeg.size() / 3; i < jpeg.size() - 2; ++i) garbled[i] = char(0xFF);
  pb::RecommendRequest req;
  req.set_image(garbled);
  pb::RecommendResponse resp;
  grpc::Status s = Recommend(server, req, &resp);
  // libjpeg may recover a damaged scan; either it decodes or it is refused
  // with INVALID_ARGUMENT, never anything else.
  CHECK((s.ok() || s.error_code() == grpc::INVALID_ARGUMENT));

  pb::GetSongRequest gs;
  pb::GetSongResponse song;
  gs.set_song_id("no-such-song");
  auto ctx = Context();
  s = server.stub().GetSong(ctx.get(), gs, &song);
  CHECK(s.error_code() == grpc::NOT_FOUND);
  CHECK(absl::StrContains(s.error_message(), "no-such-song"));
  gs.set_song_id("");
  ctx = Context();
  CHECK(server.stub().GetSong(ctx.get(), gs, &song).error_code() == grpc::INVALID_ARGUMENT);

  // Still serving after all that.
  req.set_image(png);
  resp.Clear();
  REQUIRE(Recommend(server, req, &resp).ok());
  CHECK(resp.matches_size() > 0);
  CHECK(server.process().Running());
}

TEST_CASE("Missing or corrupt model files stop start-up with exit 1 and a clear message") {
  const std::string assets = RequiredEnv("I2S_TEST_ASSETS");
  TempDir dir;
  const std::string manifest = ReadWholeFile(assets + "/models.json");
  // Absolute paths so the manifest can live in the temp dir.
  auto with_model = [&](const std::string& model) {
    std::string m = manifest;
    for (const std::string& file : {std::string("words.i2sv"), std::string("labels.tsv")}) {
      m = std::regex_replace(m, std::regex("\"" + file + "\""), "\"" + assets + "/" + file + "\"");
    }
    return std::regex_replace(m, std::regex("\"tiny_color.pt\""), "\"" + model + "\"");
  };
  std::string garbage(4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = char((i * 131) % 251);
  testing::WriteWholeFile(dir.File("garbage.pt"), garbage);
  const std::string real = ReadWholeFile(assets + "/tiny_color.pt");
  testing::WriteWholeFile(dir.File("truncated.pt"), real.substr(0, real.size() / 2));
  struct Case {
    std::string model;
    std::string message;
  };
  for (const Case& c : {Case{dir.File("missing.pt"), "missing.pt"},
                        Case{dir.File("garbage.pt"), "cannot load TorchScript model"},
                        Case{dir.File("truncated.pt"), "cannot load TorchScript model"}}) {
    INFO(c.model);
    testing::WriteWholeFile(dir.File("models.json"), with_model(c.model));
    ChildProcess process(
        {RequiredEnv("I2S_SERVER_BIN"), "--listen=127.0.0.1:0",
         "--metrics_listen=", "--http_listen=", "--models=" + dir.File("models.json"),
         "--bundle=" + RequiredEnv("I2S_TEST_BUNDLE")},
        dir.File("log"));
    const int code = process.Wait(60000);
    const std::string log = ReadWholeFile(dir.File("log"));
    INFO(log);
    CHECK(code == 1);  // an error exit, not a signal
    CHECK(absl::StrContains(log, "cannot load models"));
    CHECK(absl::StrContains(log, c.message));
  }
}

TEST_CASE("Bad TLS or token settings stop start-up with a clear message") {
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  for (const Case& c :
       {Case{{"--tls_cert_file=" + Tls("server.crt")}, "--tls_key_file"},
        Case{{"--tls_cert_file=" + Tls("server.crt"), "--tls_key_file=/nonexistent.key"},
             "/nonexistent.key"},
        Case{{"--tls_cert_file=" + Tls("token"), "--tls_key_file=" + Tls("server.key")},
             "not a PEM file"},
        Case{{"--auth_token_file=/nonexistent-token"}, "auth_token_file"}}) {
    TempDir dir;
    const std::string assets = RequiredEnv("I2S_TEST_ASSETS");
    std::vector<std::string> argv = {RequiredEnv("I2S_SERVER_BIN"),
                                     "--listen=127.0.0.1:0",
                                     "--metrics_listen=",
                                     "--http_listen=",
                                     "--models=" + assets + "/models.json",
                                     "--bundle=" + RequiredEnv("I2S_TEST_BUNDLE")};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    ChildProcess process(argv, dir.File("log"));
    const int code = process.Wait(60000);
    const std::string log = ReadWholeFile(dir.File("log"));
    INFO(log);
    CHECK(code == 1);
    CHECK(absl::StrContains(log, c.message));
  }
}

}  // namespace
}  // namespace image2song
