// The `milp` solver: builds the Checkmate formulation (milp/checkmate.h), solves it with CBC
// (milp/linear_program.h), decodes and replays. See include/gradrecomp/solvers/milp.h.
#include "gradrecomp/solvers/milp.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/units.h"
#include "milp/checkmate.h"
#include "milp/linear_program.h"
#include "milp/stage_relaxation.h"
#include "solvers/auto_bound.h"

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

// The stages whose computations went above the budget when `computes` (decoded stage by stage:
// stage t ends with node t) was replayed as `schedule`.
std::vector<int32_t> stages_over_budget(const Graph& graph, const std::vector<NodeId>& computes,
                                        const Schedule& schedule, uint64_t budget_bytes) {
  Simulation sim = simulate(graph, schedule.steps);
  GRADRECOMP_ASSERT(sim.valid, "milp: decoded schedule does not replay: " + sim.error);
  std::vector<int32_t> stages;
  size_t next = 0;
  int32_t stage = 0;
  for (size_t i = 0; i < schedule.steps.size(); ++i) {
    if (schedule.steps[i].kind != StepKind::kCompute) continue;
    GRADRECOMP_ASSERT(next < computes.size() && computes[next] == schedule.steps[i].target,
                      "milp: schedule_from_computes changed the compute order");
    if (sim.timeline_bytes[i] > budget_bytes && (stages.empty() || stages.back() != stage)) stages.push_back(stage);
    if (computes[next] == stage) ++stage;
    ++next;
  }
  return stages;
}

// What the two users of the lazy-stage rounds (milp_min_peak, milp_solve_budget) differ in.
struct LazyStagesModel {
  Objective objective = Objective::kCost;
  uint64_t budget_bytes = 0;  // kCost: the budget every round enforces
  bool lazy = false;          // start with no stage detailed (else: Checkmate, one round)
  // Hands CBC a warm start for this round's formulation (and records it in the stats), or not.
  std::function<void(const CheckmateFormulation&, milp::CbcSettings&)> warm_start;
};

// How the rounds ended. The schedule is the last round's, replayed (kFits, kAboveBound).
struct LazyStagesEnd {
  enum class Kind {
    kInfeasible,  // CBC proved the last round's model infeasible
    kNoSolution,  // CBC found no solution in the time left
    kFits,        // the schedule is within the bound the model enforced
    kAboveBound,  // the schedule is above that bound and the time limit stopped the rounds
  };
  Kind kind = Kind::kNoSolution;
  int32_t round = 0;
  LpStatus status = LpStatus::kNoSolutionInTime;  // CBC's, for the last round
  double best_bound = 0;                          // CBC's bound x objective scale (cost, or bytes)
  Schedule schedule;
};

// Lazy stages (milp.h): start with no within-stage rows (when model.lazy); add them for the stages
// where the decoded schedule went above the bound the model enforced -- the budget for kCost, the
// model's own M for kPeak -- and solve again, until a schedule fits or the time limit (measured
// from `begin`) stops the rounds. At most T rounds: each one details at least one new stage.
LazyStagesEnd run_lazy_stages(const Graph& graph, const MilpOptions& options, const LazyStagesModel& model,
                              std::chrono::steady_clock::time_point begin, MilpStats& stats) {
  const bool peak = model.objective == Objective::kPeak;
  // The bound as the assertions below name it.
  const char* bound_name = peak ? "the model's peak" : "the budget";
  std::vector<char> detailed;
  if (model.lazy) detailed.assign(graph.num_nodes(), 0);
  double cbc_seconds = 0;
  LazyStagesEnd end;
  for (int32_t round = 1;; ++round) {
    milp::FormulationOptions formulation = formulation_options(options);
    formulation.detailed_stages = detailed;
    auto build_begin = std::chrono::steady_clock::now();
    CheckmateFormulation f(graph, model.objective, model.budget_bytes, formulation);
    double build = seconds_since(build_begin);
    milp::CbcSettings settings;
    settings.time_limit_seconds = options.time_limit_seconds - seconds_since(begin);
    settings.threads = options.threads;
    if (model.warm_start) model.warm_start(f, settings);
    LpOutcome outcome;
    if (settings.time_limit_seconds > 0) outcome = milp::solve_with_cbc(f.program(), settings);
    fill_stats(stats, f, build, outcome);
    cbc_seconds += outcome.seconds;
    stats.solve_seconds = cbc_seconds;
    stats.rounds = round;
    stats.detailed_stages = static_cast<int32_t>(std::count(detailed.begin(), detailed.end(), 1));
    end.round = round;
    end.status = outcome.status;
    end.best_bound = outcome.best_bound * f.objective_scale();
    if (outcome.status == LpStatus::kInfeasible) {
      end.kind = LazyStagesEnd::Kind::kInfeasible;
      return end;
    }
    if (outcome.values.empty()) {
      end.kind = LazyStagesEnd::Kind::kNoSolution;
      return end;
    }
    std::vector<NodeId> computes = f.decode(outcome.values);
    Schedule s = schedule_from_computes(graph, computes, std::string(kName));
    const double model_value = outcome.objective * f.objective_scale();  // the peak (kPeak) or the cost
    uint64_t bound_bytes = model.budget_bytes;
    if (peak) {
      bound_bytes = static_cast<uint64_t>(std::floor(model_value + 0.5 + 1e-9 * model_value));
    } else {
      // Replayed cost must be the MILP objective (R is integral), up to CBC's tolerances.
      GRADRECOMP_ASSERT(std::abs(s.cost - model_value) <= 1e-6 * std::max(1.0, std::abs(model_value)) ||
                            f.program().columns.empty(),
                        fmt::format("milp: decoded cost {} differs from the MILP objective {}", s.cost, model_value));
    }
    if (s.peak_bytes > bound_bytes) {
      GRADRECOMP_ASSERT(model.lazy, peak ? fmt::format("milp: replayed peak {} above the model's {}", s.peak_bytes,
                                                       model_value)
                                         : fmt::format("milp: replayed peak {} exceeds the budget {} the model "
                                                       "enforced", s.peak_bytes, model.budget_bytes));
      std::vector<int32_t> over = stages_over_budget(graph, computes, s, bound_bytes);
      GRADRECOMP_ASSERT(!over.empty(), fmt::format("milp: a schedule above {} with no stage above it", bound_name));
      for (int32_t t : over) {
        GRADRECOMP_ASSERT(!detailed[t], fmt::format("milp: detailed stage {} went above {}", t, bound_name));
        detailed[t] = 1;
      }
      if (outcome.status == LpStatus::kOptimal && seconds_since(begin) < options.time_limit_seconds) continue;
      end.kind = LazyStagesEnd::Kind::kAboveBound;
    } else {
      end.kind = LazyStagesEnd::Kind::kFits;
    }
    end.schedule = std::move(s);
    return end;
  }
}

}  // namespace

