// i2s-server: the image2song gRPC server. Flags fill a ServerOptions
// (server/server.h, which documents every default) and Server does the rest;
// this file handles signals and the port file.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "server/request.h"
#include "server/server.h"
#include "util/cli.h"
#include "util/file_util.h"
#include "util/log.h"
#include "util/status_macros.h"

#ifndef I2S_VERSION
#define I2S_VERSION "dev"
#endif

namespace {
// The flags' defaults.
const image2song::ServerOptions& D() {
  static const auto* defaults = new image2song::ServerOptions();
  return *defaults;
}
}  // namespace

ABSL_FLAG(std::string, listen, D().listen,
          "gRPC listen address host:port (port 0 picks a free port).");
ABSL_FLAG(std::string, bundle, "",
          "Index bundle directory (from i2s-index). Default: "
          "$I2S_CACHE/bundles/demo, I2S_CACHE defaulting to "
          "~/.cache/image2song.");
ABSL_FLAG(std::string, models, "",
          "Model manifest models.json. Default: "
          "$I2S_CACHE/models/default/models.json.");
ABSL_FLAG(int, workers, D().service.workers, "Worker threads running Recommend.");
ABSL_FLAG(int, queue_size, D().service.queue_size,
          "Recommend requests that may wait for a worker; beyond that the "
          "server answers RESOURCE_EXHAUSTED.");
ABSL_FLAG(int, torch_threads, D().torch_threads, "LibTorch intra-op threads per worker.");
ABSL_FLAG(int64_t, max_image_bytes, D().service.decode.max_bytes,
          "Largest encoded image accepted (bytes); larger -> "
          "INVALID_ARGUMENT.");
ABSL_FLAG(int64_t, max_image_pixels, D().service.decode.max_pixels,
          "Largest image accepted (width*height, checked on the header "
          "before decoding).");
ABSL_FLAG(int, max_images, D().service.max_images,
          "Images per Recommend request (image + images).");
ABSL_FLAG(int64_t, max_request_image_bytes, D().service.max_request_image_bytes,
          "Encoded bytes of all images of one Recommend request.");
ABSL_FLAG(int, max_text_bytes, D().service.max_text_bytes, "Longest Recommend text hint (bytes).");
ABSL_FLAG(float, text_weight, D().service.ranking.text_weight,
          "Weight of the text hint's words in the query (image tags: their "
          "tagger's weight).");
ABSL_FLAG(int64_t, max_receive_bytes, D().max_receive_bytes,
          "Largest gRPC message accepted; gRPC itself refuses larger ones "
          "with RESOURCE_EXHAUSTED.");
ABSL_FLAG(std::string, metrics_listen, D().metrics_listen,
          "Prometheus metrics HTTP address host:port (GET /metrics); empty "
          "disables.");
ABSL_FLAG(std::string, http_listen, D().http.listen,
          "HTTP/JSON gateway and web page address host:port (POST "
          "/v1/recommend, GET /v1/info, GET /v1/songs/{id}, GET /healthz, GET "
          "/); plaintext (terminate TLS in front of it); empty disables.");
ABSL_FLAG(int, http_threads, D().http.threads,
          "HTTP gateway handler threads: POST /v1/recommend requests answered "
          "at once (each waits on its gRPC call); 4x as many more may wait, "
          "beyond that 429. Connections are bounded by --http_max_connections, "
          "not by this.");
ABSL_FLAG(int, http_max_connections, D().http.server.max_connections,
          "HTTP connections held at once; beyond that a new connection is "
          "answered 503 (Retry-After: 1, Connection: close) and closed.");
ABSL_FLAG(int, http_max_connections_per_client, D().http.server.max_connections_per_client,
          "HTTP connections held at once per client IP address; beyond that "
          "a new one is answered 429 and closed. 0: no bound (use 0 or a "
          "large value behind a proxy, whose address all clients share).");
ABSL_FLAG(int, http_header_timeout_ms, D().http.server.header_timeout_ms,
          "An HTTP request head (request line and headers) must arrive within "
          "this of the connection (of its first byte on a kept-alive "
          "connection); otherwise 408 and the connection is closed.");
