#include "util/cli.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace image2song {

std::string HelpText(const CliInfo& info) {
  std::string out = absl::StrCat(info.program, ": ", info.usage, "\n\nFlags:\n");
  std::vector<absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::StrContains(flag->Filename(), info.flags_source)) {
      flags.push_back(flag);
    }
  }
  std::sort(flags.begin(), flags.end(),
            [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
  for (const absl::CommandLineFlag* f : flags) {
    std::string def = f->DefaultValue();
    if (f->IsOfType<std::string>()) def = absl::StrCat("\"", def, "\"");
    absl::StrAppend(&out, "  --", f->Name(), " (default: ", def, ")\n      ", f->Help(), "\n");
  }
  return out;
}

std::vector<char*> ParseCommandLineOrHelp(int argc, char** argv, const CliInfo& info) {
  absl::SetProgramUsageMessage(info.usage);
  absl::FlagsUsageConfig config;
  const std::string source = info.flags_source;
  config.contains_help_flags = [source](absl::string_view file) {
    return absl::StrContains(file, source);
  };
  config.contains_helpshort_flags = config.contains_help_flags;
  const std::string version = absl::StrCat(info.program, " ", info.version, "\n");
  config.version_string = [version] { return version; };
  absl::SetFlagsUsageConfig(config);
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (a == "--") break;
    if (a == "--help" || a == "-help" || a == "-h" || a == "--helpshort") {
      std::cout << HelpText(info);
      std::exit(0);
    }
    if (a == "--version") {
      std::cout << version;
      std::exit(0);
    }
  }
  return absl::ParseCommandLine(argc, argv);
}

}  // namespace image2song
