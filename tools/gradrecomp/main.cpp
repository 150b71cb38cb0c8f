// gradrecomp: plan activation recomputation (gradient checkpointing) under a memory budget.
//
//   gradrecomp generate random-chain --stages 20 --out net.json
//   gradrecomp info net.json
//   gradrecomp solve net.json --budget 40% --out schedule.json
//   gradrecomp simulate net.json schedule.json
//   gradrecomp frontier net.json --svg frontier.svg
//   gradrecomp compare --svg compare    # trains a model with each strategy (needs LibTorch)
//
// Exit codes: 0 ok; 1 schedule invalid (simulate); 2 bad input or usage; 3 infeasible budget.
// Every error is one line on stderr starting with "gradrecomp: error: ".
#include <exception>
#include <iostream>
#include <new>
#include <string>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "gradrecomp/error.h"

#ifdef GRADRECOMP_HAVE_MILP
#include <gradrecomp/solvers/milp.h>
#endif

namespace {

using gradrecomp::cli::kExitBadInput;

// Messages go out as one line: newlines inside a message (a CLI11 hint, a nested error) become "; ".
int fail(int code, const std::string& message) {
  std::string line;
  for (char c : message) {
    if (c == '\n') {
      if (!line.empty() && line.back() != ' ') line += "; ";
    } else {
      line += c;
    }
  }
  while (!line.empty() && (line.back() == ' ' || line.back() == ';')) line.pop_back();
  std::cerr << "gradrecomp: error: " << line << "\n";
  return code;
}

int run(int argc, char** argv) {
#ifdef GRADRECOMP_HAVE_MILP
  gradrecomp::register_milp_solver();
#endif
  CLI::App app("gradrecomp: plans activation recomputation (gradient checkpointing) for one training step\n"
               "under a memory budget. Reads gradrecomp.tgraph/1 training graphs, writes\n"
               "gradrecomp.schedule/1 schedules.",
               "gradrecomp");
  app.require_subcommand(1);
  std::vector<gradrecomp::cli::Command> commands = {
      gradrecomp::cli::add_info_command(app),     gradrecomp::cli::add_solve_command(app),
      gradrecomp::cli::add_simulate_command(app), gradrecomp::cli::add_frontier_command(app),
      gradrecomp::cli::add_generate_command(app), gradrecomp::cli::add_compare_command(app),
  };

  // Set after the subcommands exist, so they do not inherit it.
  app.footer(
      "Exit codes: 0 ok; 1 schedule invalid (simulate); 2 bad input or usage; 3 infeasible budget.\n"
      "Run 'gradrecomp SUBCOMMAND --help' for the options of each subcommand.\n\nSolvers:\n" +
      gradrecomp::cli::solver_help_list());

  // CLI11 reports a mistyped subcommand as "a subcommand is required"; name it instead.
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const auto& command : commands) {
      known = known || command.app->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + command.app->get_name();
    }
    if (!known) {
      return fail(kExitBadInput, "unknown subcommand \"" + std::string(argv[1]) + "\" (expected one of: " + names + ")");
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(kExitBadInput, std::string(e.what()) + " (run 'gradrecomp --help' for usage)");
  }
  for (const auto& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return fail(kExitBadInput, "no subcommand given (run 'gradrecomp --help' for usage)");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const gradrecomp::cli::ExitError& e) {
    return fail(e.code(), e.what());
  } catch (const gradrecomp::Error& e) {
    return fail(kExitBadInput, e.what());
  } catch (const CLI::Error& e) {
    return fail(kExitBadInput, e.what());
  } catch (const std::bad_alloc&) {
    return fail(kExitBadInput, "out of memory (the input is too large for this machine)");
  } catch (const std::exception& e) {
    return fail(kExitBadInput, std::string("unexpected failure: ") + e.what());
  } catch (...) {
    return fail(kExitBadInput, "unexpected failure of unknown type");
  }
}
