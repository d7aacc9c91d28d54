// Tests for core/models/batching_model.h with fake models (no LibTorch needed).
#include "core/models/batching_model.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"

namespace image2song {
namespace {

constexpr int kW = 4, kH = 2;
constexpr size_t kPlane = size_t(3) * kW * kH;

// Output 0: [batch, 2] = (sum of the row, its first value); output 1:
// [batch] = the row's last value. Records batch sizes; can hold its
// first call until released; `shape_bug` makes outputs ignore the batch;
// `batch_bias` adds the batch size to every value (a model whose numbers
// depend on the batch).
class FakeModel : public ImageModel {
 public:
  using ImageModel::Run;
  absl::StatusOr<std::vector<ModelOutput>> Run(const float* input, int batch,
                                               double* forward_ms) const override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      batches_.push_back(batch);
      ++calls_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return !hold_; });
    }
    if (fail_) return absl::InternalError("fake forward failure");
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    if (forward_ms != nullptr) *forward_ms += 1000 + batch;  // recognisable
    const int rows = shape_bug_ ? 1 : batch;
    ModelOutput a, b;
    a.shape = {rows, 2};
    b.shape = {rows};
    for (int r = 0; r < rows; ++r) {
      double sum = 0;
      for (size_t i = 0; i < kPlane; ++i) sum += input[r * kPlane + i];
      a.data.push_back(float(sum) + (batch_bias_ ? batch : 0));
      a.data.push_back(input[r * kPlane]);
      b.data.push_back(input[(r + 1) * kPlane - 1]);
    }
    return std::vector<ModelOutput>{a, b};
  }
  const std::string& execution() const override { return execution_; }

  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = false;
    cv_.notify_all();
  }
  void WaitForCalls(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return calls_ >= n; });
  }
  std::vector<int> batches() const {
    std::lock_guard<std::mutex> lock(mu_);
    return batches_;
  }

  int delay_ms_ = 0;
  bool shape_bug_ = false;
  bool batch_bias_ = false;
  bool fail_ = false;

 private:
  std::string execution_ = "plain";
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  mutable std::vector<int> batches_;
  mutable int calls_ = 0;
  bool hold_ = false;
};

BatchingOptions Options(int max_batch, int64_t delay_us, int max_queue) {
  BatchingOptions o;
  o.name = "fake";
  o.input_width = kW;
  o.input_height = kH;
  o.max_batch = max_batch;
  o.max_delay_us = delay_us;
  o.max_queue = max_queue;
  return o;
}

// `rows` images whose every value is `value + row`.
std::vector<float> Images(int rows, float value) {
  std::vector<float> x;
  for (int r = 0; r < rows; ++r) x.insert(x.end(), kPlane, value + r);
  return x;
}

}  // namespace

TEST_CASE("Concurrent calls share forward passes and each gets its own rows") {
  auto fake = std::make_unique<FakeModel>();
  FakeModel* raw = fake.get();
  std::mutex mu;
  std::vector<std::pair<int, int>> seen;  // (images, calls) per batch
  BatchingOptions o = Options(4, 200000, 64);
  o.on_batch = [&](int images, int calls, double wait_s) {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back({images, calls});
    CHECK(wait_s >= 0);
  };
  auto model = MakeBatchingModel(std::move(fake), o);
  REQUIRE(model.ok());
  REQUIRE(IsBatching(**model));
  const size_t check_calls = raw->batches().size();  // the creation check

  constexpr int kThreads = 8;
  std::vector<absl::StatusOr<std::vector<ModelOutput>>> results(kThreads);
  std::vector<std::vector<float>> inputs;
  for (int t = 0; t < kThreads; ++t) inputs.push_back(Images(1, float(10 * t)));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] { results[t] = (*model)->Run(inputs[t].data(), 1); });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    INFO("caller " << t);
    REQUIRE(results[t].ok());
    const auto& out = *results[t];
    REQUIRE(out.size() == 2);
    CHECK(out[0].shape == std::vector<int64_t>{1, 2});
    CHECK(out[0].data[0] == Approx(10.0 * t * kPlane));
    CHECK(out[0].data[1] == float(10 * t));
    CHECK(out[1].shape == std::vector<int64_t>{1});
  }
  std::vector<int> batches = raw->batches();
  batches.erase(batches.begin(), batches.begin() + long(check_calls));
  int images = 0, largest = 0;
  for (int b : batches) {
    images += b;
    largest = std::max(largest, b);
  }
  CHECK(images == kThreads);
  CHECK(largest <= 4);
  // 8 calls arriving together within a 200 ms window: fewer passes than calls.
  CHECK(batches.size() < size_t(kThreads));
  CHECK(largest > 1);
  std::lock_guard<std::mutex> lock(mu);
  CHECK(seen.size() == batches.size());
}

TEST_CASE("Rows of a multi-image call stay together and in order") {
  auto model = MakeBatchingModel(std::make_unique<FakeModel>(), Options(8, 50000, 64));
  REQUIRE(model.ok());
  std::vector<float> a = Images(3, 1), b = Images(2, 100);
  absl::StatusOr<std::vector<ModelOutput>> ra, rb;
  std::thread ta([&] { ra = (*model)->Run(a.data(), 3); });
  std::thread tb([&] { rb = (*model)->Run(b.data(), 2); });
  ta.join();
  tb.join();
  REQUIRE(ra.ok());
  REQUIRE(rb.ok());
  REQUIRE((*ra)[0].shape == std::vector<int64_t>{3, 2});
  REQUIRE((*rb)[0].shape == std::vector<int64_t>{2, 2});
  for (int r = 0; r < 3; ++r) CHECK((*ra)[0].data[2 * r + 1] == float(1 + r));
  for (int r = 0; r < 2; ++r) CHECK((*rb)[0].data[2 * r + 1] == float(100 + r));
}

