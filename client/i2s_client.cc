// i2s-client: command line client for the image2song SongRecommender service.
//
//   i2s-client [flags] COMMAND [ARGS]
//
// Commands: recommend IMAGE..., song ID, info, health. Run with --help for the
// flags. Exit codes: see ExitCode below.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "client/client_format.h"
#include "client/connection.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "util/cli.h"

#ifndef I2S_VERSION
#define I2S_VERSION "unknown"
#endif

// Connection.
ABSL_FLAG(std::string, server, "localhost:50051",
          "Server address: host:port or any gRPC target, e.g. dns:///host:port");
ABSL_FLAG(int32_t, timeout_ms, 10000,
          "Deadline of each call in milliseconds; recommend makes one call per "
          "image");
ABSL_FLAG(bool, wait_ready, true,
          "Wait up to the deadline for the server to become reachable; false "
          "fails at once with UNAVAILABLE");
// Output.
ABSL_FLAG(bool, json, false,
          "Print each response as one line of JSON; recommend prints "
          "{\"image\": FILE, \"response\": {...}} per image");
// recommend.
ABSL_FLAG(int32_t, top_k, 10, "recommend: songs per image, 1..100");
ABSL_FLAG(bool, explain, true,
          "recommend: ask for and print explanations: matched tags and the "
          "strongest lyric lines");
ABSL_FLAG(std::string, genre, "", "recommend: only these genres, comma-separated; empty means any");
ABSL_FLAG(std::string, mood, "", "recommend: only these moods, comma-separated; empty means any");
ABSL_FLAG(std::string, mood_target, "",
          "recommend: a mood to steer the ranking towards (calm, happy, sad, lively, "
          "...; RecommendRequest.mood): not a filter");
ABSL_FLAG(bool, catalogue_values_only, false,
          "recommend: --genre and --mood match only the catalogue's values, not those the "
          "indexer imputed from similar songs");
ABSL_FLAG(std::string, language, "",
          "recommend: only these languages, comma-separated; empty means any");
ABSL_FLAG(std::string, license, "",
          "recommend: only these licenses, comma-separated; empty means any");
ABSL_FLAG(std::string, exclude, "", "recommend: song ids never to return, comma-separated");
// health.
ABSL_FLAG(bool, together, false,
          "recommend: send all IMAGEs in one call (video keyframes, a set of "
          "thumbnails) instead of one call per image");
ABSL_FLAG(std::string, text, "",
          "recommend: a short text hint blended into the query, e.g. "
          "\"upbeat summer ad\"");
ABSL_FLAG(int32_t, repeat, 1,
          "recommend: send each image this many times (sequentially) and "
          "print the client-side latency p50/p90/p99 instead of the answer "
          "(the first call is a warm-up and not counted)");
ABSL_FLAG(std::string, service, "", "health: service name to check; empty means the whole server");

namespace i2s::client {
namespace {

namespace v1 = ::image2song::v1;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

// Process exit codes.
enum ExitCode : int {
  kOk = 0,
  kUsageError = 1,  // bad command line or unreadable input file
  kRpcError = 2,    // a call failed (the status is printed)
  kNotServing = 3,  // health: the server answered, but not SERVING
};

constexpr char kUsage[] =
    R"(asks an image2song server which songs fit an image.

Usage: i2s-client [flags] COMMAND [ARGS]

Commands:
  recommend IMAGE...  rank songs for each image file (one call per image,
                      or one call for all with --together); flags --top_k
                      --explain --text --genre --mood --mood_target --language --license
                      --exclude --repeat
  song ID             show one song's metadata and lyrics
  info                show server, index and model versions and limits
  health              grpc.health.v1 check of --service (default: whole
                      server); prints the status, exit 0 only when SERVING

Common flags: --server (localhost:50051), --timeout_ms (10000),
  --wait_ready (true), --json (false).

Examples:
  i2s-client recommend beach.jpg
  i2s-client --server=host:50051 --top_k=5 --genre=pop,rock recommend a.jpg b.png
  i2s-client --json --explain=false recommend a.jpg
  i2s-client song s000042
  i2s-client --service=image2song.v1.SongRecommender health

Exit codes: 0 ok; 1 usage error or unreadable file; 2 RPC error (printed as
"error: CODE: message"); 3 health answered but not SERVING.)";

// Largest response this client accepts (songs with long lyrics, big top_k).
constexpr int kMaxReceiveBytes = 64 << 20;

void PrintUsageHint(absl::string_view problem) {
  std::cerr << "i2s-client: " << problem << "\n"
            << "Usage: i2s-client [flags] COMMAND [ARGS]   "
               "(commands: recommend, song, info, health; see --help)\n";
}

// Reads a whole file. On failure returns false with a message naming it.
bool ReadFile(const std::string& path, std::string* data, std::string* error) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (file == nullptr) {
    *error = absl::StrCat("cannot open '", path, "': ", std::strerror(errno));
    return false;
  }
  data->clear();
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) {
    data->append(buffer, n);
  }
  if (std::ferror(file.get())) {
    *error = absl::StrCat("cannot read '", path, "': ", std::strerror(errno));
    return false;
  }
  return true;
}

