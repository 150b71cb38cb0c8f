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
//             bytes. Also: the smallest peak any schedule of the model reaches (min M below), a
//             lower bound on the optimal cost from the LP relaxation, and a lower bound on the
//             cost of every schedule of the spec (schedule_cost_lower_bound).
// Algorithm:  the MILP of Checkmate (Jain, Jain, Paras, Gonzalez, Abbeel, Keutzer, Stoica,
//             "Checkmate: Breaking the Memory Wall with Optimal Tensor Rematerialization",
//             MLSys 2020), adapted to the spec's memory rules, solved by CBC (COIN-OR branch and
//             cut) with a time limit, warm-started from the best fast schedule that fits
//             (store-all, `dtr`, `chain-dp`, `dag` when registered). By default with lazy stages
//             (below): the within-stage memory rows are added only to the stages that need them.
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
//   model's U (checked: with every stage detailed a replay above the budget is an internal
//   error; with lazy stages only the stages that are not detailed can go above it).
// Lazy stages (MilpOptions::lazy_stages, the default for milp_solve_budget). The FREE and U
//   columns and rows (O(T^2 d), most of the model) exist only for a set D of "detailed" stages,
//   initially empty. Every other stage t gets instead the stage-end row and the recomputation
//   fixings of the stage relaxation (written out below, "Lower bound on every answer"):
//     bytes(in(t) u out(t)) + ws(t) + sum_{k not in in(t) u out(t)} bytes(k) S[t+1,k] <= B
//     R[t,i] = 0 when i cannot run in stage t beside the graph inputs still to be read.
//   Round: solve; decode the R as above; replay. If the replay fits the budget, stop: it is the
//   answer. Otherwise add to D every stage in which the replay went above the budget and solve
//   again (at most T rounds: a detailed stage never goes above, see Decoding). Both row kinds
//   hold for every schedule of the Checkmate model, so every round's feasible set contains all of
//   them: the answer costs no more than Checkmate's optimum (it can cost less: a decoded
//   schedule may fit although the model's conservative U would reject it), an infeasible round
//   proves the Checkmate model infeasible, and a round's bound is a bound on Checkmate's optimum.
//   When the last round has D empty and the topological order is unique, the model was a
//   relaxation of every schedule of the spec (proof below), so the answer is optimal over all
//   schedules (the note says so). Measured: on random DAGs of 10-120 nodes one round with D
//   empty was enough in every case and CBC proves the optimum in 0.1-0.3 s where Checkmate
//   needs 0.8-10 s or times out; see docs/benchmarks/milp.md. MilpOptions::lazy_min_peak does
//   the same for milp_min_peak with M in place of B; measured not robust there (off by default).
// Optimality: Checkmate (lazy_stages off): exact over the schedules whose first computations
//   follow the file's node order (Checkmate's assumption; the topological order of chains and
//   of `random_dag` graphs is unique, so there every schedule does) and that run each stage's
//   recomputations in increasing node order, at most once per stage. Lazy stages: never worse
//   than that optimum, and optimal over all schedules when it ends with no detailed stage on a
//   graph with a unique topological order. proven_optimal and lower_bound_cost refer to the
//   model of the last round.
// Complexity: Checkmate: O(T^2) binaries R, O(T K) columns S (K tensors), O(T^2 d) FREE columns
//   and rows (d: tensors a node reads or writes), O(T^2) U. Lazy stages: R and S as before,
//   O(T) stage-end rows, FREE and U only in the detailed stages (O(|D| T d)); up to T rounds.
//   Branch and bound is exponential in the worst case. Measured in bench/milp/milp_bench.cpp,
//   docs/benchmarks/milp.md.
// Memory model: the simulator's (include/gradrecomp/simulate.h); every schedule is replayed.
//
// Lower bound on every answer (schedule_cost_lower_bound below). The bounds of the Checkmate
// MILP (its LP relaxation, CBC's best bound) hold only for the schedules of that model, so they
// can exceed the cost of a schedule from another solver (another order of first computations,
// a node run twice in a stage). The stage relaxation bounds EVERY schedule of the spec:
//   Pivots: the nodes comparable with every other node (each other node is an ancestor or a
//   descendant). Every schedule computes the pivots for the first time in file order, and each
//   other node v for the first time between the same two pivots: after the last pivot it
//   descends from, before the first pivot it is an ancestor of; s(v) = the index of that pivot
//   (or a tail stage after the last pivot). With a unique topological order (each node reads an
//   output of the one before it: chains, `random_dag`) every node is a pivot and s(v) = v; with
//   parallel branches (residual nets, attention) there are fewer, coarser stages. Stage s = the
//   computations after the first computation of pivot s-1, up to and including that of pivot s.
//   R[s,i] in {0,1}, s(i) <= s: i computed at least once in stage s; R[s(i),i] = 1.
//   S[s,k] in {0,1}, s >= 1: k live right after the first computation of pivot s-1 (S[0,k] = 1
//                   for graph inputs, else 0); fixed to 1 for the inputs and outputs of that
//                   pivot and for graph inputs with a reader v with s(v) >= s.
//   min  sum_s sum_i cost(i) R[s,i]
//   s.t. R[s,i] <= R[s,p(k)] + S[s,k]             every input k of i
//        S[s+1,k] <= S[s,k] + R[s,p(k)]
//        bytes(in(t) u out(t)) + ws(t) + sum_{k not in in(t) u out(t)} bytes(k) S[s+1,k] <= B
//                                                  t: pivot s (no row for the tail stage)
//        R[s,i] = 0 (s > s(i)) when bytes(in(i) u out(i)) + ws(i) + bytes(graph inputs read by
//                   pivot s or in a later stage, not in in(i)) > B
//        infeasible when some node's in, out and ws plus the graph inputs its descendants
//                   read exceed B
//   plus a pruning like the Checkmate model's (R[s,i] and S[s,k] do not exist when no first
//   computation of i's descendants, resp. of k's readers' descendants, is in stage s or later).
//   Built in src/milp/stage_relaxation.cpp.
//   Proof that it is a relaxation: take any schedule with peak <= B and set R, S as defined
//   (R = 1 if computed at least once in the stage; computations after the first computation of
//   the last pivot, when there is no tail stage, are dropped). Its cost in the model is <= its
//   real cost (repeats in a stage count once, dropped computations cost >= 0), and R[s(i),i] = 1
//   by the pivot argument above. Dependency: when i runs in stage s each input k is live; it
//   became live by a computation of p(k) in stage s (R[s,p] = 1), or it was live since before
//   the stage began (S[s,k] = 1); graph inputs are never recomputed. Retention: k live right
//   after the first computation of pivot s was computed in stage s or was live since the start
//   of the stage. Memory: while the first computation of pivot t runs, the replay counts
//   bytes(live before) + bytes(outputs of t not live) + ws(t) = bytes(live right after) + ws(t)
//   (nothing is freed inside a step), and "live right after" holds in(t), out(t) and every k
//   with S[s+1,k] = 1; this is <= the peak <= B. A recomputation of i in stage s runs with in(i),
//   out(i), ws(i) and the graph inputs still to be read by pivot s or later (never recomputed,
//   so live throughout the stage): if that exceeds B, the schedule has no such computation; the
//   same for any computation of a node and the graph inputs its descendants read. Pruning: a
//   pruned R[s,i] or S[s,k] set to 0 in the point leaves every row satisfied (a kept R[s,i] has
//   its inputs' producers and the inputs themselves kept, since their descendants include i's;
//   a kept S[s+1,k] has S[s,k] and R[s,p(k)] kept), and memory rows and cost only fall. So the
//   MILP's optimum -- and any lower bound CBC proves on it, its LP relaxation included -- is
//   <= the cost of every schedule within B, and an infeasible relaxation proves that no
//   schedule fits. It is NOT exact: memory is only checked at the first computations of
//   pivots (and coarsely at recomputations), so its optimum can be below the true one.
//   Size: O(S T) R and O(S K) S binaries (S stages <= T), no FREE / U columns, S memory rows.
//   Above LowerBoundOptions::max_nodes the loss-time relaxation below replaces it; where both
//   run, the bound is the larger of the two; where neither proves anything, the total cost
//   (every node runs at least once).
//
// Loss-time relaxation (loss_time_lower_bound below; src/milp/loss_time_bound.cpp), for graphs
// of any size.
//   Problem: a lower bound on the cost of every schedule of the spec with peak <= B, cheap
//   enough for graphs of thousands of nodes (the stage relaxation has O(T^2) columns).
//   Bound: split the nodes into forward F and backward W (split_phases, include/gradrecomp/
//   solvers/dag.h: no node of F reads an output of W, so W holds every descendant of its nodes).
//   tau = the moment just before the first computation of a node of W. B0 = the nodes of W none
//   of whose inputs a node of W produces (in training graphs {B.loss}); A = the nodes of F that
//   are ancestors of every node of B0 (ancestors of B0 are all in F). Binaries keep[t] for the
//   tensors of A's nodes and the graph inputs that a node of W or of A reads, redo[v] for v in A:
//     min  total_cost + sum_{v in A} cost(v) redo[v]
//     (1)  keep[t] + redo[p(t)] >= 1          t produced by A and read by a node of W
//     (2)  redo[v] <= keep[t] + redo[p(t)]    v in A, t an input of v (no redo term for graph inputs)
//          keep[t] = 1                         t a graph input read by a node of W; when B0 = {b0},
//                                              also every input of b0
//     (3)  sum_t bytes(t) keep[t] + extra <= B
//          extra = bytes(outputs of b0) + ws(b0) when B0 = {b0}, else min over b in B0 of the same.
//   Proof: take a schedule with peak <= B; keep[t] = 1 iff t is live at tau, redo[v] = 1 iff v
//   is computed after tau. The first node of W computed has all its inputs live and none of
//   them can come from W (nothing of W ran yet), so it is in B0; every ancestor of it, A
//   included, ran before tau, and each node once at least, so the real cost is >= total_cost
//   + sum cost(v) redo[v] (a node of A run after tau runs twice). (1): the reader in W runs
//   after tau with t live, so t was live at tau or produced again after it, by p(t). (2): the
//   first computation of v after tau finds t live: live at tau, or produced after tau by p(t)
//   (which is in A: an ancestor of v is an ancestor of every node of B0); a graph input is
//   never produced, so it is kept when a node of W or a redone node reads it. Each input of b0
//   is live at tau when B0 = {b0}, since b0 is the first node of W to run. (3): the first
//   computation of b in B0 counts bytes(live at tau) + bytes(outputs of b) + ws(b) (the outputs
//   of b cannot be live: only b produces them, and it did not run) and this is <= peak <= B;
//   live at tau holds every tensor with keep = 1. So the point is feasible with objective <=
//   the schedule's cost: the ILP optimum, its LP relaxation and CBC's best bound at a time
//   limit are lower bounds on every schedule within B, and an infeasible program proves that
//   no schedule fits. It ignores every moment but tau (memory during recomputations and the
//   backward pass is not checked), so it is weakest when the budget binds after the loss.
//   Complexity: O(N + K) columns, O(E) rows (E: input edges of A and reads of W), one knapsack
//   row; building is O(|B0| (N + E)). CBC: the LP (milliseconds), then branch and bound for
//   40% of the time limit. Measured (5 s limit, so at most 2 s of branch and bound): ResNet-152
//   (1030 nodes) 0.2-0.4 s where CBC closes the gap, 2 s where it stops at the LP's bound;
//   GPT-2 24 layers (704 nodes) 0.4-0.7 s; random_chain(600) 1-2 s
//   (tests/milp/loss_time_bound_test.cpp, ScalesToLargeChains).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "gradrecomp/graph.h"
#include "gradrecomp/solver.h"

