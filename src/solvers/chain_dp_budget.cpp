// The chain DP for one budget (solve_chain_budget) and the smallest model peak
// (chain_min_peak_bytes). Recurrence: include/gradrecomp/solvers/chain_dp.h.
//
// solve_chain_budget runs the recurrence top-down from N(1, n) with the budget left at each
// subproblem (N or S). Answers are memoised per subproblem as budget intervals: if the cheapest
// plan within budget P costs c with peak p, every budget in [p, P] has the same answer (the plan
// fits, and a smaller budget cannot do better than P); the evaluation at P also finds a budget
// `until` > P below which nothing can change (best_choice in chain_dp_internal.h), so the memo
// keeps [p, until) and an infeasible subproblem stays known infeasible below its own `until`.
// Shortcuts: a budget at or above the
// subproblem's store-all peak gets the least cost at once, a budget below a simple lower bound of
// its peak is infeasible at once, and branch and bound skips options. At roomy budgets this
// touches a small part of the table; at tight ones it evaluates many (subproblem, budget) pairs,
// so past a limit it hands over to the bottom-up table cut at the budget (measured in
// docs/benchmarks/chain_dp.md).
#include <algorithm>
#include <cstddef>
#include <vector>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/solvers/chain_dp.h"
#include "solvers/chain_dp_internal.h"

namespace gradrecomp {

using chain_dp_detail::Choice;
using chain_dp_detail::Option;
using chain_dp_detail::Point;
using chain_dp_detail::Sizes;
using chain_dp_detail::Sub;

namespace {

// Triangular index of (s, t), 1 <= s <= t <= n.
class Triangle {
 public:
  explicit Triangle(int32_t n) : n_(n), row_(static_cast<size_t>(n) + 1, 0) {
    // rows by s: row s starts after sum_{r<s} (n - r + 1) entries; row_[s] = that start - s
    for (int32_t s = 1; s <= n; ++s) {
      size_t before = static_cast<size_t>(s - 1) * n_ - static_cast<size_t>(s - 1) * (s - 2) / 2;
      row_[s] = static_cast<ptrdiff_t>(before) - s;
    }
  }
  size_t size() const { return static_cast<size_t>(n_) * (n_ + 1) / 2; }
  size_t operator()(int32_t s, int32_t t) const { return static_cast<size_t>(row_[s] + t); }

 private:
  int32_t n_;
  std::vector<ptrdiff_t> row_;
};

// Work the top-down pass may spend before the cut table takes over, counted in subproblem
// look-ups (memo or bound answers included), per n^3. Each evaluation makes O(n) look-ups; the
// earlier limit of 100 evaluations per (s, t) pair came to about 57 n^3 look-ups on random
// 100-stage chains. Counting look-ups rather than evaluations keeps the time spent before the
// hand-over about the same now that the memo's longer intervals leave fewer, costlier
// evaluations (docs/benchmarks/chain_dp.md).
constexpr int32_t kTopDownLookupsPerCube = 60;

class TopDown {
  struct Memo;  // below

