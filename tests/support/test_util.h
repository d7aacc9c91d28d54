// Helpers shared by the tests: environment paths, temp dirs, child
// processes.
#ifndef IMAGE2SONG_TESTS_SUPPORT_TEST_UTIL_H_
#define IMAGE2SONG_TESTS_SUPPORT_TEST_UTIL_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace image2song::testing {

// A test setting (I2S_TEST_ASSETS, I2S_TEST_BUNDLE, I2S_SERVER_BIN,
// I2S_INDEX_BIN, I2S_CLIENT_BIN, I2S_SOURCE_DIR): the environment variable
// when set, else the build tree's path from test_paths.h.
std::string RequiredEnv(const char* name);

// The generated tiny assets (fixture `assets`): RequiredEnv("I2S_TEST_ASSETS").
std::string Assets();

// A fresh empty directory under $TMPDIR, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadWholeFile(const std::string& path);
void WriteWholeFile(const std::string& path, const std::string& data);
// Entries of directory `dir`, without . and .. (REQUIREs that it opens).
std::vector<std::string> ListDir(const std::string& dir);

// Runs a command (argv[0] is a path), returns its exit code; stdout+stderr
// go to *output when non-null.
int RunCommand(const std::vector<std::string>& argv, std::string* output);

// A child process running in the background; killed (SIGKILL) by the
// destructor if still running.
class ChildProcess {
 public:
  // stdout+stderr go to `log_path`.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ~ChildProcess();
  pid_t pid() const { return pid_; }
  bool Running();
  // Sends `sig` and waits up to `timeout_ms` for the exit; returns the exit
  // code (128 + signal when killed by a signal, -1 on timeout).
  int Stop(int sig, int timeout_ms);
  // Waits up to `timeout_ms` for the process to exit by itself.
  int Wait(int timeout_ms);

 private:
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

}  // namespace image2song::testing

#endif  // IMAGE2SONG_TESTS_SUPPORT_TEST_UTIL_H_
