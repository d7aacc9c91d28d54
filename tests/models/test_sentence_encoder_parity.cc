// The sentence encoder (core/text/) against the model's own JavaScript library
// (CTest label `models`): tools/assets/setup_assets.sh runs
// tools/assets/parity/use_tfjs.mjs (@energetic-ai/core + embeddings 0.2.0 in
// Node) on tools/assets/data/use_sentences.json and keeps its token ids and
// vectors in $I2S_CACHE/parity/use_tfjs.json. Here the C++ tokenizer must give
// the same ids for every sentence, and SentenceEncoder (use_lite.pt) vectors
// within 1e-4 per value and cosine >= 0.9999 of the library's. Exits 77
// (skipped) when the cache has not been prepared.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "core/text/sentence_encoder.h"
#include "tests/support/test_util.h"
#include "util/file_util.h"

namespace image2song {
namespace {

constexpr double kMaxAbs = 1e-4;
constexpr double kMinCosine = 0.9999;

std::string ModelPath() { return DefaultCacheDir() + "/models/default/use_lite.pt"; }
std::string VocabPath() { return DefaultCacheDir() + "/models/default/use_vocab.txt"; }
std::string ReferencePath() { return DefaultCacheDir() + "/parity/use_tfjs.json"; }

struct Reference {
  std::vector<std::string> text;
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::vector<float>> batch;   // rows of embed(all sentences)
  std::vector<std::vector<float>> single;  // embed([text]) alone; empty when it failed
};

const Reference& Ref() {
  static const Reference* ref = [] {
    auto* r = new Reference;
    std::ifstream in(ReferencePath());
    const nlohmann::json j = nlohmann::json::parse(in);
    for (const auto& s : j.at("sentences")) {
      r->text.push_back(s.at("text").get<std::string>());
      r->ids.push_back(s.at("ids").get<std::vector<int32_t>>());
      r->batch.push_back(s.at("batch").get<std::vector<float>>());
      r->single.push_back(s.at("single").is_array() ? s.at("single").get<std::vector<float>>()
                                                    : std::vector<float>());
    }
    return r;
  }();
  return *ref;
}

const SentenceEncoder& Encoder() {
  static const SentenceEncoder* enc = [] {
    SentenceEncoderOptions o;
    o.model_path = ModelPath();
    o.vocab_path = VocabPath();
    auto e = SentenceEncoder::Create(o);
    if (!e.ok()) {
      std::cerr << e.status() << "\n";
      std::abort();
    }
    return e->release();
  }();
  return *enc;
}

struct Diff {
  double max_abs = 0, min_cos = 1;
};

void Compare(const float* got, const std::vector<float>& want, Diff* d) {
  REQUIRE(want.size() == 512);
  double dot = 0, ng = 0, nw = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    d->max_abs = std::max(d->max_abs, double(std::fabs(got[k] - want[k])));
    dot += double(got[k]) * want[k];
    ng += double(got[k]) * got[k];
    nw += double(want[k]) * want[k];
  }
  d->min_cos = std::min(d->min_cos, dot / std::sqrt(ng * nw));
}

TEST_CASE("token ids equal the library's") {
  const Reference& ref = Ref();
  const SentencePieceTokenizer& tok = Encoder().tokenizer();
  REQUIRE(ref.text.size() >= 20);
  size_t same = 0, tokens = 0;
  for (size_t i = 0; i < ref.text.size(); ++i) {
    INFO("sentence " << i << ": '" << ref.text[i] << "'");
    const std::vector<int32_t> got = tok.Encode(ref.text[i]);
    CHECK(got == ref.ids[i]);
    same += got == ref.ids[i];
    tokens += ref.ids[i].size();
  }
  std::cout << absl::StrFormat("tokenizer: %d/%d sentences (%d tokens) equal the library's\n", same,
                               ref.text.size(), tokens);
}

TEST_CASE("vectors equal the library's") {
  const Reference& ref = Ref();
  const SentenceEncoder& enc = Encoder();
  REQUIRE(enc.dim() == 512);
  REQUIRE(enc.max_tokens() == 128);
  auto all = enc.Encode(ref.text);
  REQUIRE(all.ok());
  Diff batch, single;
  int n_single = 0;
  for (size_t i = 0; i < ref.text.size(); ++i) {
    Compare(all->data() + i * 512, ref.batch[i], &batch);
    if (ref.single[i].empty()) continue;  // the library fails on "" alone
    auto one = enc.Encode({ref.text[i]});
    REQUIRE(one.ok());
    Compare(one->data(), ref.single[i], &single);
    ++n_single;
  }
  std::cout << absl::StrFormat(
      "encoder vs library: %d sentences in one call: max |diff| %.2e, min cosine %.7f; "
      "%d one by one: max |diff| %.2e, min cosine %.7f\n",
      ref.text.size(), batch.max_abs, batch.min_cos, n_single, single.max_abs, single.min_cos);
  CHECK(batch.max_abs <= kMaxAbs);
  CHECK(batch.min_cos >= kMinCosine);
  CHECK(single.max_abs <= kMaxAbs);
  CHECK(single.min_cos >= kMinCosine);
}

TEST_CASE("the issue's example: nearest lyric lines") {
  const Reference& ref = Ref();
  auto v = Encoder().Encode(ref.text);
  REQUIRE(v.ok());
  auto nearest = [&](const std::string& query) {
    const size_t q = std::find(ref.text.begin(), ref.text.end(), query) - ref.text.begin();
    REQUIRE(q < ref.text.size());
    size_t best = q;
    double best_sim = -2;
    for (size_t i = 0; i < ref.text.size(); ++i) {
      if (i == q || ref.text[i].empty()) continue;
      double s = 0;
      for (int k = 0; k < 512; ++k) s += double((*v)[q * 512 + k]) * (*v)[i * 512 + k];
      if (s > best_sim) best_sim = s, best = i;
    }
    return ref.text[best];
  };
  CHECK(nearest("a cat sleeping by the fire") == "Pussy-cat, pussy-cat, where have you been?");
  CHECK(nearest("a ship sailing on the ocean") == "Row, row, row your boat");
}

TEST_CASE("concurrent callers, split batches and the empty sentence") {
  const Reference& ref = Ref();
  const SentenceEncoder& enc = Encoder();
  auto want = enc.Encode(ref.text);
  REQUIRE(want.ok());
  std::vector<std::vector<float>> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep) {
        auto v = enc.Encode(ref.text);
        if (v.ok()) got[t] = std::move(*v);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& g : got) {
    REQUIRE(g.size() == want->size());
    double d = 0;
    for (size_t k = 0; k < g.size(); ++k) d = std::max(d, double(std::fabs(g[k] - (*want)[k])));
    CHECK(d <= 1e-6);
  }
  // 100 sentences: two forward passes (max_batch 64), rows in input order
  std::vector<std::string> many;
  for (int i = 0; i < 100; ++i) many.push_back(ref.text[i % ref.text.size()]);
  auto v = enc.Encode(many);
  REQUIRE(v.ok());
  Diff d;
  for (size_t i = 0; i < many.size(); ++i) {
    Compare(v->data() + i * 512, ref.batch[i % ref.text.size()], &d);
  }
  CHECK(d.max_abs <= kMaxAbs);
  auto none = enc.Encode({});
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("refusals") {
  const SentenceEncoder& enc = Encoder();
  std::vector<float> out(512);
  auto st = enc.EncodeIds({{1, 2, enc.tokenizer().size()}}, out.data());
  CHECK(st.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(st.message(), "outside"));
  CHECK(enc.EncodeIds({{-1}}, out.data()).code() == absl::StatusCode::kInvalidArgument);

  SentenceEncoderOptions o;
  o.model_path = ModelPath();
  o.vocab_path = DefaultCacheDir() + "/no/such/vocab.txt";
  CHECK(SentenceEncoder::Create(o).status().code() == absl::StatusCode::kNotFound);
  testing::TempDir dir;
  const std::string small = dir.path() + "/vocab.txt";
  testing::WriteWholeFile(small,
                          "# i2s-sentencepiece-vocab 1\n0\tu\n0\ts\n0\t/s\n0\t1\n0\t2\n0\t3\n");
  o.vocab_path = small;
  auto wrong = SentenceEncoder::Create(o);
  CHECK(wrong.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(wrong.status().message(), "was converted with 8000 pieces"));
  o.vocab_path = VocabPath();
  o.model_path = small;
  CHECK(SentenceEncoder::Create(o).status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace image2song

int main(int argc, char* argv[]) {
  for (const std::string& p :
       {image2song::ModelPath(), image2song::VocabPath(), image2song::ReferencePath()}) {
    if (!std::ifstream(p)) {
      std::cout << p << " missing (run tools/assets/setup_assets.sh): skipped\n";
      return 77;
    }
  }
  return Catch::Session().run(argc, argv);
}
