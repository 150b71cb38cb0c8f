// The `chain-dp` solver: spec chains -> ChainModel -> chain DP -> node computations -> schedule.
// Problem, algorithm, recurrence, complexity: include/gradrecomp/solvers/chain_dp.h. Schedules get
// the earliest frees of schedule_from_computes and their figures from the simulator.
#include <algorithm>

#include <fmt/format.h>

#include "gradrecomp/chain.h"
#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solvers/chain_dp.h"
#include "gradrecomp/units.h"
#include "solvers/builtin.h"

namespace gradrecomp {

ChainModel chain_model_of(const Graph& graph, const Chain& chain) {
  ChainModel model;
  model.input_bytes = bytes_of(graph, chain.input);
  model.baseline_bytes = bytes_of(graph, chain.extra_inputs);
  const int32_t n = chain.length();
  uint64_t previous = model.input_bytes;
  for (int32_t i = 1; i <= n; ++i) {
    const ChainStage& stage = chain.stages[i - 1];
    const Node& forward = graph.node(stage.forward);
    const Node& backward = graph.node(stage.backward);
    ChainModelStage st;
    st.activation_bytes = bytes_of(graph, stage.activation);
    st.gradient_bytes = bytes_of(graph, stage.gradient);
    st.forward_cost = forward.cost;
    st.forward_peak_bytes = previous + graph.output_bytes(stage.forward);  // outputs + workspace
    KeepOption keep;
    keep.kept_bytes = st.activation_bytes + bytes_of(graph, stage.saved);
    keep.forward_cost = forward.cost;
    keep.forward_peak_bytes = st.forward_peak_bytes;
    keep.backward_cost = backward.cost;
    uint64_t d_in = i < n ? bytes_of(graph, chain.stages[i].gradient) : 0;
    keep.backward_peak_bytes = previous + keep.kept_bytes + d_in + graph.output_bytes(stage.backward);
    st.keep_options.push_back(keep);
    model.stages.push_back(std::move(st));
    previous = model.stages.back().activation_bytes;
  }
  return model;
}

std::vector<NodeId> chain_computes(const Chain& chain, const std::vector<ChainOp>& ops) {
  std::vector<NodeId> computes;
  computes.reserve(ops.size());
  for (const ChainOp& op : ops) {
    if (op.stage < 1 || op.stage > chain.length()) {
      throw Error(fmt::format("chain op of stage {} is out of range (expected 1..{})", op.stage, chain.length()));
    }
    const ChainStage& stage = chain.stages[op.stage - 1];
    computes.push_back(op.kind == ChainOpKind::kBackward ? stage.backward : stage.forward);
  }
  return computes;
}

namespace {

constexpr const char* kName = "chain-dp";

class ChainDpSolver final : public Solver {
 public:
  std::string_view name() const override { return kName; }
  std::string_view summary() const override {
    return "heterogeneous chains: Beaumont et al. 2019 DP (+ sweep-keep) over exact Pareto frontiers; optimal within its model";
  }

  std::optional<std::string> unsupported_reason(const Graph& graph) const override {
    return chain_unsupported_reason(graph);
  }

  std::vector<Schedule> frontier(const Graph& graph, const SolveOptions& options) const override {
    Chain chain = require_chain(graph, kName);
    ChainDp dp(chain_model_of(graph, chain), options.memory_slots, options.progress);
    std::vector<Schedule> schedules;
    for (const ChainFrontierPoint& point : dp.frontier()) {
      std::optional<ChainPlan> plan = dp.plan_for_budget(point.peak_bytes);
      GRADRECOMP_ASSERT(plan.has_value(), fmt::format("no plan for frontier peak {}", point.peak_bytes));
      schedules.push_back(schedule_from_computes(graph, chain_computes(chain, plan->ops), kName));
    }
    return pareto_filter(std::move(schedules));
  }

  SolveResult solve_budget(const Graph& graph, uint64_t budget_bytes, const SolveOptions& options) const override {
    Chain chain = require_chain(graph, kName);
    ChainModel model = chain_model_of(graph, chain);
    SolveResult result;
    if (std::optional<ChainPlan> plan = solve_chain_budget(model, budget_bytes, options.memory_slots)) {
      result.status = SolveStatus::kSolved;
      result.schedule = schedule_from_computes(graph, chain_computes(chain, plan->ops), kName);
      result.schedule.budget_bytes = budget_bytes;
      result.proven_optimal = options.memory_slots == 0;
      // The smallest peak is only searched for when the budget is infeasible (that search is a
      // DP of its own); a solved budget reports the smallest peak known, this schedule's.
      result.min_feasible_peak_bytes = result.schedule.peak_bytes;
      return result;
    }
    // The model's smallest peak (scalar DP, no frontier): an upper bound of the replayed one.
    const uint64_t model_min = chain_min_peak_bytes(model, options.memory_slots);
    // The model is an upper bound of the replay: its smallest-peak plan may still fit once replayed.
    std::optional<ChainPlan> smallest = solve_chain_budget(model, model_min, options.memory_slots);
    GRADRECOMP_ASSERT(smallest.has_value(), fmt::format("no plan at the model's own min peak {}", model_min));
    Schedule smallest_schedule = schedule_from_computes(graph, chain_computes(chain, smallest->ops), kName);
    result.min_feasible_peak_bytes = smallest_schedule.peak_bytes;
    if (smallest_schedule.peak_bytes <= budget_bytes) {
      result.status = SolveStatus::kSolved;
      result.schedule = std::move(smallest_schedule);
      result.schedule.budget_bytes = budget_bytes;
      result.note = fmt::format("the chain model needs {} but this schedule replays within the budget; it is the "
                                "model's smallest-peak plan, not proven cheapest", format_bytes_exact(model_min));
      return result;
    }
    result.note = fmt::format("budget {} is below the smallest peak chain-dp reaches, {}", format_bytes_exact(budget_bytes),
                              format_bytes_exact(result.min_feasible_peak_bytes));
    return result;
  }

  SolveResult solve_overhead(const Graph& graph, double max_overhead, const SolveOptions& options) const override {
    return pick_for_overhead(graph, frontier(graph, options), max_overhead);
  }
};

}  // namespace

std::unique_ptr<Solver> make_chain_dp_solver() { return std::make_unique<ChainDpSolver>(); }

}  // namespace gradrecomp
