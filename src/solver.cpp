#include "gradrecomp/solver.h"

#include <algorithm>
#include <mutex>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/units.h"
#include "solvers/builtin.h"

namespace gradrecomp {

std::optional<std::string> Solver::unsupported_reason(const Graph&) const { return std::nullopt; }

SolveResult Solver::solve_budget(const Graph& graph, uint64_t budget_bytes, const SolveOptions& options) const {
  return pick_for_budget(graph, frontier(graph, options), budget_bytes);
}

SolveResult Solver::solve_overhead(const Graph& graph, double max_overhead, const SolveOptions& options) const {
  return pick_for_overhead(graph, frontier(graph, options), max_overhead);
}

std::vector<Schedule> pareto_filter(std::vector<Schedule> schedules) {
  std::stable_sort(schedules.begin(), schedules.end(), [](const Schedule& a, const Schedule& b) {
    if (a.peak_bytes != b.peak_bytes) return a.peak_bytes < b.peak_bytes;
    return a.cost < b.cost;
  });
  std::vector<Schedule> kept;
  for (Schedule& s : schedules) {
    if (kept.empty() || s.cost < kept.back().cost) kept.push_back(std::move(s));
  }
  return kept;
}

std::vector<Schedule> sweep_frontier(int32_t count, const SolveOptions& options, std::string_view what,
                                     const std::function<Schedule(int32_t)>& schedule_for) {
  std::vector<Schedule> schedules;
  schedules.reserve(count);
  for (int32_t p = 1; p <= count; ++p) {
    if (options.progress) options.progress(static_cast<double>(p - 1) / count, fmt::format("{} = {} of {}", what, p, count));
    schedules.push_back(schedule_for(p));
  }
  return pareto_filter(std::move(schedules));
}

SolveResult pick_for_budget(const Graph& graph, std::vector<Schedule> frontier, uint64_t budget_bytes) {
  SolveResult result;
  if (frontier.empty()) return result;
  result.min_feasible_peak_bytes = frontier.front().peak_bytes;
  for (Schedule& s : frontier) result.min_feasible_peak_bytes = std::min(result.min_feasible_peak_bytes, s.peak_bytes);
  const Schedule* best = nullptr;
  for (const Schedule& s : frontier) {
    if (s.peak_bytes <= budget_bytes && (!best || s.cost < best->cost)) best = &s;
  }
  if (!best) {
    result.note = fmt::format("budget {} is below the smallest feasible peak {}", format_bytes_exact(budget_bytes),
                              format_bytes_exact(result.min_feasible_peak_bytes));
    return result;
  }
  result.status = SolveStatus::kSolved;
  result.schedule = *best;
  result.schedule.budget_bytes = budget_bytes;
  (void)graph;
  return result;
}

SolveResult pick_for_overhead(const Graph& graph, std::vector<Schedule> frontier, double max_overhead) {
  SolveResult result;
  if (frontier.empty()) return result;
  result.min_feasible_peak_bytes = frontier.front().peak_bytes;
  const Schedule* best = nullptr;
  double min_overhead = 0;
  for (const Schedule& s : frontier) {
    result.min_feasible_peak_bytes = std::min(result.min_feasible_peak_bytes, s.peak_bytes);
    double overhead = overhead_of(graph, s.cost);
    // Allow for rounding in cost sums: 1e-9 relative.
    if (overhead <= max_overhead + 1e-9 && (!best || s.peak_bytes < best->peak_bytes)) best = &s;
    if (&s == &frontier.front() || overhead < min_overhead) min_overhead = overhead;
  }
  if (!best) {
    result.note = fmt::format("no schedule of this solver has overhead <= {:.2f}% (the least is {:.2f}%)",
                              max_overhead * 100, min_overhead * 100);
    return result;
  }
  result.status = SolveStatus::kSolved;
  result.schedule = *best;
  return result;
}

namespace {

std::mutex& registry_mutex() {
  static std::mutex mutex;
  return mutex;
}

std::vector<std::unique_ptr<Solver>>& registry() {
  static std::vector<std::unique_ptr<Solver>> solvers = make_builtin_solvers();
  return solvers;
}

}  // namespace

const Solver* find_solver(std::string_view name) {
  std::lock_guard lock(registry_mutex());
  for (const auto& solver : registry()) {
    if (solver->name() == name) return solver.get();
  }
  return nullptr;
}

std::vector<const Solver*> all_solvers() {
  std::lock_guard lock(registry_mutex());
  std::vector<const Solver*> out;
  for (const auto& solver : registry()) out.push_back(solver.get());
  return out;
}

void register_solver(std::unique_ptr<Solver> solver) {
  std::lock_guard lock(registry_mutex());
  for (const auto& existing : registry()) {
    if (existing->name() == solver->name()) {
      throw Error(fmt::format("a solver named \"{}\" is already registered", solver->name()));
    }
  }
  registry().push_back(std::move(solver));
}

}  // namespace gradrecomp
