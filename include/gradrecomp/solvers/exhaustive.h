// Brute-force optimal schedules for tiny graphs (any DAG): the reference other solvers are tested
// against.
//
//   std::optional<gradrecomp::Schedule> s = gradrecomp::exhaustive_schedule(graph, 4096);
//   if (!s) std::cout << "no schedule has a peak within 4096 bytes\n";
//   // or through the registry: gradrecomp::find_solver("exhaustive")->solve_budget(graph, 4096, {});
//
// Problem:    the cheapest schedule (sum of node costs, recomputation allowed any number of times)
//             whose replayed peak (spec section 2) is within a budget, over ALL schedules of the
//             spec; and the exact Pareto frontier of (peak, cost).
// Algorithm:  A* (Dijkstra guided by a consistent lower bound: the summed cost of the nodes not
//             computed yet, each of which must still run) over states (live tensors, nodes
//             computed at least once), both 64-bit sets. Move: "compute N" (inputs live, during =
//             bytes(live) + bytes(outputs of N not live) + workspace(N) <= budget; cost +=
//             cost(N)), preceded by the frees it needs (cost 0). Goal: every node computed.
//             Reductions that keep it exact:
//             - frees are lazy: only right before a compute that would not fit otherwise, and only
//               inclusion-minimal sets of other live tensors whose bytes make it fit. Any schedule
//               can be rewritten so (postpone each free to the compute that needs the room, keep
//               a minimal part of it: the live sets then contain the original ones at every step,
//               so the same computes stay valid and within budget);
//             - a node is retired when it has been computed and every reader of its outputs is
//               retired (sinks first: nodes are in topological order, so one backward pass); a
//               retired node never needs to run again, so it is never recomputed, and a tensor
//               all of whose readers are retired is freed at once (freeing never raises a peak);
//             - a compute that changes nothing (outputs all live, node already computed) is skipped.
//             The found compute order goes through schedule_from_computes (earliest frees), whose
//             peak is <= the searched path's peak, and the simulator fills peak and cost.
//             Frontier: solve at the store-all peak, then repeatedly at (last peak - 1) until
//             infeasible, and keep the Pareto-optimal results (every frontier point is hit: the
//             budget only ever drops to one below a peak that was just reached). Smallest peak:
//             binary search on the budget.
// Recurrence: shortest path; no recurrence beyond A*'s.
// Complexity: O(S N 2^L log S) time and O(S) space for S reachable states, N nodes, L live tensors
//             to choose frees among (at most 24, else an Error); S is exponential in the graph
//             size. Measured (2-core VM): the whole frontier of a 6-stage random chain (19 tensors,
//             12 nodes) in 0.6-0.8 s, one budget at 60% of store-all on an 8-stage random chain in
//             39 s. Graphs with more than 64 tensors or 64 nodes are refused, and the search stops
//             with an Error beyond ExhaustiveOptions::max_states.
// Memory model: the simulator's (include/gradrecomp/simulate.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "gradrecomp/graph.h"
#include "gradrecomp/schedule.h"

namespace gradrecomp {

inline constexpr int32_t kExhaustiveMaxTensors = 64;
inline constexpr int32_t kExhaustiveMaxNodes = 64;

struct ExhaustiveOptions {
  uint64_t max_states = 20'000'000;  // states settled before giving up with an Error
  ExhaustiveOptions& with_max_states(uint64_t v) { max_states = v; return *this; }
};

struct ExhaustiveStats {
  uint64_t states_settled = 0;
};

// Why the exhaustive search refuses the graph (too many tensors or nodes), or nullopt.
std::optional<std::string> exhaustive_unsupported_reason(const Graph& graph);

// The cheapest schedule with peak <= budget_bytes, nullopt if none exists. Throws
// gradrecomp::Error if the graph is too big or the search exceeds options.max_states.
std::optional<Schedule> exhaustive_schedule(const Graph& graph, uint64_t budget_bytes,
                                            const ExhaustiveOptions& options = {},
                                            ExhaustiveStats* stats = nullptr);

// The smallest peak of any schedule (binary search on the budget with the same search).
uint64_t exhaustive_min_peak_bytes(const Graph& graph, const ExhaustiveOptions& options = {});

}  // namespace gradrecomp
