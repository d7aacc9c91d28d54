// Minimal thread-safe logging to stderr: `I2S_LOG(INFO) << "loaded " << n;`
// Each statement writes one line: "I 2026-11-22T02:30:00.123Z file.cc:42] msg".
#ifndef IMAGE2SONG_UTIL_LOG_H_
#define IMAGE2SONG_UTIL_LOG_H_

#include <sstream>

namespace image2song {

enum class LogSeverity { kInfo, kWarning, kError };

class LogMessage {
 public:
  LogMessage(LogSeverity severity, const char* file, int line);
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  std::ostringstream stream_;
};

// Lines below this severity are dropped. Default: kInfo.
void SetMinLogSeverity(LogSeverity severity);

}  // namespace image2song

#define I2S_LOG_SEVERITY_INFO ::image2song::LogSeverity::kInfo
#define I2S_LOG_SEVERITY_WARNING ::image2song::LogSeverity::kWarning
#define I2S_LOG_SEVERITY_ERROR ::image2song::LogSeverity::kError
#define I2S_LOG(sev) ::image2song::LogMessage(I2S_LOG_SEVERITY_##sev, __FILE__, __LINE__).stream()

#endif  // IMAGE2SONG_UTIL_LOG_H_
