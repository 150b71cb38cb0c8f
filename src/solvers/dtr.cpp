// Problem:    a compute order for any training graph whose replayed peak fits a budget B, with
//             little recomputation; a greedy comparison point, not an optimiser.
// Algorithm:  Dynamic Tensor Rematerialization (Kirisame, Lyubomirsky, Haan, Brennan, He, Roesch,
//             Chen, Tatlock, "Dynamic Tensor Rematerialization", ICLR 2021), run offline: replay
//             the store-all order (file order); before computing a node, make its inputs resident
//             (rematerialising evicted ones recursively through their producers), then, while
//             memory + the node's new outputs + workspace would exceed B, evict the resident
//             tensor with the smallest
//                 h(t) = cost(t) / (bytes(t) * staleness(t))
//             - cost(t): h_DTR's "evicted neighbourhood" cost, computed exactly instead of with
//               the paper's union-find equivalence classes: the cost of t's producer plus the
//               producers of the evicted tensors connected to t through evicted tensors (upwards:
//               inputs of producers; downwards: outputs of readers), explored up to
//               kNeighbourhoodLimit nodes;
//             - staleness(t) = 1 + computes since t was last read or written.
//             Inputs of the node being computed and of every pending rematerialisation are
//             pinned; graph inputs are never evicted (they cannot be recomputed). A tensor with no
//             reader left in the store-all order is dropped (like the program releasing it) and
//             may be rematerialised later like an evicted one. It fails (kInfeasible) when nothing
//             can be evicted, a dropped graph input is needed, or the recomputations exceed
//             kMaxComputesPerNode per node.
// Recurrence: none (greedy); see run_dtr() below.
// Complexity: O(C (L + k)) time for C computations, L resident tensors scanned per eviction and
//             k = kNeighbourhoodLimit; O(nodes + tensors) space.
// Memory model: the simulator's. The internal bookkeeping frees no earlier than the final
//             schedule's earliest frees, so the replayed peak is <= B (checked).
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/schedule.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/units.h"
#include "solvers/builtin.h"

namespace gradrecomp {
namespace {

constexpr int32_t kNeighbourhoodLimit = 64;
constexpr int64_t kMaxComputesPerNode = 64;
constexpr int32_t kFrontierBudgets = 16;

class Dtr {
 public:
  Dtr(const Graph& graph, uint64_t budget) : g_(graph), budget_(budget) {}

  // The compute order, or nullopt when DTR cannot stay within the budget.
  std::optional<std::vector<NodeId>> run() {
    const int32_t tensors = g_.num_tensors();
    live_.assign(tensors, 0);
    pins_.assign(tensors, 0);
    last_access_.assign(tensors, 0);
    lost_.assign(tensors, 0);
    remaining_reads_.assign(tensors, 0);
    for (TensorId k = 0; k < tensors; ++k) remaining_reads_[k] = static_cast<int32_t>(g_.tensor(k).readers.size());
    for (TensorId k : g_.graph_inputs()) {
      if (remaining_reads_[k] > 0) {
        live_[k] = 1;
        live_bytes_ += g_.tensor(k).bytes;
      } else {
        lost_[k] = 1;  // freed at the start, as in every schedule
      }
    }
    for (NodeId n = 0; n < g_.num_nodes(); ++n) {
      if (!compute(n)) return std::nullopt;
      // The program releases tensors it will not read again.
      for (TensorId k : g_.node(n).inputs) {
        if (--remaining_reads_[k] == 0) release(k);
      }
      for (TensorId k : g_.node(n).outputs) {
        if (remaining_reads_[k] == 0) release(k);
      }
    }
    return order_;
  }

 private:
  void release(TensorId k) {
    if (!live_[k]) return;
    live_[k] = 0;
    live_bytes_ -= g_.tensor(k).bytes;
    if (g_.is_graph_input(k)) lost_[k] = 1;
  }

