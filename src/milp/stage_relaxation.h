// The stage relaxation: a MILP whose optimum is a lower bound on the cost of EVERY schedule of a
// graph within a budget (not only of the schedules of the Checkmate model), internal to
// gradrecomp_milp. Used by schedule_cost_lower_bound (include/gradrecomp/solvers/milp.h), which
// states the formulation and proves it is a relaxation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gradrecomp/graph.h"
#include "gradrecomp/schedule.h"
#include "milp/checkmate.h"
#include "milp/linear_program.h"

namespace gradrecomp::milp {

// Why the first computations of a schedule of `graph` may differ from the file order (two
// consecutive nodes with no edge between them), or nullopt when the topological order is unique.
// (The lazy-stage milp uses it for its claim of global optimality.)
std::optional<std::string> why_not_unique_topological_order(const Graph& graph);

class StageRelaxation {
 public:
  // Any graph; the stages end at the pivots (nodes comparable with every other node), so a
  // graph with a unique topological order has one stage per node.
  StageRelaxation(const Graph& graph, uint64_t budget_bytes);

  const LinearProgram& program() const { return program_; }
  double objective_scale() const { return scale_; }
  FormulationSize size() const;
  int32_t num_pivots() const { return static_cast<int32_t>(pivots_.size()); }
  int32_t num_stages() const { return num_stages_; }
  // A constant part of a memory row already exceeds the budget: no schedule fits (why says
  // which node); the program is then empty.
  const std::optional<std::string>& infeasible_reason() const { return infeasible_; }
  // The columns set to 1 by a schedule (R: computed in the stage; S: live right after the first
  // computation of t-1), as a MIP start; nullopt when its first computations are not in file
  // order. Columns the model does not have are left out (CBC checks the start).
  std::optional<std::vector<std::pair<int32_t, double>>> encode(const std::vector<Step>& steps) const;

 private:
  const Graph& graph_;
  std::vector<NodeId> pivots_;            // in file order; stage s ends with pivots_[s]
  std::vector<int32_t> stage_of_;         // stage of each node's first computation
  int32_t num_stages_ = 0;                // pivots, plus a tail stage when nodes follow the last
  std::vector<std::vector<int32_t>> r_;  // r_[s][i]: column or -1
  std::vector<std::vector<int32_t>> s_;  // s_[s][k]: column or -1
  double scale_ = 1;
  LinearProgram program_;
  int64_t r_columns_ = 0, s_columns_ = 0;
  std::optional<std::string> infeasible_;
};

}  // namespace gradrecomp::milp