ABSL_FLAG(int, http_body_timeout_ms, D().http.server.body_timeout_ms,
          "An HTTP request body must arrive within this of its head, and a "
          "reply be read by the client within this; otherwise 408 (body) and "
          "the connection is closed.");
ABSL_FLAG(int, http_idle_timeout_ms, D().http.server.idle_timeout_ms,
          "A kept-alive HTTP connection without a request is closed after "
          "this.");
ABSL_FLAG(int, http_timeout_ms, D().http.timeout_ms,
          "Deadline of the gRPC call behind one HTTP request, counted from "
          "when the request was received (a wait for a handler thread "
          "included).");
ABSL_FLAG(std::string, port_file, "",
          "If set, write {\"grpc_port\":N,\"metrics_port\":M,\"http_port\":H} "
          "here once serving (for port 0).");
ABSL_FLAG(int, candidates, D().service.ranking.candidates,
          "First-stage candidates reranked: the dense (FAISS) channel returns "
          "this many and the fused list is cut to this many.");
ABSL_FLAG(int, lexical_candidates, D().service.ranking.lexical_candidates,
          "Songs the lexical (BM25) channel returns before fusion; 0: as many "
          "as --candidates.");
ABSL_FLAG(float, lexical_weight, D().service.ranking.fusion.lexical_weight,
          "Weight of the lexical channel in the reciprocal-rank fusion (the "
          "dense channel's is 1); 0: it brings no candidates (--bm25_weight "
          "still scores the dense ones).");
ABSL_FLAG(float, fusion_k, D().service.ranking.fusion.k,
          "Reciprocal-rank fusion constant k: a song at rank r in a channel "
          "gets weight / (k + r).");
ABSL_FLAG(float, bm25_weight, D().service.ranking.bm25_weight,
          "Weight of a song's BM25 score for the tags' words (divided by the "
          "best candidate's) in the final score; 0: the lexical channel only "
          "brings candidates.");
ABSL_FLAG(float, cooccurrence_weight, D().service.ranking.cooccurrence_weight,
          "Weight, relative to a core word's 1, of the words the catalogue's lyrics "
          "use with each tag's words (the bundle's cooccur.bin, normalised PMI) in "
          "the lexical query; 0: no such expansion.");
ABSL_FLAG(float, cooccurrence_dense_weight, D().service.ranking.cooccurrence_dense_weight,
          "As --cooccurrence_weight, in the dense query and the tag vectors of "
          "attention; 0: none.");
ABSL_FLAG(int, cooccurrence_words, D().service.ranking.cooccurrence_words,
          "Co-occurring words taken per core word of a tag (with "
          "--cooccurrence_weight or --cooccurrence_dense_weight).");
ABSL_FLAG(float, sentence_weight, D().service.ranking.sentence_weight,
          "Share of sentence-vector attention (the tags' phrase vectors over the "
          "lyric lines' sentence vectors) in the attention score: needs a models.json "
          "with a sentence_encoder and a bundle built with i2s-index "
          "--sentence_vectors; 0: word vectors only (the encoder is not loaded); 1: "
          "sentence vectors only.");
ABSL_FLAG(float, sentence_temperature, D().service.ranking.sentence_temperature,
          "Softmax temperature of the sentence attention over a song's lines.");
ABSL_FLAG(int, sentence_tags, D().service.ranking.sentence_tags,
          "Distinct tag labels whose phrase vectors attend over the lines (the "
          "strongest).");
ABSL_FLAG(float, mood_weight, D().service.ranking.mood_weight,
          "Mood-aware ranking: weight of the agreement of a song's lyric mood with "
          "the pictures' mood (-1: the models manifest's \"mood\": {\"weight\"}; 0: "
          "the pictures' mood does not steer).");
ABSL_FLAG(float, requested_mood_weight, D().service.ranking.requested_mood_weight,
          "Mood-aware ranking: weight of the agreement with a mood the request names "
          "(RecommendRequest.mood; -1: the manifest's \"request_weight\").");
ABSL_FLAG(float, bm25_k1, D().bundle.lexical.k1,
          "Lexical channel: BM25 term-frequency saturation k1 (0..100).");
ABSL_FLAG(float, bm25_b, D().bundle.lexical.b,
          "Lexical channel: BM25 length normalisation b (0..1).");
