#include "solvers/builtin.h"

namespace gradrecomp {

std::vector<std::unique_ptr<Solver>> make_builtin_solvers() {
  std::vector<std::unique_ptr<Solver>> solvers;
  solvers.push_back(make_auto_solver());
  solvers.push_back(make_store_all_solver());
  solvers.push_back(make_chain_dp_solver());
  solvers.push_back(make_exhaustive_solver());
  solvers.push_back(make_sqrt_solver());
  solvers.push_back(make_every_k_solver());
  solvers.push_back(make_segments_solver());
  solvers.push_back(make_chen_greedy_solver());
  solvers.push_back(make_revolve_solver());
  solvers.push_back(make_dag_solver());
  solvers.push_back(make_dtr_solver());
  return solvers;
}

}  // namespace gradrecomp