// Shared state of one invocation: the channel and per-call settings.
class Client {
 public:
  Client(const std::string& target, int timeout_ms, bool wait_ready, Connection connection)
      : target_(target),
        timeout_ms_(timeout_ms),
        wait_ready_(wait_ready),
        connection_(std::move(connection)) {
    channel_ = connection_.channel;
    stub_ = v1::SongRecommender::NewStub(channel_);
    health_ = grpc::health::v1::Health::NewStub(channel_);
  }

  // Configures a context for one call: own deadline, wait-for-ready.
  void Prepare(grpc::ClientContext* context) const {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::milliseconds(timeout_ms_));
    context->set_wait_for_ready(wait_ready_);
    connection_.Authorize(context);
  }

  // Prints a failed call's status to stderr as "error: CODE: message",
  // followed by `what` (e.g. the image file) when not empty; returns
  // kRpcError.
  int ReportError(const grpc::Status& status, absl::string_view what = "") const {
    std::string line = FormatRpcError(status);
    std::vector<std::string> notes;
    if (!what.empty()) notes.push_back(std::string(what));
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
        channel_->GetState(false) != GRPC_CHANNEL_READY) {
      notes.push_back(absl::StrCat("no connection to ", target_, " within ", timeout_ms_, " ms"));
    }
    if (!notes.empty()) absl::StrAppend(&line, " [", absl::StrJoin(notes, "; "), "]");
    std::cerr << line << std::endl;
    return kRpcError;
  }

  v1::SongRecommender::Stub& stub() { return *stub_; }
  grpc::health::v1::Health::Stub& health() { return *health_; }

 private:
  const std::string target_;
  const int timeout_ms_;
  const bool wait_ready_;
  Connection connection_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SongRecommender::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

// Prints `message` as one JSON line; returns kOk or kRpcError.
int PrintJson(const google::protobuf::Message& message) {
  std::string json, error;
  if (!MessageToJson(message, &json, &error)) {
    std::cerr << "error: INTERNAL: cannot convert the response to JSON: " << error << std::endl;
    return kRpcError;
  }
  std::cout << json << std::endl;
  return kOk;
}

int RunRecommend(Client& client, const std::vector<std::string>& images) {
  v1::RecommendRequest request;
  request.set_top_k(absl::GetFlag(FLAGS_top_k));
  request.set_explain(absl::GetFlag(FLAGS_explain));
  v1::Filters* filters = request.mutable_filters();
  for (auto& v : SplitList(absl::GetFlag(FLAGS_genre))) filters->add_genres(v);
  for (auto& v : SplitList(absl::GetFlag(FLAGS_mood))) filters->add_moods(v);
  filters->set_catalogue_values_only(absl::GetFlag(FLAGS_catalogue_values_only));
  for (auto& v : SplitList(absl::GetFlag(FLAGS_language))) {
    filters->add_languages(v);
  }
  for (auto& v : SplitList(absl::GetFlag(FLAGS_license))) {
    filters->add_licenses(v);
  }
  for (auto& v : SplitList(absl::GetFlag(FLAGS_exclude))) {
    filters->add_exclude_song_ids(v);
  }
  const bool json = absl::GetFlag(FLAGS_json);

  // Every image is tried; the exit code reports the worst failure.
  bool rpc_failed = false;
  bool file_failed = false;
  bool first_block = true;
  request.set_text(absl::GetFlag(FLAGS_text));
  request.set_mood(absl::GetFlag(FLAGS_mood_target));
  // One call per image, or (--together) one call with all of them.
  std::vector<std::vector<std::string>> groups;
  if (absl::GetFlag(FLAGS_together)) {
    groups.push_back(images);
  } else {
    for (const std::string& path : images) groups.push_back({path});
  }
  for (const std::vector<std::string>& group : groups) {
    const std::string path = absl::StrJoin(group, " + ");
    std::string error;
    request.clear_image();
    request.clear_images();
    bool read_ok = true;
    for (const std::string& file : group) {
      std::string* dest = group.size() == 1 ? request.mutable_image() : request.add_images();
      if (!ReadFile(file, dest, &error)) {
        std::cerr << "error: " << error << std::endl;
        read_ok = false;
        break;
      }
    }
    if (!read_ok) {
      file_failed = true;
      continue;
    }
    const int repeat = std::max(1, absl::GetFlag(FLAGS_repeat));
    std::vector<double> latencies_ms;
    v1::RecommendResponse response;
    grpc::Status status;
    for (int i = 0; i <= (repeat > 1 ? repeat : 0); ++i) {
      grpc::ClientContext context;
      client.Prepare(&context);
      response.Clear();
      const auto start = std::chrono::steady_clock::now();
      status = client.stub().Recommend(&context, request, &response);
      if (!status.ok()) break;
      if (i > 0) {
        latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
      }
    }
    if (!status.ok()) {
      client.ReportError(status, absl::StrCat("image ", path));
      rpc_failed = true;
      continue;
    }
    if (!latencies_ms.empty()) {
      std::sort(latencies_ms.begin(), latencies_ms.end());
      auto q = [&](double p) {
        return latencies_ms[std::min(latencies_ms.size() - 1, size_t(p * latencies_ms.size()))];
      };
      std::printf("%s: %zu calls, latency ms p50 %.2f  p90 %.2f  p99 %.2f\n", path.c_str(),
                  latencies_ms.size(), q(0.5), q(0.9), q(0.99));
      continue;
    }
    if (json) {
      std::string body;
      if (!MessageToJson(response, &body, &error)) {
        std::cerr << "error: INTERNAL: cannot convert the response for '" << path
                  << "' to JSON: " << error << std::endl;
        rpc_failed = true;
        continue;
      }
      std::cout << "{\"image\":" << JsonQuote(path) << ",\"response\":" << body << "}" << std::endl;
    } else {
      if (!first_block) std::cout << "\n";
      std::cout << FormatRecommend(path, response, request.explain()) << std::flush;
    }
    first_block = false;
  }
  if (rpc_failed) return kRpcError;
  if (file_failed) return kUsageError;
  return kOk;
}

