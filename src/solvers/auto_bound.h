// The lower bound `auto` reports with every answer (internal). The core has no LP solver, so by
// default the bound is the total cost (every node runs at least once); the optional milp target
// installs a stronger one (schedule_cost_lower_bound, include/gradrecomp/solvers/milp.h) when
// register_milp_solver() runs.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "gradrecomp/graph.h"
#include "gradrecomp/solver.h"

namespace gradrecomp {

struct AutoCostBound {
  double cost = 0;          // every schedule of the graph with peak <= the budget costs at least this
  bool infeasible = false;  // proven: no schedule has peak <= the budget
  std::string method;       // how it was obtained, for the note
};

// The bound at budget_bytes; `options` gives the time limit; `answer` is the schedule being
// bounded (peak <= budget_bytes), which a provider may use as a starting point.
using AutoCostBoundFn = std::function<AutoCostBound(const Graph& graph, uint64_t budget_bytes,
                                                    const SolveOptions& options, const Schedule& answer)>;

// Replaces the bound provider (an empty function restores the default). Call at start-up.
void set_auto_cost_bound(AutoCostBoundFn fn);

}  // namespace gradrecomp
