// The solver interface and the registry of built-in solvers.
//
//   const gradrecomp::Solver* solver = gradrecomp::find_solver("chain-dp");
//   gradrecomp::SolveResult r = solver->solve_budget(graph, 2_GiB, gradrecomp::SolveOptions());
//   if (r.status == gradrecomp::SolveStatus::kInfeasible)
//     std::cout << "needs at least " << r.min_feasible_peak_bytes << " bytes\n";
//
// Every schedule a solver returns has peak_bytes and cost filled by replaying it through the
// simulator (include/gradrecomp/simulate.h); solvers never report figures of their own model.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gradrecomp/graph.h"
#include "gradrecomp/schedule.h"

namespace gradrecomp {

// Reports progress of long work: fraction done in [0, 1] and what is being done.
using ProgressFn = std::function<void(double fraction, std::string_view what)>;

struct SolveOptions {
  int32_t segments = 0;             // `segments`: number of segments (0: search every count)
  int32_t every_k = 2;              // `every-k`: keep the input of every k-th stage
  int32_t memory_slots = 0;         // chain-dp: 0 = exact breakpoints; else round memory up to slots
  double time_limit_seconds = 60;   // exact solvers (milp) stop here and report their gap
  int32_t threads = 1;
  bool lower_bound = true;          // `auto`: attach a lower bound and gap to every answer (may cost
                                    // up to time_limit_seconds of CBC when the milp target is built)
  ProgressFn progress;              // may be empty

  SolveOptions& with_segments(int32_t v) { segments = v; return *this; }
  SolveOptions& with_every_k(int32_t v) { every_k = v; return *this; }
  SolveOptions& with_memory_slots(int32_t v) { memory_slots = v; return *this; }
  SolveOptions& with_time_limit_seconds(double v) { time_limit_seconds = v; return *this; }
  SolveOptions& with_lower_bound(bool v) { lower_bound = v; return *this; }
  SolveOptions& with_progress(ProgressFn fn) { progress = std::move(fn); return *this; }
};

enum class SolveStatus { kSolved, kInfeasible };

struct SolveResult {
  SolveStatus status = SolveStatus::kInfeasible;
  Schedule schedule;                      // meaningful when kSolved
  // kInfeasible: the smallest peak this solver reaches on the graph. kSolved: some solvers
  // (chain-dp, dtr, milp) report their schedule's peak here rather than search for the smallest.
  uint64_t min_feasible_peak_bytes = 0;
  bool proven_optimal = false;            // optimal among all schedules of the solver's model
  std::optional<double> lower_bound_cost; // a proven lower bound on the optimal cost, if known
  std::string note;                       // anything the user should know (which solver `auto` used...)
};

class Solver {
 public:
  virtual ~Solver() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view summary() const = 0;

  // Why this solver cannot handle the graph ("not a chain: ..."), or nullopt if it can.
  virtual std::optional<std::string> unsupported_reason(const Graph& graph) const;

  // The solver's Pareto frontier: schedules by increasing peak_bytes and strictly decreasing
  // cost. Throws gradrecomp::Error if the graph is unsupported.
  virtual std::vector<Schedule> frontier(const Graph& graph, const SolveOptions& options) const = 0;

  // The cheapest schedule with peak_bytes <= budget_bytes (kInfeasible with the smallest peak
  // otherwise). The default picks from frontier(); exact solvers override it.
  virtual SolveResult solve_budget(const Graph& graph, uint64_t budget_bytes, const SolveOptions& options) const;

  // The smallest peak whose overhead is <= max_overhead (0.05 = 5%). Default: from frontier().
  virtual SolveResult solve_overhead(const Graph& graph, double max_overhead, const SolveOptions& options) const;
};

// Picks the answer for a budget, or for an overhead cap, from a frontier (sorted as frontier()
// returns it). Shared by the default implementations and by solvers that build frontiers.
SolveResult pick_for_budget(const Graph& graph, std::vector<Schedule> frontier, uint64_t budget_bytes);
SolveResult pick_for_overhead(const Graph& graph, std::vector<Schedule> frontier, double max_overhead);
// Keeps only Pareto-optimal schedules, sorted by increasing peak and strictly decreasing cost.
std::vector<Schedule> pareto_filter(std::vector<Schedule> schedules);
// The frontier of a one-parameter family: schedule_for(p) for p = 1..count, reporting progress as
// "<what> = p of count", then pareto_filter.
std::vector<Schedule> sweep_frontier(int32_t count, const SolveOptions& options, std::string_view what,
                                     const std::function<Schedule(int32_t)>& schedule_for);

// Registry. Built-in solvers are always present; optional targets (the MILP solver) add theirs
// with register_solver() at start-up.
const Solver* find_solver(std::string_view name);
std::vector<const Solver*> all_solvers();
void register_solver(std::unique_ptr<Solver> solver);

}  // namespace gradrecomp