  // Makes n's inputs resident, evicts until n fits, computes n.
  bool compute(NodeId n) {
    if (static_cast<int64_t>(order_.size()) > kMaxComputesPerNode * g_.num_nodes()) return false;
    const Node& node = g_.node(n);
    std::vector<TensorId> pinned;
    bool ok = true;
    for (TensorId k : node.inputs) {
      ++pins_[k];  // before rematerialising it, so that it is not dropped or evicted meanwhile
      pinned.push_back(k);
      if (!live_[k]) {
        NodeId p = g_.tensor(k).producer;
        if (p == kNoNode || lost_[k] || !compute(p) || !live_[k]) {
          ok = false;
          break;
        }
      }
    }
    if (ok) {
      uint64_t need = node.workspace_bytes;
      for (TensorId k : node.outputs) {
        if (!live_[k]) need += g_.tensor(k).bytes;
      }
      // Outputs being produced must not be evicted to make room for themselves.
      for (TensorId k : node.outputs) ++pins_[k];
      while (ok && live_bytes_ + need > budget_) ok = evict_one();
      for (TensorId k : node.outputs) --pins_[k];
      if (ok) {
        ++clock_;
        for (TensorId k : node.outputs) {
          if (!live_[k]) {
            live_[k] = 1;
            live_bytes_ += g_.tensor(k).bytes;
          }
          last_access_[k] = clock_;
        }
        for (TensorId k : node.inputs) last_access_[k] = clock_;
        order_.push_back(n);
        // Outputs nobody will read again (now, or in a rematerialisation) are dropped at once.
        for (TensorId k : node.outputs) {
          if (remaining_reads_[k] == 0 && pins_[k] == 0) release(k);
        }
      }
    }
    for (TensorId k : pinned) --pins_[k];
    return ok;
  }

  // h_DTR cost of evicting t: producers of t's evicted neighbourhood (see the header).
  double neighbourhood_cost(TensorId t) {
    double cost = g_.node(g_.tensor(t).producer).cost;
    ++visit_epoch_;
    if (visited_.size() < static_cast<size_t>(g_.num_tensors())) visited_.assign(g_.num_tensors(), 0);
    std::vector<TensorId> stack = {t};
    visited_[t] = visit_epoch_;
    int32_t explored = 0;
    while (!stack.empty() && explored < kNeighbourhoodLimit) {
      TensorId u = stack.back();
      stack.pop_back();
      ++explored;
      auto visit = [&](TensorId v) {
        if (visited_[v] == visit_epoch_ || live_[v] || g_.is_graph_input(v)) return;
        visited_[v] = visit_epoch_;
        cost += g_.node(g_.tensor(v).producer).cost;
        stack.push_back(v);
      };
      NodeId p = g_.tensor(u).producer;
      if (p != kNoNode) {
        for (TensorId v : g_.node(p).inputs) visit(v);
      }
      for (NodeId reader : g_.tensor(u).readers) {
        for (TensorId v : g_.node(reader).outputs) visit(v);
      }
    }
    return cost;
  }

  bool evict_one() {
    TensorId victim = -1;
    double best = 0;
    for (TensorId k = 0; k < g_.num_tensors(); ++k) {
      if (!live_[k] || pins_[k] > 0 || g_.is_graph_input(k) || g_.tensor(k).bytes == 0) continue;
      double staleness = static_cast<double>(clock_ - last_access_[k]) + 1.0;
      double h = neighbourhood_cost(k) / (static_cast<double>(g_.tensor(k).bytes) * staleness);
      if (victim < 0 || h < best) {
        victim = k;
        best = h;
      }
    }
    if (victim < 0) return false;
    live_[victim] = 0;
    live_bytes_ -= g_.tensor(victim).bytes;
    return true;
  }

