#include "solvers/builtin.h"

namespace gradrecomp {

std::vector<std::unique_ptr<Solver>> make_builtin_solvers() {
  std::vector<std::unique_ptr<Solver>> solvers;
  solvers.push_back(make_store_all_solver());
  return solvers;
}

}  // namespace gradrecomp