 public:
  explicit TopDown(const Sizes& m) : m_(m), index_(m.n) {
    const int32_t n = m.n;
    const size_t slots = index_.size();
    n_.resize(slots);
    // S(s, t, o) entries: for each (s, t), one per option of stage t.
    s_base_.assign(slots, 0);
    size_t total = 0;
    for (int32_t s = 1; s <= n; ++s) {
      for (int32_t t = s; t <= n; ++t) {
        s_base_[index_(s, t)] = total;
        total += m.options[t].size();
      }
    }
    s_.resize(total);

    cheapest_.assign(n + 1, 0);
    std::vector<uint64_t> min_backward(n + 1, 0), min_forward(n + 1, 0);
    for (int32_t k = 1; k <= n; ++k) {
      const auto& options = m.options[k];
      min_backward[k] = options[0].backward_peak;
      min_forward[k] = m.discard_peak[k];
      for (size_t o = 0; o < options.size(); ++o) {
        const Option& c = options[cheapest_[k]];
        if (options[o].forward_cost + options[o].backward_cost < c.forward_cost + c.backward_cost) cheapest_[k] = o;
        min_backward[k] = std::min(min_backward[k], options[o].backward_peak);
        min_forward[k] = std::min(min_forward[k], options[o].forward_peak);
      }
    }
    // Store-all local peaks (every stage before t kept with its cheapest option):
    //   S(t, t, o) = bw(t, o);  S(s, t, o) = max(D(t) + K + fk(s), hold(s) + S(s+1, t, o), bw(s))
    //   N(s, t) likewise with S(s, s) = bw(s) at the end and no K.
    for (int32_t t = 1; t <= n; ++t) {
      for (int32_t s = t; s >= 1; --s) {
        const Option& c = m.options[s][cheapest_[s]];
        for (size_t o = 0; o < m.options[t].size(); ++o) {
          const Option& kept = m.options[t][o];
          uint64_t peak = kept.backward_peak;
          if (s < t) {
            peak = std::max({m.d[t] + kept.kept + c.forward_peak, m.hold(s, s, c) + s_[s_at(s + 1, t, o)].store_all,
                             c.backward_peak});
          }
          Entry& e = s_[s_at(s, t, static_cast<int32_t>(o))];
          e.store_all = peak;
          // Lower bound: the first op (a forward of stage s, or the backward when s == t) and the
          // backward of stage t with a(s-1) held besides.
          e.lower = s == t ? kept.backward_peak
                           : std::max(m.d[t] + kept.kept + min_forward[s], m.a[s - 1] + kept.backward_peak);
          e.least = m.least_cost_kept(s, t, static_cast<int32_t>(o));
        }
        uint64_t peak = std::max(m.d[t] + c.forward_peak, c.backward_peak);
        if (s < t) peak = std::max(peak, m.hold(s, s, c) + n_[index_(s + 1, t)].store_all);
        n_[index_(s, t)].store_all = peak;
        n_[index_(s, t)].least = m.least_cost(s, t);
      }
    }
    // N lower bound: the first forward, and every backward (a(s-1) held besides after stage s).
    for (int32_t s = 1; s <= n; ++s) {
      uint64_t later_backwards = 0;
      for (int32_t t = s; t <= n; ++t) {
        if (t > s) later_backwards = std::max(later_backwards, min_backward[t]);
        uint64_t bound = std::max(m.d[t] + min_forward[s], min_backward[s]);
        if (t > s) bound = std::max(bound, m.a[s - 1] + later_backwards);
        n_[index_(s, t)].lower = bound;
      }
    }
  }

  // The answers known without evaluating the options (bounds, memo) are looked up inline, in the
  // caller's loop; evaluate() runs the options. `until` (out): the answer stays the same for
  // budgets in [budget, until) (see best_choice).
  std::optional<Point> solve(Sub sub, uint64_t budget, uint64_t& until) {
    if (++lookups_ > lookup_limit_) throw WorkLimit{};
    const bool kept = sub.kept_option >= 0;
    Entry& e = kept ? s_[s_at(sub.s, sub.t, sub.kept_option)] : n_[index_(sub.s, sub.t)];
    if (budget < e.lower) {
      until = e.lower;
      return std::nullopt;
    }
    if (budget >= e.store_all) {
      until = chain_dp_detail::kNoPeak;
      return Point{e.store_all, e.least};
    }
    const Memo& memo = e.memo;
    if (memo.infeasible_below != 0 && budget < memo.infeasible_below) {
      until = memo.infeasible_below;
      return std::nullopt;
    }
    auto it = std::upper_bound(memo.known.begin(), memo.known.end(), budget,
                               [](uint64_t b, const Known& k) { return b < k.low; });
    if (it != memo.known.begin() && budget < (it - 1)->end) {
      until = (it - 1)->end;
      return Point{(it - 1)->low, (it - 1)->cost};
    }
    return evaluate(sub, budget, e.memo, until);
  }

