// Binomial checkpointing: the `revolve` solver.
//
//   int64_t t = gradrecomp::revolve_forward_steps(100, 5);          // 316
//   Chain chain = gradrecomp::require_chain(graph, "revolve");
//   std::vector<NodeId> order = gradrecomp::revolve_compute_order(chain, 5);
//   Schedule s = gradrecomp::schedule_from_computes(graph, order, "revolve(s=5)");
//
// Problem:    reverse a chain of l steps x(i) = F_i(x(i-1)) holding at most s snapshots of states,
//             with the fewest forward steps; costs and sizes are taken as uniform (revolve ignores
//             the graph's figures, so on heterogeneous chains it is valid but not optimal).
// Algorithm:  Griewank & Walther, "Algorithm 799: revolve: an implementation of checkpointing for
//             the reverse or adjoint mode of computational differentiation", ACM TOMS 26(1), 2000.
//             To reverse steps capo+1..fine (l = fine - capo) with the state x(capo) in a snapshot
//             and s snapshots in all (that one included):
//               l = 1:  "turn": run F(fine) (taping) then B(fine);
//               l > 1:  advance j steps F(capo+1)..F(capo+j), keep x(capo+j) as a new snapshot,
//                       reverse capo+j..fine with s-1 snapshots, then reverse capo..capo+j with s
//                       (x(capo) is still held). j comes from the binomial formula (below).
// Recurrence: t(l, s) = min over 0 < j < l of [ j + t(l-j, s-1) + t(j, s) ],
//             t(1, s) = 0 for s >= 0 (one step is a turn; the current state needs no snapshot),
//             t(l, 0) = infinite for l >= 2.
//             Closed form (Griewank 1992): with beta(s, r) = C(s+r, s) and r the smallest integer
//             with beta(s, r) >= l,   t(l, s) = r*l - C(s+r, s+1)   (revolve_forward_steps).
//             The optimal first advances j are exactly the integers in
//               [ max(1, l - beta(s-1, r), beta(s, r-2)),  min(l-1, beta(s, r-1), l - beta(s-1, r-1)) ]
//             (beta(s, m) = 0 for m < 0; revolve_split_range; tests/revolve_test.cpp checks this
//             interval against the brute-force recurrence). revolve_compute_order takes the largest.
// Mapping to a gradrecomp chain (stage i = step i; x(i) = the activation a(i), x(0) = the graph
// input), stated once and tested in tests/revolve_test.cpp:
//   - t(l, s) counts the ADVANCE forward steps only. Each turn runs F(i) right before B(i) (the
//     taping forward, which recreates a(i) and the saved internals B(i) reads); turns are not
//     counted in t. So revolve_compute_order(chain, s) has exactly t(n, s) + n computations of
//     forward nodes and n of backward nodes.
//   - The initial state x(0) = graph input counts as one of the s snapshots, so s = 1 means "keep
//     only the input" (t(l, 1) = l(l-1)/2) and at most s-1 activations are held as snapshots.
//   - On uniform_chain(n) (every tensor M bytes) the peak is at most (s + 4) M: s snapshots, the
//     current state, the taped a(i), the incoming gradient g(i) and the outgoing g(i-1).
// Complexity: t(l, s) in O(min(s, r) log l) (binary search for r on exact capped binomials). The
//             compute order has t(n, s) + 2n entries and takes O((t(n, s) + n) + n min(s, r) log n)
//             time (2n - 1 tasks); the recursion runs on an explicit stack of at most n pending
//             tasks (their step ranges are disjoint), so long chains cannot overflow the call stack.
//             frontier(): s = 1..n, O(n) schedules; s = 1 alone is n(n-1)/2 advances. Measured
//             (Release, 2-core dev machine): random_chain(1000) frontier in 1.4 s, 803 points.
// Note:       the turn's taping F(i) is run even when a(i) is held as a snapshot (revolve's model:
//             snapshots hold states, not tapes). On chains without saved internals that F(i) is
//             pure cost, so even s >= n - 1 costs n - 1 + n forwards (store-all: n).
// Memory model: the simulator's (include/gradrecomp/simulate.h): every peak and cost of a revolve
//             schedule comes from replaying it; revolve's own model only fixes the compute order.
#pragma once

#include <cstdint>
#include <vector>

#include "gradrecomp/chain.h"
#include "gradrecomp/graph.h"

namespace gradrecomp {

// t(l, s) above, exactly. Requires l >= 1 and s >= 0, s >= 1 when l >= 2; throws gradrecomp::Error
// naming the values otherwise, and when the result does not fit in int64_t.
int64_t revolve_forward_steps(int64_t steps, int64_t snapshots);

// The interval of optimal first advances j for l >= 2 steps and s >= 1 snapshots (see above).
struct RevolveSplit {
  int64_t min_advance = 0;
  int64_t max_advance = 0;
};
RevolveSplit revolve_split_range(int64_t steps, int64_t snapshots);

// The revolve compute order on a chain with s >= 1 snapshots (s > n behaves as s = n).
std::vector<NodeId> revolve_compute_order(const Chain& chain, int32_t snapshots);

}  // namespace gradrecomp
