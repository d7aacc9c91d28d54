// Tests for util/spare_threads.h: hand-off to idle threads only, the
// busy-core count, side-by-side halves.
#include "util/spare_threads.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

namespace image2song {
namespace {

TEST_CASE("TrySideBySide runs the other half on a spare thread") {
  SpareThreads threads(1, nullptr, nullptr, /*cores=*/2);
  std::thread::id here_id;
  std::atomic<std::thread::id> there_id{std::thread::id()};
  // `here` lasts until the helper has started `there` (or 5 s).
  const bool split = TrySideBySide(
      &threads,
      [&] {
        here_id = std::this_thread::get_id();
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (there_id.load() == std::thread::id() && std::chrono::steady_clock::now() < give_up) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      },
      [&] { there_id = std::this_thread::get_id(); });
  CHECK(split);
  CHECK(here_id == std::this_thread::get_id());
  CHECK(there_id.load() != here_id);
  CHECK(there_id.load() != std::thread::id());
}

TEST_CASE("TrySideBySide: `there` runs once, on the helper exactly when it returns true") {
  // A `here` that ends at once races the helper's start: either may claim
  // `there`, never both, and a helper that starts late finds it claimed
  // after the call returned (its state outlives the call).
  SpareThreads threads(1, nullptr, nullptr, /*cores=*/2);
  int beside = 0, by_caller = 0;
  for (int i = 0; i < 2000; ++i) {
    std::atomic<int> ran{0};
    const bool split = TrySideBySide(
        &threads, [] {}, [&] { ++ran; });
    if (split) {
      CHECK(ran.load() == 1);
      ++beside;
    } else {
      CHECK(ran.load() == 0);  // the caller's to run
      ++by_caller;
    }
  }
  CHECK(beside + by_caller == 2000);
}

TEST_CASE("TrySideBySide runs only the caller's half when every core is busy") {
  SpareThreads threads(1, nullptr, nullptr, /*cores=*/2);
  BusyScope a, b;  // two requests on two cores
  CHECK(BusyScope::Count() >= 2);
  bool here = false, there = false;
  CHECK_FALSE(TrySideBySide(
      &threads, [&] { here = true; }, [&] { there = true; }));
  CHECK(here);
  CHECK_FALSE(there);  // the caller does the rest
  CHECK_FALSE(TrySideBySide(
      nullptr, [] {}, [] {}));
}

TEST_CASE("A task runs on a spare core while one is free of request work") {
  SpareThreads threads(1, nullptr, nullptr, /*cores=*/2);
  CHECK(threads.cores() == 2);
  std::mutex mu;
  std::condition_variable cv;
  std::thread::id ran_on;
  bool done = false;
  {
    BusyScope request;  // this thread's request: one core of two busy
    REQUIRE(threads.TryRunOnSpareCore([&] {
      std::lock_guard<std::mutex> lock(mu);
      ran_on = std::this_thread::get_id();
      done = true;
      cv.notify_all();
    }));
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  CHECK(ran_on != std::this_thread::get_id());
  CHECK(ran_on != std::thread::id());
}

TEST_CASE("No task runs on a spare core when every core is busy") {
  SpareThreads threads(1, nullptr, nullptr, /*cores=*/2);
  BusyScope a, b;  // two requests on two cores
  CHECK(BusyScope::Count() >= 2);
  bool ran = false;
  CHECK_FALSE(threads.TryRunOnSpareCore([&] { ran = true; }));
  CHECK_FALSE(ran);  // the caller does the work itself
  // A plain TryRun (a second tagger) still goes to the idle thread.
  std::atomic<bool> plain{false};
  CHECK(threads.TryRun([&] { plain = true; }));
  for (int i = 0; i < 1000 && !plain; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(plain);
}

TEST_CASE("A task goes to an idle thread or not at all") {
  SpareThreads threads(1, nullptr, nullptr, /*cores=*/4);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false, started = false;
  REQUIRE(threads.TryRun([&] {
    std::unique_lock<std::mutex> lock(mu);
    started = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  }));
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return started; });
  }
  // The only thread is busy: refused, never queued behind it.
  CHECK_FALSE(threads.TryRun([] {}));
  CHECK_FALSE(threads.TryRunOnSpareCore([] {}));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  // Idle again soon; a task on a spare core counts as busy while it runs.
  std::atomic<int> seen{-1};
  for (int i = 0; i < 1000 && seen < 0; ++i) {
    if (threads.TryRunOnSpareCore([&] { seen = BusyScope::Count(); })) {
      while (seen < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  CHECK(seen == 1);
}

TEST_CASE("The warm-up hook runs on every thread before it takes work") {
  std::atomic<int> warmed{0};
  SpareThreads threads(3, nullptr, [&] { ++warmed; });
  CHECK(warmed == 3);  // the constructor waits for every thread
  CHECK(threads.size() == 3);
}

}  // namespace
}  // namespace image2song
