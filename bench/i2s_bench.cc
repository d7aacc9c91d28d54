// i2s-bench: measures one Recommend per stage, in process, with the models
// and bundle the server would load: decode, model (all taggers), search
// (query, FAISS, lexical channel, fusion; the lexical channel alone also
// has its row), rerank (tag attention, BM25 of the candidates,
// explanations). Prints a table of p50 / p90 / p99 / mean milliseconds per
// stage.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/ranking_flags.h"
#include "core/bundle/bundle.h"
#include "core/image/image.h"
#include "core/models/image_model.h"
#include "core/models/model_set.h"
#include "core/recommender.h"
#include "core/snapshot.h"
#include "util/cli.h"
#include "util/file_util.h"
#include "util/stats.h"

#ifndef I2S_VERSION
#define I2S_VERSION "dev"
#endif

ABSL_FLAG(std::string, bundle, "", "Index bundle. Default: $I2S_CACHE/bundles/demo.");
ABSL_FLAG(std::string, models, "",
          "Model manifest. Default: $I2S_CACHE/models/default/models.json.");
ABSL_FLAG(int, iterations, 50, "Timed Recommend calls per image.");
ABSL_FLAG(int, warmup, 3, "Untimed calls per image first.");
ABSL_FLAG(int, torch_threads, 1, "LibTorch intra-op threads.");
ABSL_FLAG(int, top_k, 10, "Songs per answer.");
ABSL_FLAG(bool, explain, true, "Build explanations (as the client does).");
ABSL_FLAG(bool, optimize_models, true, "As i2s-server --optimize_models.");
ABSL_FLAG(bool, parallel_taggers, true, "As i2s-server --parallel_taggers.");
ABSL_FLAG(bool, batching, false,
          "As i2s-server --batching (one caller: shows the batcher's overhead).");

namespace image2song {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string Row(const std::string& name, const std::vector<double>& v) {
  return absl::StrFormat("| %-10s | %8.2f | %8.2f | %8.2f | %8.2f |\n", name, Percentile(v, 0.5),
                         Percentile(v, 0.9), Percentile(v, 0.99), Mean(v));
}

int Run(const std::vector<std::string>& images) {
  const int threads = std::max(1, absl::GetFlag(FLAGS_torch_threads));
  SetTorchThreads(threads, 1);
  omp_set_num_threads(threads);
  SnapshotOptions so;
  so.models.manifest_path =
      absl::GetFlag(FLAGS_models).empty() ? DefaultModelsPath() : absl::GetFlag(FLAGS_models);
  so.models.optimize = absl::GetFlag(FLAGS_optimize_models);
  so.models.sentence_encoder = SentenceEncoderWanted();
  so.models.parallel_taggers = absl::GetFlag(FLAGS_parallel_taggers);
  so.models.batching = absl::GetFlag(FLAGS_batching);
  so.models.on_thread_start = [threads] {
    SetTorchThreads(threads, 0);
    omp_set_num_threads(threads);
  };
  so.bundle.lexical.min_term_share = LexicalMinTermShareFlag();
  so.bundle_dir =
      absl::GetFlag(FLAGS_bundle).empty() ? DefaultBundleDir() : absl::GetFlag(FLAGS_bundle);
  auto snapshot = LoadSnapshot(so);
  if (!snapshot.ok()) {
    std::cerr << "i2s-bench: " << snapshot.status() << "\n";
    return 1;
  }
  const Snapshot& snap = **snapshot;
  RecommendOptions ro;
  ro.top_k = absl::GetFlag(FLAGS_top_k);
  ro.explain = absl::GetFlag(FLAGS_explain);
  ApplyRankingFlags(&ro);
  std::vector<double> decode, model, forward, search, lexical, rerank, sentence, total;
  for (const std::string& path : images) {
    auto bytes = ReadFile(path, int64_t{64} << 20);
    if (!bytes.ok()) {
      std::cerr << "i2s-bench: " << bytes.status() << "\n";
      return 1;
    }
    const int n = absl::GetFlag(FLAGS_warmup) + absl::GetFlag(FLAGS_iterations);
    for (int i = 0; i < n; ++i) {
      auto t0 = Clock::now();
      auto image = DecodeImage(*bytes, DecodeOptionsFor(*snap.models));
      auto t1 = Clock::now();
      if (!image.ok()) {
        std::cerr << "i2s-bench: " << path << ": " << image.status() << "\n";
        return 1;
      }
      auto rec = Recommend(snap, *image, ro);
      auto t2 = Clock::now();
      if (!rec.ok()) {
        std::cerr << "i2s-bench: " << rec.status() << "\n";
        return 1;
      }
      if (i < absl::GetFlag(FLAGS_warmup)) continue;
      decode.push_back(Ms(t0, t1));
      model.push_back(rec->model_ms);
      forward.push_back(rec->forward_ms);
      search.push_back(rec->search_ms);
      lexical.push_back(rec->lexical_ms);
      rerank.push_back(rec->rerank_ms);
      sentence.push_back(rec->sentence_ms);
      total.push_back(Ms(t0, t2));
    }
  }
  std::printf(
      "%zu images x %d iterations, %lld songs (%s index), models %s, "
      "%d torch thread(s)\n\n",
      images.size(), absl::GetFlag(FLAGS_iterations), static_cast<long long>(snap.bundle->size()),
      snap.bundle->manifest().index_type.c_str(), snap.models->version().c_str(), threads);
  std::printf("| stage      |  p50 ms  |  p90 ms  |  p99 ms  |  mean ms |\n");
  std::printf("|------------|----------|----------|----------|----------|\n");
  std::printf("%s", Row("decode", decode).c_str());
  std::printf("%s", Row("model", model).c_str());
  std::printf("%s", Row(" of it fwd", forward).c_str());
  std::printf("%s", Row("search", search).c_str());
  std::printf("%s", Row(" of it lex", lexical).c_str());
  std::printf("%s", Row("rerank", rerank).c_str());
  std::printf("%s", Row(" of it sent", sentence).c_str());
  std::printf("%s", Row("total", total).c_str());
  const double fmean = Mean(forward), tmean = Mean(total);
  std::printf("\noutside model forward passes: %.1f%% of the total (means)\n",
              tmean > 0 ? 100.0 * (tmean - fmean) / tmean : 0.0);
  return 0;
}

}  // namespace
}  // namespace image2song

int main(int argc, char** argv) {
  std::vector<char*> args = image2song::ParseCommandLineOrHelp(
      argc, argv,
      {"i2s-bench",
       "measures Recommend per stage (decode, model, search, rerank) in "
       "process.\n\nusage: i2s-bench [flags] IMAGE...",
       "server/i2s_bench", I2S_VERSION});
  if (args.size() < 2) {
    std::cerr << "i2s-bench: give at least one IMAGE (see --help)\n";
    return 2;
  }
  return image2song::Run(std::vector<std::string>(args.begin() + 1, args.end()));
}