MilpSolveResult milp_min_peak(const Graph& graph, const MilpOptions& options) {
  MilpSolveResult out;
  SolveResult& result = out.result;
  const auto begin = std::chrono::steady_clock::now();
  const Schedule store_all = store_all_schedule(graph);
  // Lazy stages as in milp_solve_budget, with the model's M as the budget of each round.
  LazyStagesModel model;
  model.objective = Objective::kPeak;
  model.lazy = options.lazy_min_peak;
  if (options.warm_start) {
    model.warm_start = [&](const CheckmateFormulation& f, milp::CbcSettings& settings) {
      // Store-all is always a feasible start for the min-peak model.
      if (auto ones = f.encode(compute_sequence(store_all))) settings.warm_start = *ones;
      out.stats.warm_started = !settings.warm_start.empty();
      out.stats.warm_start_from = "store-all";
    };
  }
  LazyStagesEnd end = run_lazy_stages(graph, options, model, begin, out.stats);
  const double cbc_seconds = out.stats.solve_seconds;
  if (end.kind == LazyStagesEnd::Kind::kInfeasible || end.kind == LazyStagesEnd::Kind::kNoSolution) {
    // Cannot happen for a valid graph (store-all is feasible) unless the time limit hit first.
    result.min_feasible_peak_bytes = store_all.peak_bytes;
    result.status = SolveStatus::kSolved;
    result.schedule = store_all;
    result.note = fmt::format("milp: no min-peak solution within {} s; store-all's peak is the best known",
                              options.time_limit_seconds);
    return out;
  }
  Schedule s = std::move(end.schedule);
  auto bound_text = [&] {
    return format_bytes_exact(static_cast<uint64_t>(std::ceil(std::max(0.0, end.best_bound - 1e-6))));
  };
  if (end.kind == LazyStagesEnd::Kind::kAboveBound) {
    // Time limit: the better of this schedule and store-all, not proven.
    if (store_all.peak_bytes < s.peak_bytes) s = store_all;
    result.status = SolveStatus::kSolved;
    result.min_feasible_peak_bytes = s.peak_bytes;
    result.note = fmt::format("milp: time limit {} s in round {} of the lazy stages; the smallest peak is >= {}",
                              options.time_limit_seconds, end.round, bound_text());
    result.schedule = std::move(s);
    return out;
  }
  result.status = SolveStatus::kSolved;
  result.proven_optimal = end.status == LpStatus::kOptimal;
  // At the time limit the incumbent can be worse than store-all (the model overestimates the
  // store-all start, so CBC may keep another).
  if (!result.proven_optimal && store_all.peak_bytes < s.peak_bytes) s = store_all;
  result.min_feasible_peak_bytes = s.peak_bytes;
  result.note = result.proven_optimal
                    ? fmt::format("milp: smallest peak of the model, proven in {:.2f} s", cbc_seconds)
                    : fmt::format("milp: time limit {} s; the smallest peak is >= {}", options.time_limit_seconds,
                                  bound_text());
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
  uint64_t inputs_bytes = 0;
  for (TensorId k : graph.graph_inputs()) inputs_bytes += graph.tensor(k).bytes;
  if (inputs_bytes > budget_bytes) {
    return infeasible(fmt::format(" (the graph inputs alone take {})", format_bytes_exact(inputs_bytes)));
  }

  const auto begin = std::chrono::steady_clock::now();
  std::optional<Schedule> heuristic;
  if (options.warm_start) heuristic = best_heuristic(graph, budget_bytes);
  // The answer when CBC has nothing better: the heuristic's schedule with CBC's bound, or none.
  auto heuristic_answer = [&](double best_bound, const std::string& why) {
    if (!heuristic) {
      result.status = SolveStatus::kInfeasible;
      result.min_feasible_peak_bytes = store_all_peak_bytes(graph);
      result.note = fmt::format("milp: no schedule within budget {} found in {} s (not proven infeasible)",
                                format_bytes_exact(budget_bytes), options.time_limit_seconds);
      return out;
    }
    result.status = SolveStatus::kSolved;
    result.schedule = *heuristic;
    result.schedule.solver = std::string(kName);
    result.schedule.budget_bytes = budget_bytes;
    result.min_feasible_peak_bytes = heuristic->peak_bytes;
    result.lower_bound_cost = std::clamp(best_bound, graph.total_cost(), heuristic->cost);
    double gap = heuristic->cost > 0 ? (heuristic->cost - *result.lower_bound_cost) / heuristic->cost : 0.0;
    result.note = fmt::format("milp: {}; returning {}'s schedule (gap to the best bound {:.2f}%)", why,
                              heuristic->solver, gap * 100);
    return out;
  };

  LazyStagesModel model;
  model.objective = Objective::kCost;
  model.budget_bytes = budget_bytes;
  model.lazy = options.lazy_stages;
  if (heuristic) {
    model.warm_start = [&](const CheckmateFormulation& f, milp::CbcSettings& settings) {
      if (auto ones = f.encode(compute_sequence(*heuristic))) {
        // Only the columns at 1: listing every integer column (zeros too) made CBC 2.10.8 crash in
        // CglPreProcess::postProcess when the time limit hit (random_dag(25, 5), 1 s).
        settings.warm_start = std::move(*ones);
        out.stats.warm_started = true;
        out.stats.warm_start_from = heuristic->solver;
      }
    };
  }
  LazyStagesEnd end = run_lazy_stages(graph, options, model, begin, out.stats);
  switch (end.kind) {
    case LazyStagesEnd::Kind::kInfeasible:
      // The lazy model admits every schedule of the Checkmate model: its infeasibility is as good.
      return infeasible(" (proven by the MILP)");
    case LazyStagesEnd::Kind::kNoSolution:
      return heuristic_answer(end.best_bound, fmt::format("no solution within {} s", options.time_limit_seconds));
    case LazyStagesEnd::Kind::kAboveBound:
      // The time limit hit: the best fitting schedule known is the heuristic's.
      return heuristic_answer(end.best_bound, fmt::format("time limit {} s reached in round {} of the lazy stages",
                                                          options.time_limit_seconds, end.round));
    case LazyStagesEnd::Kind::kFits:
      break;
  }
  Schedule s = std::move(end.schedule);
  s.budget_bytes = budget_bytes;
  result.status = SolveStatus::kSolved;
  result.min_feasible_peak_bytes = s.peak_bytes;
  result.proven_optimal = end.status == LpStatus::kOptimal;
  // Every node runs at least once: the total cost is a bound too (CBC's may be -inf on a timeout).
  result.lower_bound_cost = std::min(s.cost, std::max(end.best_bound, graph.total_cost()));
  std::string lazy_text = options.lazy_stages ? fmt::format(", {} round{}, {} of {} stages detailed", end.round,
                                                            end.round == 1 ? "" : "s", out.stats.detailed_stages,
                                                            graph.num_nodes())
                                              : "";
  if (result.proven_optimal) {
    result.note = fmt::format("milp: optimal ({} binaries, {} rows{}, {:.2f} s)", out.stats.integers, out.stats.rows,
                              lazy_text, out.stats.solve_seconds);
    // With no stage detailed the model was the stage relaxation, a relaxation of every schedule
    // when the topological order is unique (milp.h): its optimum is the global one.
    if (options.lazy_stages && out.stats.detailed_stages == 0 && !milp::why_not_unique_topological_order(graph)) {
      result.note += "; optimal over all schedules of the spec";
    }
  } else {
    double gap = s.cost > 0 ? (s.cost - *result.lower_bound_cost) / s.cost : 0.0;
    result.note = fmt::format("milp: time limit {} s reached{}; gap to the best bound {:.2f}%",
                              options.time_limit_seconds, lazy_text, gap * 100);
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
    return "exact MILP (Checkmate, Jain et al. MLSys 2020, with lazy stages) solved by CBC; small graphs, reports "
           "its gap";
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
  set_auto_cost_bound([](const Graph& graph, uint64_t budget_bytes, const SolveOptions& options,
                          const Schedule& answer) {
    LowerBoundOptions bound_options;
    bound_options.time_limit_seconds = std::min(bound_options.time_limit_seconds, options.time_limit_seconds);
    bound_options.threads = options.threads;
    CostLowerBound b = schedule_cost_lower_bound(graph, budget_bytes, bound_options, &answer);
    return AutoCostBound{b.cost, b.infeasible, b.method};
  });
}

}  // namespace gradrecomp
