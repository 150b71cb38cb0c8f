// Problem:    the reference schedule: compute every node once in file order, keep everything
//             until its last reader (spec section 2, "store-all schedule").
// Algorithm:  none; it is the 100% memory / 0% overhead reference every figure is measured against.
// Complexity: O(steps) = O(nodes + tensors).
#include "gradrecomp/simulate.h"
#include "solvers/builtin.h"

namespace gradrecomp {
namespace {

class StoreAllSolver final : public Solver {
 public:
  std::string_view name() const override { return "store-all"; }
  std::string_view summary() const override {
    return "keep every activation until its last use (the 100% reference, no recomputation)";
  }
  std::vector<Schedule> frontier(const Graph& graph, const SolveOptions&) const override {
    return {store_all_schedule(graph)};
  }
};

}  // namespace

std::unique_ptr<Solver> make_store_all_solver() { return std::make_unique<StoreAllSolver>(); }

}  // namespace gradrecomp