  [[gnu::noinline]] std::optional<Point> evaluate(Sub sub, uint64_t budget, Memo& memo, uint64_t& until) {
    std::optional<Choice> best = chain_dp_detail::best_choice(
        m_, sub, budget, [this](Sub child, uint64_t b, uint64_t& u) { return solve(child, b, u); }, until);
    if (!best) {
      memo.infeasible_below = std::max(memo.infeasible_below, until);
      return std::nullopt;
    }
    remember(memo, Known{best->peak, until, best->cost});
    return Point{best->peak, best->cost};
  }

  void plan(Sub sub, uint64_t budget, std::vector<ChainOp>& ops) {
    const bool kept = sub.kept_option >= 0;
    const uint64_t store_all = kept ? s_[s_at(sub.s, sub.t, sub.kept_option)].store_all : n_[index_(sub.s, sub.t)].store_all;
    if (budget >= store_all) {  // keep every stage with its cheapest option (stage t's is live for S)
      const int32_t last = kept ? sub.t - 1 : sub.t;
      for (int32_t k = sub.s; k <= last; ++k) ops.push_back({ChainOpKind::kForwardKeep, k, static_cast<int32_t>(cheapest_[k])});
      for (int32_t k = sub.t; k >= sub.s; --k) {
        int32_t option = kept && k == sub.t ? sub.kept_option : static_cast<int32_t>(cheapest_[k]);
        ops.push_back({ChainOpKind::kBackward, k, option});
      }
      return;
    }
    uint64_t until = 0;
    std::optional<Choice> best = chain_dp_detail::best_choice(
        m_, sub, budget, [this](Sub child, uint64_t b, uint64_t& u) { return solve(child, b, u); }, until);
    GRADRECOMP_ASSERT(best.has_value(), fmt::format("subproblem ({}, {}, {}) has no plan within {}", sub.s, sub.t,
                                                    sub.kept_option, budget));
    chain_dp_detail::emit_choice(m_, sub, budget, best->split, best->option, ops,
                                 [this](Sub child, uint64_t b, std::vector<ChainOp>& out) { plan(child, b, out); });
  }

  void set_lookup_limit(uint64_t limit) { lookup_limit_ = limit; }
  struct WorkLimit {};

 private:
  struct Known {
    uint64_t low, end;  // the answer holds for budgets in [low, end); low is its peak
    double cost;
  };
  struct Memo {
    uint64_t infeasible_below = 0;  // no plan within any budget below this
    std::vector<Known> known;       // disjoint, sorted by low
  };
  // Everything solve() reads about one subproblem, side by side (one cache line or two).
  struct Entry {
    uint64_t lower = 0;      // no plan has a smaller local peak
    uint64_t store_all = 0;  // local peak of keeping every stage with its cheapest option
    double least = 0;        // the least cost (store-all's): least_cost / least_cost_kept
    Memo memo;
  };

  size_t s_at(int32_t s, int32_t t, int32_t option) const { return s_base_[index_(s, t)] + option; }

  static void remember(Memo& memo, Known k) {
    // Intervals of different answers cannot overlap (the optimum is a function of the budget);
    // overlapping ones are the same answer (up to rounding) and are merged.
    auto first = std::lower_bound(memo.known.begin(), memo.known.end(), k.low,
                                  [](const Known& e, uint64_t low) { return e.end <= low; });
    auto last = first;
    while (last != memo.known.end() && last->low < k.end) {
      k.low = std::min(k.low, last->low);
      k.end = std::max(k.end, last->end);
      k.cost = std::min(k.cost, last->cost);
      ++last;
    }
    first = memo.known.erase(first, last);
    memo.known.insert(first, k);
  }

