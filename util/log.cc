#include "util/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>

namespace image2song {
namespace {

std::atomic<int> g_min_severity{0};
std::mutex g_log_mu;

const char* Basename(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

}  // namespace

void SetMinLogSeverity(LogSeverity severity) { g_min_severity.store(static_cast<int>(severity)); }

LogMessage::LogMessage(LogSeverity severity, const char* file, int line) : severity_(severity) {
  auto now = std::chrono::system_clock::now();
  std::time_t secs = std::chrono::system_clock::to_time_t(now);
  int millis = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm;
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  const char kLetters[] = {'I', 'W', 'E'};
  char ms[8];
  std::snprintf(ms, sizeof(ms), ".%03dZ", millis);
  stream_ << kLetters[static_cast<int>(severity)] << ' ' << buf << ms << ' ' << Basename(file)
          << ':' << line << "] ";
}

LogMessage::~LogMessage() {
  if (static_cast<int>(severity_) < g_min_severity.load()) return;
  stream_ << '\n';
  std::string line = stream_.str();
  std::lock_guard<std::mutex> lock(g_log_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace image2song
