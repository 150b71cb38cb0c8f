// The `milp` solver: builds the Checkmate formulation (milp/checkmate.h), solves it with CBC
// (milp/linear_program.h), decodes and replays. See include/gradrecomp/solvers/milp.h.
#include "gradrecomp/solvers/milp.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/units.h"
#include "milp/checkmate.h"
#include "milp/linear_program.h"

namespace gradrecomp {
namespace {

using milp::CheckmateFormulation;
using milp::LpOutcome;
using milp::LpStatus;
using milp::Objective;

constexpr std::string_view kName = "milp";

milp::FormulationOptions formulation_options(const MilpOptions& options) {
  milp::FormulationOptions f;
  f.prune = options.prune;
  f.continuous_auxiliaries = options.continuous_auxiliaries;
  return f;
}

double seconds_since(std::chrono::steady_clock::time_point begin) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
}

void fill_stats(MilpStats& stats, const CheckmateFormulation& f, double build_seconds, const LpOutcome& outcome) {
  milp::FormulationSize size = f.size();
  stats.columns = size.columns;
  stats.integers = size.integers;
  stats.rows = size.rows;
  stats.nonzeros = size.nonzeros;
  stats.build_seconds = build_seconds;
  stats.solve_seconds = outcome.seconds;
  stats.nodes = outcome.nodes;
}

// The cheapest schedule of the fast solvers that fits the budget (a warm start, and the answer
// of last resort when CBC finds nothing in time). Solvers that are not registered or that do not
// support the graph are skipped.
std::optional<Schedule> best_heuristic(const Graph& graph, uint64_t budget_bytes) {
  std::optional<Schedule> best;
  auto consider = [&](Schedule s) {
    if (s.peak_bytes <= budget_bytes && (!best || s.cost < best->cost)) best = std::move(s);
  };
  consider(store_all_schedule(graph));
  for (const char* name : {"chain-dp", "dag", "dtr"}) {
    const Solver* solver = find_solver(name);
    if (!solver || solver->unsupported_reason(graph)) continue;
    try {
      SolveResult r = solver->solve_budget(graph, budget_bytes, SolveOptions());
      if (r.status == SolveStatus::kSolved) consider(std::move(r.schedule));
    } catch (const Error&) {
      // a heuristic that cannot handle this graph is simply not a warm start
    }
  }
  return best;
}

Schedule decode_and_replay(const Graph& graph, const CheckmateFormulation& f, const LpOutcome& outcome) {
  Schedule s = schedule_from_computes(graph, f.decode(outcome.values), std::string(kName));
  // Replayed cost must be the MILP objective (R is integral), up to CBC's tolerances.
  double model_cost = outcome.objective * f.objective_scale();
  GRADRECOMP_ASSERT(std::abs(s.cost - model_cost) <= 1e-6 * std::max(1.0, std::abs(model_cost)) ||
                        f.program().columns.empty(),
                    fmt::format("milp: decoded cost {} differs from the MILP objective {}", s.cost, model_cost));
  return s;
}

}  // namespace

MilpSolveResult milp_min_peak(const Graph& graph, const MilpOptions& options) {
  MilpSolveResult out;
  auto begin = std::chrono::steady_clock::now();
  CheckmateFormulation f(graph, Objective::kPeak, 0, formulation_options(options));
  double build = seconds_since(begin);
  milp::CbcSettings settings;
  settings.time_limit_seconds = options.time_limit_seconds;
  settings.threads = options.threads;
  if (options.warm_start) {
    // Store-all is always a feasible start for the min-peak model.
    if (auto ones = f.encode(compute_sequence(store_all_schedule(graph)))) settings.warm_start = *ones;
    out.stats.warm_started = !settings.warm_start.empty();
    out.stats.warm_start_from = "store-all";
  }
  LpOutcome outcome = milp::solve_with_cbc(f.program(), settings);
  fill_stats(out.stats, f, build, outcome);
  SolveResult& result = out.result;
  if (outcome.values.empty()) {
    // Cannot happen for a valid graph (store-all is feasible) unless the time limit hit first.
    Schedule s = store_all_schedule(graph);
    result.min_feasible_peak_bytes = s.peak_bytes;
    result.status = SolveStatus::kSolved;
    result.schedule = std::move(s);
    result.note = fmt::format("milp: no min-peak solution within {} s; store-all's peak is the best known",
                              options.time_limit_seconds);
    return out;
  }
  Schedule s = schedule_from_computes(graph, f.decode(outcome.values), std::string(kName));
  const double model_peak = outcome.objective * f.objective_scale();
  GRADRECOMP_ASSERT(static_cast<double>(s.peak_bytes) <= model_peak + 0.5 + 1e-9 * model_peak,
                    fmt::format("milp: replayed peak {} above the model's {}", s.peak_bytes, model_peak));
  result.status = SolveStatus::kSolved;
  result.min_feasible_peak_bytes = s.peak_bytes;
  result.proven_optimal = outcome.status == LpStatus::kOptimal;
  result.note = result.proven_optimal
                    ? fmt::format("milp: smallest peak of the model, proven in {:.2f} s", outcome.seconds)
                    : fmt::format("milp: time limit {} s; the smallest peak is >= {}", options.time_limit_seconds,
                                  format_bytes_exact(static_cast<uint64_t>(
                                      std::ceil(std::max(0.0, outcome.best_bound * f.objective_scale() - 1e-6)))));
  result.schedule = std::move(s);
  return out;
}

