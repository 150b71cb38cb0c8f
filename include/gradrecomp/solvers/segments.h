// Segment checkpointing on chains: the `segments`, `sqrt`, `every-k` and `chen-greedy` solvers.
//
//   Chain chain = gradrecomp::require_chain(graph, "mine");
//   std::vector<int32_t> ends = gradrecomp::equal_segment_ends(chain.length(), 4);  // {4, 8, 12, 16}
//   Schedule s = gradrecomp::schedule_from_computes(graph, gradrecomp::segment_compute_order(chain, ends), "mine");
//
// Problem:    a chain of n stages (include/gradrecomp/chain.h); choose which stage outputs to keep
//             ("checkpoints") during the forward pass so that the peak bytes of the training step
//             drop, at the price of recomputing the forward stages between checkpoints.
// Algorithm:  segment checkpointing as in Chen, Xu, Zhang, Guestrin, "Training Deep Nets with
//             Sublinear Memory Cost" (arXiv 1604.06174, 2016) and PyTorch's checkpoint_sequential:
//             split stages 1..n into contiguous segments [lo, hi]; run F1..Fn once keeping only the
//             segment boundaries a(hi); then, from the last segment to the first, recompute the
//             segment's forward stages and run its backward stages Bhi..Blo.
//             What is recomputed in a segment [lo, hi] (segment_compute_order):
//               - the last segment is never recomputed: its forward outputs are still live;
//               - every other segment recomputes F(lo)..F(hi-1), and F(hi) only when stage hi has
//                 saved internals (outputs of F(hi) other than its activation that B(hi) reads):
//                 the activation a(hi) is the next segment's input and stays live anyway, so on
//                 chains without saved internals recomputing F(hi) would cost time for nothing.
//             So on `uniform_chain(n)` (no saved internals) K segments recompute n - (size of the
//             last segment) - (K - 1) forward stages, and K = n (or k = 1) is the store-all order.
//             The solvers differ only in how they choose the segment ends:
//               `segments`   K near-equal segments (the first n mod K segments are one stage longer);
//               `sqrt`       the same with K = round(sqrt(n)): Chen et al.'s sqrt(n) baseline;
//               `every-k`    segments of k stages from the start (the last one may be shorter);
//                            Chen et al.'s "Checkpoint-2" is k = 2;
//               `chen-greedy` Chen et al. Algorithm 2 ("memory planning with budget"): walk the
//                            stages adding bytes(activation + saved internals) of each to a running
//                            total; when the total exceeds a threshold b, the stage ends a segment
//                            and the total restarts at 0 (chen_greedy_segment_ends).
// Recurrence: none; the schedule is a compute order, and schedule_from_computes
//             (include/gradrecomp/schedule.h) inserts the earliest frees.
// Complexity: one schedule: O(n) computes plus the replay, O(n + tensors). Frontiers: `segments`
//             and `every-k` build n schedules (O(n^2)); `chen-greedy` builds one per threshold
//             (kChenGreedyThresholds, so O(n)); all keep them in memory until pareto_filter.
//             Measured (Release, 2-core dev machine, random_chain(1000)): segments frontier 0.9 s,
//             every-k 0.7 s, chen-greedy 0.06 s.
// Memory model: the simulator's (include/gradrecomp/simulate.h); every peak and cost here comes from
//             replaying the schedule.
//
// Options: frontier() always sweeps the solver's parameter (K = 1..n, k = 1..n, or the threshold
// grid) and returns the Pareto set. solve_budget()/solve_overhead() use the parameter the options
// pin -- `segments`: SolveOptions::segments = K > 0; `every-k`: SolveOptions::every_k (default 2)
// -- and pick the best point of the sweep when nothing is pinned (`segments` with K = 0,
// `chen-greedy`). A pinned schedule that misses the budget is kInfeasible with its own peak as
// min_feasible_peak_bytes, and the note says which parameter of the sweep would reach lower.
// Schedules are labelled with their parameter, e.g. solver "segments(K=4)".
#pragma once

#include <cstdint>
#include <vector>

#include "gradrecomp/chain.h"
#include "gradrecomp/graph.h"

namespace gradrecomp {

// Number of thresholds the chen-greedy frontier tries (geometrically spaced).
inline constexpr int32_t kChenGreedyThresholds = 64;

// Segment ends (1-based last stage of each segment, increasing, the last one is n) of K
// near-equal segments; K = 0 means round(sqrt(n)). Throws gradrecomp::Error unless 0 <= K <= n.
std::vector<int32_t> equal_segment_ends(int32_t stages, int32_t segments);
// Segments of k stages from the first stage; k > n gives one segment. Throws unless k >= 1.
std::vector<int32_t> every_k_segment_ends(int32_t stages, int32_t k);
// Chen et al. Algorithm 2 with threshold b (see above).
std::vector<int32_t> chen_greedy_segment_ends(const Graph& graph, const Chain& chain, uint64_t threshold_bytes);

// The compute order of segment checkpointing with these segment ends (see above). Throws
// gradrecomp::Error if `ends` is not increasing within 1..n or does not end with n.
std::vector<NodeId> segment_compute_order(const Chain& chain, const std::vector<int32_t>& ends);

}  // namespace gradrecomp
