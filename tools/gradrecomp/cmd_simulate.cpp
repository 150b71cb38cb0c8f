// `gradrecomp simulate GRAPH.json SCHEDULE.json [--json] [--timeline FILE.csv|FILE.svg]`: replay a
// schedule with the simulator (the single source of truth) and check what the file claims.
#include <cmath>
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

namespace gradrecomp::cli {
namespace {

struct SimulateArgs {
  std::string graph_path;
  std::string schedule_path;
  std::string timeline;
  bool json = false;
};

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string step_text(const Graph& graph, const Schedule& schedule, int64_t index) {
  if (index < 0 || index >= static_cast<int64_t>(schedule.steps.size())) return "end of schedule";
  const Step& s = schedule.steps[index];
  if (s.kind == StepKind::kCompute) return fmt::format("step {} [compute {}]", index, graph.node(s.target).id);
  return fmt::format("step {} [free {}]", index, graph.tensor(s.target).id);
}

int run_simulate(const SimulateArgs& args) {
  bool svg = ends_with(args.timeline, ".svg");
  if (!args.timeline.empty() && !svg && !ends_with(args.timeline, ".csv")) {
    throw Error(fmt::format("--timeline \"{}\" has an unknown extension (expected a file name ending in .csv or .svg)",
                            args.timeline));
  }
  Graph graph = read_graph_file(args.graph_path);
  Schedule schedule = read_schedule_file(args.schedule_path, graph);
  Simulation sim = simulate(graph, schedule.steps);
  uint64_t store_all = store_all_peak_bytes(graph);

  nlohmann::json doc;
  doc["graph"] = graph.name();
  doc["solver"] = schedule.solver;
  doc["valid"] = sim.valid;
  doc["steps"] = schedule.steps.size();
  if (!sim.valid) {
    doc["error"] = sim.error;
    doc["error_step"] = sim.error_step;
    if (args.json) std::cout << doc.dump(2) << "\n";
    else std::cout << key_values({{"schedule", args.schedule_path}, {"valid", "no"}, {"first offending",
                                  step_text(graph, schedule, sim.error_step)}});
    throw ExitError(kExitInvalidSchedule, fmt::format("schedule {} is invalid at {}: {}", args.schedule_path,
                                                      step_text(graph, schedule, sim.error_step), sim.error));
  }

  size_t computes = 0, recomputes = 0;
  for (bool r : recompute_flags(graph, schedule.steps)) recomputes += r;
  for (const Step& s : schedule.steps) computes += s.kind == StepKind::kCompute;
  const double overhead = overhead_of(graph, sim.cost);

  // What the file records against what the replay gives.
  std::vector<std::string> disagreements;
  if (schedule.peak_bytes != sim.peak_bytes) {
    disagreements.push_back(fmt::format("recorded peak_bytes {} but the replay peaks at {}",
                                        format_bytes_exact(schedule.peak_bytes), format_bytes_exact(sim.peak_bytes)));
  }
  double tolerance = 1e-9 * std::max(1.0, std::abs(sim.cost));
  if (std::abs(schedule.cost - sim.cost) > tolerance) {
    disagreements.push_back(fmt::format("recorded cost {} but the replay costs {}", format_cost(schedule.cost),
                                        format_cost(sim.cost)));
  }
  if (schedule.budget_bytes && *schedule.budget_bytes < sim.peak_bytes) {
    disagreements.push_back(fmt::format("budget_bytes {} is below the replayed peak {}",
                                        format_bytes_exact(*schedule.budget_bytes), format_bytes_exact(sim.peak_bytes)));
  }

  if (!args.timeline.empty()) {
    write_output(args.timeline, svg ? timeline_svg(graph, schedule, sim) : timeline_csv(graph, schedule, sim));
  }

  if (args.json) {
    doc["peak_bytes"] = sim.peak_bytes;
    doc["peak_step"] = sim.peak_step;
    doc["cost"] = sim.cost;
    doc["overhead"] = overhead;
    doc["store_all_peak_bytes"] = store_all;
    doc["memory_ratio"] = memory_ratio_of(sim.peak_bytes, store_all);
    doc["computes"] = computes;
    doc["recomputations"] = recomputes;
    doc["recorded"] = {{"peak_bytes", schedule.peak_bytes},
                       {"cost", schedule.cost},
                       {"budget_bytes", schedule.budget_bytes ? nlohmann::json(*schedule.budget_bytes) : nlohmann::json(nullptr)}};
    doc["agrees"] = disagreements.empty();
    doc["disagreements"] = disagreements;
    std::cout << doc.dump(2) << "\n";
  } else {
    std::string recorded = schedule.budget_bytes ? "peak_bytes, cost and budget_bytes agree with the replay"
                                                 : "peak_bytes and cost agree with the replay (no budget)";
    std::vector<std::pair<std::string, std::string>> rows = {
        {"schedule", fmt::format("{} (solver \"{}\", graph \"{}\")", args.schedule_path, schedule.solver, graph.name())},
        {"valid", "yes"},
        {"steps", fmt::format("{} ({} computes of which {} recomputations, {} frees)", schedule.steps.size(), computes,
                              recomputes, schedule.steps.size() - computes)},
        {"peak", fmt::format("{} at {}", format_bytes_exact(sim.peak_bytes),
                             sim.peak_step < 0 ? "the start" : step_text(graph, schedule, sim.peak_step))},
        {"memory ratio", fmt::format("{} of store-all {}", percent(memory_ratio_of(sim.peak_bytes, store_all)),
                                     format_bytes_exact(store_all))},
        {"cost", fmt::format("{} (store-all {})", format_cost(sim.cost), format_cost(graph.total_cost()))},
        {"overhead", percent(overhead)},
        {"recorded", disagreements.empty() ? recorded : fmt::format("{} disagreement(s), see below", disagreements.size())},
    };
    if (!args.timeline.empty()) rows.push_back({"timeline", args.timeline});
    std::cout << key_values(rows);
    for (const std::string& d : disagreements) std::cout << "  disagreement: " << d << "\n";
  }
  if (!disagreements.empty()) {
    std::string joined;
    for (const std::string& d : disagreements) joined += (joined.empty() ? "" : "; ") + d;
    throw ExitError(kExitInvalidSchedule, fmt::format("schedule {} disagrees with its replay: {}", args.schedule_path, joined));
  }
  return kExitOk;
}

}  // namespace

Command add_simulate_command(CLI::App& parent) {
  auto args = std::make_shared<SimulateArgs>();
  CLI::App* app = parent.add_subcommand(
      "simulate", "Replay a schedule against its graph: valid or the first offending step, peak, cost, overhead, "
                  "and whether the recorded peak_bytes/cost/budget_bytes agree");
  app->add_option("graph", args->graph_path, "training graph (gradrecomp.tgraph/1 JSON)")->required()->type_name("GRAPH");
  app->add_option("schedule", args->schedule_path, "schedule (gradrecomp.schedule/1 JSON)")->required()->type_name("SCHEDULE");
  app->add_flag("--json", args->json, "print the result as a JSON object");
  app->add_option("--timeline", args->timeline,
                  "write the memory during each step to FILE.csv (step,kind,id,live_bytes,recompute) or draw it "
                  "to FILE.svg")
      ->type_name("FILE");
  app->footer("Exit codes: 0 valid and agreeing; 1 invalid or disagreeing with the replay; 2 bad input.");
  return {app, [args] { return run_simulate(*args); }};
}

}  // namespace gradrecomp::cli
