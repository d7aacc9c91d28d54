// i2s-text-bench: Google Benchmark microbenchmarks of the sentence encoder
// (core/text/) on lyric lines of 6-10 words, one torch thread:
//   tokenize         SentencePieceTokenizer::Encode, one line per iteration
//   encode/B         SentenceEncoder::Encode of B lines (tokenizer included);
//                    items_per_second = sentences per second
//   forward/B        SentenceEncoder::EncodeIds of B pre-tokenized lines
//
//   build/bench/i2s-text-bench [--benchmark_filter=encode] [--benchmark_format=json]
//
// Uses $I2S_CACHE/models/default/{use_lite.pt,use_vocab.txt}
// (tools/assets/setup_assets.sh).
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "core/models/image_model.h"
#include "core/text/sentence_encoder.h"
#include "util/file_util.h"

namespace image2song {
namespace {

// Public-domain nursery-rhyme lines, 6-10 words each.
const std::vector<std::string>& Lines() {
  static const std::vector<std::string> lines = {
      "Twinkle, twinkle, little star, how I wonder",
      "Row, row, row your boat gently down the stream",
      "My Bonnie lies over the ocean, over the sea",
      "Pussy-cat, pussy-cat, where have you been?",
      "Hey diddle diddle, the cat and the fiddle",
      "London Bridge is falling down, my fair lady",
      "Mary had a little lamb, its fleece was white",
      "Oh my darling, oh my darling Clementine",
      "Jack and Jill went up the hill together",
      "Hickory, dickory, dock, the mouse ran up the clock",
      "Baa, baa, black sheep, have you any wool?",
      "The wheels on the bus go round and round",
      "Ring around the rosie, a pocket full of posies",
      "Sing a song of sixpence, a pocket full of rye",
      "Little Bo-Peep has lost her sheep today",
      "Old MacDonald had a farm, ee-i-ee-i-o",
  };
  return lines;
}

std::vector<std::string> Batch(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(Lines()[i % Lines().size()]);
  return out;
}

std::unique_ptr<SentenceEncoder> encoder;

void BM_Tokenize(benchmark::State& state) {
  const SentencePieceTokenizer& tok = encoder->tokenizer();
  size_t i = 0, tokens = 0;
  for (auto _ : state) {
    auto ids = tok.Encode(Lines()[i++ % Lines().size()]);
    tokens += ids.size();
    benchmark::DoNotOptimize(ids);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["tokens/line"] = double(tokens) / double(state.iterations());
}

void BM_Encode(benchmark::State& state) {
  const std::vector<std::string> batch = Batch(int(state.range(0)));
  for (auto _ : state) {
    auto v = encoder->Encode(batch);
    if (!v.ok()) state.SkipWithError(std::string(v.status().message()).c_str());
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_Forward(benchmark::State& state) {
  std::vector<std::vector<int32_t>> ids;
  for (const auto& s : Batch(int(state.range(0)))) ids.push_back(encoder->tokenizer().Encode(s));
  std::vector<float> out(ids.size() * encoder->dim());
  for (auto _ : state) {
    auto st = encoder->EncodeIds(ids, out.data());
    if (!st.ok()) state.SkipWithError(std::string(st.message()).c_str());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

}  // namespace
}  // namespace image2song

int main(int argc, char** argv) {
  using namespace image2song;
  SetTorchThreads(1, 1);
  benchmark::Initialize(&argc, argv);
  SentenceEncoderOptions o;
  o.model_path = DefaultCacheDir() + "/models/default/use_lite.pt";
  o.vocab_path = DefaultCacheDir() + "/models/default/use_vocab.txt";
  auto e = SentenceEncoder::Create(o);
  if (!e.ok()) {
    std::cerr << "i2s-text-bench: " << e.status().message()
              << " (run tools/assets/setup_assets.sh)\n";
    return 1;
  }
  encoder = std::move(*e);
  benchmark::RegisterBenchmark("tokenize", BM_Tokenize)->Unit(benchmark::kMicrosecond);
  for (const char* name : {"encode", "forward"}) {
    auto* b = benchmark::RegisterBenchmark(name, name[0] == 'e' ? BM_Encode : BM_Forward);
    b->Arg(1)->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond);
  }
  benchmark::RunSpecifiedBenchmarks();
  encoder.reset();
  return 0;
}