int RunSong(Client& client, const std::string& id) {
  v1::GetSongRequest request;
  request.set_song_id(id);
  grpc::ClientContext context;
  client.Prepare(&context);
  v1::GetSongResponse response;
  const grpc::Status status = client.stub().GetSong(&context, request, &response);
  if (!status.ok()) return client.ReportError(status);
  if (absl::GetFlag(FLAGS_json)) return PrintJson(response);
  std::cout << FormatSong(response.song()) << std::flush;
  return kOk;
}

int RunInfo(Client& client) {
  grpc::ClientContext context;
  client.Prepare(&context);
  v1::GetInfoResponse response;
  const grpc::Status status = client.stub().GetInfo(&context, v1::GetInfoRequest(), &response);
  if (!status.ok()) return client.ReportError(status);
  if (absl::GetFlag(FLAGS_json)) return PrintJson(response);
  std::cout << FormatInfo(response) << std::flush;
  return kOk;
}

int RunHealth(Client& client) {
  HealthCheckRequest request;
  request.set_service(absl::GetFlag(FLAGS_service));
  grpc::ClientContext context;
  client.Prepare(&context);
  HealthCheckResponse response;
  const grpc::Status status = client.health().Check(&context, request, &response);
  if (!status.ok()) return client.ReportError(status);
  const std::string name = HealthCheckResponse::ServingStatus_Name(response.status());
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << "{\"service\":" << JsonQuote(request.service())
              << ",\"status\":" << JsonQuote(name) << "}" << std::endl;
  } else {
    std::cout << name << std::endl;
  }
  return response.status() == HealthCheckResponse::SERVING ? kOk : kNotServing;
}

int Main(int argc, char** argv) {
  std::vector<char*> positional = ::image2song::ParseCommandLineOrHelp(
      argc, argv, {"i2s-client", kUsage, "client/i2s_client", I2S_VERSION});
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  if (args.empty()) {
    PrintUsageHint("no command given");
    return kUsageError;
  }
  const std::string command = args[0];
  args.erase(args.begin());

  if (absl::GetFlag(FLAGS_timeout_ms) <= 0) {
    PrintUsageHint("--timeout_ms must be positive");
    return kUsageError;
  }
  if (absl::GetFlag(FLAGS_server).empty()) {
    PrintUsageHint("--server must not be empty");
    return kUsageError;
  }

  if (command == "recommend") {
    if (args.empty()) {
      PrintUsageHint("recommend needs at least one IMAGE file");
      return kUsageError;
    }
    if (absl::GetFlag(FLAGS_top_k) < 1) {
      PrintUsageHint("--top_k must be at least 1");
      return kUsageError;
    }
  } else if (command == "song") {
    if (args.size() != 1 || args[0].empty()) {
      PrintUsageHint("song needs exactly one song ID");
      return kUsageError;
    }
  } else if (command == "info" || command == "health") {
    if (!args.empty()) {
      PrintUsageHint(absl::StrCat(command, " takes no arguments"));
      return kUsageError;
    }
  } else {
    PrintUsageHint(absl::StrCat("unknown command '", command, "'"));
    return kUsageError;
  }

  grpc::ChannelArguments channel_args;
  channel_args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  auto connection = ConnectFromFlags(absl::GetFlag(FLAGS_server), channel_args);
  if (!connection.ok()) {
    std::cerr << "i2s-client: " << connection.status().message() << "\n";
    return kUsageError;
  }
  Client client(absl::GetFlag(FLAGS_server), absl::GetFlag(FLAGS_timeout_ms),
                absl::GetFlag(FLAGS_wait_ready), std::move(*connection));
  if (command == "recommend") return RunRecommend(client, args);
  if (command == "song") return RunSong(client, args[0]);
  if (command == "info") return RunInfo(client);
  return RunHealth(client);
}

}  // namespace
}  // namespace i2s::client

int main(int argc, char** argv) { return i2s::client::Main(argc, argv); }
