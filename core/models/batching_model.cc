#include "core/models/batching_model.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "util/log.h"

namespace image2song {
namespace {

using Clock = std::chrono::steady_clock;

// One waiting Run() call. Lives on the caller's stack until `done`.
struct Call {
  const float* input = nullptr;
  int rows = 0;
  Clock::time_point arrival;
  bool done = false;
  absl::StatusOr<std::vector<ModelOutput>> result;
  double forward_ms = 0;
};

// Rows [first, first + rows) of every output of a batch.
absl::StatusOr<std::vector<ModelOutput>> SliceRows(const std::vector<ModelOutput>& outputs,
                                                   int total_rows, int first, int rows) {
  std::vector<ModelOutput> part;
  part.reserve(outputs.size());
  for (const ModelOutput& o : outputs) {
    if (o.shape.empty() || o.shape[0] != total_rows || o.data.size() % size_t(total_rows) != 0) {
      return absl::InternalError(
          "batched model output is not batch-major (first dimension != batch)");
    }
    const size_t per_row = o.data.size() / size_t(total_rows);
    ModelOutput p;
    p.shape = o.shape;
    p.shape[0] = rows;
    p.data.assign(o.data.begin() + per_row * first, o.data.begin() + per_row * (first + rows));
    part.push_back(std::move(p));
  }
  return part;
}

class BatchingModel : public ImageModel {
 public:
  BatchingModel(std::unique_ptr<ImageModel> model, BatchingOptions options)
      : model_(std::move(model)),
        options_(std::move(options)),
        plane_(size_t(3) * options_.input_width * options_.input_height),
        executor_([this] { Loop(); }) {}

  bool has_head() const override { return model_->has_head(); }
  absl::StatusOr<ModelOutput> RunHead(const float* features, int rows, int cols) const override {
    return model_->RunHead(features, rows, cols);
  }

  ~BatchingModel() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    work_.notify_all();
    executor_.join();
  }

  using ImageModel::Run;
  absl::StatusOr<std::vector<ModelOutput>> Run(const float* input, int batch,
                                               double* forward_ms) const override {
    if (batch <= 0) return absl::InvalidArgumentError("batch must be positive");
    Call call;
    call.input = input;
    call.rows = batch;
    call.arrival = Clock::now();
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stopping_) return absl::UnavailableError(options_.name + " is shutting down");
      if (queued_rows_ > 0 && queued_rows_ + batch > options_.max_queue) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "model ", options_.name, " is overloaded: ", queued_rows_,
            " images already wait for it (limit ", options_.max_queue, "); retry with backoff"));
      }
      queue_.push_back(&call);
      queued_rows_ += batch;
      work_.notify_all();
      done_.wait(lock, [&] { return call.done; });
    }
    if (forward_ms != nullptr) *forward_ms += call.forward_ms;
    return std::move(call.result);
  }

  const std::string& execution() const override { return model_->execution(); }

  // Returns once the executor has run every batch size once (WarmUp).
  void WaitUntilWarm() {
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return warm_; });
  }

 private:
  // The first forward passes of a TorchScript model on a thread, and at a
  // new input shape, are slow (profiling executor, oneDNN set-up: 100-230 ms
  // measured on MobileNetV2): the executor runs each batch size it can see,
  // twice, before it takes calls.
  void WarmUp() {
    const auto start = Clock::now();
    std::vector<float> input;
    for (int b = 1; b <= options_.max_batch; ++b) {
      std::vector<float> one = ReferenceInput(options_.input_height, options_.input_width, b);
      input.insert(input.end(), one.begin(), one.end());
      for (int i = 0; i < 2; ++i) {
        auto out = model_->Run(input.data(), b);
        if (!out.ok()) {
          I2S_LOG(WARNING) << "model " << options_.name << ": warm-up at batch " << b
                           << " fails: " << out.status().message();
          return;
        }
      }
    }
    I2S_LOG(INFO)
        << "model " << options_.name << ": batch sizes 1.." << options_.max_batch
        << " warmed up on the executor in "
        << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count()
        << " ms";
  }

  void Loop() {
    if (options_.on_thread_start) options_.on_thread_start();
    WarmUp();
    std::vector<float> input;
    std::unique_lock<std::mutex> lock(mu_);
    warm_ = true;
    done_.notify_all();
    for (;;) {
      work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      // Wait for the batch to fill, at most max_delay after its first call.
      const Clock::time_point deadline =
          queue_.front()->arrival + std::chrono::microseconds(options_.max_delay_us);
      work_.wait_until(lock, deadline,
                       [&] { return stopping_ || queued_rows_ >= options_.max_batch; });
      std::vector<Call*> calls;
      int rows = 0;
      while (!queue_.empty() &&
             (calls.empty() || rows + queue_.front()->rows <= options_.max_batch)) {
        calls.push_back(queue_.front());
        rows += queue_.front()->rows;
        queue_.pop_front();
      }
      queued_rows_ -= rows;
      lock.unlock();
      RunBatch(calls, rows, &input);
      lock.lock();
      for (Call* c : calls) c->done = true;
      done_.notify_all();
    }
  }

  // Runs outside the lock; fills every call's result.
  void RunBatch(const std::vector<Call*>& calls, int rows, std::vector<float>* input) const {
    const double wait_s =
        std::chrono::duration<double>(Clock::now() - calls.front()->arrival).count();
    double forward_ms = 0;
    if (calls.size() == 1) {
      calls[0]->result = model_->Run(calls[0]->input, calls[0]->rows, &forward_ms);
    } else {
      input->resize(plane_ * rows);
      float* dst = input->data();
      for (const Call* c : calls) {
        dst = std::copy(c->input, c->input + plane_ * c->rows, dst);
      }
      absl::StatusOr<std::vector<ModelOutput>> out = model_->Run(input->data(), rows, &forward_ms);
      int first = 0;
      for (Call* c : calls) {
        c->result = out.ok() ? SliceRows(*out, rows, first, c->rows) : out.status();
        first += c->rows;
      }
    }
    for (Call* c : calls) c->forward_ms = forward_ms;
    if (options_.on_batch) options_.on_batch(rows, int(calls.size()), wait_s);
  }

  const std::unique_ptr<ImageModel> model_;
  const BatchingOptions options_;
  const size_t plane_;
  mutable std::mutex mu_;
  mutable std::condition_variable work_;  // executor: calls queued or stopping
  mutable std::condition_variable done_;  // callers: a batch finished
  mutable std::deque<Call*> queue_;
  mutable int queued_rows_ = 0;
  bool stopping_ = false;
  bool warm_ = false;
  std::thread executor_;  // last: starts after the members above exist
};

