#include "server/service.h"

#include <chrono>
#include <exception>

#include "absl/strings/str_cat.h"
#include "server/auth.h"
#include "server/grpc_status.h"
#include "server/malloc_trim.h"
#include "server/raw_call.h"
#include "server/request.h"
#include "server/response.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

namespace pb = ::image2song::v1;

RequestLimits LimitsOf(const ServiceOptions& options) {
  RequestLimits limits;
  limits.max_top_k = SongRecommenderService::kMaxTopK;
  limits.default_top_k = SongRecommenderService::kDefaultTopK;
  limits.max_images = options.max_images;
  limits.max_image_bytes = options.decode.max_bytes;
  limits.max_request_image_bytes = options.max_request_image_bytes;
  limits.max_text_bytes = options.max_text_bytes;
  return limits;
}
using Clock = std::chrono::steady_clock;
constexpr char kCalls[] = "SongRecommender calls";

// DEADLINE_EXCEEDED or CANCELLED when nobody waits for the answer any more
// (an expired call also reads as cancelled: the deadline is checked first);
// OK otherwise.
absl::Status CallGone(grpc::CallbackServerContext& context, const char* when) {
  if (std::chrono::system_clock::now() > context.deadline()) {
    return absl::DeadlineExceededError(absl::StrCat("the deadline passed ", when));
  }
  if (context.IsCancelled()) return absl::CancelledError("the client cancelled the call");
  return absl::OkStatus();
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Runs `work`; an exception from a library on the request path (OpenCV,
// LibTorch, FAISS, std::bad_alloc) becomes INTERNAL for this call instead of
// terminating the process for every client.
template <typename Work>
absl::Status Guarded(const char* method, Work&& work) {
  try {
    return work();
  } catch (const std::exception& e) {
    I2S_LOG(ERROR) << method << ": exception on the request path: " << e.what();
    std::string what = e.what();
    if (what.size() > 300) what.resize(300);
    return absl::InternalError(absl::StrCat("internal error while serving ", method, ": ", what));
  } catch (...) {
    I2S_LOG(ERROR) << method << ": unknown exception on the request path";
    return absl::InternalError(absl::StrCat("internal error while serving ", method));
  }
}

}  // namespace

SongRecommenderService::SongRecommenderService(const ServiceOptions& options, Metrics* metrics,
                                               std::function<void()> on_worker_start)
    : options_(options),
      limits_(LimitsOf(options)),
      metrics_(metrics),
      queue_(
          options.workers, static_cast<size_t>(options.queue_size),
          [metrics](size_t depth) { metrics->SetQueueDepth(double(depth)); },
          std::move(on_worker_start)) {}

SongRecommenderService::~SongRecommenderService() { Drain(); }

void SongRecommenderService::SetSnapshot(std::shared_ptr<const Snapshot> snapshot) {
  metrics_->SetSongs(double(snapshot->bundle->size()));
  metrics_->SetBundleVersion(snapshot->bundle->manifest().version);
  std::shared_ptr<const Snapshot> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = std::move(snapshot_);
    snapshot_ = std::move(snapshot);
  }
  // `old` is freed here, outside the lock, or by the last request using it.
}

std::shared_ptr<const Snapshot> SongRecommenderService::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

void SongRecommenderService::Drain() { queue_.Drain(); }

void SongRecommenderService::StopAcceptingCalls() { accepting_ = false; }

absl::Status SongRecommenderService::CheckAccepting(
    const grpc::CallbackServerContext& context) const {
  if (accepting_ || context.client_metadata().count(kGatewayCallHeader) > 0) {
    return absl::OkStatus();
  }
  return absl::UnavailableError("the server is shutting down; retry on another replica");
}

grpc::ServerUnaryReactor* SongRecommenderService::Finish(grpc::ServerUnaryReactor* reactor,
                                                         const char* method,
                                                         const absl::Status& status,
                                                         Clock::time_point start) {
  grpc::Status answer = ToGrpcStatus(status);
  metrics_->CountRequest(method, GrpcCodeName(answer.error_code()), SecondsSince(start));
  reactor->Finish(answer);
  return reactor;
}

grpc::ServerUnaryReactor* SongRecommenderService::Recommend(grpc::CallbackServerContext* context,
                                                            const grpc::ByteBuffer* raw_request,
                                                            grpc::ByteBuffer* raw_response) {
  const auto start = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto reject = [&](const absl::Status& status) {
    return Finish(reactor, "Recommend", status, start);
  };
  if (absl::Status accepting = CheckAccepting(*context); !accepting.ok()) {
    return reject(accepting);
  }
  if (absl::Status auth = CheckBearerToken(*context, options_.auth_token, kCalls); !auth.ok()) {
    return reject(auth);
  }
  // Request and response live until the worker is done with them.
  struct Call {
    pb::RecommendRequest request;
    pb::RecommendResponse response;
  };
  MallocTrimmer::NoteRequestBytes(static_cast<int64_t>(raw_request->Length()));
  auto call = std::make_shared<Call>();
  if (absl::Status parsed = ParseRequest(*raw_request, &call->request); !parsed.ok()) {
    return reject(parsed);
  }
  if (absl::Status valid = CheckRecommendRequest(call->request, limits_); !valid.ok()) {
    return reject(valid);
  }
  if (absl::Status headers = CheckRequestImages(call->request, options_.decode); !headers.ok()) {
    return reject(headers);
  }
  if (snapshot() == nullptr) {
    return reject(absl::UnavailableError("no index bundle is loaded yet"));
  }
  bool queued = queue_.TrySubmit([this, context, call, raw_response, reactor, start] {
    absl::Status status =
        Guarded("Recommend", [&] { return RunRecommend(context, call->request, &call->response); });
    if (status.ok()) status = SerializeResponse(call->response, raw_response);
    Finish(reactor, "Recommend", status, start);
  });
  if (!queued) {
    return reject(
        absl::ResourceExhaustedError(absl::StrCat("server overloaded: ", options_.queue_size,
                                                  " requests already queued; retry with backoff")));
  }
  return reactor;
}