namespace gradrecomp {

struct MilpOptions {
  double time_limit_seconds = 60;   // per CBC call
  bool warm_start = true;           // start from the cheapest fast schedule that fits
  bool prune = true;                // the exact pruning of R / S above
  bool continuous_auxiliaries = false;  // S and FREE continuous (exact, but slower with CBC)
  bool lazy_stages = true;          // the lazy-stage formulation above, in milp_solve_budget
  bool lazy_min_peak = false;       // lazy stages in milp_min_peak too (not robust: docs/benchmarks/milp.md)
  int32_t threads = 1;

  MilpOptions& with_time_limit_seconds(double v) { time_limit_seconds = v; return *this; }
  MilpOptions& with_warm_start(bool v) { warm_start = v; return *this; }
  MilpOptions& with_prune(bool v) { prune = v; return *this; }
  MilpOptions& with_continuous_auxiliaries(bool v) { continuous_auxiliaries = v; return *this; }
  MilpOptions& with_lazy_stages(bool v) { lazy_stages = v; return *this; }
  MilpOptions& with_lazy_min_peak(bool v) { lazy_min_peak = v; return *this; }
  MilpOptions& with_threads(int32_t v) { threads = v; return *this; }
};

struct MilpStats {
  int64_t columns = 0, integers = 0, rows = 0, nonzeros = 0;
  double build_seconds = 0, solve_seconds = 0;
  int64_t nodes = 0;              // branch-and-bound nodes
  bool warm_started = false;      // a warm start was handed to CBC
  std::string warm_start_from;    // which solver's schedule
  int32_t rounds = 1;             // lazy stages: MILPs solved
  int32_t detailed_stages = 0;    // lazy stages: stages with within-stage rows at the end
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

struct LowerBoundOptions {
  double time_limit_seconds = 5;  // CBC on the stage relaxation
  int32_t max_nodes = 200;        // above: the total cost only (measured in docs/benchmarks/milp.md)
  bool integer = true;            // branch and bound (CBC's best bound); false: the LP relaxation only
  int32_t threads = 1;

