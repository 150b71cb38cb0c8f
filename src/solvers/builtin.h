// Factories of the built-in solvers (internal). Each solver lives in its own file pair under
// src/solvers/; registry.cpp lists them in the order `gradrecomp solve --help` shows them.
#pragma once

#include <memory>
#include <vector>

#include "gradrecomp/solver.h"

namespace gradrecomp {

std::vector<std::unique_ptr<Solver>> make_builtin_solvers();

std::unique_ptr<Solver> make_store_all_solver();

}  // namespace gradrecomp