  const Graph& g_;
  uint64_t budget_;
  uint64_t live_bytes_ = 0;
  int64_t clock_ = 0;
  std::vector<char> live_, lost_;
  std::vector<int32_t> pins_, remaining_reads_;
  std::vector<int64_t> last_access_;
  std::vector<int64_t> visited_;
  int64_t visit_epoch_ = 0;
  std::vector<NodeId> order_;
};

std::optional<Schedule> dtr_schedule(const Graph& graph, uint64_t budget) {
  std::optional<std::vector<NodeId>> order = Dtr(graph, budget).run();
  if (!order) return std::nullopt;
  Schedule s = schedule_from_computes(graph, *order, "dtr");
  GRADRECOMP_ASSERT(s.peak_bytes <= budget,
                    fmt::format("dtr: replayed peak {} above its budget {}", s.peak_bytes, budget));
  return s;
}

// Bytes no schedule can go below: every graph input at the start, and any node's inputs +
// outputs + workspace.
uint64_t trivial_lower_bound(const Graph& graph) {
  uint64_t bound = 0;
  for (TensorId k : graph.graph_inputs()) bound += graph.tensor(k).bytes;
  for (NodeId n = 0; n < graph.num_nodes(); ++n) {
    uint64_t need = graph.output_bytes(n);
    for (TensorId k : graph.node(n).inputs) need += graph.tensor(k).bytes;
    bound = std::max(bound, need);
  }
  return bound;
}

class DtrSolver final : public Solver {
 public:
  std::string_view name() const override { return "dtr"; }
  std::string_view summary() const override {
    return "Dynamic Tensor Rematerialization (Kirisame et al. ICLR 2021): greedy eviction by h_DTR, any graph";
  }

  std::vector<Schedule> frontier(const Graph& graph, const SolveOptions& options) const override {
    const uint64_t hi = store_all_peak_bytes(graph), lo = std::min(hi, trivial_lower_bound(graph));
    std::vector<Schedule> points;
    for (int32_t i = 0; i <= kFrontierBudgets; ++i) {
      uint64_t budget = lo + static_cast<uint64_t>(static_cast<double>(hi - lo) * i / kFrontierBudgets);
      if (options.progress) options.progress(static_cast<double>(i) / kFrontierBudgets, "dtr");
      if (auto s = dtr_schedule(graph, budget)) points.push_back(std::move(*s));
    }
    return pareto_filter(std::move(points));
  }

  SolveResult solve_budget(const Graph& graph, uint64_t budget_bytes, const SolveOptions&) const override {
    SolveResult result;
    if (auto s = dtr_schedule(graph, budget_bytes)) {
      result.status = SolveStatus::kSolved;
      result.schedule = std::move(*s);
      result.schedule.budget_bytes = budget_bytes;
      result.min_feasible_peak_bytes = result.schedule.peak_bytes;
      return result;
    }
    // Smallest budget DTR succeeds at, by bisection (DTR is not monotone in the budget, so this
    // is the smallest found, not a proven minimum); store-all's peak always succeeds. A run at a
    // larger budget may still land within this one: then that schedule is the answer.
    uint64_t lo = std::max(budget_bytes + 1, trivial_lower_bound(graph));
    uint64_t hi = std::max(lo, store_all_peak_bytes(graph));
    uint64_t found = hi;
    std::optional<Schedule> fits;
    auto record = [&](Schedule s) {
      found = std::min(found, s.peak_bytes);
      if (s.peak_bytes <= budget_bytes && (!fits || s.cost < fits->cost)) fits = std::move(s);
    };
    if (auto s = dtr_schedule(graph, lo)) {
      record(std::move(*s));
      hi = lo;
    }
    while (lo < hi) {
      uint64_t mid = lo + (hi - lo) / 2;
      if (auto s = dtr_schedule(graph, mid)) {
        record(std::move(*s));
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    if (fits) {
      result.status = SolveStatus::kSolved;
      result.schedule = std::move(*fits);
      result.schedule.budget_bytes = budget_bytes;
      result.min_feasible_peak_bytes = found;
      return result;
    }
    result.min_feasible_peak_bytes = found;
    result.note = fmt::format("dtr: budget {} is below the smallest peak DTR reached, {}",
                              format_bytes_exact(budget_bytes), format_bytes_exact(found));
    return result;
  }
};

}  // namespace

std::unique_ptr<Solver> make_dtr_solver() { return std::make_unique<DtrSolver>(); }

}  // namespace gradrecomp
