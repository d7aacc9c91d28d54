// Command-line parsing shared by the binaries: abseil flags plus a --help
// that prints the program's usage and its own flags with their defaults and
// exits 0 (abseil's built-in --help exits 1). No heavy dependencies: the
// client links this too.
#ifndef IMAGE2SONG_UTIL_CLI_H_
#define IMAGE2SONG_UTIL_CLI_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace image2song {

struct CliInfo {
  // "i2s-server"
  std::string program;
  // Printed first by --help.
  std::string usage;
  // Flags defined in source files whose path contains this are listed.
  std::string flags_source;
  std::string version;
};

// Handles --help/-h and --version (print, exit 0), else parses the flags
// with absl::ParseCommandLine and returns the positional arguments
// (argv[0] first).
std::vector<char*> ParseCommandLineOrHelp(int argc, char** argv, const CliInfo& info);

// The --help text (also used to generate the README's configuration
// reference).
std::string HelpText(const CliInfo& info);

}  // namespace image2song

#endif  // IMAGE2SONG_UTIL_CLI_H_