ABSL_FLAG(float, lexical_min_term_share, D().bundle.lexical.min_term_share,
          "Lexical channel: query words whose weight x idf is under this share "
          "of the strongest word's are left out of its search (still counted in "
          "the candidates' BM25); 0: none.");
ABSL_FLAG(int64_t, lexical_max_postings, D().bundle.lexical.max_postings,
          "Lexical channel: postings one query may read (strongest terms "
          "first; a term that would pass the bound is left out); 0: no "
          "bound.");
ABSL_FLAG(int, ef_search, D().bundle.index.ef_search,
          "HNSW search beam width (raised to the candidates).");
ABSL_FLAG(int, ivf_nprobe, D().bundle.index.ivf_nprobe,
          "IVF lists visited per query (ivf, ivfpq bundles).");
ABSL_FLAG(int, refine_factor, D().bundle.index.refine_factor,
          "IVF-PQ: candidates re-scored from the 8-bit copy per requested song.");
ABSL_FLAG(double, exact_filter_share, D().bundle.index.exact_filter_share,
          "A filter keeping at most this share of the songs is searched by an "
          "exact scan of the allowed songs (graph and IVF bundles).");
ABSL_FLAG(float, retrieval_weight, D().service.ranking.retrieval_weight,
          "Weight of the first-stage cosine in the final score (rest: tag "
          "attention).");
ABSL_FLAG(bool, optimize_models, D().models.optimize,
          "Use TorchScript freeze/optimize_for_inference where the outputs "
          "match the plain model.");
ABSL_FLAG(bool, batching, D().models.batching,
          "Dynamic batching: concurrent requests share a model forward pass "
          "(models that fail the load-time batch check run unbatched).");
ABSL_FLAG(int, max_batch, D().models.batching_options.max_batch,
          "Batching: most images per forward pass (a model's manifest entry "
          "may lower it).");
ABSL_FLAG(int64_t, batch_delay_us, D().models.batching_options.max_delay_us,
          "Batching: how long a forward pass waits for more images.");
ABSL_FLAG(int, batch_queue, D().models.batching_options.max_queue,
          "Batching: images that may wait for a model; beyond that Recommend "
          "answers RESOURCE_EXHAUSTED.");
ABSL_FLAG(bool, parallel_taggers, D().models.parallel_taggers,
          "Run an image's model taggers concurrently: the first on the worker, "
          "the others on long-lived tagger threads (one per worker, warmed at "
          "load). Lower latency and, on 2 cores, more throughput at the p99 "
          "budget. The same threads compute the colour features beside the "
          "first model's forward pass, and run the lexical search beside the "
          "dense one, while a core is free of requests.");
ABSL_FLAG(bool, verify_checksums, D().bundle.verify_checksums,
          "Check the bundle files' sha256 against its manifest at load.");
ABSL_FLAG(std::string, admin_token_file, "",
          "Enables the image2song.v1.Admin service (hot bundle swap): a file "
          "holding its bearer token (or set I2S_ADMIN_TOKEN). Off when "
          "neither is set. The token is never logged.");
ABSL_FLAG(std::string, auth_token_file, "",
          "When set (or I2S_AUTH_TOKEN), every SongRecommender call needs "
          "'authorization: Bearer <token>' (UNAUTHENTICATED otherwise); "
          "health and reflection stay open. The token is never logged.");
ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM server certificate (chain): with --tls_key_file the gRPC port "
          "serves TLS only.");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle: clients must present a certificate it signed "
          "(mutual TLS).");
ABSL_FLAG(std::string, bundle_root, "",
          "Admin.LoadBundle paths are relative to this directory and may not "
          "leave it. Default: the parent directory of --bundle.");
ABSL_FLAG(int, bundle_wait_ms, D().bundle_wait_ms,
          "At start, how long to wait for --bundle to appear (e.g. while an "
          "index job still writes it); 0 = fail at once.");
ABSL_FLAG(int, shutdown_grace_ms, D().shutdown_grace_ms,
          "On SIGTERM/SIGINT, how long in-flight requests may take to finish.");
ABSL_FLAG(int, malloc_trim_interval_ms, D().malloc_trim_interval_ms,
          "At most this often, free heap memory is returned to the system "
          "(malloc_trim) after a large request (0 = never).");
