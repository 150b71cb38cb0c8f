// CBC back end of gradrecomp_milp: loads a LinearProgram through CBC's C interface
// (Cbc_C_Interface.h, which runs the same CbcMain1 as the `cbc` command: presolve, cuts,
// heuristics) and reads back the best solution and the proven bound.
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <limits>
#include <memory>
#include <string>

#include <coin/Cbc_C_Interface.h>
#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "milp/linear_program.h"

namespace gradrecomp::milp {
namespace {

double coin_bound(double v) {
  constexpr double kCoinInfinity = std::numeric_limits<double>::max();
  if (v == kInfinity) return kCoinInfinity;
  if (v == -kInfinity) return -kCoinInfinity;
  return v;
}

struct CbcModelDeleter {
  void operator()(Cbc_Model* m) const { Cbc_deleteModel(m); }
};

}  // namespace

LpOutcome solve_with_cbc(const LinearProgram& program, const CbcSettings& settings) {
  const int32_t cols = static_cast<int32_t>(program.columns.size());
  const int32_t rows = static_cast<int32_t>(program.rows.size());
  // Rows -> compressed sparse columns.
  std::vector<int32_t> count(cols + 1, 0);
  for (const auto& row : program.rows) {
    for (const auto& [col, coef] : row.terms) {
      GRADRECOMP_ASSERT(col >= 0 && col < cols, fmt::format("column {} out of range", col));
      ++count[col + 1];
    }
  }
  std::vector<CoinBigIndex> start(cols + 1, 0);
  for (int32_t c = 0; c < cols; ++c) start[c + 1] = start[c] + count[c + 1];
  std::vector<int> index(start[cols]);
  std::vector<double> value(start[cols]);
  std::vector<CoinBigIndex> fill(start.begin(), start.end() - 1);
  for (int32_t r = 0; r < rows; ++r) {
    for (const auto& [col, coef] : program.rows[r].terms) {
      index[fill[col]] = r;
      value[fill[col]] = coef;
      ++fill[col];
    }
  }
  std::vector<double> col_lb(cols), col_ub(cols), obj(cols), row_lb(rows), row_ub(rows);
  for (int32_t c = 0; c < cols; ++c) {
    col_lb[c] = coin_bound(program.columns[c].lower);
    col_ub[c] = coin_bound(program.columns[c].upper);
    obj[c] = program.columns[c].objective;
  }
  for (int32_t r = 0; r < rows; ++r) {
    row_lb[r] = coin_bound(program.rows[r].lower);
    row_ub[r] = coin_bound(program.rows[r].upper);
  }

  std::unique_ptr<Cbc_Model, CbcModelDeleter> model(Cbc_newModel());
  Cbc_Model* m = model.get();
  Cbc_loadProblem(m, cols, rows, start.data(), index.data(), value.data(), col_lb.data(), col_ub.data(), obj.data(),
                  row_lb.data(), row_ub.data());
  Cbc_setObjSense(m, 1.0);
  bool has_integers = false;
  if (!settings.relax_integrality) {
    for (int32_t c = 0; c < cols; ++c) {
      if (program.columns[c].integer) {
        Cbc_setInteger(m, c);
        has_integers = true;
      }
    }
  }
  // GRADRECOMP_CBC_LOG=1 shows CBC's own log (presolve, MIP start, cuts, gap) on stdout.
  const char* log = std::getenv("GRADRECOMP_CBC_LOG");
  Cbc_setLogLevel(m, log ? std::atoi(log) : 0);
  Cbc_setMaximumSeconds(m, std::max(0.01, settings.time_limit_seconds));
  Cbc_setParameter(m, "timeMode", "elapsed");  // wall-clock limit (CBC counts CPU time by default)
  // Close the gap completely: tests compare optima to 1e-9.
  Cbc_setAllowableGap(m, 1e-10);
  Cbc_setAllowableFractionGap(m, 1e-10);
  if (settings.threads > 1) Cbc_setParameter(m, "threads", std::to_string(settings.threads).c_str());
  if (has_integers && !settings.warm_start.empty()) {
    std::vector<int> idx;
    std::vector<double> vals;
    for (const auto& [col, v] : settings.warm_start) {
      idx.push_back(col);
      vals.push_back(v);
    }
    Cbc_setMIPStartI(m, static_cast<int>(idx.size()), idx.data(), vals.data());
  }

  auto begin = std::chrono::steady_clock::now();
  Cbc_solve(m);
  LpOutcome out;
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  out.nodes = Cbc_getNodeCount(m);
  if (!has_integers) {
    if (Cbc_isProvenOptimal(m)) {
      const double* x = Cbc_getColSolution(m);
      out.values.assign(x, x + cols);
      out.objective = Cbc_getObjValue(m);
      out.best_bound = out.objective;
      out.status = LpStatus::kOptimal;
    } else if (Cbc_isProvenInfeasible(m) && !Cbc_isSecondsLimitReached(m) && !Cbc_isAbandoned(m)) {
      out.status = LpStatus::kInfeasible;
    }
    return out;
  }
  const double* best = Cbc_bestSolution(m);
  out.best_bound = Cbc_getBestPossibleObjValue(m);
  if (best) {
    out.values.assign(best, best + cols);
    out.objective = Cbc_getObjValue(m);
    out.status = Cbc_isProvenOptimal(m) ? LpStatus::kOptimal : LpStatus::kFeasible;
    if (out.status == LpStatus::kOptimal) out.best_bound = out.objective;
  } else if (Cbc_isProvenInfeasible(m) && !Cbc_isSecondsLimitReached(m) && !Cbc_isAbandoned(m)) {
    // CBC 2.10 can report "proven infeasible" when the time limit stops it during preprocessing;
    // only a search that ran to its end proves anything.
    out.status = LpStatus::kInfeasible;
  }
  return out;
}

}  // namespace gradrecomp::milp
