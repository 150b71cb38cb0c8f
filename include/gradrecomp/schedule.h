// A schedule: the ordered steps of one training step (`gradrecomp.schedule/1`, spec section 2).
//
//   gradrecomp::Schedule s = gradrecomp::schedule_from_computes(graph, {f1, f2, b2, f1, b1}, "mine");
//   // s.steps now holds the computes plus the earliest possible frees; s.peak_bytes and s.cost
//   // come from replaying it (include/gradrecomp/simulate.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gradrecomp/graph.h"

namespace gradrecomp {

enum class StepKind : uint8_t { kCompute, kFree };

struct Step {
  StepKind kind;
  int32_t target;  // NodeId for kCompute, TensorId for kFree

  static Step compute(NodeId n) { return {StepKind::kCompute, n}; }
  static Step free(TensorId t) { return {StepKind::kFree, t}; }
  bool operator==(const Step&) const = default;
};

struct Schedule {
  std::string graph_name;
  std::string solver;
  std::optional<uint64_t> budget_bytes;
  uint64_t peak_bytes = 0;
  double cost = 0.0;
  std::vector<Step> steps;
};

// Turns an ordered list of node computations (recomputations allowed) into a full schedule:
// graph inputs nobody reads are freed first, and every tensor is freed right after its last
// read before it is next produced (or after its producer if nothing reads it). For a fixed
// compute order these earliest frees give the smallest peak. Fills peak_bytes and cost by
// replaying; throws gradrecomp::Error if the order reads a tensor that is not live.
Schedule schedule_from_computes(const Graph& graph, const std::vector<NodeId>& computes,
                                const std::string& solver_name);

// The node computations of a schedule, in order.
std::vector<NodeId> compute_sequence(const Schedule& schedule);

}  // namespace gradrecomp
