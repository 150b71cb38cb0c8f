// The loss-time relaxation (internal to gradrecomp_milp): a 0/1 program on the state of memory
// just before the first backward computation, whose optimum is a lower bound on the cost of every
// schedule within a budget. Problem, bound, proof and complexity: include/gradrecomp/solvers/milp.h
// ("Loss-time relaxation"); loss_time_lower_bound() in loss_time_bound.cpp solves it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gradrecomp/graph.h"
#include "gradrecomp/schedule.h"
#include "gradrecomp/solvers/dag.h"
#include "milp/linear_program.h"

namespace gradrecomp::milp {

class LossTimeRelaxation {
 public:
  // The budget-independent structure (A, B0, forced keeps). `phases` from split_phases.
  LossTimeRelaxation(const Graph& graph, const DagPhases& phases);

  // Nodes of A (forward ancestors of every initial backward node), file order.
  const std::vector<NodeId>& always_before() const { return a_nodes_; }
  // Initial backward nodes (no input produced by a backward node), file order.
  const std::vector<NodeId>& initial_backward() const { return b0_; }
  // Bytes live at loss time in every schedule: forced keeps, plus `extra` (the outputs and
  // workspace of the first backward node; the smallest over B0 when it has several nodes).
  uint64_t forced_bytes() const { return forced_bytes_; }
  uint64_t extra_bytes() const { return extra_bytes_; }
  // The ILP at `budget_bytes` (requires forced_bytes() + extra_bytes() <= budget_bytes). Columns:
  // keep[] then redo[]; the objective is sum cost(v) redo[v] / objective_scale().
  LinearProgram program(uint64_t budget_bytes) const;
  double objective_scale() const { return scale_; }
  int32_t num_keep() const { return static_cast<int32_t>(keep_tensors_.size()); }
  int32_t num_redo() const { return static_cast<int32_t>(a_nodes_.size()); }
  // A schedule's point (keep = live at loss time, redo = computed after it): the non-zero
  // columns, or nullopt when the steps never compute a backward node of the split.
  std::optional<std::vector<std::pair<int32_t, double>>> encode(const std::vector<Step>& steps) const;

 private:
  const Graph* graph_;
  std::vector<bool> backward_;
  std::vector<NodeId> b0_, a_nodes_;
  std::vector<int32_t> redo_col_;     // node -> redo column (-1 outside A)
  std::vector<int32_t> keep_col_;     // tensor -> keep column (-1 when none)
  std::vector<TensorId> keep_tensors_;
  std::vector<bool> forced_;          // per keep column: must be live at loss time
  uint64_t forced_bytes_ = 0, extra_bytes_ = 0;
  double scale_ = 1;
};

}  // namespace gradrecomp::milp
