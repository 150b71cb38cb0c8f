// schedule_cost_lower_bound: the larger of the stage relaxation (milp/stage_relaxation.h) and the
// loss-time relaxation (milp/loss_time_bound.h), solved by CBC, or the total cost. The formulations
// and the proofs that they bound every schedule: include/gradrecomp/solvers/milp.h.
#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "gradrecomp/solvers/milp.h"
#include "milp/linear_program.h"
#include "milp/stage_relaxation.h"

namespace gradrecomp {
namespace {

// The larger of the stage relaxation's bound (`stage`) and the loss-time relaxation's: both hold
// for every schedule within the budget, and so does an infeasibility either proves.
CostLowerBound combine_with_loss_time(const Graph& graph, uint64_t budget_bytes, const LowerBoundOptions& options,
                                      const Schedule* known, CostLowerBound stage) {
  CostLowerBound loss = loss_time_lower_bound(graph, budget_bytes, options.time_limit_seconds, known, options.integer);
  if (loss.infeasible) {
    loss.method += fmt::format(" (the stage relaxation did not prove it: {})", stage.method);
    loss.stats = stage.stats;
    return loss;
  }
  if (loss.cost > stage.cost + 1e-6 * (1 + std::abs(stage.cost))) {  // not for a difference of margins
    stage.method = fmt::format("{}, above the {}: {}", loss.method, stage.method, stage.cost);
    stage.cost = loss.cost;
  }
  return stage;
}

}  // namespace

CostLowerBound trivial_lower_bound(const Graph& graph, uint64_t budget_bytes) {
  CostLowerBound out;
  out.cost = graph.total_cost();
  out.method = "total cost (every node runs at least once)";
  uint64_t inputs_bytes = 0;
  for (TensorId k : graph.graph_inputs()) inputs_bytes += graph.tensor(k).bytes;
  if (inputs_bytes > budget_bytes) {
    // The replay starts with every graph input live.
    out.infeasible = true;
    out.method = fmt::format("the graph inputs alone take {} bytes", inputs_bytes);
  }
  return out;
}

CostLowerBound schedule_cost_lower_bound(const Graph& graph, uint64_t budget_bytes, const LowerBoundOptions& options,
                                         const Schedule* known) {
  CostLowerBound out = trivial_lower_bound(graph, budget_bytes);
  if (out.infeasible) return out;
  const double total = graph.total_cost();
  if (graph.num_nodes() > options.max_nodes) {
    // The loss-time relaxation has O(nodes + tensors) columns: it runs at any size. On graphs this
    // large branch and bound rarely improves on the LP value (measured on ResNet-152: 20 s did not
    // move it), so it gets at most kLargeGraphSeconds, keeping `auto` within about a second.
    constexpr double kLargeGraphSeconds = 1.0;
    CostLowerBound loss = loss_time_lower_bound(graph, budget_bytes,
                                                std::min(options.time_limit_seconds, kLargeGraphSeconds), known,
                                                options.integer);
    loss.method += fmt::format("; the stage relaxation is tried up to {} nodes (graph has {})", options.max_nodes,
                               graph.num_nodes());
    return loss;
  }
  auto begin = std::chrono::steady_clock::now();
  milp::StageRelaxation relaxation(graph, budget_bytes);
  out.stats.build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  if (relaxation.infeasible_reason()) {
    out.infeasible = true;
    out.method = *relaxation.infeasible_reason();
    return out;
  }
  milp::FormulationSize size = relaxation.size();
  out.stats.columns = size.columns;
  out.stats.integers = options.integer ? size.integers : 0;
  out.stats.rows = size.rows;
  out.stats.nonzeros = size.nonzeros;

  milp::CbcSettings settings;
  settings.time_limit_seconds = options.time_limit_seconds;
  settings.relax_integrality = !options.integer;
  settings.threads = options.threads;
  if (known && options.integer && known->peak_bytes <= budget_bytes) {
    if (auto ones = relaxation.encode(known->steps)) {
      settings.warm_start = std::move(*ones);
      out.stats.warm_started = true;
      out.stats.warm_start_from = known->solver;
    }
  }
  milp::LpOutcome outcome = milp::solve_with_cbc(relaxation.program(), settings);
  out.stats.solve_seconds = outcome.seconds;
  out.stats.nodes = outcome.nodes;
  const char* kind = options.integer ? "stage relaxation" : "LP of the stage relaxation";
  if (outcome.status == milp::LpStatus::kInfeasible && known && known->peak_bytes <= budget_bytes) {
    // A replayed schedule fits, so the claim is CBC's mistake, not a proof: use no bound from it.
    out.method += fmt::format("; the {} was reported infeasible although a schedule fits (ignored)", kind);
    return out;
  }
  if (outcome.status == milp::LpStatus::kInfeasible) {
    out.infeasible = true;
    out.method = fmt::format("{}: no schedule fits (proven)", kind);
    return out;
  }
  double bound = outcome.status == milp::LpStatus::kOptimal ? outcome.objective : outcome.best_bound;
  if (!std::isfinite(bound) || bound < -1e100) {  // CBC reports -DBL_MAX when it has no bound
    out.method += fmt::format("; the {} proved nothing within {} s", kind, options.time_limit_seconds);
    return combine_with_loss_time(graph, budget_bytes, options, known, std::move(out));
  }
  // CBC's optimality tolerance (1e-10 relative gap) and its primal tolerances are far below this.
  bound = (bound - 1e-7) * relaxation.objective_scale();
  out.relaxation_solved = outcome.status == milp::LpStatus::kOptimal;
  out.cost = std::max(total, bound);
  // With parallel branches only the pivots end stages: say how coarse the relaxation was.
  std::string stages = relaxation.num_pivots() == graph.num_nodes()
                           ? ""
                           : fmt::format("{} stage{} for {} nodes, ", relaxation.num_stages(),
                                         relaxation.num_stages() == 1 ? "" : "s", graph.num_nodes());
  out.method = out.relaxation_solved ? fmt::format("{} ({}{:.2f} s)", kind, stages, outcome.seconds)
                                     : fmt::format("{} ({}CBC's bound at the {} s time limit)", kind, stages,
                                                   options.time_limit_seconds);
  return combine_with_loss_time(graph, budget_bytes, options, known, std::move(out));
}

}  // namespace gradrecomp
