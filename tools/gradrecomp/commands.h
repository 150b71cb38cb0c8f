// The subcommands of the `gradrecomp` CLI and what they share. Each subcommand lives in its own
// cmd_<name>.cpp: `add_<name>_command` declares its options on the parent CLI11 app and returns
// the action main() runs when that subcommand was given. Actions return the exit code or throw:
// gradrecomp::Error (bad input, exit 2) or ExitError (any code with its message).
//
// Exit codes: 0 ok; 1 schedule invalid or disagreeing with its replay; 2 bad input or usage;
// 3 infeasible budget or overhead cap.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "gradrecomp/solver.h"

namespace gradrecomp::cli {

enum ExitCode : int { kExitOk = 0, kExitInvalidSchedule = 1, kExitBadInput = 2, kExitInfeasible = 3 };

// An error with its exit code; main() prints "gradrecomp: error: <message>" on stderr.
class ExitError : public std::runtime_error {
 public:
  ExitError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command add_info_command(CLI::App& parent);
Command add_solve_command(CLI::App& parent);
Command add_simulate_command(CLI::App& parent);
Command add_frontier_command(CLI::App& parent);
Command add_generate_command(CLI::App& parent);
// tools/gradrecomp/torch/cmd_compare.cpp with LibTorch, else cmd_compare_unavailable.cpp.
Command add_compare_command(CLI::App& parent);

// ---- shared by several subcommands (common.cpp) ----------------------------------------------

// The registered solver called `name`, or gradrecomp::Error naming it and listing the known ones.
const Solver& solver_by_name(const std::string& name);
// "auto, store-all, chain-dp, ..." in registry order.
std::string solver_names();
// "  auto        summary\n  store-all   summary\n..." for --help footers.
std::string solver_help_list();

// The solver tuning flags (--segments, --every-k, --memory-slots, --time-limit) bound to `options`,
// whose current values are shown as the defaults.
void add_solver_options(CLI::App& app, SolveOptions& options);
// Checks ranges of the tuning flags (throws gradrecomp::Error naming the flag and value).
void check_solver_options(const SolveOptions& options);

// Writes `text` to `path`, or to stdout when path is "-".
void write_output(const std::string& path, const std::string& text);

}  // namespace gradrecomp::cli
