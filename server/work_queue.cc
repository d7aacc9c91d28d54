#include "server/work_queue.h"

#include "util/spare_threads.h"

namespace image2song {

WorkQueue::WorkQueue(int workers, size_t capacity, std::function<void(size_t)> on_depth,
                     std::function<void()> on_thread_start)
    : capacity_(capacity),
      on_depth_(std::move(on_depth)),
      on_thread_start_(std::move(on_thread_start)) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkQueue::~WorkQueue() { Drain(); }

bool WorkQueue::TrySubmit(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || tasks_.size() >= capacity_) return false;
    tasks_.push_back(std::move(task));
    // Reported under the lock so depth reports arrive in order.
    if (on_depth_) on_depth_(tasks_.size());
  }
  cv_.notify_one();
  return true;
}

void WorkQueue::Drain() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void WorkQueue::Loop() {
  if (on_thread_start_) on_thread_start_();
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping and drained
      task = std::move(tasks_.front());
      tasks_.pop_front();
      if (on_depth_) on_depth_(tasks_.size());
    }
    // Counted as request work: helpers take a request's side work only
    // while a core is free (util/spare_threads.h).
    BusyScope busy;
    task();
  }
}

}  // namespace image2song