// Why `model` cannot run two images as one batch; empty when it can.
std::string BatchingProblem(const ImageModel& model, const BatchingOptions& o) {
  const int h = o.input_height, w = o.input_width;
  std::vector<float> a = ReferenceInput(h, w, 1), b = ReferenceInput(h, w, 2);
  auto single_a = model.Run(a.data(), 1);
  auto single_b = model.Run(b.data(), 1);
  if (!single_a.ok() || !single_b.ok()) {
    return absl::StrCat("single run fails: ",
                        (single_a.ok() ? single_b : single_a).status().message());
  }
  std::vector<float> ab = a;
  ab.insert(ab.end(), b.begin(), b.end());
  // Twice: the profiling executor specialises on the second call.
  auto both = model.Run(ab.data(), 2);
  if (both.ok()) both = model.Run(ab.data(), 2);
  if (!both.ok()) return absl::StrCat("batch of 2 fails: ", both.status().message());
  auto rows_a = SliceRows(*both, 2, 0, 1);
  auto rows_b = SliceRows(*both, 2, 1, 1);
  if (!rows_a.ok()) return std::string(rows_a.status().message());
  const double diff =
      std::max(RelativeDifference(*single_a, *rows_a), RelativeDifference(*single_b, *rows_b));
  if (!(diff <= o.tolerance)) {
    return absl::StrFormat("a batch of 2 differs from single runs (relative %.3g > %g)", diff,
                           o.tolerance);
  }
  return "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<ImageModel>> MakeBatchingModel(std::unique_ptr<ImageModel> model,
                                                              const BatchingOptions& options) {
  if (options.input_width <= 0 || options.input_height <= 0 || options.max_batch < 1 ||
      options.max_delay_us < 0 || options.max_queue < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batching ", options.name,
                                                   ": need input size > 0, max_batch >= 1, "
                                                   "max_delay_us >= 0, max_queue >= 1"));
  }
  std::string problem = BatchingProblem(*model, options);
  if (!problem.empty()) {
    I2S_LOG(WARNING) << "model " << options.name
                     << ": dynamic batching off, each call runs alone: " << problem;
    return model;
  }
  I2S_LOG(INFO) << "model " << options.name << ": dynamic batching on (max " << options.max_batch
                << " images per forward pass, max delay " << options.max_delay_us << " us, queue "
                << options.max_queue << " images)";
  auto batching = std::make_unique<BatchingModel>(std::move(model), options);
  batching->WaitUntilWarm();
  return std::unique_ptr<ImageModel>(std::move(batching));
}

bool IsBatching(const ImageModel& model) {
  return dynamic_cast<const BatchingModel*>(&model) != nullptr;
}

}  // namespace image2song
