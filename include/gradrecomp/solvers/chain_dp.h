// The optimal chain dynamic program over the abstract ChainModel (solvers/chain_model.h).
//
//   gradrecomp::ChainDp dp(model);                          // builds the exact Pareto table
//   for (const auto& p : dp.frontier()) fmt::print("{} B -> {}\n", p.peak_bytes, p.cost);
//   std::optional<gradrecomp::ChainPlan> plan = dp.plan_for_budget(2 << 20);
//   // one budget only, without the whole table (top-down, much faster on long chains):
//   std::optional<gradrecomp::ChainPlan> fast = gradrecomp::solve_chain_budget(model, 2 << 20);
//
// Problem:    a chain of n stages (ChainModel); find the sequence of forward-discard,
//             forward-keep(option) and backward ops that runs every backward once, in order n..1,
//             with the least total cost (sum of op costs) and a peak (bytes, baseline_bytes
//             included) within a budget -- or, for every budget at once, the Pareto frontier of
//             (peak, cost). Peaks are whole-step model peaks: baseline_bytes + everything live.
// Algorithm:  the dynamic program of Beaumont, Eyraud-Dubois, Herrmann, Joly, Shilova, "Optimal
//             checkpointing for heterogeneous chains: how to train deep neural networks with
//             limited memory", arXiv 1911.13214 (2019), carried over exact Pareto frontiers of
//             (peak, cost) per subproblem instead of a discretised memory axis (rotor's table),
//             and extended with "sweep-keep" (below), which lets the forward-keep of a stage run
//             after a deeper part of the chain -- the stage's input then need not stay live.
// Recurrence: notation A(i) = model.stages[i-1].activation_bytes (A(0) = input_bytes),
//             D(i) = bytes of the gradient d(i) flowing into stage i's backward (D(i-1) =
//             stages[i-1].gradient_bytes, D(n) = 0), fd(i) / fk(i,o) / bw(i,o) the local peaks,
//             K(i,o) = kept bytes (they include A(i)), costs fdc / fkc / bwc.
//             Two kinds of subproblem, 1 <= s <= t <= n; both run the backwards of stages t..s and
//             end with a(s-1) and d(s-1) live; a(s-1) is live throughout and NOT freed by the
//             subproblem (its caller frees it):
//               N(s, t):    starts with a(s-1) and d(t) live;
//               S(s, t, o): starts with a(s-1), d(t) and K(t,o) live (stage t's forward-keep
//                           has run; a(t-1) is not live unless s == t).
//             The LOCAL peak of a subproblem counts a(s-1), d(t), K(t,o) for S, and everything it
//             creates; callers add what they hold besides (constant meanwhile). Each subproblem
//             has a Pareto frontier of (local peak P, cost C) over its plans, the Pareto union of
//             its options. Let E = D(t) for N, D(t) + K(t,o_t) for S (live besides a(s-1) until
//             the first backward), and sweep(s, k) = forward-discard s..k-1 (a(j-1) freed once
//             a(j) exists, j > s), whose peak is fw(s, k) = max(fd(s), max_{s<j<k} A(s-1) + fd(j))
//             (0 when k == s) and cost sum_{s<=j<k} fdc(j).
//             S(t, t, o):  backward t.                      P = bw(t,o); C = bwc(t,o)
//             sweep-keep at k with option o (N: s <= k < t, or k = s = t; S: s <= k < t):
//                 sweep(s, k); forward-keep k; right child R = (k+1, t) of the same kind (absent
//                 when k == t) holding hold = A(s-1) + K(k,o) - A(k) (a(k) is R's own input);
//                 then S(s, k, o) (K(k,o) live; a(k-1) was dropped after the forward-keep and
//                 S re-creates it from a(s-1) before backward k).
//                 P = max(E + max(fw(s,k), [k>s] A(s-1) + fk(k,o)), hold + P_R, P_S(s,k,o))
//                 C = (fw cost + fkc(k,o) + C_R) + C_S(s,k,o)
//                 With k = s this is the paper's "keep at s": forward-keep s; (s+1, t); backward s.
//             checkpoint at s' (s < s' <= t): sweep(s, s'); right child (s', t) of the same kind
//                 holding a(s-1); free a(s'-1); then N(s, s'-1) (exactly its entry state).
//                 P = max(E + fw(s,s'), A(s-1) + P_R, P_N(s,s'-1))
//                 C = (fw cost + C_R) + C_N(s,s'-1)
//             The whole chain is N(1, n) with d(n) = 0 bytes: model peak = baseline + P_N(1, n).
//             The plain Beaumont et al. recurrence is the subset "checkpoint" + "keep at s".
//             Combining an option's children is a linear merge over both step functions'
//             breakpoints (merge_option in src/solvers/chain_dp.cpp); the union of the options is
//             a linear Pareto merge, done in place, which skips exactly the points that could not
//             enter it: an option is merged only below the first peak at which the union so far
//             already costs no more than the option's cheapest possible point (add_option;
//             best_choice in src/solvers/chain_dp_internal.h evaluates the same options at one
//             budget). Each table point remembers its option; a plan for
//             budget P is rebuilt top-down: take the subproblem's table point with the largest
//             peak <= P, apply its option, and give each child the whole budget left to it
//             (P - hold, P - A(s-1), P): the children's best points there cost no more than the
//             ones merged, and the total cannot beat the optimum, so it equals it.
//             solve_chain_budget evaluates the same recurrence top-down for one budget, memoised
//             per subproblem as intervals of budgets with known answers (if the optimum at P has
//             peak p, the optimum is the same for every budget in [p, P]; and it stays the same
//             above P up to the smallest budget at which an option that could still beat it
//             changes value or becomes feasible, which the evaluation at P finds from its
//             options' floors and holds and its children's own intervals), with shortcuts: a
//             budget >= the subproblem's store-all peak gets its least cost at once, one below a
//             simple lower bound of its peak is infeasible at once, and branch and bound cuts
//             options (both sweeps cost at least the subproblem's least cost + their discards).
//             Not covered (found by the exhaustive solver, tests/chain_dp_test.cpp
//             KnownGapOutsideTheModel): schedules that drop a subproblem's input a(s-1) midway and
//             recompute it from an earlier activation later. The optimum here is the optimum over
//             the model's plans, not over every schedule of the spec.
// Complexity: table: O(n^3 K O^2) time and O(n^2 K O) space, n = stages, O = keep options per
//             stage, K = largest frontier size of a subproblem (K <= number of distinct peaks;
//             with memory_slots, K <= rounded store-all peak / slot_bytes + 1). Rebuilding a plan:
//             O(ops log K). Single budget: O(n^3 O^2) subproblem evaluations in the worst case, far
//             fewer in practice. chain_min_peak_bytes: O(n^3 O^2) in the worst case; it stops
//             a subproblem's options once one reaches a lower bound of the subproblem's peak,
//             which on random chains leaves about O(n^2). Measured figures:
//             bench/chain_dp_bench.cpp, docs/benchmarks/chain_dp.md.
// Memory model: ops as in chain_model.h; replay_chain_ops() replays ops with earliest frees and
//             gives exactly the DP's peak. For spec graphs the adapter (the `chain-dp` solver)
//             turns ops into node computations and the simulator (simulate.h) has the last word;
//             the model peak is an upper bound of the replayed one.
//
// memory_slots = M > 0: every size of the model is rounded UP to a multiple of
// unit = ceil(store-all model peak / M) before running the DP (rotor-style discretisation).
// Rounded peaks bound true ones, so plans stay within budget but may cost more than the exact
// optimum; frontier() then holds the ROUNDED peaks, ChainPlan.peak_bytes the exact model peak.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "gradrecomp/chain.h"
#include "gradrecomp/graph.h"
#include "gradrecomp/solver.h"
#include "gradrecomp/solvers/chain_model.h"