MilpSolveResult milp_solve_budget(const Graph& graph, uint64_t budget_bytes, const MilpOptions& options) {
  MilpSolveResult out;
  SolveResult& result = out.result;
  auto infeasible = [&](const std::string& why) {
    MilpSolveResult peak = milp_min_peak(graph, options);
    result.status = SolveStatus::kInfeasible;
    result.min_feasible_peak_bytes = peak.result.min_feasible_peak_bytes;
    result.note = fmt::format("budget {} is below the smallest feasible peak {}{}{}", format_bytes_exact(budget_bytes),
                              format_bytes_exact(result.min_feasible_peak_bytes), why,
                              peak.result.proven_optimal ? "" : " (that peak is the smallest found in the time limit)");
    return out;
  };

  std::optional<Schedule> heuristic;
  milp::CbcSettings settings;
  settings.time_limit_seconds = options.time_limit_seconds;
  settings.threads = options.threads;
  auto begin = std::chrono::steady_clock::now();
  CheckmateFormulation f(graph, Objective::kCost, budget_bytes, formulation_options(options));
  double build = seconds_since(begin);
  if (options.warm_start) {
    heuristic = best_heuristic(graph, budget_bytes);
    if (heuristic) {
      if (auto ones = f.encode(compute_sequence(*heuristic))) {
        // Only the columns at 1: listing every integer column (zeros too) made CBC 2.10.8 crash in
        // CglPreProcess::postProcess when the time limit hit (random_dag(25, 5), 1 s).
        settings.warm_start = std::move(*ones);
        out.stats.warm_started = true;
        out.stats.warm_start_from = heuristic->solver;
      }
    }
  }
  uint64_t inputs_bytes = 0;
  for (TensorId k : graph.graph_inputs()) inputs_bytes += graph.tensor(k).bytes;
  if (inputs_bytes > budget_bytes) {
    return infeasible(fmt::format(" (the graph inputs alone take {})", format_bytes_exact(inputs_bytes)));
  }

  LpOutcome outcome = milp::solve_with_cbc(f.program(), settings);
  fill_stats(out.stats, f, build, outcome);
  if (outcome.status == LpStatus::kInfeasible) return infeasible(" (proven by the MILP)");
  if (outcome.values.empty()) {
    if (heuristic) {
      result.status = SolveStatus::kSolved;
      result.schedule = *heuristic;
      result.schedule.solver = std::string(kName);
      result.schedule.budget_bytes = budget_bytes;
      result.min_feasible_peak_bytes = heuristic->peak_bytes;
      result.lower_bound_cost = std::clamp(outcome.best_bound * f.objective_scale(), graph.total_cost(), heuristic->cost);
      double gap = heuristic->cost > 0 ? (heuristic->cost - *result.lower_bound_cost) / heuristic->cost : 0.0;
      result.note = fmt::format("milp: no solution within {} s; returning {}'s schedule (gap to the best bound {:.2f}%)",
                                options.time_limit_seconds, heuristic->solver, gap * 100);
      return out;
    }
    result.status = SolveStatus::kInfeasible;
    result.min_feasible_peak_bytes = store_all_peak_bytes(graph);
    result.note = fmt::format("milp: no schedule within budget {} found in {} s (not proven infeasible)",
                              format_bytes_exact(budget_bytes), options.time_limit_seconds);
    return out;
  }
  Schedule s = decode_and_replay(graph, f, outcome);
  GRADRECOMP_ASSERT(s.peak_bytes <= budget_bytes,
                    fmt::format("milp: replayed peak {} exceeds the budget {} the model enforced", s.peak_bytes,
                                budget_bytes));
  s.budget_bytes = budget_bytes;
  result.status = SolveStatus::kSolved;
  result.min_feasible_peak_bytes = s.peak_bytes;
  result.proven_optimal = outcome.status == LpStatus::kOptimal;
  // Every node runs at least once: the total cost is a bound too (CBC's may be -inf on a timeout).
  double bound = std::max(outcome.best_bound * f.objective_scale(), graph.total_cost());
  result.lower_bound_cost = std::min(s.cost, bound);
  if (result.proven_optimal) {
    result.note = fmt::format("milp: optimal ({} binaries, {} rows, {:.2f} s)", out.stats.integers, out.stats.rows,
                              outcome.seconds);
  } else {
    double gap = s.cost > 0 ? (s.cost - *result.lower_bound_cost) / s.cost : 0.0;
    result.note = fmt::format("milp: time limit {} s reached; gap to the best bound {:.2f}%", options.time_limit_seconds,
                              gap * 100);
  }
  result.schedule = std::move(s);
  return out;
}

