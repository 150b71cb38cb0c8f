// The `dag` solver: general training graphs -> chains of blocks -> chain DP -> node computations
// -> schedules replayed by the simulator. Problem, algorithm, recurrence and complexity:
// include/gradrecomp/solvers/dag.h.
#include <algorithm>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solvers/chain_dp.h"
#include "gradrecomp/solvers/dag.h"
#include "gradrecomp/units.h"
#include "solvers/builtin.h"

namespace gradrecomp {
namespace {

constexpr const char* kName = "dag";

// Decompositions after the first are tried while the summed work estimate stages^3 x
// (options per stage)^2 (the chain DP's growth, chain_dp.h) stays within this; the first always
// runs.
constexpr double kExtraWork = 4e6;
// Tables are built over kDefaultLargeSlots memory slots (rotor's discretisation, chain_dp.h)
// above this many stages unless the caller chose memory_slots.
constexpr size_t kExactTableStages = 160;
constexpr int32_t kDefaultLargeSlots = 1000;
// Graphs of more than kFullFrontierNodes nodes are "large": articulation cuts read by backward
// and their groupings only, within kLargeWork; decompositions of more than kLargeFullMenuStages
// stages get menus of kLargeMaxOptions prefixes and no lazy backward (measured on
// ResNet-152: 3 prefixes cost 6.5% at 50% memory vs 9.6% with 2, and the lazy variants changed
// nothing while tripling the DP's time). solve_budget on them builds the DP table only up to
// kBudgetHeadroom above the budget and replays the cheapest point whose model peak fits plus the
// kBudgetWindow points above it (the model is an upper bound, so those may fit once replayed).
// On graphs up to kFullFrontierNodes, solve_budget picks from the full replayed frontier, so
// its answers are monotone in the budget.
constexpr int32_t kFullFrontierNodes = 200;
constexpr int32_t kLargeMaxOptions = 3;
constexpr size_t kMaxStages = 64;  // longer chains of blocks are grouped down to this
constexpr size_t kLargeFullMenuStages = 30;  // large graphs with fewer stages keep the full menus
constexpr double kLargeWork = 2.5e6;         // large graphs: the first variant counts too
constexpr size_t kBudgetWindow = 16;
constexpr uint64_t kBudgetHeadroomDivisor = 8;  // budget + budget / 8

// One way of cutting the graph into a chain, with its model.
struct DagVariant {
  DagCutOptions cut;
  DagDecomposition decomposition;
  DagChainModel model;
};

std::string variant_name(const DagVariant& v) {
  std::string name = v.cut.policy == DagCutPolicy::kNoPassThrough ? "articulation cuts" : "every cut";
  if (v.cut.useful_cuts_only) name += " read by backward";
  if (v.cut.group > 1) name += fmt::format(", groups of {} from {}", v.cut.group, v.cut.group_offset);
  return name;
}

// The decompositions worth trying, most useful first, without duplicates (on a chain several
// coincide). Groupings of 2 and 3 blocks give the menus room to drop the tensors between blocks.
std::vector<DagVariant> variants_of(const Graph& graph) {
  DagPhases phases = split_phases(graph);
  const bool large = graph.num_nodes() > kFullFrontierNodes;
  std::vector<DagCutOptions> kinds;
  auto add_groupings = [&kinds](DagCutPolicy policy) {
    for (int32_t group : {2, 3}) {
      for (int32_t offset = 0; offset < group; ++offset) {
        kinds.push_back(DagCutOptions().with_policy(policy).with_useful_cuts_only(true).with_group(group, offset));
      }
    }
  };
  kinds.push_back(DagCutOptions().with_policy(DagCutPolicy::kNoPassThrough).with_useful_cuts_only(true));
  add_groupings(DagCutPolicy::kNoPassThrough);
  if (!large) {
    kinds.push_back(DagCutOptions().with_policy(DagCutPolicy::kEveryPosition).with_useful_cuts_only(true));
    kinds.push_back(DagCutOptions().with_policy(DagCutPolicy::kNoPassThrough));
    kinds.push_back(DagCutOptions().with_policy(DagCutPolicy::kEveryPosition));
    add_groupings(DagCutPolicy::kEveryPosition);
  }
  // Very long chains (thousands of nodes) are first coarsened (the table is cubic in the
  // stages): the first decomposition's blocks grouped down to at most kMaxStages stages with
  // short menus, and grouped down to kLargeFullMenuStages with full menus. Neither is better
  // everywhere (measured: BERT-Large's 102 blocks, 35% budget: +16.4% as 51 blocks, +12.4% as 26;
  // a generated 48-layer GPT-2: +4.3% as 51, +8.6% as 26), so both run, whatever their work.
  bool coarsened = false;
  {
    const size_t stages = decompose_dag(graph, phases, kinds.front()).blocks.size();
    if (stages > kMaxStages) {
      auto grouped_down_to = [&](size_t most) {
        const int32_t group = static_cast<int32_t>((stages + most - 1) / most);
        return DagCutOptions(kinds.front()).with_group(group, 0);
      };
      kinds = {grouped_down_to(kMaxStages), grouped_down_to(kLargeFullMenuStages)};
      coarsened = true;
    }
  }
  std::vector<DagVariant> variants;
  double work = 0;
  for (const DagCutOptions& kind : kinds) {
    DagDecomposition d = decompose_dag(graph, phases, kind);
    bool duplicate = false;
    for (const DagVariant& v : variants) duplicate = duplicate || v.decomposition.cuts == d.cuts;
    if (duplicate) continue;
    const double stages = static_cast<double>(d.blocks.size());
    // A first estimate with at most 2 options per stage skips hopeless variants before their menus.
    if (!coarsened && !variants.empty() && work + stages * stages * stages * 4 > kExtraWork) continue;
    DagChainModel model = large && d.blocks.size() > kLargeFullMenuStages
                              ? build_dag_chain_model(graph, d, kLargeMaxOptions, /*with_lazy=*/false)
                              : build_dag_chain_model(graph, d);
    double options = 0;
    for (const ChainModelStage& st : model.model.stages) options += static_cast<double>(st.keep_options.size());
    const double per_stage = options / stages;
    const double cost = stages * stages * stages * per_stage * per_stage;
    if (!coarsened && !variants.empty() && work + cost > (large ? kLargeWork : kExtraWork)) continue;
    work += variants.empty() && !large ? 0 : cost;
    variants.push_back({kind, std::move(d), std::move(model)});
  }
  return variants;
}

// One line for the user: how many decompositions were tried and their sizes (variant_name lists
// the policies; the per-variant detail is for tests and benchmarks, not for every answer).
std::string describe(const std::vector<DagVariant>& variants) {
  size_t fewest = SIZE_MAX, most = 0;
  for (const DagVariant& v : variants) {
    fewest = std::min(fewest, v.decomposition.blocks.size());
    most = std::max(most, v.decomposition.blocks.size());
  }
  if (variants.size() == 1) {
    return fmt::format("dag: {} blocks ({})", most, variant_name(variants.front()));
  }
  return fmt::format("dag: best of {} block decompositions ({} to {} blocks; first: {})", variants.size(), fewest,
                     most, variant_name(variants.front()));
}

Schedule schedule_of(const Graph& graph, const DagVariant& variant, const ChainPlan& plan) {
  Schedule schedule =
      schedule_from_computes(graph, dag_plan_computes(variant.decomposition, variant.model, plan.ops), kName);
  GRADRECOMP_ASSERT(schedule.peak_bytes <= plan.peak_bytes,
                    fmt::format("dag model under-estimates: plan peak {} replays to {} ({})", plan.peak_bytes,
                                schedule.peak_bytes, variant_name(variant)));
  return schedule;
}

class DagSolver final : public Solver {
 public:
  std::string_view name() const override { return kName; }
  std::string_view summary() const override {
    return "general graphs: blocks between articulation points with partial-recomputation menus, combined by "
           "the chain DP (fast, near-optimal)";
  }

