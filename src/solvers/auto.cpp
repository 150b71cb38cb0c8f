// Problem:    the user asks for "the best schedule" without knowing which solver fits the graph:
//             minimise cost under a peak-memory budget (or peak under an overhead cap), bytes and
//             the graph's cost unit as everywhere else.
// Algorithm:  dispatch, no algorithm of its own. A chain (include/gradrecomp/chain.h) goes to
//             "chain-dp" (optimal for the chain model); any other graph goes to "dag" when it is
//             registered, else to "milp" (an optional target) when the graph has at most
//             kMilpMaxNodes nodes; otherwise it fails with a message saying no general-graph
//             solver is available. Delegates are looked up by name in the registry at call time,
//             so `auto` works with whatever solvers the build contains.
//             Every answer carries lower_bound_cost, a bound on the cost of every schedule of
//             the spec within the budget (for an overhead cap: within the answer's own peak),
//             and the note gives the gap (cost - bound) / cost and how the bound was found:
//             the stage relaxation of include/gradrecomp/solvers/milp.h when the milp target
//             installed it (register_milp_solver), else the total cost (every node runs at least
//             once). Under a budget, a bound at or above the cost proves the answer optimal
//             (proven_optimal).
// Recurrence: none (see the delegate's header).
// Complexity: recognize_chain is O(nodes + tensors); the rest is the delegate's, plus the bound
//             (at most SolveOptions::time_limit_seconds, 5 s by default, of CBC; see milp.h).
// Memory model: the simulator's (include/gradrecomp/simulate.h); schedules come back from the
//             delegate already replayed, only their `solver` field is renamed "auto(<delegate>)".
#include <algorithm>

#include <fmt/format.h>

#include "gradrecomp/chain.h"
#include "gradrecomp/error.h"
#include "solvers/auto_bound.h"
#include "solvers/builtin.h"

