// Running the built `gradrecomp` binary from a test: where it is, how to quote its arguments, and
// one call that captures exit code, stdout and stderr. Shared by tests/cli_test.cpp,
// tests/cli_compare_test.cpp and tests/milp/cli_gap_test.cpp.
#pragma once

#include <filesystem>
#include <string>

namespace gradrecomp::testing {

struct CliRun {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

// The gradrecomp binary next to the running test executable (both are built in the build dir).
std::filesystem::path built_cli_path();

// `text` as one single-quoted shell word.
std::string shell_quote(const std::string& text);

// The whole file (empty if it cannot be read).
std::string slurp(const std::filesystem::path& path);

// Runs `<cli> <args>` (args already quoted where needed) with stdin from /dev/null; stdout and
// stderr go through files in `scratch_dir`.
CliRun run_cli(const std::filesystem::path& cli, const std::string& args, const std::filesystem::path& scratch_dir);

}  // namespace gradrecomp::testing