namespace gradrecomp {

namespace chain_dp_detail {
struct Sizes;
}  // namespace chain_dp_detail

struct ChainFrontierPoint {
  uint64_t peak_bytes;
  double cost;
  bool operator==(const ChainFrontierPoint&) const = default;
};

class ChainDp {
 public:
  // Validates the model (throws gradrecomp::Error naming the stage and field) and builds the table.
  // max_peak_bytes: drop every point whose (whole-step) peak is above it -- no plan within such a
  // budget can use them, so plans for budgets <= max_peak_bytes stay optimal and the table is
  // smaller; the frontier is cut there too (and empty if nothing fits).
  explicit ChainDp(ChainModel model, int32_t memory_slots = 0, ProgressFn progress = {},
                   uint64_t max_peak_bytes = UINT64_MAX);

  // Whole-chain frontier: increasing peak, strictly decreasing cost (peaks include baseline).
  const std::vector<ChainFrontierPoint>& frontier() const { return frontier_; }
  // The smallest peak (UINT64_MAX when max_peak_bytes left no point).
  uint64_t min_peak_bytes() const { return frontier_.empty() ? UINT64_MAX : frontier_.front().peak_bytes; }
  // The cheapest plan whose peak is within the budget, nullopt when none is.
  std::optional<ChainPlan> plan_for_budget(uint64_t budget_bytes) const;

