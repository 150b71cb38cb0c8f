// A mixed-integer linear program in a solver-neutral form, and the CBC back end that solves it
// (internal to gradrecomp_milp). Rows are ranges lower <= a.x <= upper; columns have bounds, an
// objective coefficient (minimised) and an integrality flag.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gradrecomp::milp {

inline constexpr double kInfinity = std::numeric_limits<double>::infinity();

struct LinearProgram {
  struct Column {
    double lower = 0, upper = 1, objective = 0;
    bool integer = true;
  };
  struct Row {
    double lower = -kInfinity, upper = kInfinity;
    std::vector<std::pair<int32_t, double>> terms;  // (column, coefficient)
  };
  std::vector<Column> columns;
  std::vector<Row> rows;

  int32_t add_column(double lower, double upper, double objective, bool integer) {
    columns.push_back({lower, upper, objective, integer});
    return static_cast<int32_t>(columns.size() - 1);
  }
  Row& add_row(double lower, double upper) {
    rows.push_back({lower, upper, {}});
    return rows.back();
  }
  size_t nonzeros() const {
    size_t n = 0;
    for (const Row& r : rows) n += r.terms.size();
    return n;
  }
};

enum class LpStatus { kOptimal, kFeasible, kInfeasible, kNoSolutionInTime };

struct LpOutcome {
  LpStatus status = LpStatus::kNoSolutionInTime;
  std::vector<double> values;           // the best solution found (empty if none)
  double objective = kInfinity;         // of `values`
  double best_bound = -kInfinity;       // proven lower bound on the optimum
  double seconds = 0;
  int64_t nodes = 0;                    // branch-and-bound nodes
};

struct CbcSettings {
  double time_limit_seconds = 60;
  bool relax_integrality = false;       // solve the LP relaxation only
  // Non-zero integer columns of a feasible solution to start from (column, value).
  std::vector<std::pair<int32_t, double>> warm_start;
  int32_t threads = 1;
};

LpOutcome solve_with_cbc(const LinearProgram& program, const CbcSettings& settings);

}  // namespace gradrecomp::milp
