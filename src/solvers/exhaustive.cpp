// Exhaustive search for tiny graphs. Problem, algorithm and complexity:
// include/gradrecomp/solvers/exhaustive.h.
#include "gradrecomp/solvers/exhaustive.h"

#include <algorithm>
#include <bit>
#include <queue>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/units.h"
#include "solvers/builtin.h"

namespace gradrecomp {
namespace {

using Mask = uint64_t;

struct State {
  Mask live = 0;
  Mask computed = 0;
  bool operator==(const State&) const = default;
};

struct StateHash {
  size_t operator()(const State& s) const {
    uint64_t h = s.live * 0x9E3779B97F4A7C15ull ^ (s.computed + 0x632BE59BD9B4E019ull + (s.live << 6) + (s.live >> 2));
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

// How a state was first reached on its shortest path.
struct Visit {
  double cost = 0;
  State parent;
  int32_t computed_node = -1;  // -1: reached by a free (or the start)
  bool settled = false;
};

struct QueueEntry {
  double estimate;  // cost so far + a lower bound of what is left (A*)
  double cost;
  uint64_t order;   // FIFO among equal estimates keeps the search deterministic
  State state;
  bool operator>(const QueueEntry& o) const { return estimate != o.estimate ? estimate > o.estimate : order > o.order; }
};

class Search {
 public:
  explicit Search(const Graph& g) : g_(g) {
    const int32_t nodes = g.num_nodes();
    inputs_.assign(nodes, 0);
    outputs_.assign(nodes, 0);
    output_readers_.assign(nodes, 0);
    readers_.assign(g.num_tensors(), 0);
    for (TensorId t = 0; t < g.num_tensors(); ++t) {
      for (NodeId r : g.tensor(t).readers) readers_[t] |= bit(r);
    }
    for (NodeId n = 0; n < nodes; ++n) {
      for (TensorId t : g.node(n).inputs) inputs_[n] |= bit(t);
      for (TensorId t : g.node(n).outputs) {
        outputs_[n] |= bit(t);
        output_readers_[n] |= readers_[t];
      }
    }
    all_nodes_ = nodes == 64 ? ~Mask{0} : (bit(nodes) - 1);

  }

  static Mask bit(int32_t i) { return Mask{1} << i; }

  uint64_t bytes(Mask live) const {
    uint64_t total = 0;
    while (live) {
      total += g_.tensor(std::countr_zero(live)).bytes;
      live &= live - 1;
    }
    return total;
  }

  // Nodes that never need to run again (see the header), given what has been computed.
  Mask retired(Mask computed) const {
    Mask r = 0;
    for (NodeId n = g_.num_nodes(); n-- > 0;) {
      if ((computed & bit(n)) && (output_readers_[n] & ~r) == 0) r |= bit(n);
    }
    return r;
  }

  // A lower bound of the cost still to come: every node not computed yet must run once.
  double remaining(Mask computed) const {
    double bound = 0;
    for (Mask rest = all_nodes_ & ~computed; rest; rest &= rest - 1) bound += g_.node(std::countr_zero(rest)).cost;
    return bound;
  }

  // Drops live tensors whose readers are all retired.
  State canonical(State s) const {
    Mask r = retired(s.computed);
    Mask live = s.live;
    for (Mask rest = s.live; rest; rest &= rest - 1) {
      int32_t t = std::countr_zero(rest);
      if ((readers_[t] & ~r) == 0) live &= ~bit(t);
    }
    s.live = live;
    return s;
  }

  // The cheapest compute order within budget (A*), nullopt if there is none; *cost receives its cost.
  //
  // Frees are lazy: a live tensor is freed only right before a compute that would not fit
  // otherwise, and only as part of an inclusion-minimal set of tensors whose bytes make it fit.
  // This loses nothing: a larger live set can always be freed down later at no cost, and for any
  // schedule, postponing each free to the compute that needs the room and keeping a minimal part
  // of it gives live sets that contain the original ones at every step, so the same computes stay
  // valid and within budget. States are therefore the ones right after a compute.
  std::optional<std::vector<NodeId>> run(uint64_t budget, const ExhaustiveOptions& options, ExhaustiveStats* stats,
                                         double* cost_out) {
    Mask start_live = 0;
    for (TensorId t : g_.graph_inputs()) start_live |= bit(t);
    if (bytes(start_live) > budget) return std::nullopt;  // the graph inputs alone exceed it
    State start = canonical(State{start_live, 0});
    std::unordered_map<State, Visit, StateHash> visits;
    visits.reserve(1 << 16);
    std::priority_queue<QueueEntry, std::vector<QueueEntry>, std::greater<>> queue;
    uint64_t order = 0;
    visits[start] = Visit{0.0, start, -1, false};
    queue.push({remaining(start.computed), 0.0, order++, start});
    uint64_t settled = 0;
    // A* with a consistent lower bound of what is left: every node not computed yet must still run
    // once, so the sum of their costs.
    auto relax = [&](const State& from, const State& to, double cost, int32_t node) {
      auto [it, inserted] = visits.try_emplace(to, Visit{cost, from, node, false});
      if (!inserted) {
        if (it->second.settled || it->second.cost <= cost) return;
        it->second = Visit{cost, from, node, false};
      }
      queue.push({cost + remaining(to.computed), cost, order++, to});
    };
    std::vector<uint64_t> subset_bytes, subset_min;
    std::vector<int32_t> freeable;
    while (!queue.empty()) {
      QueueEntry top = queue.top();
      queue.pop();
      Visit& visit = visits[top.state];
      if (visit.settled || top.cost > visit.cost) continue;
      visit.settled = true;
      ++settled;
      if (stats) stats->states_settled += 1;
      if (settled > options.max_states) {
        throw Error(fmt::format("exhaustive search on graph \"{}\" settled more than {} states (max_states); it is "
                                "meant for tiny graphs such as 6-stage chains",
                                g_.name(), options.max_states));
      }
      const State s = top.state;
      if (s.computed == all_nodes_) {
        if (cost_out) *cost_out = top.cost;
        return path_to(visits, s);
      }
      const Mask r = retired(s.computed);
      const uint64_t live_bytes = bytes(s.live);
      for (NodeId n = 0; n < g_.num_nodes(); ++n) {
        if ((r & bit(n)) || (inputs_[n] & ~s.live)) continue;
        if ((s.computed & bit(n)) && (outputs_[n] & ~s.live) == 0) continue;  // changes nothing
        const uint64_t during = live_bytes + bytes(outputs_[n] & ~s.live) + g_.node(n).workspace_bytes;
        const double cost = top.cost + g_.node(n).cost;
        const Mask produced = s.live | outputs_[n];
        const State after{produced, s.computed | bit(n)};
        if (during <= budget) {
          relax(s, canonical(after), cost, n);
          continue;
        }
        // Free an inclusion-minimal set of other live tensors with at least `need` bytes.
        const uint64_t need = during - budget;
        freeable.clear();
        uint64_t available = 0;
        for (Mask rest = s.live & ~inputs_[n] & ~outputs_[n]; rest; rest &= rest - 1) {
          int32_t t = std::countr_zero(rest);
          if (g_.tensor(t).bytes == 0) continue;
          freeable.push_back(t);
          available += g_.tensor(t).bytes;
        }
        if (available < need) continue;
        if (freeable.size() > 24) {
          throw Error(fmt::format("exhaustive search on graph \"{}\" would choose among {} live tensors to free before "
                                  "node \"{}\" (at most 24); it is meant for tiny graphs",
                                  g_.name(), freeable.size(), g_.node(n).id));
        }
        const size_t subsets = size_t{1} << freeable.size();
        subset_bytes.assign(subsets, 0);
        subset_min.assign(subsets, 0);
        for (size_t m = 1; m < subsets; ++m) {
          int32_t low = std::countr_zero(m);
          uint64_t b = g_.tensor(freeable[low]).bytes;
          size_t rest = m & (m - 1);
          subset_bytes[m] = subset_bytes[rest] + b;
          subset_min[m] = rest ? std::min(subset_min[rest], b) : b;
          if (subset_bytes[m] < need || subset_bytes[m] - subset_min[m] >= need) continue;  // too small / not minimal
          Mask freed = 0;
          for (size_t k = m; k; k &= k - 1) freed |= bit(freeable[std::countr_zero(k)]);
          relax(s, canonical(State{produced & ~freed, after.computed}), cost, n);
        }
      }
    }
    return std::nullopt;
  }

 private:
  std::vector<NodeId> path_to(const std::unordered_map<State, Visit, StateHash>& visits, State s) const {
    std::vector<NodeId> computes;
    while (true) {
      const Visit& v = visits.at(s);
      if (v.parent == s) break;
      if (v.computed_node >= 0) computes.push_back(v.computed_node);
      s = v.parent;
    }
    return {computes.rbegin(), computes.rend()};
  }

  const Graph& g_;
  std::vector<Mask> inputs_, outputs_, output_readers_, readers_;
  Mask all_nodes_ = 0;
};

constexpr const char* kName = "exhaustive";

}  // namespace

std::optional<std::string> exhaustive_unsupported_reason(const Graph& graph) {
  if (graph.num_tensors() > kExhaustiveMaxTensors || graph.num_nodes() > kExhaustiveMaxNodes) {
    return fmt::format("graph \"{}\" has {} tensors and {} nodes; exhaustive search handles at most {} tensors and {} "
                       "nodes",
                       graph.name(), graph.num_tensors(), graph.num_nodes(), kExhaustiveMaxTensors, kExhaustiveMaxNodes);
  }
  return std::nullopt;
}

std::optional<Schedule> exhaustive_schedule(const Graph& graph, uint64_t budget_bytes, const ExhaustiveOptions& options,
                                            ExhaustiveStats* stats) {
  if (auto why = exhaustive_unsupported_reason(graph)) throw Error(*why);
  std::optional<std::vector<NodeId>> computes = Search(graph).run(budget_bytes, options, stats, nullptr);
  if (!computes) return std::nullopt;
  Schedule schedule = schedule_from_computes(graph, *computes, kName);
  GRADRECOMP_ASSERT(schedule.peak_bytes <= budget_bytes,
                    fmt::format("earliest frees replay to {} above the searched budget {}", schedule.peak_bytes,
                                budget_bytes));
  return schedule;
}

uint64_t exhaustive_min_peak_bytes(const Graph& graph, const ExhaustiveOptions& options) {
  if (auto why = exhaustive_unsupported_reason(graph)) throw Error(*why);
  // Binary search on the budget: feasibility is monotone, store-all is feasible, and nothing fits
  // below the largest working set of a node (inputs + outputs + workspace) or the graph inputs.
  uint64_t high = store_all_peak_bytes(graph);
  uint64_t low = 0;
  for (TensorId t : graph.graph_inputs()) low += graph.tensor(t).bytes;
  for (NodeId n = 0; n < graph.num_nodes(); ++n) {
    uint64_t working = graph.node(n).workspace_bytes;
    for (TensorId t : graph.node(n).inputs) working += graph.tensor(t).bytes;
    for (TensorId t : graph.node(n).outputs) working += graph.tensor(t).bytes;
    low = std::max(low, working);
  }
  Search search(graph);
  while (low < high) {  // invariant: high is feasible, everything below low is not
    uint64_t mid = low + (high - low) / 2;
    if (search.run(mid, options, nullptr, nullptr)) high = mid;
    else low = mid + 1;
  }
  return high;
}

namespace {

class ExhaustiveSolver final : public Solver {
 public:
  std::string_view name() const override { return kName; }
  std::string_view summary() const override {
    return "brute-force optimum over all schedules (Dijkstra over live/computed sets); tiny graphs only";
  }
  std::optional<std::string> unsupported_reason(const Graph& graph) const override {
    return exhaustive_unsupported_reason(graph);
  }

