// The `chen-greedy` solver: Chen, Xu, Zhang, Guestrin, "Training Deep Nets with Sublinear Memory
// Cost" (arXiv 1604.06174, 2016), Algorithm 2 ("memory planning with budget").
//
// Problem:    on a chain, pick segment ends so that the bytes kept between two checkpoints stay
//             below a threshold b; trade memory for recomputation by varying b.
// Algorithm:  walk stages 1..n-1 adding bytes(activation) + bytes(saved internals) of each stage to
//             a running total; when the total exceeds b, the stage's output becomes a checkpoint
//             (the stage ends a segment) and the total restarts at 0 (chen_greedy_segment_ends).
//             The schedule is then segment checkpointing (segment_compute_order, see
//             include/gradrecomp/solvers/segments.h). Chen et al. search b on a grid around
//             sqrt(x * y) (x = total memory, y = largest stage); here the frontier tries
//             kChenGreedyThresholds values of b spaced geometrically from the smallest stage
//             size to the sum of all stage sizes, which contains that neighbourhood, and keeps the
//             Pareto set. solve_budget / solve_overhead pick from that frontier.
// Recurrence: none (a greedy pass per threshold).
// Complexity: O(T * (n + tensors)) for T = kChenGreedyThresholds thresholds (segment ends O(n),
//             compute order O(n), replay O(steps)); distinct segmentations only are replayed.
// Memory model: the simulator's (include/gradrecomp/simulate.h).
#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <string>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/schedule.h"
#include "gradrecomp/solver.h"
#include "gradrecomp/solvers/segments.h"
#include "solvers/builtin.h"

namespace gradrecomp {
namespace {

uint64_t stage_bytes(const Graph& graph, const ChainStage& stage) {
  return bytes_of(graph, stage.activation) + bytes_of(graph, stage.saved);
}

// kChenGreedyThresholds values from `low` to `high` (inclusive), geometrically spaced.
std::vector<uint64_t> threshold_grid(uint64_t low, uint64_t high) {
  low = std::max<uint64_t>(low, 1);
  high = std::max(high, low);
  std::vector<uint64_t> grid;
  const double ratio = static_cast<double>(high) / static_cast<double>(low);
  for (int32_t m = 0; m < kChenGreedyThresholds; ++m) {
    double fraction = static_cast<double>(m) / (kChenGreedyThresholds - 1);
    double value = static_cast<double>(low) * std::pow(ratio, fraction);
    uint64_t b = m == kChenGreedyThresholds - 1 ? high : static_cast<uint64_t>(std::llround(value));
    grid.push_back(std::clamp(b, low, high));
  }
  return grid;
}

class ChenGreedySolver final : public Solver {
 public:
  std::string_view name() const override { return "chen-greedy"; }
  std::string_view summary() const override {
    return "chains: Chen et al. 2016 Algorithm 2, checkpoint when the bytes since the last checkpoint exceed b "
           "(frontier over a geometric grid of b)";
  }
  std::optional<std::string> unsupported_reason(const Graph& graph) const override {
    return chain_unsupported_reason(graph);
  }
  std::vector<Schedule> frontier(const Graph& graph, const SolveOptions& options) const override {
    Chain chain = require_chain(graph, name());
    uint64_t smallest = UINT64_MAX;
    uint64_t total = 0;
    for (const ChainStage& stage : chain.stages) {
      uint64_t bytes = stage_bytes(graph, stage);
      smallest = std::min(smallest, bytes);
      total += bytes;
    }
    std::vector<uint64_t> grid = threshold_grid(smallest, total);
    std::set<std::vector<int32_t>> seen;
    std::vector<Schedule> schedules;
    for (size_t m = 0; m < grid.size(); ++m) {
      if (options.progress) {
        options.progress(static_cast<double>(m) / grid.size(), fmt::format("chen-greedy: threshold {} of {}", m + 1,
                                                                          grid.size()));
      }
      std::vector<int32_t> ends = chen_greedy_segment_ends(graph, chain, grid[m]);
      if (!seen.insert(ends).second) continue;
      schedules.push_back(schedule_from_computes(graph, segment_compute_order(chain, ends),
                                                 fmt::format("chen-greedy(b={})", grid[m])));
    }
    return pareto_filter(std::move(schedules));
  }
};

}  // namespace

std::vector<int32_t> chen_greedy_segment_ends(const Graph& graph, const Chain& chain, uint64_t threshold_bytes) {
  const int32_t n = chain.length();
  if (n < 1) throw Error(fmt::format("chen-greedy needs a chain of at least 1 stage, got {}", n));
  std::vector<int32_t> ends;
  uint64_t running = 0;
  for (int32_t i = 1; i < n; ++i) {
    running += stage_bytes(graph, chain.stages[i - 1]);
    if (running > threshold_bytes) {
      ends.push_back(i);
      running = 0;
    }
  }
  ends.push_back(n);
  return ends;
}

std::unique_ptr<Solver> make_chen_greedy_solver() { return std::make_unique<ChenGreedySolver>(); }

}  // namespace gradrecomp