std::optional<double> milp_lower_bound(const Graph& graph, uint64_t budget_bytes, const MilpOptions& options) {
  uint64_t inputs_bytes = 0;
  for (TensorId k : graph.graph_inputs()) inputs_bytes += graph.tensor(k).bytes;
  if (inputs_bytes > budget_bytes) return std::nullopt;
  CheckmateFormulation f(graph, Objective::kCost, budget_bytes, formulation_options(options));
  milp::CbcSettings settings;
  settings.time_limit_seconds = options.time_limit_seconds;
  settings.relax_integrality = true;
  LpOutcome outcome = milp::solve_with_cbc(f.program(), settings);
  if (outcome.status == LpStatus::kInfeasible) return std::nullopt;
  if (outcome.status != LpStatus::kOptimal) {
    throw Error(fmt::format("milp_lower_bound: the LP relaxation of graph \"{}\" was not solved within {} s",
                            graph.name(), options.time_limit_seconds));
  }
  // Every node is computed at least once: the bound is never below the total cost.
  return std::max(outcome.objective * f.objective_scale(), graph.total_cost());
}

namespace {

MilpOptions milp_options(const SolveOptions& options) {
  MilpOptions m;
  m.time_limit_seconds = options.time_limit_seconds;
  m.threads = options.threads;
  return m;
}

class MilpSolver final : public Solver {
 public:
  std::string_view name() const override { return kName; }
  std::string_view summary() const override {
    return "exact MILP (Checkmate, Jain et al. MLSys 2020) solved by CBC; small graphs, reports its gap";
  }

  std::vector<Schedule> frontier(const Graph& graph, const SolveOptions& options) const override {
    MilpOptions m = milp_options(options);
    std::vector<Schedule> points;
    Schedule store_all = store_all_schedule(graph);
    MilpSolveResult low = milp_min_peak(graph, m);
    const uint64_t lo = low.result.min_feasible_peak_bytes, hi = store_all.peak_bytes;
    points.push_back(store_all);
    constexpr int kGrid = 8;
    for (int g = 0; g <= kGrid && lo < hi; ++g) {
      uint64_t budget = lo + static_cast<uint64_t>(static_cast<double>(hi - lo) * g / kGrid);
      if (options.progress) options.progress(static_cast<double>(g) / kGrid, fmt::format("milp at {}", format_bytes(budget)));
      MilpSolveResult r = milp_solve_budget(graph, budget, m);
      if (r.result.status == SolveStatus::kSolved) {
        r.result.schedule.budget_bytes.reset();
        points.push_back(std::move(r.result.schedule));
      }
    }
    return pareto_filter(std::move(points));
  }

  SolveResult solve_budget(const Graph& graph, uint64_t budget_bytes, const SolveOptions& options) const override {
    return milp_solve_budget(graph, budget_bytes, milp_options(options)).result;
  }

  // Bisection on the budget: the smallest budget whose optimal cost is within the overhead cap.
  SolveResult solve_overhead(const Graph& graph, double max_overhead, const SolveOptions& options) const override {
    MilpOptions m = milp_options(options);
    const double cap = graph.total_cost() * (1 + max_overhead) * (1 + 1e-9);
    Schedule best = store_all_schedule(graph);
    bool all_proven = true;
    MilpSolveResult low = milp_min_peak(graph, m);
    uint64_t lo = low.result.min_feasible_peak_bytes, hi = best.peak_bytes;
    if (low.result.schedule.cost <= cap && low.result.schedule.peak_bytes < hi) {
      best = low.result.schedule;
      hi = best.peak_bytes;
    }
    // Invariant: `best` (peak hi) is within the cap; budgets below lo were not (or are infeasible).
    while (lo < hi) {
      uint64_t mid = lo + (hi - lo) / 2;
      MilpSolveResult r = milp_solve_budget(graph, mid, m);
      all_proven = all_proven && (r.result.status != SolveStatus::kSolved || r.result.proven_optimal);
      if (r.result.status == SolveStatus::kSolved && r.result.schedule.cost <= cap) {
        best = std::move(r.result.schedule);
        hi = std::min(mid, best.peak_bytes);
      } else {
        lo = mid + 1;
      }
    }
    SolveResult result;
    result.status = SolveStatus::kSolved;
    best.solver = std::string(kName);
    best.budget_bytes.reset();
    result.schedule = std::move(best);
    result.min_feasible_peak_bytes = low.result.min_feasible_peak_bytes;
    result.proven_optimal = all_proven && low.result.proven_optimal;
    result.note = fmt::format("milp: smallest peak with overhead <= {:.2f}% by bisection on the budget{}",
                              max_overhead * 100, all_proven ? "" : " (some solves hit the time limit)");
    return result;
  }
};

}  // namespace

std::unique_ptr<Solver> make_milp_solver() { return std::make_unique<MilpSolver>(); }

void register_milp_solver() {
  if (find_solver(kName)) return;
  register_solver(make_milp_solver());
}

}  // namespace gradrecomp
