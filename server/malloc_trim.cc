#include "server/malloc_trim.h"

#include <malloc.h>

#include <atomic>
#include <chrono>

namespace image2song {
namespace {

std::atomic<int64_t> min_bytes{INT64_MAX};
std::atomic<bool> armed{false};
std::atomic<int64_t> trim_count{0};

}  // namespace

MallocTrimmer::MallocTrimmer(int interval_ms, int64_t min_request_bytes) {
  if (interval_ms <= 0) return;
  min_bytes = min_request_bytes;
  thread_ = std::thread([this, interval_ms] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(interval_ms));
      if (!stop_ && armed.exchange(false)) {
        malloc_trim(0);
        ++trim_count;
      }
    }
  });
}

MallocTrimmer::~MallocTrimmer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  min_bytes = INT64_MAX;
}

void MallocTrimmer::NoteRequestBytes(int64_t bytes) {
  if (bytes >= min_bytes.load(std::memory_order_relaxed)) armed = true;
}

int64_t MallocTrimmer::trims() { return trim_count; }

}  // namespace image2song
