// `gradrecomp frontier GRAPH.json [--solvers a,b] [--csv F] [--svg F] [--json]`: each solver's
// Pareto frontier (peak memory against compute overhead), as a table, CSV, JSON and a chart.
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

// Exponential-time solvers are left out of the default selection above this many nodes; naming
// them with --solvers runs them anyway.
constexpr int32_t kExactSolverDefaultMaxNodes = 16;

struct FrontierArgs {
  std::string graph_path;
  std::string solvers;
  std::string csv;
  std::string svg;
  bool json = false;
  bool points = false;
  bool progress = false;
  SolveOptions options;
};

struct Skipped {
  std::string solver;
  std::string reason;
};

struct SolverFrontier {
  std::string solver;
  double seconds = 0;
  std::vector<Schedule> points;
};

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> names;
  std::string current;
  auto flush = [&] {
    size_t b = current.find_first_not_of(" \t"), e = current.find_last_not_of(" \t");
    std::string name = b == std::string::npos ? "" : current.substr(b, e - b + 1);
    if (name.empty()) throw Error(fmt::format("--solvers \"{}\" has an empty name (expected names separated by commas)", text));
    bool seen = false;
    for (const auto& n : names) seen = seen || n == name;
    if (!seen) names.push_back(name);
    current.clear();
  };
  for (char c : text) {
    if (c == ',') flush();
    else current += c;
  }
  flush();
  return names;
}

// The default selection: every registered solver that applies, except `auto` (it repeats the
// frontier of the solver it delegates to) and the exact exponential solvers on big graphs.
std::vector<const Solver*> default_solvers(const Graph& graph, std::vector<Skipped>& skipped) {
  std::vector<const Solver*> chosen;
  for (const Solver* s : all_solvers()) {
    std::string name(s->name());
    if (name == "auto") {
      skipped.push_back({name, "repeats the frontier of the solver it delegates to (name it in --solvers to run it)"});
    } else if ((name == "exhaustive" || name == "milp") && graph.num_nodes() > kExactSolverDefaultMaxNodes) {
      skipped.push_back({name, fmt::format("exact solver left out by default on graphs above {} nodes (graph has {}); "
                                           "name it in --solvers to run it",
                                           kExactSolverDefaultMaxNodes, graph.num_nodes())});
    } else if (auto reason = s->unsupported_reason(graph)) {
      skipped.push_back({name, *reason});
    } else {
      chosen.push_back(s);
    }
  }
  return chosen;
}