  LowerBoundOptions& with_time_limit_seconds(double v) { time_limit_seconds = v; return *this; }
  LowerBoundOptions& with_max_nodes(int32_t v) { max_nodes = v; return *this; }
  LowerBoundOptions& with_integer(bool v) { integer = v; return *this; }
  LowerBoundOptions& with_threads(int32_t v) { threads = v; return *this; }
};

struct CostLowerBound {
  double cost = 0;          // every schedule of the spec with peak <= budget costs at least this
  bool infeasible = false;  // proven: no schedule has peak <= budget (cost is then meaningless)
  bool relaxation_solved = false;  // the stage relaxation was solved to optimality
  std::string method;       // how it was obtained, in words
  MilpStats stats;          // of the stage relaxation (zeros when it was not built)
};

// The bound every relaxation starts from: the total cost (every node runs at least once), or
// infeasible when the graph inputs alone exceed the budget (the replay starts with them live).
CostLowerBound trivial_lower_bound(const Graph& graph, uint64_t budget_bytes);

// A lower bound on the cost of every schedule (of the spec, not only of the milp model) whose
// peak is <= budget_bytes: the stage relaxation above, or the total cost. `known`: a schedule
// within the budget, if one is at hand (the answer being bounded), handed to CBC as a MIP start
// so that it can prune and close the gap sooner; the bound stays valid whatever it is.
CostLowerBound schedule_cost_lower_bound(const Graph& graph, uint64_t budget_bytes,
                                         const LowerBoundOptions& options = {}, const Schedule* known = nullptr);

// The loss-time relaxation above at budget_bytes, with CBC: the larger of its LP relaxation
// and CBC's best bound after branch and bound for 0.4 * time_limit_seconds (the optimum when
// CBC closes the gap). `known`: a schedule within the budget, handed to CBC as a start. `integer` false:
// the LP relaxation only. Never above the cost of any schedule with peak <= budget_bytes;
// infeasible only when none exists.
CostLowerBound loss_time_lower_bound(const Graph& graph, uint64_t budget_bytes, double time_limit_seconds = 5,
                                     const Schedule* known = nullptr, bool integer = true);

// A proven lower bound on the peak of every schedule whose cost is <= total_cost * (1 +
// max_overhead): one more than the largest budget (found by bisection between the graph
// inputs' bytes and the store-all peak, to 1e-5 relative) at which loss_time_lower_bound proves
// every schedule costlier than that or none feasible; 0 when it proves nothing. time_limit is per
// CBC call.
uint64_t loss_time_min_peak_for_overhead(const Graph& graph, double max_overhead, double time_limit = 5);

// The Solver "milp": solve_budget = milp_solve_budget; frontier() solves at 8 budgets evenly
// spaced from the min peak to the store-all peak (plus both ends); solve_overhead bisects on the
// budget. SolveOptions::time_limit_seconds applies to each CBC call.
std::unique_ptr<Solver> make_milp_solver();
// Adds "milp" to the registry (does nothing when it is already there) and makes `auto` report
// schedule_cost_lower_bound with every answer.
void register_milp_solver();

}  // namespace gradrecomp
