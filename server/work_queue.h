// A fixed pool of worker threads fed by a bounded queue. TrySubmit() never
// blocks: when the queue is full it returns false and the caller answers
// RESOURCE_EXHAUSTED instead of building a backlog.
//
// Thread-safety: all methods are thread-safe.
#ifndef IMAGE2SONG_SERVER_WORK_QUEUE_H_
#define IMAGE2SONG_SERVER_WORK_QUEUE_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace image2song {

class WorkQueue {
 public:
  // `on_depth` (optional) is told the queue depth after every change, in
  // order (it runs under the queue's lock: keep it cheap, e.g. a gauge).
  WorkQueue(int workers, size_t capacity, std::function<void(size_t)> on_depth = nullptr,
            std::function<void()> on_thread_start = nullptr);
  ~WorkQueue();  // runs what is queued, then joins the workers

  bool TrySubmit(std::function<void()> task);
  // Stops accepting, runs the queued tasks, joins the workers.
  void Drain();

 private:
  void Loop();

  const size_t capacity_;
  std::function<void(size_t)> on_depth_;
  std::function<void()> on_thread_start_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_WORK_QUEUE_H_
