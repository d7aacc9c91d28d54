#include "util/spare_threads.h"

#include <algorithm>
#include <atomic>
#include <memory>

namespace image2song {
namespace {

std::atomic<int> g_busy{0};

}  // namespace

BusyScope::BusyScope() { g_busy.fetch_add(1, std::memory_order_relaxed); }
BusyScope::~BusyScope() { g_busy.fetch_sub(1, std::memory_order_relaxed); }
int BusyScope::Count() { return g_busy.load(std::memory_order_relaxed); }

SpareThreads::SpareThreads(int count, const std::function<void()>& on_start,
                           const std::function<void()>& warm_up, int cores)
    : cores_(cores > 0 ? cores : std::max(1, int(std::thread::hardware_concurrency()))) {
  for (int i = 0; i < count; ++i) {
    threads_.emplace_back([this, on_start, warm_up] {
      if (on_start) on_start();
      if (warm_up) warm_up();
      Loop();
    });
  }
  std::unique_lock<std::mutex> lock(mu_);
  ready_.wait(lock, [&] { return idle_ == int(threads_.size()); });
}

SpareThreads::~SpareThreads() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_.notify_all();
  for (std::thread& t : threads_) t.join();
}

bool SpareThreads::TryRun(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_ <= int(tasks_.size())) return false;
    tasks_.push_back(std::move(task));
  }
  work_.notify_one();
  return true;
}

bool SpareThreads::TryRunOnSpareCore(std::function<void()> task) {
  if (BusyScope::Count() >= cores_) return false;
  return TryRun([task = std::move(task)] {
    BusyScope busy;
    task();
  });
}

void SpareThreads::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    ++idle_;
    ready_.notify_all();
    work_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
    --idle_;
    if (tasks_.empty()) return;  // stopping
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

bool TrySideBySide(SpareThreads* threads, const std::function<void()>& here,
                   const std::function<void()>& there) {
  // Whoever claims `there` first runs it: the helper when it starts before
  // `here` is done, else the caller (a helper still waking up is not waited
  // for). The state outlives the call: a helper that wakes after the caller
  // claimed and returned only reads it.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool claimed = false, done = false;
  };
  auto state = std::make_shared<State>();
  const std::function<void()>* work = &there;  // read only after a claim
  const bool handed = threads != nullptr && threads->TryRunOnSpareCore([state, work] {
    {
      std::lock_guard<std::mutex> lock(state->mu);
      if (state->claimed) return;
      state->claimed = true;
    }
    (*work)();
    std::lock_guard<std::mutex> lock(state->mu);
    state->done = true;
    state->cv.notify_one();
  });
  here();
  if (!handed) return false;
  std::unique_lock<std::mutex> lock(state->mu);
  if (!state->claimed) {
    state->claimed = true;  // the helper has not started: the caller runs it
    return false;
  }
  state->cv.wait(lock, [&] { return state->done; });
  return true;
}

}  // namespace image2song
