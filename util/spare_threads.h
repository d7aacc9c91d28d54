// Long-lived helper threads for the parts of one request that can run side by
// side (a second tagger, the colour features next to a forward pass, the lexical search next to
// the dense one). Threads are started (and
// warmed by the caller's hook) once, never one per request: the first passes of a TorchScript model
// on a new thread cost 100-230 ms.
//
// A task goes to an idle thread or not at all: TryRun returns false and the
// caller runs the work itself, so no request ever waits behind another's
// helper task. TryRunOnSpareCore also refuses when every core already runs
// request work (BusyScope counts it): under load both cores are busy with
// requests and splitting one would only add hand-offs, while at low load a
// request gets the idle core.
//
// Thread-safety: all methods are thread-safe.
#ifndef IMAGE2SONG_UTIL_SPARE_THREADS_H_
#define IMAGE2SONG_UTIL_SPARE_THREADS_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace image2song {

// Counts the threads of this process doing request work now: a request's
// worker holds one for the whole request, a helper task one while it runs.
class BusyScope {
 public:
  BusyScope();
  ~BusyScope();
  BusyScope(const BusyScope&) = delete;
  BusyScope& operator=(const BusyScope&) = delete;
  // Threads inside a BusyScope now.
  static int Count();
};

class SpareThreads {
 public:
  // `on_start` then `warm_up` run on each thread before it takes work; the
  // constructor returns when every thread is ready. `cores` (0: the
  // machine's) bounds TryRunOnSpareCore.
  SpareThreads(int count, const std::function<void()>& on_start = nullptr,
               const std::function<void()>& warm_up = nullptr, int cores = 0);
  ~SpareThreads();
  SpareThreads(const SpareThreads&) = delete;
  SpareThreads& operator=(const SpareThreads&) = delete;

  // Hands `task` to an idle thread (true), or returns false when none is.
  bool TryRun(std::function<void()> task);
  // As TryRun, and also false when BusyScope::Count() has reached the core
  // count (no core would be free to run it). The task runs in a BusyScope.
  bool TryRunOnSpareCore(std::function<void()> task);

  int size() const { return static_cast<int>(threads_.size()); }
  int cores() const { return cores_; }

 private:
  void Loop();

  const int cores_;
  std::mutex mu_;
  std::condition_variable work_, ready_;
  std::deque<std::function<void()>> tasks_;
  int idle_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;  // last: the threads use the members above
};

// Runs `here` on the calling thread and `there` beside it on a spare core
// (TryRunOnSpareCore), and returns true when both are done. It runs only
// `here` and returns false, and the caller runs `there` itself, when no core
// is free (or `threads` is null) or when the helper has not started `there`
// by the time `here` is done: waking a helper costs ~0.1 ms, more than a
// short `there` saves. Neither may throw.
bool TrySideBySide(SpareThreads* threads, const std::function<void()>& here,
                   const std::function<void()>& there);

}  // namespace image2song

#endif  // IMAGE2SONG_UTIL_SPARE_THREADS_H_
