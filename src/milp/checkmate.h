// The Checkmate MILP (Jain et al., "Checkmate: Breaking the Memory Wall with Optimal Tensor
// Rematerialization", MLSys 2020) adapted to the spec's replay rules; internal to gradrecomp_milp.
// The formulation is written out in include/gradrecomp/solvers/milp.h; this class builds it,
// encodes a compute order as a warm start and decodes a solution into a compute order.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "gradrecomp/graph.h"
#include "milp/linear_program.h"

namespace gradrecomp::milp {

struct FormulationOptions {
  bool prune = true;               // drop R[t,i] / S[t,k] that cannot matter (latest-descendant rule)
  bool continuous_auxiliaries = false;  // S and FREE continuous (exact too; Checkmate: binary)
  // Lazy stages (MilpOptions::lazy_stages): the within-stage memory rows (U, FREE) exist only
  // for the stages t with detailed_stages[t] != 0; every other stage gets the stage-end row of
  // the stage relaxation instead (<= budget, or <= M for kPeak), and with kCost recomputations
  // that cannot fit are fixed to 0 (both valid for every schedule, milp.h). Empty: every stage
  // detailed (Checkmate).
  std::vector<char> detailed_stages;
};

enum class Objective {
  kCost,  // min sum cost(i) R[t,i] / total cost, every U[t,j] <= budget
  kPeak,  // min M / total bytes bound, every U[t,j] <= M (the smallest feasible peak)
};

struct FormulationSize {
  int64_t columns = 0, integers = 0, rows = 0, nonzeros = 0;
  int64_t r = 0, s = 0, frees = 0, u = 0;  // columns by family
};

class CheckmateFormulation {
 public:
  CheckmateFormulation(const Graph& graph, Objective objective, uint64_t budget_bytes, const FormulationOptions& options);

  const LinearProgram& program() const { return program_; }
  FormulationSize size() const;
  // objective value x scale = cost (kCost) or bytes (kPeak).
  double objective_scale() const { return scale_; }

  // The integer columns set to 1 by a compute order (R, and S and FREE unless they are
  // continuous; S from the earliest frees, FREE at its bound), for a warm start; nullopt when its first
  // computations are not in file order. Recomputations between the first computations of t-1 and
  // t go to stage t, sorted and deduplicated (the model's form); those the pruning rule makes
  // useless are dropped. The result may not fit the budget in the model: CBC checks it.
  std::optional<std::vector<std::pair<int32_t, double>>> encode(const std::vector<NodeId>& computes) const;
  // The compute order of a solution: stage by stage, R[t,i] = 1 in increasing i.
  std::vector<NodeId> decode(const std::vector<double>& values) const;

 private:
  int32_t r(int32_t t, NodeId i) const { return r_[t][i]; }
  int32_t s(int32_t t, TensorId k) const { return t < num_stages_ ? s_[t][k] : -1; }

  const Graph& graph_;
  FormulationOptions options_;
  int32_t num_stages_ = 0;
  double scale_ = 1;
  LinearProgram program_;
  std::vector<std::vector<int32_t>> r_;  // r_[t][i], i <= t: column or -1 (pruned)
  std::vector<std::vector<int32_t>> s_;  // s_[t][k]: column or -1 (0, or the constant 1 at t = 0)
  struct FreeColumn {
    int32_t t;
    NodeId j;
    TensorId k;
    int32_t column;
  };
  std::vector<FreeColumn> frees_;
  int64_t u_columns_ = 0;
};

}  // namespace gradrecomp::milp
