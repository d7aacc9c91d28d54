#include "tests/support/test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/support/test_paths.h"

namespace image2song::testing {

std::string RequiredEnv(const char* name) {
  const char* v = std::getenv(name);
  if (v != nullptr && *v != '\0') return v;
  static const std::pair<const char*, const char*> kDefaults[] = {I2S_TEST_DEFAULT_PATHS};
  for (const auto& [key, value] : kDefaults) {
    if (std::string(key) == name) return value;
  }
  FAIL("unknown test setting " << name);
  return "";
}

std::string Assets() { return RequiredEnv("I2S_TEST_ASSETS"); }

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/i2s-test-XXXXXX";
  char* made = ::mkdtemp(tmpl.data());
  REQUIRE(made != nullptr);
  path_ = made;
}

TempDir::~TempDir() {
  std::string cmd = "rm -rf '" + path_ + "'";
  int rc = std::system(cmd.c_str());
  (void)rc;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteWholeFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  REQUIRE(out.good());
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  REQUIRE(d != nullptr);
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  return names;
}

namespace {

pid_t Spawn(const std::vector<std::string>& argv, int out_fd) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    if (out_fd >= 0) {
      ::dup2(out_fd, 1);
      ::dup2(out_fd, 2);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

int RunCommand(const std::vector<std::string>& argv, std::string* output) {
  char path[] = "/tmp/i2s-cmd-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  pid_t pid = Spawn(argv, fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(fd);
  if (output) *output = ReadWholeFile(path);
  ::unlink(path);
  return DecodeStatus(status);
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& log_path) {
  int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  pid_ = Spawn(argv, fd);
  ::close(fd);
  REQUIRE(pid_ > 0);
}

ChildProcess::~ChildProcess() {
  if (Running()) {
    ::kill(pid_, SIGKILL);
    Wait(5000);
  }
}

bool ChildProcess::Running() {
  if (pid_ <= 0 || exit_code_ != -1) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = DecodeStatus(status);
    return false;
  }
  return r == 0;
}

int ChildProcess::Wait(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Running()) {
    if (std::chrono::steady_clock::now() > deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code_;
}

int ChildProcess::Stop(int sig, int timeout_ms) {
  if (Running()) ::kill(pid_, sig);
  return Wait(timeout_ms);
}

}  // namespace image2song::testing
