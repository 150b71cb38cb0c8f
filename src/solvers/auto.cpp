// Problem:    the user asks for "the best schedule" without knowing which solver fits the graph:
//             minimise cost under a peak-memory budget (or peak under an overhead cap), bytes and
//             the graph's cost unit as everywhere else.
// Algorithm:  dispatch, no algorithm of its own. A chain (include/gradrecomp/chain.h) goes to
//             "chain-dp" (optimal for the chain model); any other graph goes to "dag" when it is
//             registered, else to "milp" (an optional target) when the graph has at most
//             kMilpMaxNodes nodes; otherwise it fails with a message saying no general-graph
//             solver is available. Delegates are looked up by name in the registry at call time,
//             so `auto` works with whatever solvers the build contains.
// Recurrence: none (see the delegate's header).
// Complexity: recognize_chain is O(nodes + tensors); the rest is the delegate's.
// Memory model: the simulator's (include/gradrecomp/simulate.h); schedules come back from the
//             delegate already replayed, only their `solver` field is renamed "auto(<delegate>)".
#include <fmt/format.h>

#include "gradrecomp/chain.h"
#include "gradrecomp/error.h"
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
    return renamed(delegate.solve_budget(graph, budget_bytes, options), delegate);
  }
  SolveResult solve_overhead(const Graph& graph, double max_overhead, const SolveOptions& options) const override {
    const Solver& delegate = require_delegate(graph);
    return renamed(delegate.solve_overhead(graph, max_overhead, options), delegate);
  }
};

}  // namespace

std::unique_ptr<Solver> make_auto_solver() { return std::make_unique<AutoSolver>(); }

}  // namespace gradrecomp