absl::Status SongRecommenderService::RunRecommend(grpc::CallbackServerContext* context,
                                                  const pb::RecommendRequest& request,
                                                  pb::RecommendResponse* response) {
  RETURN_IF_ERROR(CallGone(*context, "while the request was queued"));
  std::shared_ptr<const Snapshot> snap = snapshot();
  auto t0 = Clock::now();
  // Decoded no larger than this snapshot's models need (JPEG: with DCT
  // scaling, the cheapest way to shrink a photo).
  ASSIGN_OR_RETURN(std::vector<RgbImage> images,
                   DecodeRequestImages(request, DecodeOptionsFor(*snap->models, options_.decode)));
  metrics_->ObserveStage("decode", SecondsSince(t0));
  // Decoding a big image takes a while: look again before the models run.
  RETURN_IF_ERROR(CallGone(*context, "before the models ran"));

  const RecommendOptions ro = ToRecommendOptions(request, options_.ranking, kDefaultTopK);
  absl::StatusOr<Recommendation> rec = image2song::Recommend(*snap, images, request.text(), ro);
  if (!rec.ok()) {
    // Overload is counted in the metrics, not logged per call.
    if (!absl::IsResourceExhausted(rec.status())) {
      I2S_LOG(ERROR) << "Recommend failed: " << rec.status();
    }
    return rec.status();
  }
  metrics_->ObserveStage("model", rec->model_ms / 1000);
  metrics_->ObserveStage("forward", rec->forward_ms / 1000);
  metrics_->ObserveStage("search", rec->search_ms / 1000);
  metrics_->ObserveStage("rerank", rec->rerank_ms / 1000);

  FillRecommendResponse(*rec, *snap, ro.explain, response);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* SongRecommenderService::GetSong(grpc::CallbackServerContext* context,
                                                          const grpc::ByteBuffer* raw_request,
                                                          grpc::ByteBuffer* raw_response) {
  const auto start = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = [&]() -> absl::Status {
    RETURN_IF_ERROR(CheckAccepting(*context));
    RETURN_IF_ERROR(CheckBearerToken(*context, options_.auth_token, kCalls));
    pb::GetSongRequest request;
    RETURN_IF_ERROR(ParseRequest(*raw_request, &request));
    if (request.song_id().empty()) return absl::InvalidArgumentError("song_id is empty");
    std::shared_ptr<const Snapshot> snap = snapshot();
    if (snap == nullptr) return absl::UnavailableError("no index bundle is loaded yet");
    const int64_t i = snap->bundle->Find(request.song_id());
    if (i < 0) {
      return absl::NotFoundError(absl::StrCat("no song with id '", request.song_id().substr(0, 200),
                                              "' in bundle ", snap->bundle->manifest().version));
    }
    pb::GetSongResponse response;
    FillBundleSong(*snap->bundle, i, response.mutable_song());
    return SerializeResponse(response, raw_response);
  }();
  return Finish(reactor, "GetSong", status, start);
}

grpc::ServerUnaryReactor* SongRecommenderService::GetInfo(grpc::CallbackServerContext* context,
                                                          const pb::GetInfoRequest* /*request*/,
                                                          pb::GetInfoResponse* response) {
  const auto start = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (absl::Status accepting = CheckAccepting(*context); !accepting.ok()) {
    return Finish(reactor, "GetInfo", accepting, start);
  }
  if (absl::Status auth = CheckBearerToken(*context, options_.auth_token, kCalls); !auth.ok()) {
    return Finish(reactor, "GetInfo", auth, start);
  }
  response->set_server_version(options_.server_version);
  pb::Limits* limits = response->mutable_limits();
  limits->set_max_image_bytes(options_.decode.max_bytes);
  limits->set_max_image_pixels(options_.decode.max_pixels);
  limits->set_max_top_k(kMaxTopK);
  limits->set_max_images(options_.max_images);
  limits->set_max_request_image_bytes(options_.max_request_image_bytes);
  limits->set_max_text_bytes(options_.max_text_bytes);
  if (std::shared_ptr<const Snapshot> snap = snapshot(); snap != nullptr) {
    FillSnapshotInfo(*snap, response);
  }
  return Finish(reactor, "GetInfo", absl::OkStatus(), start);
}

}  // namespace image2song
