// Returns free heap memory to the system after large requests.
//
// glibc malloc keeps what a thread frees in that thread's arena (up to 8 per
// core). A run of 16 MB requests left request buffers, protobuf copies and
// decoded images spread over many arenas and RSS kept rising (issue 13).
// malloc_trim(0) hands their free pages back, but trimming all the time
// costs throughput: LibTorch frees and reallocates its activations on every
// forward pass and would fault them in again (measured at 2 s intervals on 2
// cores: 15 -> 7 QPS). So the trimmer runs only when a request of at least
// `min_request_bytes` was seen since its last run, at most once per interval.
// (Fewer arenas or a fixed mmap threshold were measured too: slower still.)
//
// Thread-safety: NoteRequestBytes may be called from any thread.
#ifndef IMAGE2SONG_SERVER_MALLOC_TRIM_H_
#define IMAGE2SONG_SERVER_MALLOC_TRIM_H_

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace image2song {

class MallocTrimmer {
 public:
  // interval_ms 0: never trims.
  MallocTrimmer(int interval_ms, int64_t min_request_bytes);
  ~MallocTrimmer();

  // Told the encoded size of every request; a large one arms the trimmer.
  static void NoteRequestBytes(int64_t bytes);
  // Trims run so far (tests, logs).
  static int64_t trims();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_MALLOC_TRIM_H_