  std::optional<std::string> unsupported_reason(const Graph& graph) const override {
    try {
      split_phases(graph);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::nullopt;
  }

  // The Pareto union, over the decompositions, of the replayed schedules of every point of the
  // chain model's frontier.
  std::vector<Schedule> frontier(const Graph& graph, const SolveOptions& options) const override {
    return candidates(graph, options, std::nullopt, nullptr);
  }

  SolveResult solve_budget(const Graph& graph, uint64_t budget_bytes, const SolveOptions& options) const override {
    std::string note;
    std::optional<uint64_t> window;
    if (graph.num_nodes() > kFullFrontierNodes) window = budget_bytes;
    SolveResult result = pick_for_budget(graph, candidates(graph, options, window, &note), budget_bytes);
    result.lower_bound_cost = graph.total_cost();  // every node runs at least once
    if (result.status == SolveStatus::kInfeasible) {
      note += fmt::format("; budget {} is below the smallest peak dag reaches, {}", format_bytes_exact(budget_bytes),
                          format_bytes_exact(result.min_feasible_peak_bytes));
    }
    result.note = note;
    return result;
  }

  SolveResult solve_overhead(const Graph& graph, double max_overhead, const SolveOptions& options) const override {
    std::string note;
    SolveResult result = pick_for_overhead(graph, candidates(graph, options, std::nullopt, &note), max_overhead);
    result.lower_bound_cost = graph.total_cost();
    result.note = result.note.empty() ? note : note + "; " + result.note;
    return result;
  }

 private:
  // Replayed schedules, Pareto-filtered: of every model frontier point, or (window = budget) of
  // the points from the cheapest one whose model peak fits the budget up to kBudgetWindow above
  // it, and of the model's smallest-peak plan when no point fits.
  std::vector<Schedule> candidates(const Graph& graph, const SolveOptions& options, std::optional<uint64_t> window,
                                   std::string* note) const {
    std::vector<DagVariant> variants = variants_of(graph);
    if (note) *note = describe(variants);
    std::vector<Schedule> schedules;
    for (size_t v = 0; v < variants.size(); ++v) {
      ProgressFn progress;
      if (options.progress) {
        const double share = 1.0 / static_cast<double>(variants.size());
        progress = [&options, v, share](double fraction, std::string_view what) {
          options.progress((static_cast<double>(v) + fraction) * share, what);
        };
      }
      int32_t slots = options.memory_slots;
      if (slots == 0 && variants[v].decomposition.blocks.size() > kExactTableStages) slots = kDefaultLargeSlots;
      const ChainModel& model = variants[v].model.model;
      if (!window) {
        ChainDp dp(model, slots, progress);
        for (const ChainFrontierPoint& point : dp.frontier()) {
          std::optional<ChainPlan> plan = dp.plan_for_budget(point.peak_bytes);
          GRADRECOMP_ASSERT(plan.has_value(), fmt::format("no plan at the frontier's own peak {}", point.peak_bytes));
          schedules.push_back(schedule_of(graph, variants[v], *plan));
        }
        continue;
      }
      const uint64_t budget = *window;
      const uint64_t cap = budget > UINT64_MAX - budget / kBudgetHeadroomDivisor
                               ? UINT64_MAX
                               : budget + budget / kBudgetHeadroomDivisor;
      ChainDp dp(model, slots, progress, cap);
      const std::vector<ChainFrontierPoint>& points = dp.frontier();
      if (points.empty() || points.front().peak_bytes > budget) {
        // Nothing fits in the model: the smallest-peak plan, which may still fit once replayed
        // (and gives min_feasible_peak_bytes otherwise).
        const uint64_t smallest = chain_min_peak_bytes(model, slots);
        ChainDp least(model, slots, {}, smallest);
        std::optional<ChainPlan> plan = least.plan_for_budget(smallest);
        GRADRECOMP_ASSERT(plan.has_value(), fmt::format("no plan at the model's own smallest peak {}", smallest));
        schedules.push_back(schedule_of(graph, variants[v], *plan));
      }
      // points are by increasing peak: the last one whose model peak fits, and kBudgetWindow after it.
      size_t first = 0;
      while (first + 1 < points.size() && points[first + 1].peak_bytes <= budget) ++first;
      for (size_t i = first; i < std::min(points.size(), first + 1 + kBudgetWindow); ++i) {
        std::optional<ChainPlan> plan = dp.plan_for_budget(points[i].peak_bytes);
        GRADRECOMP_ASSERT(plan.has_value(), fmt::format("no plan at the frontier's own peak {}", points[i].peak_bytes));
        schedules.push_back(schedule_of(graph, variants[v], *plan));
      }
    }
    return pareto_filter(std::move(schedules));
  }
};

}  // namespace

std::unique_ptr<Solver> make_dag_solver() { return std::make_unique<DagSolver>(); }

}  // namespace gradrecomp
