// Bundle hot swap: BundleReloader loads and validates a bundle off the
// request path and swaps it into the service; AdminService exposes it as the
// token-protected image2song.v1.Admin gRPC service (off by default). SIGHUP
// (i2s_server.cc) calls the same Reload().
//
// Thread-safety: all methods are thread-safe; reloads run one at a time.
#ifndef IMAGE2SONG_SERVER_ADMIN_H_
#define IMAGE2SONG_SERVER_ADMIN_H_

#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "core/bundle/bundle.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "server/metrics.h"
#include "server/service.h"

namespace image2song {

struct BundleSwap {
  std::string version;
  std::string previous_version;
  int64_t song_count = 0;
  double load_ms = 0;
};

class BundleReloader {
 public:
  BundleReloader(SongRecommenderService* service, Metrics* metrics, BundleLoadOptions options);

  // Loads `dir` (checksums per the options), checks it against the serving
  // models and swaps it in. On error nothing changes; the error names the
  // problem and is logged.
  absl::StatusOr<BundleSwap> Reload(const std::string& dir);

 private:
  SongRecommenderService* service_;
  Metrics* metrics_;
  const BundleLoadOptions options_;
  std::mutex mu_;  // one reload at a time
};

// Resolves a client-given bundle path under `root`: relative, no "..", and
// (after symlinks) inside root. INVALID_ARGUMENT otherwise; NOT_FOUND when
// it does not exist.
absl::StatusOr<std::string> ResolveUnderRoot(const std::string& root, const std::string& path);

struct AdminOptions {
  std::string token;           // required, non-empty
  std::string bundle_root;     // LoadBundle paths are resolved under it
  std::string default_bundle;  // LoadBundle with an empty path
};

// LoadBundle is served raw (server/raw_call.h): a path that is not UTF-8 is
// INVALID_ARGUMENT, not an empty UNIMPLEMENTED.
class AdminService final : public image2song::v1::Admin::WithRawCallbackMethod_LoadBundle<
                               image2song::v1::Admin::Service> {
 public:
  AdminService(AdminOptions options, BundleReloader* reloader, Metrics* metrics);

  grpc::ServerUnaryReactor* LoadBundle(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;

 private:
  const AdminOptions options_;
  BundleReloader* reloader_;
  Metrics* metrics_;
};

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_ADMIN_H_