  const Sizes& m_;
  Triangle index_;
  std::vector<size_t> cheapest_;
  std::vector<Entry> n_, s_;  // N(s, t) at index_(s, t), S(s, t, o) at s_at(s, t, o)
  std::vector<size_t> s_base_;
  uint64_t lookups_ = 0;
  uint64_t lookup_limit_ = UINT64_MAX;
};

}  // namespace

std::optional<ChainPlan> solve_chain_budget(const ChainModel& model, uint64_t budget_bytes, int32_t memory_slots) {
  validate_chain_model(model);
  const Sizes m = chain_dp_detail::make_sizes(model, chain_dp_detail::slot_bytes_for(model, memory_slots));
  if (budget_bytes < m.baseline) return std::nullopt;
  const uint64_t local = budget_bytes - m.baseline;
  // Top-down first: it touches few subproblems when the budget is roomy. Tight budgets make it
  // evaluate many (subproblem, budget) pairs at O(n) each; past a limit the bottom-up table,
  // cut at this budget, is cheaper (bench/chain_dp_bench.cpp measures both).
  try {
    TopDown top(m);
    top.set_lookup_limit(static_cast<uint64_t>(kTopDownLookupsPerCube) * m.n * m.n * m.n);
    uint64_t until = 0;
    if (!top.solve(Sub{1, m.n, -1}, local, until)) return std::nullopt;
    std::vector<ChainOp> ops;
    top.plan(Sub{1, m.n, -1}, local, ops);
    return replay_chain_ops(model, std::move(ops));
  } catch (const TopDown::WorkLimit&) {
    return ChainDp(model, memory_slots, {}, budget_bytes).plan_for_budget(budget_bytes);
  }
}

uint64_t chain_min_peak_bytes(const ChainModel& model, int32_t memory_slots) {
  validate_chain_model(model);
  const Sizes m = chain_dp_detail::make_sizes(model, chain_dp_detail::slot_bytes_for(model, memory_slots));
  const int32_t n = m.n;
  // The recurrence of best_choice with max/min in place of cost: N(s, t) and S(s, t, o).
  // n_by_start[s][t] and n_by_end[t][s] hold the same values so the inner loops read contiguously.
  auto idx = [n](int32_t x, int32_t y) { return static_cast<size_t>(x) * (n + 2) + y; };
  std::vector<uint64_t> n_by_start(static_cast<size_t>(n + 2) * (n + 2), 0), n_by_end(n_by_start.size(), 0);
  size_t max_options = 1;
  for (int32_t k = 1; k <= n; ++k) max_options = std::max(max_options, m.options[k].size());
  // S(s, t, o) at idx(s, t) * max_options + o, and again at idx(t, s) * max_options + o (for
  // right children, read along s with t fixed).
  std::vector<uint64_t> s_flat(n_by_start.size() * max_options, 0), s_flat_by_end(s_flat.size(), 0);
  auto s_peak = [&](int32_t s, int32_t t, size_t o) -> uint64_t& { return s_flat[idx(s, t) * max_options + o]; };
  auto s_peak_by_end = [&](int32_t s, int32_t t, size_t o) { return s_flat_by_end[idx(t, s) * max_options + o]; };
  // Lower bounds of every plan's local peak, from ops every plan runs with bytes every plan holds
  // (a(s-1) is live throughout, d(t) until backward t, stage t's kept bytes too for S):
  //   - the backward of each stage j: bw(j) (j == s), a(s-1) + bw(j) (j > s; a(s-1) != a(j-1));
  //   - the forward of each stage j < t (N: j <= t) before backward t, with d(t) (and K(t, o)
  //     for S) live: fw(s) with fw(j) = min(fd(j), fk(j, o)), and a(s-1) + fw(j) for j > s.
  // When an option reaches the bound, no other can do better: the rest are skipped, so the result
  // is the same as evaluating every option, in far fewer steps (the smallest peak is usually set
  // by one large stage and reached by recomputing from a(s-1)).
  std::vector<uint64_t> min_forward(n + 1, 0), min_backward(n + 1, 0);
  for (int32_t k = 1; k <= n; ++k) {
    min_forward[k] = m.discard_peak[k];
    min_backward[k] = chain_dp_detail::kNoPeak;
    for (const Option& o : m.options[k]) {
      min_forward[k] = std::min(min_forward[k], o.forward_peak);
      min_backward[k] = std::min(min_backward[k], o.backward_peak);
    }
  }
  // later_backward / later_forward: max of min_backward / min_forward over s < j <= t for N,
  // s < j < t for S (0 when empty); sweep_all: fw(s, t), the peak of forward-discard s..t-1.
  auto min_peak = [&](int32_t s, int32_t t, int32_t kept_option, uint64_t later_backward, uint64_t later_forward,
                      uint64_t sweep_all) {
    const bool kept = kept_option >= 0;
    if (kept && s == t) return m.options[t][kept_option].backward_peak;
    const uint64_t entry = m.d[t] + (kept ? m.options[t][kept_option].kept : 0);
    const uint64_t a_before = m.a[s - 1];
    uint64_t lower = std::max(entry + min_forward[s], kept ? a_before + m.options[t][kept_option].backward_peak
                                                             : min_backward[s]);
    if (s < t) lower = std::max({lower, a_before + later_backward, entry + a_before + later_forward});
    auto right_of = [&](int32_t start) { return kept ? s_peak_by_end(start, t, kept_option) : n_by_end[idx(t, start)]; };
    const uint64_t* left = &n_by_start[idx(s, 0)];  // left[s'-1] = N(s, s'-1)
    uint64_t best = chain_dp_detail::kNoPeak;
    // Checkpoint at s' = t first (recompute everything from a(s-1)): it usually reaches the bound.
    if (s < t) {
      best = std::max({entry + sweep_all, a_before + right_of(t), left[t - 1]});
      if (best <= lower) return best;
    }
    uint64_t sweep_max = 0;
    const int32_t last_keep = kept ? t - 1 : (s == t ? t : t - 1);
    for (int32_t k = s; k <= last_keep; ++k) {
      if (k > s) sweep_max = std::max(sweep_max, (k - 1 > s ? a_before : 0) + m.discard_peak[k - 1]);
      if (entry + sweep_max >= best) break;  // grows with k
      for (size_t oi = 0; oi < m.options[k].size(); ++oi) {
        const Option& o = m.options[k][oi];
        uint64_t peak = std::max(entry + std::max(sweep_max, (k > s ? a_before : 0) + o.forward_peak), s_peak(s, k, oi));
        if (k < t) peak = std::max(peak, m.hold(s, k, o) + right_of(k + 1));
        best = std::min(best, peak);
      }
      if (best <= lower) return best;
    }
    uint64_t forward_max = 0;
    for (int32_t split = s + 1; split < t; ++split) {
      forward_max = std::max(forward_max, (split - 1 > s ? a_before : 0) + m.discard_peak[split - 1]);
      if (entry + forward_max >= best) break;  // grows with s'
      best = std::min(best, std::max({entry + forward_max, a_before + right_of(split), left[split - 1]}));
      if (best <= lower) return best;
    }
    return best;
  };
  // By decreasing s, then increasing t: every child (right: larger start, same end; left: same
  // start, smaller end, or S(s, s) before N(s, s)) is known when needed.
  for (int32_t s = n; s >= 1; --s) {
    uint64_t later_backward = 0, later_forward = 0, sweep_all = 0;
    for (int32_t t = s; t <= n; ++t) {
      const uint64_t backward_before_t = later_backward, forward_before_t = later_forward;  // s < j < t
      if (t > s) {
        later_backward = std::max(later_backward, min_backward[t]);
        later_forward = std::max(later_forward, min_forward[t]);
        sweep_all = std::max(sweep_all, (t - 1 > s ? m.a[s - 1] : 0) + m.discard_peak[t - 1]);
      }
      for (size_t o = 0; o < m.options[t].size(); ++o) {
        s_peak(s, t, o) = min_peak(s, t, static_cast<int32_t>(o), backward_before_t, forward_before_t, sweep_all);
        s_flat_by_end[idx(t, s) * max_options + o] = s_peak(s, t, o);
      }
      uint64_t best = min_peak(s, t, -1, later_backward, later_forward, sweep_all);
      n_by_start[idx(s, t)] = best;
      n_by_end[idx(t, s)] = best;
    }
  }
  return m.baseline + n_by_start[idx(1, n)];
}

}  // namespace gradrecomp
