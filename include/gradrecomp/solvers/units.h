// checkpoint_sequential on a model's top-level units: the `sqrt` and `every2` baselines of
// `gradrecomp compare`, for any training graph whose nodes carry unit meta (DAGs included).
//
//   gradrecomp::GraphUnits units = gradrecomp::graph_units(profile.graph);   // from node meta
//   gradrecomp::Schedule sqrt = gradrecomp::unit_sqrt_schedule(profile.graph);
//   gradrecomp::Schedule every2 = gradrecomp::unit_every_k_schedule(profile.graph, 2);
//
// Problem:    a training graph whose nodes are tagged with the top-level block ("unit") of the
//             model they belong to and their phase, as profile_model writes them
//             (meta {"unit": "3", "phase": "forward" | "backward"}); reproduce what PyTorch's
//             torch.utils.checkpoint.checkpoint_sequential does with the model's top-level
//             children, so that the planner is compared with the baseline people actually use.
// Algorithm:  checkpoint_sequential (PyTorch; the segment checkpointing of Chen, Xu, Zhang,
//             Guestrin, "Training Deep Nets with Sublinear Memory Cost", arXiv 1604.06174, 2016)
//             lifted from a chain of stages to a sequence of units:
//               - units are ordered by their forward nodes, which must be contiguous in the graph;
//                 a last unit named "loss" (kLossUnit) is not counted: like the loss that PyTorch
//                 code computes after checkpoint_sequential returns, it joins the last segment;
//               - the N counted units are split into segments by their ends (1-based, the last
//                 is N): `sqrt` uses equal_segment_ends(N, round(sqrt(N))), `every2`
//                 every_k_segment_ends(N, 2) (include/gradrecomp/solvers/segments.h);
//               - compute order: every forward node once, in graph order; then for each segment
//                 from the last to the first: its forward nodes again (all of them, as the
//                 checkpoint reruns the whole segment function; not for the last segment, which
//                 runs without checkpoint), then its backward nodes in graph order.
//             The frees are schedule_from_computes' earliest ones: in the first forward pass a
//             non-last segment's internals die after their last read (they are produced again
//             before the backward needs them), while a segment's inputs, read again by the
//             recomputation, stay live -- the memory of a checkpoint that keeps only its inputs.
//             Two differences from checkpoint_sequential: its segments are N / K units each with
//             the remainder added to the last segment, here the first N mod K segments are one
//             unit longer (equal_segment_ends); and "segments of 2" is every_k(2), whose last
//             segment may hold 1 unit where PyTorch's (N // 2 segments) would hold 3.
// Recurrence: none; the schedule is a compute order (unit_segment_compute_order below).
// Complexity: O(nodes + meta text) to read the units, O(nodes) for the order, plus the replay of
//             schedule_from_computes, O(nodes + tensors + edges).
// Memory model: the simulator's (include/gradrecomp/simulate.h): peaks and costs come from
//             replaying the schedule.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gradrecomp/graph.h"
#include "gradrecomp/schedule.h"

namespace gradrecomp {

// The unit name that is not counted and joins the last segment (ModelGraph::from_sequential's).
inline constexpr const char* kLossUnit = "loss";

struct GraphUnit {
  std::string name;
  std::vector<NodeId> forward;   // graph order; never empty
  std::vector<NodeId> backward;  // graph order; empty when the unit needs no gradient
};

struct GraphUnits {
  std::vector<GraphUnit> units;  // in the order of their forward nodes; a loss unit is last
  bool has_loss_unit = false;
  // Units the segments are made of: all but a trailing loss unit.
  int32_t counted() const { return static_cast<int32_t>(units.size()) - (has_loss_unit ? 1 : 0); }
};

// Reads "unit" and "phase" from every node's meta. Throws gradrecomp::Error naming the node when
// a node has no unit or phase (or the graph has no unit meta at all), when a unit's forward nodes
// are not contiguous, when a unit has backward nodes but no forward node, or when there is no
// counted unit.
GraphUnits graph_units(const Graph& graph);

// Every forward node, then per segment from the last: its forward nodes (except for the last
// segment) and its backward nodes. `ends` are 1-based segment ends over units.counted(),
// increasing, the last one counted(); throws gradrecomp::Error otherwise.
std::vector<NodeId> unit_segment_compute_order(const GraphUnits& units, const std::vector<int32_t>& ends);

// schedule_from_computes of that order, labelled `solver_name`.
Schedule unit_segment_schedule(const Graph& graph, const std::vector<int32_t>& ends, const std::string& solver_name);
// K = round(sqrt(N)) near-equal segments; labelled "sqrt-units(K=..)".
Schedule unit_sqrt_schedule(const Graph& graph);
// Segments of k units from the first; labelled "every-k-units(k=..)".
Schedule unit_every_k_schedule(const Graph& graph, int32_t k);

}  // namespace gradrecomp
