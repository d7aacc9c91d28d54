// i2s-microbench: Google Benchmark microbenchmarks of each stage of a
// Recommend call, on the default models and bundle (or $I2S_MODELS,
// $I2S_BUNDLE):
//   decode      JPEG at 0.3, 1 and 12 megapixels and a 1 MP PNG, decoded to
//               the working size as the server does
//   tagger/*    each tagger of the manifest on a decoded photo
//   query       tags -> query vector (BuildQuery)
//   search      FAISS top 200
//   recommend   search + tag-attention rerank of 200 candidates, without and
//               with explanations of the top 10 (RecommendForTags); /cold:
//               with the CPU caches evicted before each call, as the model's
//               forward pass leaves them in the server
//   response    filling the RecommendResponse protobuf
//
//   build/bench/i2s-microbench [--benchmark_filter=decode] [--benchmark_format=json]
//
// One torch thread and one OpenMP thread, as each server worker runs.
#include <omp.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <benchmark/benchmark.h>

#include "absl/strings/str_cat.h"
#include "core/bundle/bundle.h"
#include "core/bundle/embedder.h"
#include "core/image/image.h"
#include "core/models/image_model.h"
#include "core/models/model_set.h"
#include "core/query.h"
#include "core/recommender.h"
#include "core/snapshot.h"
#include "server/response.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

struct Fixture {
  std::shared_ptr<const Snapshot> snapshot;
  DecodeOptions decode;  // the default models' working size, as the server
  RgbImage photo;        // decoded sample photo at the working size
  std::vector<std::pair<std::string, std::string>> encoded;  // name, bytes
  std::vector<Tag> tags;
  std::vector<float> query;
};

Fixture* fixture = nullptr;

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

absl::Status Setup() {
  fixture = new Fixture;
  SnapshotOptions so;
  so.models.manifest_path = Env("I2S_MODELS", DefaultModelsPath());
  so.bundle_dir = Env("I2S_BUNDLE", DefaultBundleDir());
  ASSIGN_OR_RETURN(fixture->snapshot, LoadSnapshot(so));

  // A sample photo, scaled to the benchmark sizes and re-encoded.
  const std::string photo_path = Env("I2S_PHOTO", JoinPath(DefaultCacheDir(), "samples/china.jpg"));
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(photo_path, int64_t{64} << 20));
  DecodeOptions full;
  full.working_size = 1 << 20;  // no reduction: the source for scaling
  ASSIGN_OR_RETURN(RgbImage source, DecodeImage(bytes, full));
  fixture->decode = DecodeOptionsFor(*fixture->snapshot->models);
  ASSIGN_OR_RETURN(fixture->photo, DecodeImage(bytes, fixture->decode));
  for (const auto& [name, w, h, ext] : std::vector<std::tuple<std::string, int, int, std::string>>{
           {"jpeg_0.3MP", 640, 480, ".jpg"},
           {"jpeg_1MP", 1152, 864, ".jpg"},
           {"jpeg_12MP", 4000, 3000, ".jpg"},
           {"png_1MP", 1152, 864, ".png"}}) {
    RgbImage scaled;
    scaled.width = w;
    scaled.height = h;
    scaled.pixels.resize(size_t(w) * h * 3);
    // Nearest-neighbour scaling is enough for a decode benchmark input.
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const int sx = x * source.width / w, sy = y * source.height / h;
        for (int c = 0; c < 3; ++c) {
          scaled.pixels[(size_t(y) * w + x) * 3 + c] =
              source.pixels[(size_t(sy) * source.width + sx) * 3 + c];
        }
      }
    }
    ASSIGN_OR_RETURN(std::string enc, EncodeImage(scaled, ext));
    fixture->encoded.emplace_back(name, std::move(enc));
  }
  ASSIGN_OR_RETURN(ImageTags tagged, fixture->snapshot->models->TagImage(fixture->photo));
  fixture->tags = std::move(tagged.tags);
  std::vector<std::vector<float>> tag_vectors;
  if (!BuildQuery(fixture->tags, fixture->snapshot->models->words(),
                  fixture->snapshot->bundle->manifest().common, &fixture->query, &tag_vectors)) {
    return absl::FailedPreconditionError("the sample photo gives no usable tags");
  }
  return absl::OkStatus();
}

void BM_Decode(benchmark::State& state, int which) {
  const std::string& bytes = fixture->encoded[which].second;
  for (auto _ : state) {
    auto image = DecodeImage(bytes, fixture->decode);
    if (!image.ok()) state.SkipWithError(std::string(image.status().message()).c_str());
    benchmark::DoNotOptimize(image);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytes.size()));
}

void BM_Tagger(benchmark::State& state, int which) {
  const Tagger& tagger = *fixture->snapshot->models->taggers()[which];
  for (auto _ : state) {
    auto tags = tagger.Run(fixture->photo);
    if (!tags.ok()) state.SkipWithError(std::string(tags.status().message()).c_str());
    benchmark::DoNotOptimize(tags);
  }
}