  std::vector<Schedule> frontier(const Graph& graph, const SolveOptions& options) const override {
    std::vector<Schedule> found;
    std::optional<Schedule> s = exhaustive_schedule(graph, store_all_peak_bytes(graph));
    while (s) {
      uint64_t peak = s->peak_bytes;
      if (options.progress) options.progress(0.0, fmt::format("exhaustive at peak {}", peak));
      found.push_back(std::move(*s));
      if (peak == 0) break;
      s = exhaustive_schedule(graph, peak - 1);
    }
    return pareto_filter(std::move(found));
  }

  SolveResult solve_budget(const Graph& graph, uint64_t budget_bytes, const SolveOptions&) const override {
    SolveResult result;
    if (std::optional<Schedule> s = exhaustive_schedule(graph, budget_bytes)) {
      result.status = SolveStatus::kSolved;
      result.schedule = std::move(*s);
      result.schedule.budget_bytes = budget_bytes;
      result.proven_optimal = true;
      result.lower_bound_cost = result.schedule.cost;
      result.min_feasible_peak_bytes = exhaustive_min_peak_bytes(graph);
      return result;
    }
    result.min_feasible_peak_bytes = exhaustive_min_peak_bytes(graph);
    result.note = fmt::format("no schedule has a peak within {}; the smallest feasible peak is {}",
                              format_bytes_exact(budget_bytes), format_bytes_exact(result.min_feasible_peak_bytes));
    return result;
  }
};

}  // namespace

std::unique_ptr<Solver> make_exhaustive_solver() { return std::make_unique<ExhaustiveSolver>(); }

}  // namespace gradrecomp