TEST_CASE("Each call is told the time of the forward pass that served it") {
  auto model = MakeBatchingModel(std::make_unique<FakeModel>(), Options(8, 50000, 64));
  REQUIRE(model.ok());
  std::vector<float> a = Images(3, 1), b = Images(2, 100);
  double ms_a = 7, ms_b = 0;  // added to, not overwritten
  absl::StatusOr<std::vector<ModelOutput>> ra, rb;
  std::thread ta([&] { ra = (*model)->Run(a.data(), 3, &ms_a); });
  std::thread tb([&] { rb = (*model)->Run(b.data(), 2, &ms_b); });
  ta.join();
  tb.join();
  REQUIRE(ra.ok());
  REQUIRE(rb.ok());
  // FakeModel reports 1000 + batch ms: one pass of 5 rows, or one each.
  if (ms_b == 1005) {
    CHECK(ms_a == 7 + 1005);
  } else {
    CHECK(ms_a == 7 + 1003);
    CHECK(ms_b == 1002);
  }
}

TEST_CASE("A call larger than max_batch runs alone") {
  auto fake = std::make_unique<FakeModel>();
  FakeModel* raw = fake.get();
  auto model = MakeBatchingModel(std::move(fake), Options(2, 1000, 64));
  REQUIRE(model.ok());
  std::vector<float> x = Images(5, 3);
  auto out = (*model)->Run(x.data(), 5);
  REQUIRE(out.ok());
  CHECK((*out)[0].shape == std::vector<int64_t>{5, 2});
  CHECK(raw->batches().back() == 5);
  CHECK_FALSE((*model)->Run(x.data(), 0).ok());
}

TEST_CASE("A full queue answers RESOURCE_EXHAUSTED at once") {
  auto fake = std::make_unique<FakeModel>();
  FakeModel* raw = fake.get();
  auto model = MakeBatchingModel(std::move(fake), Options(1, 0, 2));
  REQUIRE(model.ok());
  const int before = int(raw->batches().size());
  raw->Hold();
  std::vector<float> x = Images(1, 1);
  // The first call is taken by the executor (and held there) ...
  absl::StatusOr<std::vector<ModelOutput>> first;
  std::thread held([&] { first = (*model)->Run(x.data(), 1); });
  raw->WaitForCalls(before + 1);
  // ... of three more, two fill the queue of 2 and one is refused at once.
  std::vector<absl::StatusOr<std::vector<ModelOutput>>> results(3);
  std::atomic<int> done{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      results[i] = (*model)->Run(x.data(), 1);
      ++done;
    });
  }
  for (int i = 0; i < 2000 && done == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  REQUIRE(done == 1);  // the refused one, while the rest wait
  raw->Release();
  held.join();
  for (auto& t : threads) t.join();
  CHECK(first.ok());
  int refused = 0;
  for (const auto& r : results) {
    if (r.ok()) continue;
    ++refused;
    CHECK(r.status().code() == absl::StatusCode::kResourceExhausted);
    CHECK(absl::StrContains(r.status().message(), "fake"));
    CHECK(absl::StrContains(r.status().message(), "overloaded"));
  }
  CHECK(refused == 1);
}

TEST_CASE("A forward error reaches every caller of the batch") {
  auto fake = std::make_unique<FakeModel>();
  FakeModel* raw = fake.get();
  auto model = MakeBatchingModel(std::move(fake), Options(4, 100000, 64));
  REQUIRE(model.ok());
  raw->fail_ = true;
  std::vector<float> x = Images(1, 1);
  absl::StatusOr<std::vector<ModelOutput>> a, b;
  std::thread ta([&] { a = (*model)->Run(x.data(), 1); });
  std::thread tb([&] { b = (*model)->Run(x.data(), 1); });
  ta.join();
  tb.join();
  REQUIRE_FALSE(a.ok());
  REQUIRE_FALSE(b.ok());
  CHECK(a.status().message() == "fake forward failure");
  CHECK(b.status().message() == "fake forward failure");
}

TEST_CASE("Models that cannot batch are kept unbatched") {
  SECTION("outputs ignore the batch dimension") {
    auto fake = std::make_unique<FakeModel>();
    fake->shape_bug_ = true;
    auto model = MakeBatchingModel(std::move(fake), Options(4, 1000, 64));
    REQUIRE(model.ok());
    CHECK_FALSE(IsBatching(**model));
  }
  SECTION("numbers change with the batch") {
    auto fake = std::make_unique<FakeModel>();
    fake->batch_bias_ = true;
    auto model = MakeBatchingModel(std::move(fake), Options(4, 1000, 64));
    REQUIRE(model.ok());
    CHECK_FALSE(IsBatching(**model));
    // Still answers, one call per pass.
    std::vector<float> x = Images(1, 2);
    CHECK((*model)->Run(x.data(), 1).ok());
  }
  SECTION("bad options") {
    CHECK_FALSE(MakeBatchingModel(std::make_unique<FakeModel>(), Options(0, 1000, 64)).ok());
    CHECK_FALSE(MakeBatchingModel(std::make_unique<FakeModel>(), Options(4, -1, 64)).ok());
    CHECK_FALSE(MakeBatchingModel(std::make_unique<FakeModel>(), Options(4, 1000, 0)).ok());
  }
}

}  // namespace image2song
