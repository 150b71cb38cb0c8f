// Internals shared by the chain DP's table (chain_dp.cpp) and its one-budget top-down variant
// (chain_dp_budget.cpp): the model as flat 1-based arrays, and the evaluation of every option of
// a subproblem at one budget (the recurrence of include/gradrecomp/solvers/chain_dp.h).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "gradrecomp/solvers/chain_dp.h"

namespace gradrecomp::chain_dp_detail {

inline constexpr uint64_t kNoPeak = std::numeric_limits<uint64_t>::max();

struct Option {
  uint64_t kept = 0;
  uint64_t forward_peak = 0;
  uint64_t backward_peak = 0;
  double forward_cost = 0;
  double backward_cost = 0;
};

// The model with 1-based stage indices: a[i] = A(i), d[i] = D(i) (d[n] = 0).
struct Sizes {
  int32_t n = 0;
  uint64_t baseline = 0;
  std::vector<uint64_t> a, d;
  std::vector<uint64_t> discard_peak;          // fd(k), index k
  std::vector<double> discard_cost;
  std::vector<std::vector<Option>> options;    // index k
  std::vector<double> least_prefix;            // sum_{k<=i} min_o (forward_cost + backward_cost)(k, o)

  // Bytes held besides the right child's own input a(k) after "forward-keep k with o" in a frame
  // whose input is a(s-1): a(s-1) and the kept bytes other than a(k).
  uint64_t hold(int32_t s, int32_t k, const Option& o) const { return a[s - 1] + o.kept - a[k]; }
  // Lower bounds of the cost of any plan of N(s, t) and of S(s, t, o).
  double least_cost(int32_t s, int32_t t) const { return t < s ? 0.0 : least_prefix[t] - least_prefix[s - 1]; }
  double least_cost_kept(int32_t s, int32_t t, int32_t o) const {
    return least_cost(s, t - 1) + options[t][o].backward_cost;
  }
};

// memory_slots == 0: exact sizes; else every size rounded up to a multiple of slot_bytes.
Sizes make_sizes(const ChainModel& model, uint64_t slot_bytes);
// ceil(store-all model peak / memory_slots), at least 1; 1 when memory_slots == 0.
uint64_t slot_bytes_for(const ChainModel& model, int32_t memory_slots);

// The best point of a subproblem within a budget.
struct Point {
  uint64_t peak = 0;
  double cost = 0;
};

// A subproblem: N(s, t) when kept_option < 0, else S(s, t, kept_option) (kept bytes of stage t
// with that option already live, a(t-1) not live unless s == t).
struct Sub {
  int32_t s, t, kept_option;
};

// An option of a subproblem: "checkpoint at s' = split" (option < 0), or "sweep to k = split and
// forward-keep it with option" (option >= 0). For S(t, t) the only option is its backward
// (split = t, option = -1 is never used there; see emit_choice).
struct Choice {
  int32_t split = 0;
  int32_t option = -1;
  uint64_t peak = 0;
  double cost = 0;
};

// Cost arithmetic shared by the table and the top-down evaluation, so both add in the same order:
// (forward ops of the option + right child) + left child.
inline double combined_cost(double forward, double right, double left) { return (forward + right) + left; }

// Lower bounds may differ from an option's real cost by rounding; prune only beyond this.
inline bool bound_exceeds(double bound, double best) { return bound * (1 - 1e-12) > best; }

// Evaluates every option of `sub` within local budget P; child(Sub, P, until) -> std::optional<Point>
// is the best point of a smaller subproblem within P, and sets `until` to a budget above P below
// which that answer stays the same (for an infeasible child: below which it stays infeasible;
// kNoPeak: for good). Options whose lower bound exceeds the best found so far are skipped (branch
// and bound). Ties keep the smaller peak.
// `until` (out): a budget above P below which the result stays the same. Every option's value
// is constant while its children's answers are and it stays infeasible while its floor, hold or
// children say so; an option skipped by bound stays skipped, since the best only gets cheaper
// with the budget. So the result holds for every budget in [P, until) with until = the smallest
// such limit over the options that could still beat the best (the top-down memo keeps the whole
// interval).
template <class ChildFn>
std::optional<Choice> best_choice(const Sizes& m, Sub sub, uint64_t budget, ChildFn&& child, uint64_t& until) {
  const int32_t s = sub.s, t = sub.t;
  const bool kept = sub.kept_option >= 0;
  std::optional<Choice> best;
  until = kNoPeak;
  auto consider = [&](int32_t split, int32_t option, uint64_t peak, double cost) {
    if (!best || cost < best->cost || (cost == best->cost && peak < best->peak)) best = Choice{split, option, peak, cost};
  };
  // An option whose cost is at least `bound` may change (or become feasible) from budget `at` on.
  auto limit = [&](uint64_t at, double bound) {
    if (at < until && !(best && bound_exceeds(bound, best->cost))) until = at;
  };
  auto add = [](uint64_t hold, uint64_t at) { return at == kNoPeak || hold > kNoPeak - at ? kNoPeak : hold + at; };
  if (kept && s == t) {
    const Option& o = m.options[t][sub.kept_option];
    if (o.backward_peak <= budget) consider(t, -1, o.backward_peak, o.backward_cost);
    else until = o.backward_peak;
    return best;
  }
  const uint64_t entry = m.d[t] + (kept ? m.options[t][sub.kept_option].kept : 0);  // live besides a(s-1)
  const uint64_t a_before = m.a[s - 1];
  const double least = kept ? m.least_cost_kept(s, t, sub.kept_option) : m.least_cost(s, t);
  auto least_of = [&](int32_t from) {  // least cost of the right child (from, t)
    return kept ? m.least_cost_kept(from, t, sub.kept_option) : m.least_cost(from, t);
  };
  // sweep-keep at k: forward-discard s..k-1, forward-keep k; right child (k+1, t), left S(s, k, o).
  uint64_t sweep_max = 0;  // max(fd(s), max_{s<j<k} A(s-1) + fd(j)); 0 when k == s
  double sweep_cost = 0;
  const int32_t last_keep = kept ? t - 1 : (s == t ? t : t - 1);
  for (int32_t k = s; k <= last_keep; ++k) {
    if (k > s) {
      sweep_max = std::max(sweep_max, (k - 1 > s ? a_before : 0) + m.discard_peak[k - 1]);
      sweep_cost += m.discard_cost[k - 1];
    }
    if (entry + sweep_max > budget) {                                         // grows with k
      limit(entry + sweep_max, sweep_cost + least);
      break;
    }
    if (best && bound_exceeds(sweep_cost + least, best->cost)) break;        // grows with k
    for (size_t oi = 0; oi < m.options[k].size(); ++oi) {
      const Option& o = m.options[k][oi];
      const uint64_t floor = entry + std::max(sweep_max, (k > s ? a_before : 0) + o.forward_peak);
      const double forward = sweep_cost + o.forward_cost;
      const double left_least = m.least_cost_kept(s, k, static_cast<int32_t>(oi));
      const double option_least = forward + (k < t ? least_of(k + 1) : 0.0) + left_least;
      if (floor > budget) {
        limit(floor, option_least);
        continue;
      }
      std::optional<Point> right;
      uint64_t hold = 0;
      if (k < t) {
        hold = m.hold(s, k, o);
        if (hold > budget) {
          limit(hold, option_least);
          continue;
        }
        uint64_t right_until = kNoPeak;
        right = child(Sub{k + 1, t, sub.kept_option}, budget - hold, right_until);
        limit(add(hold, right_until), option_least);
        if (!right) continue;
      }
      const double right_cost = right ? right->cost : 0.0;
      if (best && bound_exceeds(forward + right_cost + left_least, best->cost)) continue;
      uint64_t left_until = kNoPeak;
      std::optional<Point> left = child(Sub{s, k, static_cast<int32_t>(oi)}, budget, left_until);
      limit(left_until, option_least);
      if (!left) continue;
      uint64_t peak = std::max(floor, left->peak);
      if (right) peak = std::max(peak, hold + right->peak);
      consider(k, static_cast<int32_t>(oi), peak, combined_cost(forward, right_cost, left->cost));
    }
  }
  // checkpoint at s': forward-discard s..s'-1; right child (s', t) holding a(s-1); free a(s'-1);
  // left N(s, s'-1).
  if (t == s) return best;
  if (a_before > budget) {
    limit(a_before, least + m.discard_cost[s]);
    return best;
  }
  uint64_t forward_max = 0;
  double forward_cost = 0;
  for (int32_t split = s + 1; split <= t; ++split) {
    forward_max = std::max(forward_max, (split - 1 > s ? a_before : 0) + m.discard_peak[split - 1]);
    forward_cost += m.discard_cost[split - 1];
    const uint64_t floor = entry + forward_max;
    if (floor > budget) {                                                    // grows with s'
      limit(floor, forward_cost + least);
      break;
    }
    if (best && bound_exceeds(forward_cost + least, best->cost)) break;      // grows with s'
    const double option_least = forward_cost + least_of(split) + m.least_cost(s, split - 1);
    uint64_t right_until = kNoPeak;
    std::optional<Point> right = child(Sub{split, t, sub.kept_option}, budget - a_before, right_until);
    limit(add(a_before, right_until), option_least);
    if (!right) continue;
    if (best && bound_exceeds(forward_cost + right->cost + m.least_cost(s, split - 1), best->cost)) continue;
    uint64_t left_until = kNoPeak;
    std::optional<Point> left = child(Sub{s, split - 1, -1}, budget, left_until);
    limit(left_until, option_least);
    if (!left) continue;
    consider(split, -1, std::max({floor, a_before + right->peak, left->peak}),
             combined_cost(forward_cost, right->cost, left->cost));
  }
  return best;
}

// Emits the ops of one option and recurses into its children with the whole budget left to
// them; child_plan(Sub, P, ops) appends the ops of a smaller subproblem.
template <class ChildPlanFn>
void emit_choice(const Sizes& m, Sub sub, uint64_t budget, int32_t split, int32_t option, std::vector<ChainOp>& ops,
                 ChildPlanFn&& child_plan) {
  const int32_t s = sub.s, t = sub.t;
  if (sub.kept_option >= 0 && s == t) {
    ops.push_back({ChainOpKind::kBackward, t, sub.kept_option});
    return;
  }
  if (option >= 0) {
    const int32_t k = split;
    for (int32_t j = s; j < k; ++j) ops.push_back({ChainOpKind::kForwardDiscard, j, 0});
    ops.push_back({ChainOpKind::kForwardKeep, k, option});
    if (k < t) child_plan(Sub{k + 1, t, sub.kept_option}, budget - m.hold(s, k, m.options[k][option]), ops);
    child_plan(Sub{s, k, option}, budget, ops);
    return;
  }
  for (int32_t j = s; j < split; ++j) ops.push_back({ChainOpKind::kForwardDiscard, j, 0});
  child_plan(Sub{split, t, sub.kept_option}, budget - m.a[s - 1], ops);
  child_plan(Sub{s, split - 1, -1}, budget, ops);
}

}  // namespace gradrecomp::chain_dp_detail
