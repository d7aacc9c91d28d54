#include "server/service.h"

#include <chrono>
#include <exception>


#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "util/log.h"
#include "server/auth.h"
#include "server/grpc_status.h"
#include "server/malloc_trim.h"
#include "server/raw_call.h"
#include "server/request_check.h"
#include "server/response.h"

namespace image2song {
namespace {

namespace pb = ::image2song::v1;
using Clock = std::chrono::steady_clock;
constexpr char kCalls[] = "SongRecommender calls";

// DEADLINE_EXCEEDED or CANCELLED when nobody waits for the answer any more
// (an expired call also reads as cancelled: the deadline is checked first);
// OK otherwise.
grpc::Status CallGone(grpc::CallbackServerContext& context, const char* when) {
  if (std::chrono::system_clock::now() > context.deadline()) {
    return grpc::Status(grpc::DEADLINE_EXCEEDED,
                        absl::StrCat("the deadline passed ", when));
  }
  if (context.IsCancelled()) {
    return grpc::Status(grpc::CANCELLED, "the client cancelled the call");
  }
  return grpc::Status::OK;
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

void AddLower(const google::protobuf::RepeatedPtrField<std::string>& values,
              absl::flat_hash_set<std::string>* out) {
  for (const std::string& v : values) {
    std::string s(absl::StripAsciiWhitespace(v));
    if (!s.empty()) out->insert(absl::AsciiStrToLower(s));
  }
}

// "image: <problem>" / "images[2]: <problem>" when the request has several.
std::string ImageError(const pb::RecommendRequest& request, int i,
                       const absl::Status& status) {
  if (request.images_size() == 0) return std::string(status.message());
  return absl::StrCat(i < 0 ? "image" : absl::StrCat("images[", i, "]"), ": ",
                      status.message());
}

// Runs `work`; an exception from a library on the request path (OpenCV,
// LibTorch, FAISS, std::bad_alloc) becomes INTERNAL for this call instead of
// terminating the process for every client.
template <typename Work>
grpc::Status Guarded(const char* method, Work&& work) {
  try {
    return work();
  } catch (const std::exception& e) {
    I2S_LOG(ERROR) << method << ": exception on the request path: " << e.what();
    std::string what = e.what();
    if (what.size() > 300) what.resize(300);
    return grpc::Status(grpc::INTERNAL,
                        absl::StrCat("internal error while serving ", method, ": ", what));
  } catch (...) {
    I2S_LOG(ERROR) << method << ": unknown exception on the request path";
    return grpc::Status(grpc::INTERNAL,
                        absl::StrCat("internal error while serving ", method));
  }
}

}  // namespace

SongRecommenderService::SongRecommenderService(
    const ServiceOptions& options, Metrics* metrics,
    std::function<void()> on_worker_start)
    : options_(options),
      metrics_(metrics),
      queue_(options.workers, static_cast<size_t>(options.queue_size),
             [metrics](size_t depth) { metrics->SetQueueDepth(double(depth)); },
             std::move(on_worker_start)) {}

SongRecommenderService::~SongRecommenderService() { Drain(); }

void SongRecommenderService::SetSnapshot(
    std::shared_ptr<const Snapshot> snapshot) {
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

void SongRecommenderService::Finish(grpc::ServerUnaryReactor* reactor,
                                    const char* method,
                                    const grpc::Status& status,
                                    Clock::time_point start) {
  metrics_->CountRequest(method, GrpcCodeName(status.error_code()),
                         SecondsSince(start));
  reactor->Finish(status);
}

grpc::ServerUnaryReactor* SongRecommenderService::Recommend(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  const auto start = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto reject = [&](grpc::StatusCode code, std::string msg) {
    Finish(reactor, "Recommend", grpc::Status(code, std::move(msg)), start);
    return reactor;
  };
  if (grpc::Status auth = CheckBearerToken(*context, options_.auth_token, kCalls);
      !auth.ok()) {
    return reject(auth.error_code(), auth.error_message());
  }
  // Request and response live until the worker is done with them.
  struct Call {
    pb::RecommendRequest request;
    pb::RecommendResponse response;
  };
  MallocTrimmer::NoteRequestBytes(static_cast<int64_t>(raw_request->Length()));
  auto call = std::make_shared<Call>();
  if (absl::Status parsed = ParseRequest(*raw_request, &call->request); !parsed.ok()) {
    grpc::Status status = ToGrpcStatus(parsed);
    return reject(status.error_code(), status.error_message());
  }
  const pb::RecommendRequest& request = call->request;
  RequestLimits limits;
  limits.max_top_k = kMaxTopK;
  limits.default_top_k = kDefaultTopK;
  limits.max_images = options_.max_images;
  limits.max_image_bytes = options_.decode.max_bytes;
  limits.max_request_image_bytes = options_.max_request_image_bytes;
  limits.max_text_bytes = options_.max_text_bytes;
  if (absl::Status valid = CheckRecommendRequest(request, limits); !valid.ok()) {
    grpc::Status status = ToGrpcStatus(valid);
    return reject(status.error_code(), status.error_message());
  }
  // Image headers: format, declared size, pixel limit.
  for (int i = -1; i < request.images_size(); ++i) {
    const std::string& bytes = i < 0 ? request.image() : request.images(i);
    if (i < 0 && bytes.empty()) continue;
    absl::StatusOr<ImageHeader> header = CheckImageBytes(bytes, options_.decode);
    if (!header.ok()) {
      return reject(grpc::INVALID_ARGUMENT, ImageError(request, i, header.status()));
    }
  }
  if (snapshot() == nullptr) {
    return reject(grpc::UNAVAILABLE, "no index bundle is loaded yet");
  }
  bool queued = queue_.TrySubmit([this, context, call, raw_response, reactor, start] {
    grpc::Status status = Guarded("Recommend", [&] {
      return RunRecommend(context, call->request, &call->response);
    });
    if (status.ok()) status = SerializeResponse(call->response, raw_response);
    Finish(reactor, "Recommend", status, start);
  });
  if (!queued) {
    return reject(grpc::RESOURCE_EXHAUSTED,
                  absl::StrCat("server overloaded: ", options_.queue_size,
                               " requests already queued; retry with backoff"));
  }
  return reactor;
}

grpc::Status SongRecommenderService::RunRecommend(
    grpc::CallbackServerContext* context, const pb::RecommendRequest& request,
    pb::RecommendResponse* response) {
  if (grpc::Status gone = CallGone(*context, "while the request was queued"); !gone.ok()) {
    return gone;
  }
  std::shared_ptr<const Snapshot> snap = snapshot();
  auto t0 = Clock::now();
  std::vector<RgbImage> images;
  for (int i = -1; i < request.images_size(); ++i) {
    const std::string& bytes = i < 0 ? request.image() : request.images(i);
    if (i < 0 && bytes.empty()) continue;
    absl::StatusOr<RgbImage> image = DecodeImage(bytes, options_.decode);
    if (!image.ok()) {
      if (!absl::IsInvalidArgument(image.status())) return ToGrpcStatus(image.status());
      return grpc::Status(grpc::INVALID_ARGUMENT, ImageError(request, i, image.status()));
    }
    images.push_back(std::move(*image));
  }
  metrics_->ObserveStage("decode", SecondsSince(t0));
  // Decoding a big image takes a while: look again before the models run.
  if (grpc::Status gone = CallGone(*context, "before the models ran"); !gone.ok()) {
    return gone;
  }

  RecommendOptions ro;
  ro.top_k = request.top_k() == 0 ? kDefaultTopK : request.top_k();
  ro.explain = request.explain();
  ro.candidates = options_.candidates;
  ro.retrieval_weight = options_.retrieval_weight;
  ro.text_weight = options_.text_weight;
  const pb::Filters& f = request.filters();
  AddLower(f.genres(), &ro.filters.genres);
  AddLower(f.moods(), &ro.filters.moods);
  AddLower(f.languages(), &ro.filters.languages);
  AddLower(f.licenses(), &ro.filters.licenses);
  for (const std::string& id : f.exclude_song_ids()) {
    ro.filters.exclude_ids.insert(id);
  }
  ro.filters.exclude_explicit = f.exclude_explicit();
  ro.filters.min_duration_seconds = f.min_duration_seconds();
  ro.filters.max_duration_seconds = f.max_duration_seconds();
  absl::StatusOr<Recommendation> rec =
      image2song::Recommend(*snap, images, request.text(), ro);
  if (!rec.ok()) {
    // Overload is counted in the metrics, not logged per call.
    if (!absl::IsResourceExhausted(rec.status())) {
      I2S_LOG(ERROR) << "Recommend failed: " << rec.status();
    }
    return ToGrpcStatus(rec.status());
  }
  metrics_->ObserveStage("model", rec->model_ms / 1000);
  metrics_->ObserveStage("forward", rec->forward_ms / 1000);
  metrics_->ObserveStage("search", rec->search_ms / 1000);
  metrics_->ObserveStage("rerank", rec->rerank_ms / 1000);

  FillRecommendResponse(*rec, *snap, ro.explain, response);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* SongRecommenderService::GetSong(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw_request,
    grpc::ByteBuffer* raw_response) {
  const auto start = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  grpc::Status status = CheckBearerToken(*context, options_.auth_token, kCalls);
  pb::GetSongRequest parsed;
  const pb::GetSongRequest* request = &parsed;
  pb::GetSongResponse song_response;
  pb::GetSongResponse* response = &song_response;
  std::shared_ptr<const Snapshot> snap = snapshot();
  if (!status.ok()) {
    // Not authenticated: answered as it is.
  } else if (absl::Status p = ParseRequest(*raw_request, &parsed); !p.ok()) {
    status = ToGrpcStatus(p);
  } else if (request->song_id().empty()) {
    status = grpc::Status(grpc::INVALID_ARGUMENT, "song_id is empty");
  } else if (snap == nullptr) {
    status = grpc::Status(grpc::UNAVAILABLE, "no index bundle is loaded yet");
  } else {
    int64_t i = snap->bundle->Find(request->song_id());
    if (i < 0) {
      std::string id = request->song_id().substr(0, 200);
      status = grpc::Status(
          grpc::NOT_FOUND, absl::StrCat("no song with id '", id,
                                        "' in bundle ",
                                        snap->bundle->manifest().version));
    } else {
      const SongMeta& m = snap->bundle->song(i);
      pb::Song* s = response->mutable_song();
      s->set_id(m.id);
      s->set_title(m.title);
      s->set_artist(m.artist);
      s->set_genre(m.genre);
      s->set_mood(m.mood);
      s->set_language(m.language);
      s->set_license(m.license);
      s->set_duration_seconds(m.duration_seconds);
      s->set_explicit_lyrics(m.explicit_lyrics);
      for (const std::string& t : m.tags) s->add_tags(t);
      s->set_lyrics(absl::StrJoin(m.lines, "\n"));
    }
  }
  if (status.ok()) status = SerializeResponse(*response, raw_response);
  Finish(reactor, "GetSong", status, start);
  return reactor;
}

grpc::ServerUnaryReactor* SongRecommenderService::GetInfo(
    grpc::CallbackServerContext* context, const pb::GetInfoRequest* request,
    pb::GetInfoResponse* response) {
  const auto start = Clock::now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (grpc::Status auth = CheckBearerToken(*context, options_.auth_token, kCalls);
      !auth.ok()) {
    Finish(reactor, "GetInfo", auth, start);
    return reactor;
  }
  std::shared_ptr<const Snapshot> snap = snapshot();
  response->set_server_version(options_.server_version);
  response->mutable_limits()->set_max_image_bytes(options_.decode.max_bytes);
  response->mutable_limits()->set_max_image_pixels(options_.decode.max_pixels);
  response->mutable_limits()->set_max_top_k(kMaxTopK);
  response->mutable_limits()->set_max_images(options_.max_images);
  response->mutable_limits()->set_max_request_image_bytes(
      options_.max_request_image_bytes);
  response->mutable_limits()->set_max_text_bytes(options_.max_text_bytes);
  if (snap != nullptr) {
    const BundleManifest& m = snap->bundle->manifest();
    response->set_index_version(m.version);
    response->set_embedder_id(m.embedder_id);
    response->set_song_count(snap->bundle->size());
    response->set_vocabulary_size(snap->models->words().size());
    response->set_dimension(m.dim);
    response->set_index_type(m.index_type);
    for (const auto& tagger : snap->models->taggers()) {
      const TaggerInfo& t = tagger->info();
      pb::ModelInfo* mi = response->add_models();
      mi->set_name(t.name);
      mi->set_version(t.version);
      mi->set_kind(t.kind);
      mi->set_label_count(t.label_count);
      mi->set_input_width(t.input_width);
      mi->set_input_height(t.input_height);
      mi->set_execution(t.execution);
      mi->set_max_batch(t.batching ? t.max_batch : 0);
      mi->set_weight(t.weight);
      mi->set_file(t.file);
    }
  }
  Finish(reactor, "GetInfo", grpc::Status::OK, start);
  return reactor;
}

}  // namespace image2song