int run_frontier(FrontierArgs& args) {
  check_solver_options(args.options);
  Graph graph = read_graph_file(args.graph_path);
  const bool explicit_list = !args.solvers.empty();
  std::vector<Skipped> skipped;
  std::vector<const Solver*> solvers;
  if (explicit_list) {
    for (const std::string& name : split_names(args.solvers)) {
      const Solver& s = solver_by_name(name);
      if (auto reason = s.unsupported_reason(graph)) {
        throw Error(fmt::format("solver \"{}\" cannot handle graph \"{}\": {}", name, graph.name(), *reason));
      }
      solvers.push_back(&s);
    }
  } else {
    solvers = default_solvers(graph, skipped);
  }
  const uint64_t store_all = store_all_peak_bytes(graph);

  Progress progress(args.progress);
  std::vector<SolverFrontier> results;
  for (size_t i = 0; i < solvers.size(); ++i) {
    const Solver& solver = *solvers[i];
    progress.begin(fmt::format("[{}/{}] {}", i + 1, solvers.size(), solver.name()));
    args.options.progress = progress.callback();
    auto started = std::chrono::steady_clock::now();
    SolverFrontier result{std::string(solver.name()), 0, {}};
    try {
      result.points = solver.frontier(graph, args.options);
    } catch (const Error& e) {
      progress.end();
      if (explicit_list) throw Error(fmt::format("solver \"{}\" failed: {}", solver.name(), e.what()));
      skipped.push_back({result.solver, e.what()});
      continue;
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    progress.end();
    for (const Schedule& s : result.points) {
      try {
        verify_schedule(graph, s);
      } catch (const Error& e) {
        throw ExitError(kExitInvalidSchedule,
                        fmt::format("solver {} returned a bad frontier schedule (a solver bug): {}", solver.name(), e.what()));
      }
    }
    results.push_back(std::move(result));
  }

  std::vector<FrontierSeries> series;
  std::string csv = "solver,peak_bytes,memory_ratio,cost,overhead\n";
  nlohmann::json doc;
  doc["graph"] = graph.name();
  doc["store_all_peak_bytes"] = store_all;
  doc["total_cost"] = graph.total_cost();
  doc["solvers"] = nlohmann::json::array();
  Table table({"solver", "peak", "bytes", "% store-all", "cost", "overhead"},
              {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight});
  // One line per solver: its two ends (the smallest peak and the cheapest point).
  Table summary({"solver", "points", "smallest peak", "% store-all", "its overhead", "least overhead", "its % store-all",
                 "time"},
                {Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight,
                 Align::kRight});
  for (const SolverFrontier& r : results) {
    FrontierSeries s{r.solver, {}, {}};
    nlohmann::json points = nlohmann::json::array();
    for (const Schedule& p : r.points) {
      double ratio = memory_ratio_of(p.peak_bytes, store_all);
      double overhead = overhead_of(graph, p.cost);
      s.memory_percent.push_back(ratio * 100);
      s.overhead_percent.push_back(overhead * 100);
      csv += fmt::format("{},{},{:.6f},{},{:.6f}\n", csv_field(r.solver), p.peak_bytes, ratio, format_cost(p.cost), overhead);
      points.push_back({{"peak_bytes", p.peak_bytes}, {"memory_ratio", ratio}, {"cost", p.cost}, {"overhead", overhead}});
      table.add_row({r.solver, format_bytes(p.peak_bytes), fmt::format("{}", p.peak_bytes), percent(ratio),
                     format_cost(p.cost), percent(overhead)});
    }
    doc["solvers"].push_back({{"name", r.solver}, {"seconds", r.seconds}, {"points", points}});
    if (r.points.empty()) {
      summary.add_row({r.solver, "0", "-", "-", "-", "-", "-", fmt::format("{:.3f} s", r.seconds)});
    } else {
      // Frontier order: increasing peak, decreasing cost.
      const Schedule& low = r.points.front();
      const Schedule& cheap = r.points.back();
      summary.add_row({r.solver, fmt::format("{}", r.points.size()), format_bytes(low.peak_bytes),
                       percent(memory_ratio_of(low.peak_bytes, store_all)), percent(overhead_of(graph, low.cost)),
                       percent(overhead_of(graph, cheap.cost)), percent(memory_ratio_of(cheap.peak_bytes, store_all)),
                       fmt::format("{:.3f} s", r.seconds)});
    }
    series.push_back(std::move(s));
  }
  doc["skipped"] = nlohmann::json::array();
  for (const Skipped& s : skipped) doc["skipped"].push_back({{"name", s.solver}, {"reason", s.reason}});

  if (!args.csv.empty()) write_output(args.csv, csv);
  if (!args.svg.empty()) {
    write_output(args.svg, frontier_svg(fmt::format("Pareto frontiers on {} (store-all peak {}, cost {})", graph.name(),
                                                    format_bytes(store_all), format_cost(graph.total_cost())),
                                        series));
  }
  if (args.json) {
    std::cout << doc.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << fmt::format("graph {}: {} nodes, store-all peak {}, total cost {}\n\n", graph.name(), graph.num_nodes(),
                           format_bytes_exact(store_all), format_cost(graph.total_cost()));
  std::cout << summary.render();
  if (args.points) std::cout << "\nEvery frontier point:\n" << table.render();
  if (!skipped.empty()) std::cout << "\n";
  for (const Skipped& s : skipped) std::cout << fmt::format("{}: not run: {}\n", s.solver, s.reason);
  if (!args.csv.empty()) std::cout << "csv written to " << args.csv << "\n";
  if (!args.svg.empty()) std::cout << "chart written to " << args.svg << "\n";
  return kExitOk;
}

}  // namespace

Command add_frontier_command(CLI::App& parent) {
  auto args = std::make_shared<FrontierArgs>();
  CLI::App* app = parent.add_subcommand("frontier", "Each solver's Pareto frontier: peak memory against compute overhead");
  app->add_option("graph", args->graph_path, "training graph (gradrecomp.tgraph/1 JSON)")->required()->type_name("GRAPH");
  app->add_option("--solvers", args->solvers,
                  fmt::format("comma-separated solver names (default: every registered solver that applies, except "
                              "auto, and except exhaustive and milp on graphs above {} nodes)",
                              kExactSolverDefaultMaxNodes))
      ->type_name("LIST");
  app->add_option("--csv", args->csv, "write the points to FILE as CSV (solver,peak_bytes,memory_ratio,cost,overhead)")
      ->type_name("FILE");
  app->add_option("--svg", args->svg, "draw peak memory (% of store-all) against overhead % to FILE as SVG")->type_name("FILE");
  app->add_flag("--json", args->json, "print the frontiers as a JSON object");
  app->add_flag("--points", args->points, "also print every frontier point (the text output shows one line per solver)");
  app->add_flag("--progress", args->progress, "show progress on stderr even when it is not a terminal");
  add_solver_options(*app, args->options);
  app->footer("Solvers:\n" + solver_help_list());
  return {app, [args] { return run_frontier(*args); }};
}

}  // namespace gradrecomp::cli
