#include "server/admin.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/auth.h"
#include "server/grpc_status.h"
#include "server/raw_call.h"
#include "util/log.h"

namespace image2song {

namespace pb = ::image2song::v1;

BundleReloader::BundleReloader(SongRecommenderService* service, Metrics* metrics,
                               BundleLoadOptions options)
    : service_(service), metrics_(metrics), options_(std::move(options)) {}

absl::StatusOr<BundleSwap> BundleReloader::Reload(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto start = std::chrono::steady_clock::now();
  std::shared_ptr<const Snapshot> current = service_->snapshot();
  auto reject = [&](const absl::Status& s) {
    I2S_LOG(ERROR) << "bundle " << dir << " rejected, still serving "
                   << (current ? current->bundle->manifest().version : "nothing") << ": "
                   << s.message();
    metrics_->CountBundleLoad("rejected");
    return s;
  };
  if (current == nullptr) {
    return reject(absl::FailedPreconditionError("no models are loaded"));
  }
  I2S_LOG(INFO) << "loading bundle " << dir;
  auto next = LoadBundleFor(current->models, dir, options_);
  if (!next.ok()) return reject(next.status());
  BundleSwap swap;
  swap.version = (*next)->bundle->manifest().version;
  swap.previous_version = current->bundle->manifest().version;
  swap.song_count = (*next)->bundle->size();
  swap.load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const std::string index = (*next)->bundle->index().Describe();
  current.reset();
  service_->SetSnapshot(std::move(*next));
  metrics_->CountBundleLoad("ok");
  I2S_LOG(INFO) << "now serving bundle " << swap.version << " from " << dir << ": "
                << swap.song_count << " songs, " << index << " index (was " << swap.previous_version
                << "), loaded and "
                << "validated in " << static_cast<int64_t>(swap.load_ms) << " ms";
  return swap;
}

absl::StatusOr<std::string> ResolveUnderRoot(const std::string& root, const std::string& path) {
  if (path.empty() || path.size() > 1024) {
    return absl::InvalidArgumentError("bundle path is empty or too long");
  }
  if (path[0] == '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle path '", path, "' must be relative to the bundle root"));
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat("bundle path '", path, "' may not contain '..'"));
    }
  }
  if (path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("bundle path contains a NUL byte");
  }
  char real_root[PATH_MAX], real_path[PATH_MAX];
  if (root.empty() || ::realpath(root.c_str(), real_root) == nullptr) {
    return absl::FailedPreconditionError("the bundle root is not configured or missing");
  }
  const std::string joined = absl::StrCat(real_root, "/", path);
  if (::realpath(joined.c_str(), real_path) == nullptr) {
    return absl::NotFoundError(absl::StrCat("no bundle '", path, "' under the bundle root"));
  }
  // A symlink may not lead out of the root.
  if (!absl::StartsWith(real_path, absl::StrCat(real_root, "/"))) {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle path '", path, "' leads outside the bundle root"));
  }
  struct stat st;
  if (::stat(real_path, &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle path '", path,
                     "' is not a directory: a bundle is the directory "
                     "i2s-index writes (manifest.json and its files)"));
  }
  return std::string(real_path);
}

AdminService::AdminService(AdminOptions options, BundleReloader* reloader, Metrics* metrics)
    : options_(std::move(options)), reloader_(reloader), metrics_(metrics) {}

grpc::ServerUnaryReactor* AdminService::LoadBundle(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* raw_request,
                                                   grpc::ByteBuffer* raw_response) {
  const auto start = std::chrono::steady_clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto finish = [&](const absl::Status& status) {
    grpc::Status answer = ToGrpcStatus(status);
    metrics_->CountRequest(
        "Admin.LoadBundle", GrpcCodeName(answer.error_code()),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    reactor->Finish(answer);
    return reactor;
  };
  // The Admin token is always required (an empty one never matches).
  if (options_.token.empty()) {
    return finish(absl::UnauthenticatedError("Admin calls are disabled"));
  }
  absl::Status auth = CheckBearerToken(*context, options_.token, "Admin calls");
  if (!auth.ok()) return finish(auth);
  pb::LoadBundleRequest parsed;
  const pb::LoadBundleRequest* request = &parsed;
  if (absl::Status p = ParseRequest(*raw_request, &parsed); !p.ok()) {
    return finish(p);
  }
  pb::LoadBundleResponse loaded;
  pb::LoadBundleResponse* response = &loaded;
  std::string dir = options_.default_bundle;
  if (!request->path().empty()) {
    auto resolved = ResolveUnderRoot(options_.bundle_root, request->path());
    if (!resolved.ok()) return finish(resolved.status());
    dir = *resolved;
  }
  I2S_LOG(INFO) << "Admin.LoadBundle from " << context->peer() << ": " << dir;
  auto swap = reloader_->Reload(dir);
  if (!swap.ok()) return finish(swap.status());
  response->set_version(swap->version);
  response->set_previous_version(swap->previous_version);
  response->set_song_count(swap->song_count);
  response->set_load_ms(swap->load_ms);
  return finish(SerializeResponse(*response, raw_response));
}

}  // namespace image2song
