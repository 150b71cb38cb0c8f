#include <cmath>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "gradrecomp/error.h"
#include "gradrecomp/io.h"

namespace gradrecomp::cli {

const Solver& solver_by_name(const std::string& name) {
  if (const Solver* solver = find_solver(name)) return *solver;
  throw Error(fmt::format("unknown solver \"{}\" (expected one of: {})", name, solver_names()));
}

std::string solver_names() {
  std::string out;
  for (const Solver* s : all_solvers()) out += (out.empty() ? "" : ", ") + std::string(s->name());
  return out;
}

std::string solver_help_list() {
  size_t width = 0;
  std::vector<const Solver*> solvers = all_solvers();
  for (const Solver* s : solvers) width = std::max(width, s->name().size());
  std::string out;
  for (const Solver* s : solvers) out += fmt::format("  {:<{}}  {}\n", s->name(), width, s->summary());
  return out;
}

void add_solver_options(CLI::App& app, SolveOptions& options) {
  app.add_option("--segments", options.segments,
                 "segments solver: number of segments (0 = square root of the stage count)")
      ->capture_default_str();
  app.add_option("--every-k", options.every_k, "every-k solver: keep the input of every k-th stage")
      ->capture_default_str();
  app.add_option("--memory-slots", options.memory_slots,
                 "chain-dp: 0 = exact memory breakpoints, N = round memory up to N slots (faster, approximate)")
      ->capture_default_str();
  app.add_option("--time-limit", options.time_limit_seconds,
                 "exact solvers (milp): stop after this many seconds and report the gap")
      ->capture_default_str();
}

void check_solver_options(const SolveOptions& options) {
  if (options.segments < 0) throw Error(fmt::format("--segments {} is negative (expected 0 or more)", options.segments));
  if (options.every_k < 1) throw Error(fmt::format("--every-k {} is below 1 (expected 1 or more)", options.every_k));
  if (options.memory_slots < 0) {
    throw Error(fmt::format("--memory-slots {} is negative (expected 0 or more)", options.memory_slots));
  }
  if (!std::isfinite(options.time_limit_seconds) || options.time_limit_seconds <= 0) {
    throw Error(fmt::format("--time-limit {} is out of range (expected a finite number of seconds > 0)",
                            options.time_limit_seconds));
  }
}

void write_output(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text << std::flush;
    return;
  }
  write_text_file(path, text);
}

}  // namespace gradrecomp::cli
