// Tests for server/work_queue.h. Workers are blocked and released through a
// gate the test controls; nothing sleeps.
#include "server/work_queue.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace image2song {
namespace {

// A gate tasks wait on until the test opens it, counting who arrived.
class Gate {
 public:
  void Arrive() {
    std::unique_lock<std::mutex> lock(mu_);
    ++arrived_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }
  // Waits until `n` tasks are waiting (or passed). The long timeout only
  // keeps a broken queue from hanging the test run; it is not a timing check.
  bool WaitForArrivals(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return arrived_ >= n; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int arrived_ = 0;
  bool open_ = false;
};

}  // namespace

TEST_CASE("WorkQueue runs submitted tasks") {
  std::atomic<int> ran{0};
  std::atomic<int> started{0};
  WorkQueue queue(2, 100, nullptr, [&] { ++started; });
  for (int i = 0; i < 50; ++i) {
    REQUIRE(queue.TrySubmit([&] { ++ran; }));
  }
  queue.Drain();
  CHECK(ran == 50);
  CHECK(started == 2);  // on_thread_start once per worker
}

TEST_CASE("WorkQueue runs tasks on its worker threads") {
  std::mutex mu;
  std::vector<std::thread::id> ids;
  {
    WorkQueue queue(1, 10);
    for (int i = 0; i < 3; ++i) {
      REQUIRE(queue.TrySubmit([&] {
        std::lock_guard<std::mutex> lock(mu);
        ids.push_back(std::this_thread::get_id());
      }));
    }
  }  // the destructor drains
  REQUIRE(ids.size() == 3);
  CHECK(ids[0] != std::this_thread::get_id());
  CHECK(ids[1] == ids[0]);
  CHECK(ids[2] == ids[0]);
}

TEST_CASE("WorkQueue TrySubmit fails when the queue is full") {
  Gate gate;
  std::atomic<int> ran{0};
  std::mutex depth_mu;
  std::vector<size_t> depths;
  WorkQueue queue(1, 2, [&](size_t d) {
    std::lock_guard<std::mutex> lock(depth_mu);
    depths.push_back(d);
  });
  // Occupy the only worker; once it has arrived, the queue is empty.
  REQUIRE(queue.TrySubmit([&] {
    gate.Arrive();
    ++ran;
  }));
  REQUIRE(gate.WaitForArrivals(1));
  CHECK(queue.TrySubmit([&] { ++ran; }));
  CHECK(queue.TrySubmit([&] { ++ran; }));
  CHECK_FALSE(queue.TrySubmit([&] { ++ran; }));  // capacity 2
  CHECK_FALSE(queue.TrySubmit([&] { ++ran; }));
  CHECK(ran == 0);
  gate.Open();
  queue.Drain();
  CHECK(ran == 3);  // the blocker and the two accepted tasks
  std::lock_guard<std::mutex> lock(depth_mu);
  // Depth after each change: push 1 and pop 0 of the blocker (reported from
  // two threads, so in either order), push 1, push 2, then pops 1 and 0.
  REQUIRE(depths.size() == 6);
  CHECK(std::min(depths[0], depths[1]) == 0);
  CHECK(std::max(depths[0], depths[1]) == 1);
  CHECK(depths[2] == 1);
  CHECK(depths[3] == 2);
  CHECK(depths[4] == 1);
  CHECK(depths[5] == 0);
}

TEST_CASE("WorkQueue accepts again once there is room") {
  Gate first, second;
  WorkQueue queue(1, 1);
  REQUIRE(queue.TrySubmit([&] { first.Arrive(); }));
  REQUIRE(first.WaitForArrivals(1));
  REQUIRE(queue.TrySubmit([&] { second.Arrive(); }));
  CHECK_FALSE(queue.TrySubmit([] {}));
  first.Open();
  // The worker takes the second task off the queue: room for one more.
  REQUIRE(second.WaitForArrivals(1));
  CHECK(queue.TrySubmit([] {}));
  CHECK_FALSE(queue.TrySubmit([] {}));
  second.Open();
  queue.Drain();
}

TEST_CASE("WorkQueue Drain runs the queued tasks and then refuses new ones") {
  Gate gate;
  std::atomic<int> ran{0};
  WorkQueue queue(1, 10);
  REQUIRE(queue.TrySubmit([&] { gate.Arrive(); }));
  REQUIRE(gate.WaitForArrivals(1));
  for (int i = 0; i < 5; ++i) REQUIRE(queue.TrySubmit([&] { ++ran; }));
  CHECK(ran == 0);  // still queued behind the blocked worker
  // Drain from another thread while the worker is still blocked.
  std::thread drainer([&] { queue.Drain(); });
  gate.Open();
  drainer.join();
  CHECK(ran == 5);
  CHECK_FALSE(queue.TrySubmit([&] { ++ran; }));
  queue.Drain();  // a second Drain is harmless
  CHECK(ran == 5);
}

TEST_CASE("WorkQueue workers run tasks concurrently") {
  // Two tasks that each wait for the other can only finish on two workers.
  Gate both;
  std::atomic<int> done{0};
  WorkQueue queue(2, 10);
  for (int i = 0; i < 2; ++i) {
    REQUIRE(queue.TrySubmit([&] {
      both.Arrive();
      ++done;
    }));
  }
  REQUIRE(both.WaitForArrivals(2));
  both.Open();
  queue.Drain();
  CHECK(done == 2);
}

}  // namespace image2song