  const ChainModel& model() const { return model_; }
  int32_t memory_slots() const { return memory_slots_; }
  // Bytes per memory slot (1 when memory_slots == 0).
  uint64_t slot_bytes() const { return slot_bytes_; }
  // Sum over subproblems of their frontier sizes, and the largest one (for benchmarks).
  uint64_t table_points() const;
  uint64_t largest_subfrontier() const;

  // A point of a subproblem's frontier with the option that reaches it (see Choice in
  // src/solvers/chain_dp_internal.h): option < 0: checkpoint at s' = split; option >= 0: sweep
  // to k = split and forward-keep it with that option.
  struct TablePoint {
    uint64_t peak_bytes;
    double cost;
    int32_t split;
    int32_t option;
  };

 private:
  void rebuild(int32_t s, int32_t t, int32_t kept_option, uint64_t local_budget, std::vector<ChainOp>& ops) const;
  size_t n_index(int32_t s, int32_t t) const;
  size_t s_index(int32_t s, int32_t t, int32_t option) const;
  ChainModel model_;        // as given (plans are replayed on it)
  std::shared_ptr<const chain_dp_detail::Sizes> dp_sizes_;  // the sizes the DP ran on (rounded to slots)
  uint64_t dp_model_baseline_ = 0;
  int32_t memory_slots_ = 0;
  uint64_t slot_bytes_ = 1;
  int32_t option_count_ = 0;                    // keep options of all stages
  std::vector<int32_t> option_offset_;          // index of stage k's first option among them
  std::vector<std::vector<TablePoint>> n_table_;  // N(s, t) at (s-1) * n + (t-1), local peaks
  std::vector<std::vector<TablePoint>> s_table_;  // S(s, t, o) at (s-1) * options + offset(t) + o
  std::vector<ChainFrontierPoint> frontier_;
};

// The cheapest plan within budget_bytes (whole-step, baseline included), for this one budget:
// top-down (see Recurrence), falling back to a table cut at the budget when the top-down pass
// runs past 60 n^3 subproblem look-ups (tight budgets). Same optimum as
// ChainDp(model, memory_slots).plan_for_budget(budget_bytes).
std::optional<ChainPlan> solve_chain_budget(const ChainModel& model, uint64_t budget_bytes,
                                            int32_t memory_slots = 0);

// The smallest whole-step model peak of any plan (scalar DP, no frontier; see Complexity).
uint64_t chain_min_peak_bytes(const ChainModel& model, int32_t memory_slots = 0);

// The model's store-all plan: forward-keep every stage with its cheapest option, then every
// backward. Its peak is the largest budget worth considering.
ChainPlan chain_store_all_plan(const ChainModel& model);

// Replays ops on the model with earliest frees (a stored activation is dropped right after its
// last read before it is produced again; kept bytes go with the stage's backward) and returns
// the plan with its peak (baseline included) and cost. Throws gradrecomp::Error naming the op
// if an op's input is not live, a backward runs out of order, or a backward never runs.
ChainPlan replay_chain_ops(const ChainModel& model, std::vector<ChainOp> ops);

// Checks the model (at least one stage and one keep option per stage, kept_bytes >= a(i), local
// peaks that count what they say they count); throws gradrecomp::Error naming stage and field.
void validate_chain_model(const ChainModel& model);

// ---- the spec adapter (the `chain-dp` solver) ----
// The model of a recognised chain: a(i) = activation outputs of Fi, kept = activation + saved,
// d(i-1) = gradient outputs of Bi, a(0) = the graph inputs Fi reads, baseline = the other graph
// inputs nodes read; one keep option per stage. Local peaks follow the spec rules:
//   forward  = a(i-1) + every output of Fi + workspace(Fi)
//   backward = a(i-1) + kept + d(i) + every output of Bi + workspace(Bi)
// so the model peak of a plan bounds the simulator's peak of its schedule (equal when each Bi
// reads a(i-1) and all of Fi's outputs it does not discard).
ChainModel chain_model_of(const Graph& graph, const Chain& chain);
// The node computations of a plan: forward-* of stage i -> Fi, backward -> Bi.
std::vector<NodeId> chain_computes(const Chain& chain, const std::vector<ChainOp>& ops);

}  // namespace gradrecomp
