// `milp`: exact recomputation planning for small graphs of any shape, with CBC.
//
//   gradrecomp::register_milp_solver();                       // adds "milp" to the registry
//   gradrecomp::MilpSolveResult r = gradrecomp::milp_solve_budget(graph, budget_bytes,
//                                        gradrecomp::MilpOptions().with_time_limit_seconds(10));
//   if (r.result.status == gradrecomp::SolveStatus::kSolved && !r.result.proven_optimal)
//     std::cout << "gap to optimal <= " << r.result.schedule.cost - *r.result.lower_bound_cost << "\n";
//
// Problem:    given a training graph (spec section 1) and a budget B in bytes, find the compute
//             order of least total cost whose replay (spec section 2) never needs more than B
//             bytes. Also: the smallest peak any schedule of the model reaches (min M below), and
//             a lower bound on the optimal cost from the LP relaxation.
// Algorithm:  the MILP of Checkmate (Jain, Jain, Paras, Gonzalez, Abbeel, Keutzer, Stoica,
//             "Checkmate: Breaking the Memory Wall with Optimal Tensor Rematerialization",
//             MLSys 2020), adapted to the spec's memory rules, solved by CBC (COIN-OR branch and
//             cut) with a time limit, warm-started from the best fast schedule that fits
//             (store-all, `dtr`, `chain-dp`, `dag` when registered).
// Recurrence: the MILP (built in src/milp/checkmate.cpp). Nodes 0..T-1 in file order; stage t computes
//             node t for the first time, after recomputing earlier nodes in increasing order.
//   R[t,i] in {0,1}, i <= t   node i is computed in stage t;  R[t,t] = 1.
//   S[t,k] in {0,1}           tensor k is live at the start of stage t (graph inputs: S[0,k] = 1;
//                             a node's output: S[t,k] = 0 for t <= its producer's index).
//   FREE[t,k,j] in {0,1}      k (read or produced by j) is dropped right after j in stage t.
//   U[t,j] >= 0               bytes while node j runs in stage t.
//   min  sum_t sum_i cost(i) R[t,i]
//   s.t. R[t,i] <= R[t,p(k)] + S[t,k]          every input k of i (p(k): producer; none for graph inputs)
//        S[t+1,k] <= S[t,k] + R[t,p(k)]         a tensor is live if kept or (re)computed
//        FREE[t,k,j] <= R[t,j],  FREE <= 1 - S[t+1,k],  FREE <= 1 - R[t,i]  (i reads k, j < i <= t)
//        U[t,j0] = sum_k bytes(k) S[t,k] + [t = 0] bytes(graph inputs that have readers)
//                  + R[t,j0] (bytes(outputs of j0) + workspace(j0))       j0: first position of stage t
//        U[t,j]  = U[t,j'] - R[t,j'] workspace(j') - sum_k bytes(k) FREE[t,k,j']
//                  + R[t,j] (bytes(outputs of j) + workspace(j))          j': previous position
//        U[t,j] <= B   (min-peak variant: U[t,j] <= M, M >= bytes(all graph inputs), min M)
//   FREE only has upper bounds: freeing never hurts, so the solver raises it where allowed.
//   Exact relaxation (MilpOptions::continuous_auxiliaries): with R integral, rounding S down and
//   raising FREE to its bound keeps every row satisfied and lowers U, so S and FREE may be
//   continuous. It is exact but CBC is much slower with it (branching and cuts work on the
//   binaries): measured in docs/benchmarks/milp.md, so it is off by default.
//   Pruning (exact): R[t,i] and S[t,k] exist only where a node computed in stage t can still
//   reach a node >= t (a computation feeding only nodes < t is useless and can be deleted).
//   Decoding: the R[t,i] = 1, stage by stage, become a compute order; schedule_from_computes adds
//   the earliest frees and the simulator replays it. The model counts a recomputed node's outputs
//   in full and keeps an untouched tensor to the end of the stage, so the replayed peak is <= the
//   model's U (checked; a replay above the budget is an internal error).
// Optimality: exact over the schedules whose first computations follow the file's node order
//   (Checkmate's assumption; every topological order of chains and of `random_dag` graphs is
//   unique, so there it is exact over all schedules) and that run each stage's recomputations in
//   increasing node order, at most once per stage. proven_optimal and lower_bound_cost refer to
//   that model.
// Complexity: O(T^2) binaries R, O(T K) columns S (K tensors), O(T^2 d) FREE columns and rows
//   (d: tensors a node reads or writes), O(T^2) U; branch and bound is exponential in the worst
//   case. Measured in bench/milp/milp_bench.cpp, docs/benchmarks/milp.md.
// Memory model: the simulator's (include/gradrecomp/simulate.h); every schedule is replayed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "gradrecomp/graph.h"
#include "gradrecomp/solver.h"

namespace gradrecomp {

struct MilpOptions {
  double time_limit_seconds = 60;   // per CBC call
  bool warm_start = true;           // start from the cheapest fast schedule that fits
  bool prune = true;                // the exact pruning of R / S above
  bool continuous_auxiliaries = false;  // S and FREE continuous (exact, but slower with CBC)
  int32_t threads = 1;

  MilpOptions& with_time_limit_seconds(double v) { time_limit_seconds = v; return *this; }
  MilpOptions& with_warm_start(bool v) { warm_start = v; return *this; }
  MilpOptions& with_prune(bool v) { prune = v; return *this; }
  MilpOptions& with_continuous_auxiliaries(bool v) { continuous_auxiliaries = v; return *this; }
  MilpOptions& with_threads(int32_t v) { threads = v; return *this; }
};

struct MilpStats {
  int64_t columns = 0, integers = 0, rows = 0, nonzeros = 0;
  double build_seconds = 0, solve_seconds = 0;
  int64_t nodes = 0;              // branch-and-bound nodes
  bool warm_started = false;      // a warm start was handed to CBC
  std::string warm_start_from;    // which solver's schedule
};

struct MilpSolveResult {
  SolveResult result;
  MilpStats stats;
};

// The cheapest schedule with peak <= budget_bytes. kSolved with proven_optimal when CBC closes
// the gap; otherwise the best schedule found in the time limit and lower_bound_cost = CBC's best
// bound. kInfeasible when no schedule of the model fits (min_feasible_peak_bytes from the
// min-peak MILP), or when none was found within the time limit (the note says which).
MilpSolveResult milp_solve_budget(const Graph& graph, uint64_t budget_bytes, const MilpOptions& options = {});

// The smallest peak of the model (min M): a schedule reaching it; proven_optimal when CBC closed
// the gap.
MilpSolveResult milp_min_peak(const Graph& graph, const MilpOptions& options = {});

// LP relaxation of the cost MILP at budget_bytes: a lower bound on the optimal cost of the model
// (the "gap to optimal" any answer can report). nullopt when even the relaxation is infeasible,
// which proves that no schedule of the model fits the budget.
std::optional<double> milp_lower_bound(const Graph& graph, uint64_t budget_bytes, const MilpOptions& options = {});

// The Solver "milp": solve_budget = milp_solve_budget; frontier() solves at 8 budgets evenly
// spaced from the min peak to the store-all peak (plus both ends); solve_overhead bisects on the
// budget. SolveOptions::time_limit_seconds applies to each CBC call.
std::unique_ptr<Solver> make_milp_solver();
// Adds "milp" to the registry (does nothing when it is already there).
void register_milp_solver();

}  // namespace gradrecomp
