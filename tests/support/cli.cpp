#include "support/cli.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace gradrecomp::testing {

namespace fs = std::filesystem;

fs::path built_cli_path() { return fs::read_symlink("/proc/self/exe").parent_path() / "gradrecomp"; }

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

CliRun run_cli(const fs::path& cli, const std::string& args, const fs::path& scratch_dir) {
  const fs::path out = scratch_dir / "stdout.txt", err = scratch_dir / "stderr.txt";
  const std::string command = shell_quote(cli.string()) + " " + args + " >" + shell_quote(out.string()) + " 2>" +
                              shell_quote(err.string()) + " </dev/null";
  const int status = std::system(command.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace gradrecomp::testing
