// The `revolve` solver. Problem, algorithm, recurrence, the mapping of revolve's count onto a chain
// schedule, complexity and memory model: include/gradrecomp/solvers/revolve.h.
#include "gradrecomp/solvers/revolve.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/schedule.h"
#include "gradrecomp/solver.h"
#include "solvers/builtin.h"

namespace gradrecomp {
namespace {

using u128 = unsigned __int128;

// C(s + r, s) = beta(s, r) for r >= 0, or cap + 1 when it exceeds cap (0 for r < 0).
// Requires cap < 2^63 and s, r >= 0 below 2^63: every intermediate C(s+r-k+i, i) <= cap times a
// factor < 2^64 stays below 2^127.
u128 beta_capped(int64_t s, int64_t r, u128 cap) {
  if (r < 0) return 0;
  // C(s+r, k) with k = min(s, r), built as C(s+r-k+i, i) for i = 1..k (each an exact integer,
  // nondecreasing in i, so once one exceeds cap the result does).
  const int64_t k = std::min(s, r);
  const u128 top = static_cast<u128>(s) + static_cast<u128>(r);
  u128 value = 1;
  for (int64_t i = 1; i <= k; ++i) {
    value = value * (top - static_cast<u128>(k) + static_cast<u128>(i)) / static_cast<u128>(i);
    if (value > cap) return cap + 1;
  }
  return value;
}

// The smallest r >= 0 with beta(s, r) >= l (l >= 1, s >= 1); r <= l - 1 since beta(s, l-1) >= l.
int64_t revolve_repetitions(int64_t l, int64_t s) {
  const u128 cap = static_cast<u128>(l);
  int64_t low = 0;
  int64_t high = l - 1;
  while (low < high) {
    int64_t mid = low + (high - low) / 2;
    if (beta_capped(s, mid, cap) >= cap) high = mid;
    else low = mid + 1;
  }
  return low;
}

void check_revolve_arguments(int64_t steps, int64_t snapshots) {
  if (steps < 1) throw Error(fmt::format("revolve: steps = {} is invalid (expected at least 1 step)", steps));
  if (snapshots < 0 || (steps >= 2 && snapshots < 1)) {
    throw Error(fmt::format("revolve: snapshots = {} is invalid for {} steps (expected at least 1 snapshot; "
                            "the initial state is one of them)", snapshots, steps));
  }
}

struct Task {
  int32_t capo;       // x(capo) is live (in a snapshot, or the current state when snapshots = 0)
  int32_t fine;       // reverse steps capo+1..fine
  int32_t snapshots;  // snapshots available, counting the one that holds x(capo)
};

}  // namespace

int64_t revolve_forward_steps(int64_t steps, int64_t snapshots) {
  check_revolve_arguments(steps, snapshots);
  if (steps == 1) return 0;
  const int64_t l = steps;
  const int64_t s = snapshots;
  const int64_t r = revolve_repetitions(l, s);
  // C(s+r, s+1) = beta(s, r-1) * (s+r) / (s+1); beta(s, r-1) < l by the choice of r, so exact.
  const u128 below = beta_capped(s, r - 1, static_cast<u128>(l));
  const u128 subtract = below * (static_cast<u128>(s) + static_cast<u128>(r)) / (static_cast<u128>(s) + 1);
  const u128 total = static_cast<u128>(r) * static_cast<u128>(l) - subtract;
  if (total > static_cast<u128>(std::numeric_limits<int64_t>::max())) {
    throw Error(fmt::format("revolve: the forward step count for {} steps and {} snapshots exceeds 64 bits", l, s));
  }
  return static_cast<int64_t>(total);
}

RevolveSplit revolve_split_range(int64_t steps, int64_t snapshots) {
  check_revolve_arguments(steps, snapshots);
  if (steps < 2) throw Error(fmt::format("revolve: a split needs at least 2 steps, got {}", steps));
  const int64_t l = steps;
  const int64_t s = snapshots;
  const int64_t r = revolve_repetitions(l, s);
  const u128 cap = static_cast<u128>(l);
  // Values are capped at l + 1; every comparison below stays correct under that cap because the
  // exact values used on the "< l" side are below l by the choice of r.
  auto beta = [&](int64_t ss, int64_t rr) { return static_cast<int64_t>(beta_capped(ss, rr, cap)); };
  int64_t low = std::max<int64_t>({1, l - beta(s - 1, r), beta(s, r - 2)});
  int64_t high = std::min<int64_t>({l - 1, beta(s, r - 1), l - beta(s - 1, r - 1)});
  GRADRECOMP_ASSERT(low <= high, fmt::format("empty revolve split range [{}, {}] for l = {}, s = {}", low, high, l, s));
  return {low, high};
}

std::vector<NodeId> revolve_compute_order(const Chain& chain, int32_t snapshots) {
  const int32_t n = chain.length();
  if (snapshots < 1) {
    throw Error(fmt::format("revolve: snapshots = {} is invalid (expected at least 1; the chain input is one)",
                            snapshots));
  }
  snapshots = std::min(snapshots, n);
  auto forward = [&](int32_t i) { return chain.stages[i - 1].forward; };
  auto backward = [&](int32_t i) { return chain.stages[i - 1].backward; };

  std::vector<NodeId> order;
  int64_t advances = 0;
  std::vector<Task> stack = {{0, n, snapshots}};
  while (!stack.empty()) {
    Task task = stack.back();
    stack.pop_back();
    const int32_t l = task.fine - task.capo;
    if (l == 1) {  // turn: tape F(fine) and run B(fine)
      order.push_back(forward(task.fine));
      order.push_back(backward(task.fine));
      continue;
    }
    GRADRECOMP_ASSERT(task.snapshots >= 1, fmt::format("revolve task {}..{} without snapshots", task.capo, task.fine));
    const int32_t j = static_cast<int32_t>(revolve_split_range(l, task.snapshots).max_advance);
    for (int32_t i = task.capo + 1; i <= task.capo + j; ++i) order.push_back(forward(i));
    advances += j;
    // LIFO: the right part (from the new snapshot x(capo+j)) runs first.
    stack.push_back({task.capo, task.capo + j, task.snapshots});
    stack.push_back({task.capo + j, task.fine, task.snapshots - 1});
  }
  GRADRECOMP_ASSERT(advances == revolve_forward_steps(n, snapshots),
                    fmt::format("revolve advanced {} steps, expected t({}, {}) = {}", advances, n, snapshots,
                                revolve_forward_steps(n, snapshots)));
  return order;
}

namespace {

class RevolveSolver final : public Solver {
 public:
  std::string_view name() const override { return "revolve"; }
  std::string_view summary() const override {
    return "chains: Griewank & Walther binomial checkpointing (revolve), optimal for uniform chains; frontier over "
           "s = 1..n snapshots";
  }
  std::optional<std::string> unsupported_reason(const Graph& graph) const override {
    return chain_unsupported_reason(graph);
  }
  std::vector<Schedule> frontier(const Graph& graph, const SolveOptions& options) const override {
    Chain chain = require_chain(graph, name());
    return sweep_frontier(chain.length(), options, "revolve: s", [&](int32_t s) {
      return schedule_from_computes(graph, revolve_compute_order(chain, s), fmt::format("revolve(s={})", s));
    });
  }
};

}  // namespace

std::unique_ptr<Solver> make_revolve_solver() { return std::make_unique<RevolveSolver>(); }

}  // namespace gradrecomp