// One model's forward pass at batch state.range(0): how the cost per image
// changes with the batch size (what dynamic batching can gain).
void BM_Forward(benchmark::State& state, const ImageModel* model, int w, int h) {
  const int batch = static_cast<int>(state.range(0));
  std::vector<float> input;
  for (int b = 0; b < batch; ++b) {
    std::vector<float> one = ReferenceInput(h, w, b);
    input.insert(input.end(), one.begin(), one.end());
  }
  for (int i = 0; i < 3; ++i) {  // the profiling executor specialises per shape
    if (!model->Run(input.data(), batch).ok()) {
      state.SkipWithError("forward pass fails at this batch size");
      return;
    }
  }
  for (auto _ : state) {
    auto out = model->Run(input.data(), batch);
    benchmark::DoNotOptimize(out);
  }
  state.counters["images_per_s"] =
      benchmark::Counter(double(batch) * double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_Query(benchmark::State& state) {
  std::vector<float> query;
  std::vector<std::vector<float>> tag_vectors;
  for (auto _ : state) {
    BuildQuery(fixture->tags, fixture->snapshot->models->words(),
               fixture->snapshot->bundle->manifest().common, &query, &tag_vectors);
    benchmark::DoNotOptimize(query);
  }
}

void BM_Search(benchmark::State& state) {
  for (auto _ : state) {
    auto hits = fixture->snapshot->bundle->index().Search(fixture->query.data(),
                                                          RecommendOptions().candidates, nullptr);
    benchmark::DoNotOptimize(hits);
  }
}

// Writes 32 MB: in the server the model's forward pass runs between two
// searches and leaves little of the index or the word tables in the caches.
void EvictCaches() {
  static std::vector<char> junk(size_t(32) << 20);
  for (size_t i = 0; i < junk.size(); i += 64) junk[i] = char(junk[i] + 1);
  benchmark::ClobberMemory();
}

void BM_Recommend(benchmark::State& state, bool explain, bool cold) {
  RecommendOptions o;  // the server's defaults: top 10 of 200 candidates
  o.explain = explain;
  double search_ms = 0, rerank_ms = 0;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      EvictCaches();
      state.ResumeTiming();
    }
    auto rec = RecommendForTags(*fixture->snapshot, fixture->tags, o);
    if (!rec.ok()) {
      state.SkipWithError(std::string(rec.status().message()).c_str());
      break;
    }
    search_ms += rec->search_ms;
    rerank_ms += rec->rerank_ms;
  }
  state.counters["search_ms"] = search_ms / double(state.iterations());
  state.counters["rerank200_ms"] = rerank_ms / double(state.iterations());
}

void BM_Response(benchmark::State& state) {
  RecommendOptions o;
  o.explain = true;
  auto rec = RecommendForTags(*fixture->snapshot, fixture->tags, o);
  if (!rec.ok()) {
    state.SkipWithError(std::string(rec.status().message()).c_str());
    return;
  }
  for (auto _ : state) {
    image2song::v1::RecommendResponse response;
    FillRecommendResponse(*rec, *fixture->snapshot, true, &response);
    benchmark::DoNotOptimize(response);
  }
}

}  // namespace
}  // namespace image2song

int main(int argc, char** argv) {
  using namespace image2song;
  SetTorchThreads(1, 1);
  omp_set_num_threads(1);
  benchmark::Initialize(&argc, argv);
  if (absl::Status s = Setup(); !s.ok()) {
    std::cerr << "i2s-microbench: " << s.message()
              << " (run tools/assets/setup_assets.sh and tools/quickstart.sh, or set "
                 "I2S_MODELS / I2S_BUNDLE / I2S_PHOTO)\n";
    return 1;
  }
  for (size_t i = 0; i < fixture->encoded.size(); ++i) {
    benchmark::RegisterBenchmark(("decode/" + fixture->encoded[i].first).c_str(), BM_Decode, int(i))
        ->Unit(benchmark::kMillisecond);
  }
  const auto& taggers = fixture->snapshot->models->taggers();
  for (size_t i = 0; i < taggers.size(); ++i) {
    benchmark::RegisterBenchmark(("tagger/" + taggers[i]->info().name).c_str(), BM_Tagger, int(i))
        ->Unit(benchmark::kMillisecond);
  }
  // The taggers' models alone, at several batch sizes.
  static std::vector<std::unique_ptr<ImageModel>> models;
  const std::string model_dir = ParentDir(Env("I2S_MODELS", DefaultModelsPath()));
  for (const auto& t : taggers) {
    const TaggerInfo& info = t->info();
    if (info.file.empty()) continue;
    ImageModelOptions o;
    o.path = JoinPath(model_dir, info.file);
    o.input_width = info.input_width;
    o.input_height = info.input_height;
    auto m = ImageModel::Load(o);
    if (!m.ok()) {
      std::cerr << "i2s-microbench: " << m.status().message() << "\n";
      return 1;
    }
    models.push_back(std::move(*m));
    auto* b = benchmark::RegisterBenchmark(("forward/" + info.name).c_str(), BM_Forward,
                                           models.back().get(), info.input_width, info.input_height)
                  ->Arg(1)
                  ->Unit(benchmark::kMillisecond);
    // Detectors here return one image's boxes whatever the batch: batch 1.
    if (info.kind == "classifier") b->Arg(2)->Arg(4)->Arg(6)->Arg(8)->Arg(12);
  }
  benchmark::RegisterBenchmark("query", BM_Query)->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("search/top200", BM_Search)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("recommend/search+rerank200", BM_Recommend, false, false)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("recommend/search+rerank200/cold", BM_Recommend, false, true)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("recommend/search+rerank200+explain", BM_Recommend, true, false)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("response/top10+explain", BM_Response)
      ->Unit(benchmark::kMicrosecond);
  std::cerr << "bundle " << fixture->snapshot->bundle->manifest().version << " ("
            << fixture->snapshot->bundle->size() << " songs, "
            << fixture->snapshot->bundle->index().Describe() << "), models "
            << fixture->snapshot->models->version() << "\n";
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
