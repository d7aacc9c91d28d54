// The SongRecommender gRPC service (callback API). Handlers validate the
// request, hand the work to a bounded WorkQueue and return; a worker decodes,
// tags, searches, reranks and calls Finish.
//
// Thread-safety: all methods are thread-safe. The serving Snapshot is held
// through a shared_ptr so a future reload can swap it while requests run.
#ifndef IMAGE2SONG_SERVER_SERVICE_H_
#define IMAGE2SONG_SERVER_SERVICE_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "core/image/image.h"
#include "core/recommender.h"
#include "image2song/v1/image2song.grpc.pb.h"
#include "server/metrics.h"
#include "server/request.h"
#include "server/work_queue.h"

namespace image2song {

// Metadata the HTTP gateway puts on its calls (server/http/http_gateway.cc).
inline constexpr char kGatewayCallHeader[] = "x-i2s-http-gateway";

struct ServiceOptions {
  // Worker threads running Recommend. Default: 2.
  int workers = 2;
  // Recommend requests that may wait for a worker. Default: 64.
  int queue_size = 64;
  // Image limits (see DecodeOptions). Default: 16 MiB, 100 MP.
  DecodeOptions decode;
  // Ranking settings of every Recommend: candidates, lexical_candidates,
  // fusion (k, channel weights), retrieval_weight, temperature,
  // text_weight, explain_lines (RecommendOptions' defaults).
  // top_k, explain and filters come from each request.
  RecommendOptions ranking;
  // Images per Recommend (image + images). Default: 16.
  int max_images = 16;
  // Encoded bytes of all images of one Recommend. Default: 48 MiB.
  int64_t max_request_image_bytes = int64_t{48} << 20;
  // Longest text hint. Default: 1024 bytes.
  int max_text_bytes = 1024;
  // Server version string reported by GetInfo.
  std::string server_version;
  // When set, every SongRecommender call needs "authorization: Bearer
  // <token>" (UNAUTHENTICATED otherwise). Health and reflection stay open.
  std::string auth_token;
};

// Recommend and GetSong take raw request bytes and parse them here, so a
// request gRPC's parser would refuse with an empty UNIMPLEMENTED (a string
// field that is not UTF-8, bytes that are no message) is answered
// INVALID_ARGUMENT naming the problem (server/request.h).
using SongRecommenderBase = image2song::v1::SongRecommender::WithRawCallbackMethod_Recommend<
    image2song::v1::SongRecommender::WithRawCallbackMethod_GetSong<
        image2song::v1::SongRecommender::WithCallbackMethod_GetInfo<
            image2song::v1::SongRecommender::Service>>>;

class SongRecommenderService final : public SongRecommenderBase {
 public:
  static constexpr int kMaxTopK = 100;
  static constexpr int kDefaultTopK = 10;

  SongRecommenderService(const ServiceOptions& options, Metrics* metrics,
                         std::function<void()> on_worker_start);
  ~SongRecommenderService() override;

  void SetSnapshot(std::shared_ptr<const Snapshot> snapshot);
  // Shutdown has begun: from now on a new call is refused with UNAVAILABLE
  // ("the server is shutting down"), except calls of the HTTP gateway
  // (metadata kGatewayCallHeader), whose requests were received before its
  // port closed. Calls already accepted finish.
  void StopAcceptingCalls();
  std::shared_ptr<const Snapshot> snapshot() const;
  // Lets queued work finish and stops the workers.
  void Drain();

  // Recommend: the cheap checks (auth, parsing, UTF-8, limits, image
  // headers) run here, so a bad request never waits behind valid ones; the
  // rest runs on a worker.
  grpc::ServerUnaryReactor* Recommend(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetSong(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetInfo(grpc::CallbackServerContext* context,
                                    const image2song::v1::GetInfoRequest* request,
                                    image2song::v1::GetInfoResponse* response) override;

 private:
  // Does one Recommend on a worker thread.
  absl::Status RunRecommend(grpc::CallbackServerContext* context,
                            const image2song::v1::RecommendRequest& request,
                            image2song::v1::RecommendResponse* response);
  // Answers the call (status through ToGrpcStatus, the one conversion) and
  // counts it.
  grpc::ServerUnaryReactor* Finish(grpc::ServerUnaryReactor* reactor, const char* method,
                                   const absl::Status& status,
                                   std::chrono::steady_clock::time_point start);

  // OK, or UNAVAILABLE once StopAcceptingCalls() ran (see there).
  absl::Status CheckAccepting(const grpc::CallbackServerContext& context) const;

  const ServiceOptions options_;
  const RequestLimits limits_;  // from options_
  Metrics* metrics_;
  std::atomic<bool> accepting_{true};
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;
  WorkQueue queue_;
};

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_SERVICE_H_
