// Factories of the built-in solvers (internal). Each solver lives in its own file pair under
// src/solvers/; registry.cpp lists them in the order `gradrecomp solve --help` shows them.
#pragma once

#include <memory>
#include <vector>

#include "gradrecomp/solver.h"

namespace gradrecomp {

std::vector<std::unique_ptr<Solver>> make_builtin_solvers();

std::unique_ptr<Solver> make_auto_solver();
std::unique_ptr<Solver> make_store_all_solver();
std::unique_ptr<Solver> make_chain_dp_solver();      // chain_dp_solver.cpp
std::unique_ptr<Solver> make_exhaustive_solver();    // exhaustive.cpp
std::unique_ptr<Solver> make_sqrt_solver();         // segments.cpp
std::unique_ptr<Solver> make_every_k_solver();      // segments.cpp
std::unique_ptr<Solver> make_segments_solver();     // segments.cpp
std::unique_ptr<Solver> make_chen_greedy_solver();  // chen_greedy.cpp
std::unique_ptr<Solver> make_revolve_solver();      // revolve.cpp
std::unique_ptr<Solver> make_dag_solver();          // dag_solver.cpp
std::unique_ptr<Solver> make_dtr_solver();          // dtr.cpp

}  // namespace gradrecomp