namespace gradrecomp {
namespace {

// Largest graph (in nodes) that `auto` hands to the MILP solver when no "dag" solver exists:
// beyond it, an exact MILP is unlikely to finish within the default time limit.
constexpr int32_t kMilpMaxNodes = 60;

struct Delegate {
  const Solver* solver = nullptr;
  std::string why_not;  // when solver is null: why no delegate fits
};

Delegate choose_delegate(const Graph& graph) {
  std::string why_not_chain;
  if (recognize_chain(graph, &why_not_chain)) {
    if (const Solver* s = find_solver("chain-dp")) return {s, {}};
    return {nullptr, "the graph is a chain but the \"chain-dp\" solver is not registered in this build"};
  }
  if (const Solver* s = find_solver("dag")) return {s, {}};
  if (const Solver* s = find_solver("milp")) {
    if (graph.num_nodes() <= kMilpMaxNodes) return {s, {}};
    return {nullptr, fmt::format("no solver for general graphs is available: the graph is not a chain ({}), "
                                 "\"dag\" is not registered and \"milp\" is used only up to {} nodes (graph has {})",
                                 why_not_chain, kMilpMaxNodes, graph.num_nodes())};
  }
  return {nullptr, fmt::format("no solver for general graphs is available: the graph is not a chain ({}) and "
                               "neither \"dag\" nor \"milp\" is registered in this build",
                               why_not_chain)};
}

const Solver& require_delegate(const Graph& graph) {
  Delegate d = choose_delegate(graph);
  if (!d.solver) throw Error(fmt::format("solver \"auto\" cannot handle graph \"{}\": {}", graph.name(), d.why_not));
  return *d.solver;
}

AutoCostBoundFn& bound_provider() {
  static AutoCostBoundFn provider;
  return provider;
}

AutoCostBound cost_bound(const Graph& graph, uint64_t budget_bytes, const SolveOptions& options,
                         const Schedule& answer) {
  if (bound_provider()) return bound_provider()(graph, budget_bytes, options, answer);
  return {graph.total_cost(), false, "total cost (every node runs at least once)"};
}

// Sets lower_bound_cost to a bound on every schedule with peak <= budget_bytes and says so in
// the note. Solvers' own bounds are not used: those of `milp` hold only for its model.
// claim_optimal: for a budget, a bound at the cost proves the answer optimal (not for an
// overhead cap, whose objective is the peak).
void attach_bound(SolveResult& result, const Graph& graph, uint64_t budget_bytes, const SolveOptions& options,
                  bool claim_optimal) {
  if (result.status != SolveStatus::kSolved || !options.lower_bound) return;
  AutoCostBound bound = cost_bound(graph, budget_bytes, options, result.schedule);
  const double cost = result.schedule.cost;
  GRADRECOMP_ASSERT(!bound.infeasible, fmt::format("auto: the bound claims no schedule fits {} bytes ({}), but the "
                                                   "delegate's schedule has peak {}",
                                                   budget_bytes, bound.method, result.schedule.peak_bytes));
  GRADRECOMP_ASSERT(bound.cost <= cost * (1 + 1e-6) + 1e-9,
                    fmt::format("auto: lower bound {} above the cost {} of a replayed schedule ({})", bound.cost,
                                cost, bound.method));
  double value = std::min(cost, std::max(bound.cost, graph.total_cost()));
  // A bound within 1e-6 of the cost (the stage relaxation keeps a 1e-7 margin for CBC's
  // tolerances) proves the answer optimal: report the cost itself.
  if (cost - value <= 1e-6 * cost) value = cost;
  const double gap = cost > 0 ? (cost - value) / cost : 0.0;
  result.lower_bound_cost = value;
  if (claim_optimal && gap == 0) result.proven_optimal = true;
  std::string text = fmt::format("lower bound {:.6g}, gap {:.2f}% ({})", value, gap * 100, bound.method);
  result.note = result.note.empty() ? text : result.note + "; " + text;
}

std::string auto_name(const Solver& delegate) { return fmt::format("auto({})", delegate.name()); }

void rename(std::vector<Schedule>& schedules, const Solver& delegate) {
  for (Schedule& s : schedules) s.solver = auto_name(delegate);
}

SolveResult renamed(SolveResult result, const Solver& delegate) {
  result.schedule.solver = auto_name(delegate);
  std::string used = fmt::format("auto used \"{}\"", delegate.name());
  result.note = result.note.empty() ? used : used + "; " + result.note;
  return result;
}

class AutoSolver final : public Solver {
 public:
  std::string_view name() const override { return "auto"; }
  std::string_view summary() const override {
    return "chain-dp on chains; otherwise dag, or milp on small graphs when dag is not built";
  }
  std::optional<std::string> unsupported_reason(const Graph& graph) const override {
    Delegate d = choose_delegate(graph);
    if (!d.solver) return d.why_not;
    if (auto reason = d.solver->unsupported_reason(graph)) {
      return fmt::format("delegate \"{}\" cannot handle it: {}", d.solver->name(), *reason);
    }
    return std::nullopt;
  }
  std::vector<Schedule> frontier(const Graph& graph, const SolveOptions& options) const override {
    const Solver& delegate = require_delegate(graph);
    std::vector<Schedule> schedules = delegate.frontier(graph, options);
    rename(schedules, delegate);
    return schedules;
  }
  SolveResult solve_budget(const Graph& graph, uint64_t budget_bytes, const SolveOptions& options) const override {
    const Solver& delegate = require_delegate(graph);
    SolveResult result = renamed(delegate.solve_budget(graph, budget_bytes, options), delegate);
    attach_bound(result, graph, budget_bytes, options, true);
    return result;
  }
  SolveResult solve_overhead(const Graph& graph, double max_overhead, const SolveOptions& options) const override {
    const Solver& delegate = require_delegate(graph);
    SolveResult result = renamed(delegate.solve_overhead(graph, max_overhead, options), delegate);
    // The answer minimises the peak: its cost is compared with every schedule at most that peak.
    attach_bound(result, graph, result.schedule.peak_bytes, options, false);
    return result;
  }
};

}  // namespace

void set_auto_cost_bound(AutoCostBoundFn fn) { bound_provider() = std::move(fn); }

std::unique_ptr<Solver> make_auto_solver() { return std::make_unique<AutoSolver>(); }

}  // namespace gradrecomp