ABSL_FLAG(int64_t, malloc_trim_min_request_bytes, D().malloc_trim_min_request_bytes,
          "A request at least this large arms the trim.");

namespace image2song {
namespace {

int Fail(absl::string_view what, const absl::Status& status) {
  I2S_LOG(ERROR) << what << ": " << status.message();
  std::cerr << "i2s-server: " << what << ": " << status.message() << "\n";
  return 1;
}

absl::StatusOr<ServerOptions> OptionsFromFlags() {
  using absl::GetFlag;
  ServerOptions o;
  o.listen = GetFlag(FLAGS_listen);
  o.metrics_listen = GetFlag(FLAGS_metrics_listen);
  o.max_receive_bytes = GetFlag(FLAGS_max_receive_bytes);
  o.models_path = GetFlag(FLAGS_models);
  o.models.optimize = GetFlag(FLAGS_optimize_models);
  o.models.batching = GetFlag(FLAGS_batching);
  o.models.batching_options.max_batch = GetFlag(FLAGS_max_batch);
  o.models.batching_options.max_delay_us = GetFlag(FLAGS_batch_delay_us);
  o.models.batching_options.max_queue = GetFlag(FLAGS_batch_queue);
  o.models.parallel_taggers = GetFlag(FLAGS_parallel_taggers);
  o.torch_threads = GetFlag(FLAGS_torch_threads);
  o.bundle_dir = GetFlag(FLAGS_bundle);
  o.bundle.verify_checksums = GetFlag(FLAGS_verify_checksums);
  o.bundle.index.ef_search = GetFlag(FLAGS_ef_search);
  o.bundle.index.ivf_nprobe = GetFlag(FLAGS_ivf_nprobe);
  o.bundle.index.refine_factor = GetFlag(FLAGS_refine_factor);
  o.bundle.index.exact_filter_share = GetFlag(FLAGS_exact_filter_share);
  o.bundle.lexical.k1 = GetFlag(FLAGS_bm25_k1);
  o.bundle.lexical.b = GetFlag(FLAGS_bm25_b);
  o.bundle.lexical.max_postings = GetFlag(FLAGS_lexical_max_postings);
  o.bundle.lexical.min_term_share = GetFlag(FLAGS_lexical_min_term_share);
  o.bundle_root = GetFlag(FLAGS_bundle_root);
  o.bundle_wait_ms = GetFlag(FLAGS_bundle_wait_ms);
  o.service.workers = GetFlag(FLAGS_workers);
  o.service.queue_size = GetFlag(FLAGS_queue_size);
  o.service.decode.max_bytes = GetFlag(FLAGS_max_image_bytes);
  o.service.decode.max_pixels = GetFlag(FLAGS_max_image_pixels);
  o.service.ranking.candidates = GetFlag(FLAGS_candidates);
  o.service.ranking.retrieval_weight = GetFlag(FLAGS_retrieval_weight);
  o.service.ranking.lexical_candidates = GetFlag(FLAGS_lexical_candidates);
  o.service.ranking.fusion.lexical_weight = GetFlag(FLAGS_lexical_weight);
  o.service.ranking.fusion.k = GetFlag(FLAGS_fusion_k);
  o.service.ranking.bm25_weight = GetFlag(FLAGS_bm25_weight);
  o.service.ranking.cooccurrence_weight = GetFlag(FLAGS_cooccurrence_weight);
  o.service.ranking.cooccurrence_dense_weight = GetFlag(FLAGS_cooccurrence_dense_weight);
  o.service.ranking.cooccurrence_words = GetFlag(FLAGS_cooccurrence_words);
  o.service.ranking.sentence_weight = GetFlag(FLAGS_sentence_weight);
  o.service.ranking.sentence_temperature = GetFlag(FLAGS_sentence_temperature);
  o.service.ranking.sentence_tags = GetFlag(FLAGS_sentence_tags);
  o.service.ranking.mood_weight = GetFlag(FLAGS_mood_weight);
  o.service.ranking.requested_mood_weight = GetFlag(FLAGS_requested_mood_weight);
  o.service.server_version = I2S_VERSION;
  o.service.max_images = GetFlag(FLAGS_max_images);
  o.service.max_request_image_bytes = GetFlag(FLAGS_max_request_image_bytes);
  o.service.max_text_bytes = GetFlag(FLAGS_max_text_bytes);
  o.service.ranking.text_weight = GetFlag(FLAGS_text_weight);
  auto auth_token = ReadSecret(GetFlag(FLAGS_auth_token_file), "I2S_AUTH_TOKEN");
  if (!auth_token.ok()) {
    return WithContext("cannot read --auth_token_file", auth_token.status());
  }
  o.service.auth_token = *auth_token;
  auto admin_token = ReadSecret(GetFlag(FLAGS_admin_token_file), "I2S_ADMIN_TOKEN");
  if (!admin_token.ok()) {
    return WithContext("cannot read --admin_token_file", admin_token.status());
  }
  o.admin_token = *admin_token;
  o.tls.cert_file = GetFlag(FLAGS_tls_cert_file);
  o.tls.key_file = GetFlag(FLAGS_tls_key_file);
  o.tls.client_ca_file = GetFlag(FLAGS_tls_client_ca_file);
  o.http.listen = GetFlag(FLAGS_http_listen);
  o.http.threads = GetFlag(FLAGS_http_threads);
  o.http.timeout_ms = GetFlag(FLAGS_http_timeout_ms);
  o.http.server.max_connections = std::max(1, GetFlag(FLAGS_http_max_connections));
  o.http.server.max_connections_per_client =
      std::max(0, GetFlag(FLAGS_http_max_connections_per_client));
  o.http.server.header_timeout_ms = std::max(1, GetFlag(FLAGS_http_header_timeout_ms));
  o.http.server.body_timeout_ms = std::max(1, GetFlag(FLAGS_http_body_timeout_ms));
  o.http.server.idle_timeout_ms = std::max(1, GetFlag(FLAGS_http_idle_timeout_ms));
  o.malloc_trim_interval_ms = GetFlag(FLAGS_malloc_trim_interval_ms);
  o.malloc_trim_min_request_bytes = GetFlag(FLAGS_malloc_trim_min_request_bytes);
  return o;
}

absl::Status WritePortFile(const std::string& path, const Server& server) {
  const std::string tmp = path + ".tmp";
  RETURN_IF_ERROR(WriteFile(tmp, absl::StrCat("{\"grpc_port\": ", server.grpc_port(),
                                              ", \"metrics_port\": ", server.metrics_port(),
                                              ", \"http_port\": ", server.http_port(), "}\n")));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

int Run() {
  // SIGTERM/SIGINT are taken by sigwait() below; block them before any
  // thread starts so no other thread receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);  // reload the bundle
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  RouteProtobufLogs();

  auto options = OptionsFromFlags();
  if (!options.ok()) return Fail("bad options", options.status());
  auto server = Server::BuildAndStart(*std::move(options));
  if (!server.ok()) return Fail("cannot start", server.status());
  if (const std::string port_file = absl::GetFlag(FLAGS_port_file); !port_file.empty()) {
    absl::Status s = WritePortFile(port_file, **server);
    if (!s.ok()) return Fail("cannot write --port_file", s);
  }

  // Signals: SIGHUP reloads on a helper thread (one at a time; a second
  // SIGHUP during a reload queues behind it); SIGTERM/SIGINT stop.
  int sig = 0;
  std::vector<std::thread> reloads;
  while (true) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    I2S_LOG(INFO) << "received SIGHUP";
    reloads.emplace_back([s = server->get()] { (void)s->Reload(); });
  }
  for (std::thread& t : reloads) t.join();
  I2S_LOG(INFO) << "received " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ": shutting down";
  (*server)->Shutdown(std::chrono::milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms)));
  I2S_LOG(INFO) << "stopped";
  return 0;
}

}  // namespace
}  // namespace image2song

int main(int argc, char** argv) {
  image2song::ParseCommandLineOrHelp(
      argc, argv,
      {"i2s-server",
       "serves image2song.v1.SongRecommender (plus grpc.health.v1 and server "
       "reflection) over gRPC.\n\nusage: i2s-server [flags]",
       "server/i2s_server", I2S_VERSION});
  return image2song::Run();
}
