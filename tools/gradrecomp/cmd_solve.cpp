// `gradrecomp solve GRAPH.json (--budget B | --max-overhead X) [--solver NAME] ...`: one schedule,
// the cheapest within a memory budget or the smallest peak within an overhead cap.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "gradrecomp/error.h"
#include "gradrecomp/io.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/units.h"
#include "output.h"
#include "progress.h"

namespace gradrecomp::cli {
namespace {

// `auto`'s lower bound holds for every schedule of the graph (src/solvers/auto.cpp); under a
// budget, a bound equal to the cost proves the answer optimal over all of them. Other solvers'
// claims hold within their own model.
std::string optimality_text(const SolveResult& result, const Schedule& schedule, double cost, bool overhead_cap) {
  const bool from_auto = schedule.solver.rfind("auto(", 0) == 0;
  if (from_auto && !overhead_cap && result.lower_bound_cost && *result.lower_bound_cost >= cost) {
    return "proven optimal over every schedule (lower bound = cost)";
  }
  return result.proven_optimal ? "proven optimal for the solver's model" : "not claimed by the solver";
}

struct SolveArgs {
  std::string graph_path;
  std::string solver = "auto";
  std::string budget;
  std::string max_overhead;
  std::string out;
  bool json = false;
  bool dump = false;
  bool progress = false;
  SolveOptions options;
};

struct DumpLine {
  size_t step;
  bool compute;
  std::string id;
  uint64_t live_bytes;
  bool recompute;
  bool peak;
};

std::vector<DumpLine> dump_lines(const Graph& graph, const Schedule& schedule, const Simulation& sim) {
  std::vector<bool> recompute = recompute_flags(graph, schedule.steps);
  std::vector<DumpLine> lines;
  for (size_t i = 0; i < schedule.steps.size(); ++i) {
    const Step& s = schedule.steps[i];
    bool compute = s.kind == StepKind::kCompute;
    lines.push_back({i, compute, compute ? graph.node(s.target).id : graph.tensor(s.target).id,
                     sim.timeline_bytes[i], recompute[i], static_cast<int64_t>(i) == sim.peak_step});
  }
  return lines;
}

std::string dump_text(const std::vector<DumpLine>& lines, const Graph& graph) {
  uint64_t start = 0;
  for (TensorId t : graph.graph_inputs()) start += graph.tensor(t).bytes;
  std::string out = fmt::format(
      "\nSchedule, one step per line. Live bytes: during a compute (live tensors, its new outputs and its\n"
      "workspace), after a free. Before step 0 the graph inputs hold {}.\n",
      format_bytes_exact(start));
  Table table({"step", "action", "id", "live bytes", "exact", "note"},
              {Align::kRight, Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kLeft});
  for (const DumpLine& l : lines) {
    std::string mark = l.recompute ? "recompute" : "";
    if (l.peak) mark += mark.empty() ? "<- peak" : " <- peak";
    table.add_row({fmt::format("{}", l.step), l.compute ? "compute" : "free", l.id, format_bytes(l.live_bytes),
                   fmt::format("{}", l.live_bytes), mark});
  }
  return out + table.render();
}

// (cost - bound) / cost: how much cheaper than the answer an optimal schedule can be at most.
double gap_to_bound(double cost, double bound) { return cost > 0 ? std::max(0.0, cost - bound) / cost : 0.0; }

int run_solve(SolveArgs& args) {
  if (args.budget.empty() == args.max_overhead.empty()) {
    throw Error(args.budget.empty()
                    ? "solve needs exactly one of --budget B or --max-overhead X (neither was given)"
                    : "solve needs exactly one of --budget B or --max-overhead X (both were given)");
  }
  check_solver_options(args.options);
  std::optional<Budget> budget;
  std::optional<double> max_overhead;
  if (!args.budget.empty()) {
    try {
      budget = parse_budget(args.budget);
    } catch (const Error& e) {
      throw Error(fmt::format("--budget: {}", e.what()));
    }
  } else {
    try {
      max_overhead = parse_fraction(args.max_overhead);
    } catch (const Error& e) {
      throw Error(fmt::format("--max-overhead: {}", e.what()));
    }
  }
  const Solver& solver = solver_by_name(args.solver);
  Graph graph = read_graph_file(args.graph_path);
  if (auto reason = solver.unsupported_reason(graph)) {
    throw Error(fmt::format("solver \"{}\" cannot handle graph \"{}\": {}", args.solver, graph.name(), *reason));
  }
  const uint64_t store_all = store_all_peak_bytes(graph);
  std::optional<uint64_t> budget_bytes;
  std::string budget_text = "none";
  if (budget) {
    budget_bytes = budget->resolve(store_all);
    budget_text = budget->bytes ? format_bytes_exact(*budget_bytes)
                                : fmt::format("{} = {}", budget->describe(), format_bytes_exact(*budget_bytes));
  }

  Progress progress(args.progress);
  progress.begin(fmt::format("solving with {}", solver.name()));
  args.options.progress = progress.callback();
  auto started = std::chrono::steady_clock::now();
  SolveResult result = budget_bytes ? solver.solve_budget(graph, *budget_bytes, args.options)
                                    : solver.solve_overhead(graph, *max_overhead, args.options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  progress.end();

  nlohmann::json doc;
  doc["graph"] = graph.name();
  doc["solver"] = args.solver;
  doc["budget_bytes"] = budget_bytes ? nlohmann::json(*budget_bytes) : nlohmann::json(nullptr);
  doc["max_overhead"] = max_overhead ? nlohmann::json(*max_overhead) : nlohmann::json(nullptr);
  doc["store_all_peak_bytes"] = store_all;
  doc["total_cost"] = graph.total_cost();
  doc["solve_seconds"] = seconds;
  if (!result.note.empty()) doc["note"] = result.note;

  if (result.status == SolveStatus::kInfeasible) {
    std::string message;
    if (budget_bytes && result.min_feasible_peak_bytes > *budget_bytes) {
      message = fmt::format("budget {} is below the smallest feasible peak {} (solver {})", budget_text, format_bytes_exact(result.min_feasible_peak_bytes),
                            args.solver);
    } else if (max_overhead) {
      message = result.note.empty()
                    ? fmt::format("solver {} has no schedule with overhead <= {}", args.solver, percent(*max_overhead))
                    : fmt::format("{} (solver {})", result.note, args.solver);
    } else {
      message = result.note.empty() ? fmt::format("solver {} found no schedule for graph \"{}\"", args.solver, graph.name())
                                    : fmt::format("{} (solver {})", result.note, args.solver);
    }
    if (args.json) {
      doc["status"] = "infeasible";
      doc["min_feasible_peak_bytes"] = result.min_feasible_peak_bytes;
      doc["message"] = message;
      std::cout << doc.dump(2) << "\n";
    }
    throw ExitError(kExitInfeasible, message);
  }

  const Schedule& schedule = result.schedule;
  Simulation sim;
  try {
    sim = verify_schedule(graph, schedule);
  } catch (const Error& e) {
    throw ExitError(kExitInvalidSchedule, fmt::format("solver {} returned a bad schedule (a solver bug): {}",
                                                      args.solver, e.what()));
  }
  if (budget_bytes && sim.peak_bytes > *budget_bytes) {
    throw ExitError(kExitInvalidSchedule, fmt::format("solver {} returned peak {} above the budget {} (a solver bug)",
                                                      args.solver, format_bytes_exact(sim.peak_bytes),
                                                      format_bytes_exact(*budget_bytes)));
  }
  const double overhead = overhead_of(graph, sim.cost);
  if (max_overhead && overhead > *max_overhead + 1e-9) {
    throw ExitError(kExitInvalidSchedule, fmt::format("solver {} returned overhead {} above the cap {} (a solver bug)",
                                                      args.solver, percent(overhead), percent(*max_overhead)));
  }
  size_t computes = 0, recomputes = 0;
  for (bool r : recompute_flags(graph, schedule.steps)) recomputes += r;
  for (const Step& s : schedule.steps) computes += s.kind == StepKind::kCompute;

  if (!args.out.empty()) write_output(args.out, schedule_to_json(schedule, graph));

  if (args.json) {
    doc["status"] = "solved";
    doc["solver"] = schedule.solver;
    doc["peak_bytes"] = sim.peak_bytes;
    doc["memory_ratio"] = memory_ratio_of(sim.peak_bytes, store_all);
    doc["cost"] = sim.cost;
    doc["overhead"] = overhead;
    doc["steps"] = schedule.steps.size();
    doc["computes"] = computes;
    doc["recomputations"] = recomputes;
    doc["proven_optimal"] = result.proven_optimal;
    if (result.lower_bound_cost) {
      doc["lower_bound_cost"] = *result.lower_bound_cost;
      doc["gap"] = gap_to_bound(sim.cost, *result.lower_bound_cost);
    }
    if (args.dump) {
      nlohmann::json lines = nlohmann::json::array();
      for (const DumpLine& l : dump_lines(graph, schedule, sim)) {
        lines.push_back({{"step", l.step}, {"action", l.compute ? "compute" : "free"}, {"id", l.id},
                         {"live_bytes", l.live_bytes}, {"recompute", l.recompute}});
      }
      doc["dump"] = lines;
    }
    if (args.out != "-") std::cout << doc.dump(2) << "\n";
    return kExitOk;
  }
  if (args.out == "-") return kExitOk;  // stdout carries the schedule document

  std::vector<std::pair<std::string, std::string>> rows = {
      {"graph", fmt::format("{} ({} nodes)", graph.name(), graph.num_nodes())},
      {"solver", schedule.solver},
      {"budget", max_overhead ? fmt::format("none (max overhead {})", percent(*max_overhead)) : budget_text},
      {"peak", fmt::format("{}, {} of store-all {}", format_bytes_exact(sim.peak_bytes),
                           percent(memory_ratio_of(sim.peak_bytes, store_all)), format_bytes(store_all))},
      {"cost", fmt::format("{} (store-all {})", format_cost(sim.cost), format_cost(graph.total_cost()))},
      {"overhead", percent(overhead)},
      {"computes", fmt::format("{} ({} recomputations)", computes, recomputes)},
      {"optimal", optimality_text(result, schedule, sim.cost, max_overhead.has_value())},
      {"solve time", fmt::format("{:.3f} s", seconds)},
  };
  if (result.lower_bound_cost) {
    // What the bound covers (every schedule, or the solver's model) is the solver's to say, in the note.
    rows.push_back({"lower bound", fmt::format("{}, gap {} (cost - bound) / cost",
                                               format_cost(*result.lower_bound_cost),
                                               percent(gap_to_bound(sim.cost, *result.lower_bound_cost)))});
  }
  if (!result.note.empty()) rows.push_back({"note", result.note});
  if (!args.out.empty()) rows.push_back({"written", args.out});
  std::cout << key_values(rows);
  if (args.dump) std::cout << dump_text(dump_lines(graph, schedule, sim), graph);
  return kExitOk;
}

}  // namespace

Command add_solve_command(CLI::App& parent) {
  auto args = std::make_shared<SolveArgs>();
  CLI::App* app = parent.add_subcommand(
      "solve", "Find one schedule: the cheapest within a memory budget (--budget) or the smallest peak within "
               "an overhead cap (--max-overhead); exactly one of the two is required");
  app->add_option("graph", args->graph_path, "training graph (gradrecomp.tgraph/1 JSON)")->required()->type_name("GRAPH");
  app->add_option("--solver", args->solver, "solver name (see the list below)")
      ->type_name("NAME")
      ->capture_default_str();
  auto* budget = app->add_option("--budget", args->budget,
                                 "peak-memory budget in bytes (4096, 512MiB, 2GiB, 1.5GB) or as a percentage of the "
                                 "store-all peak (40%); constant_bytes are not counted");
  budget->type_name("B");
  auto* overhead = app->add_option("--max-overhead", args->max_overhead,
                                   "largest accepted compute overhead over store-all, as 5% or 0.05");
  overhead->type_name("X");
  budget->excludes(overhead);
  app->add_option("--out", args->out, "write the schedule (gradrecomp.schedule/1) to this file; - for stdout")
      ->type_name("FILE");
  app->add_flag("--json", args->json, "print the result as a JSON object instead of a table");
  app->add_flag("--dump", args->dump, "print the schedule, one step per line with the live bytes, recomputations marked");
  app->add_flag("--progress", args->progress, "show progress on stderr even when it is not a terminal");
  add_solver_options(*app, args->options);
  app->footer("Exit codes: 0 solved; 2 bad input; 3 infeasible (the message gives the smallest feasible peak).\n\n"
              "Solvers:\n" + solver_help_list());
  return {app, [args] { return run_solve(*args); }};
}

}  // namespace gradrecomp::cli
