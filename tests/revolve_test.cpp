// Tests of binomial checkpointing (include/gradrecomp/solvers/revolve.h): the closed form t(l, s)
// against hand values and a brute-force evaluation of the recurrence, the optimal split interval
// against the brute force, and the schedule's forward count against the stated mapping
// (#F computations = t(n, s) + n: t counts advances, every turn adds the taping F(i) before B(i);
// the graph input x is one of the s snapshots).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gradrecomp/chain.h"
#include "gradrecomp/error.h"
#include "gradrecomp/generators.h"
#include "gradrecomp/schedule.h"
#include "gradrecomp/solver.h"
#include "gradrecomp/solvers/revolve.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr int64_t kInfinite = std::numeric_limits<int64_t>::max() / 4;

// The classical revolve recurrence, evaluated by brute force (O(L^2 S) table):
//   T(1, s) = 0 for every s >= 0   (a single step is one turn: F then B, no advance, and the
//                                   current state needs no snapshot);
//   T(l, 0) = infinite for l >= 2  (no snapshot to return to);
//   T(l, s) = min over 0 < j < l of j + T(l - j, s - 1) + T(j, s)   (advance j, store x(j), reverse
//             the right part with one snapshot less, then the left part with all s again).
class BruteForceRevolve {
 public:
  BruteForceRevolve(int64_t max_steps, int64_t max_snapshots)
      : max_snapshots_(max_snapshots), table_((max_steps + 1) * (max_snapshots + 1), kInfinite) {
    for (int64_t s = 0; s <= max_snapshots; ++s) at(1, s) = 0;
    for (int64_t l = 2; l <= max_steps; ++l) {
      for (int64_t s = 1; s <= max_snapshots; ++s) {
        for (int64_t j = 1; j < l; ++j) at(l, s) = std::min(at(l, s), advance_cost(l, s, j));
      }
    }
  }
  int64_t t(int64_t l, int64_t s) const { return table_[l * (max_snapshots_ + 1) + s]; }
  int64_t advance_cost(int64_t l, int64_t s, int64_t j) const { return j + t(l - j, s - 1) + t(j, s); }

 private:
  int64_t& at(int64_t l, int64_t s) { return table_[l * (max_snapshots_ + 1) + s]; }
  int64_t max_snapshots_;
  std::vector<int64_t> table_;
};

// Hand values of t(l, s) = r*l - C(s+r, s+1), r smallest with C(s+r, s) >= l:
//   l = 1:              r = 0, t = 0 (one turn).
//   s = 1:              r = l-1, t = l(l-1)/2: l = 2 -> 1, 3 -> 3, 10 -> 45 (advance from x every time).
//   l = 6, s = 2:       C(4,2) = 6 >= 6, so r = 2, t = 12 - C(4,3) = 8.
//   l = 10, s = 2:      C(5,2) = 10, r = 3, t = 30 - C(5,3) = 20.
//   l = 100, s = 5:     C(8,5) = 56 < 100 <= C(9,5) = 126, r = 4, t = 400 - C(9,6) = 400 - 84 = 316.
//   l = 1000, s = 10:   C(13,10) = 286 < 1000 <= C(14,10) = 1001, r = 4, t = 4000 - C(14,11) = 4000 - 364 = 3636.
//   s >= l - 1:         r = 1, t = l - 1 (every state stored once: advance to x(l-1), then turns).
//   l = 2^32, s = 1:    t = 2^31 (2^32 - 1) = 9223372034707292160, just below 2^63: 64-bit exact.
TEST(RevolveCount, KnownValues) {
  EXPECT_EQ(revolve_forward_steps(1, 1), 0);
  EXPECT_EQ(revolve_forward_steps(1, 0), 0);
  EXPECT_EQ(revolve_forward_steps(2, 1), 1);
  EXPECT_EQ(revolve_forward_steps(3, 1), 3);
  EXPECT_EQ(revolve_forward_steps(10, 1), 45);
  EXPECT_EQ(revolve_forward_steps(6, 2), 8);
  EXPECT_EQ(revolve_forward_steps(10, 2), 20);
  EXPECT_EQ(revolve_forward_steps(100, 5), 316);
  EXPECT_EQ(revolve_forward_steps(1000, 10), 3636);
  EXPECT_EQ(revolve_forward_steps(50, 49), 49);
  EXPECT_EQ(revolve_forward_steps(50, 1000000), 49);
  EXPECT_EQ(revolve_forward_steps(int64_t{1} << 32, 1), int64_t{9223372034707292160});
}

TEST(RevolveCount, RejectsBadArgumentsAndOverflow) {
  auto message = [](auto fn) {
    try {
      fn();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([] { revolve_forward_steps(0, 3); }).find("steps = 0 is invalid"), std::string::npos);
  EXPECT_NE(message([] { revolve_forward_steps(5, 0); }).find("snapshots = 0 is invalid for 5 steps"),
            std::string::npos);
  EXPECT_NE(message([] { revolve_forward_steps(int64_t{1} << 40, 1); }).find("exceeds 64 bits"), std::string::npos);
}

// The closed form equals the brute-force recurrence for every l <= 80, s <= 10; this also checks
// the base cases above reproduce 316 and 3636 through the closed form (KnownValues).
TEST(RevolveCount, ClosedFormEqualsBruteForceRecurrence) {
  BruteForceRevolve brute(80, 10);
  for (int64_t l = 1; l <= 80; ++l) {
    for (int64_t s = 1; s <= 10; ++s) {
      EXPECT_EQ(revolve_forward_steps(l, s), brute.t(l, s)) << "l = " << l << ", s = " << s;
    }
  }
}

// The split interval is exactly the set of optimal first advances of the brute force.
TEST(RevolveCount, SplitRangeIsExactlyTheOptimalAdvances) {
  BruteForceRevolve brute(60, 8);
  for (int64_t l = 2; l <= 60; ++l) {
    for (int64_t s = 1; s <= 8; ++s) {
      RevolveSplit split = revolve_split_range(l, s);
      for (int64_t j = 1; j < l; ++j) {
        bool optimal = brute.advance_cost(l, s, j) == brute.t(l, s);
        bool inside = j >= split.min_advance && j <= split.max_advance;
        EXPECT_EQ(optimal, inside) << "l = " << l << ", s = " << s << ", j = " << j;
      }
    }
  }
}

struct Counts {
  int64_t forwards = 0;
  int64_t backwards = 0;
  bool each_backward_once = true;
};

Counts count_computes(const Graph& graph, const Chain& chain, const std::vector<NodeId>& order) {
  std::vector<int32_t> times(graph.num_nodes(), 0);
  for (NodeId n : order) ++times[n];
  Counts counts;
  for (const ChainStage& stage : chain.stages) {
    counts.forwards += times[stage.forward];
    counts.backwards += times[stage.backward];
    counts.each_backward_once = counts.each_backward_once && times[stage.backward] == 1;
  }
  return counts;
}

// s = 1 keeps only the input x (the one snapshot): every turn restarts from x.
//   F1 F2 F3 [F4 B4]  F1 F2 [F3 B3]  F1 [F2 B2]  [F1 B1]      t(4, 1) = 3 + 2 + 1 = 6 advances + 4 turns
// s = 2: x and one more snapshot, a2 (the optimal first advances for l = 4, s = 2 are [1, 2]; the
// largest is taken), then a3 is reached from a2 and a1 from x:
//   F1 F2 F3 [F4 B4] [F3 B3]  F1 [F2 B2] [F1 B1]                 t(4, 2) = 4 advances + 4 turns
TEST(RevolveSchedule, SmallOrdersSpelledOut) {
  Graph g = uniform_chain(4);
  Chain chain = require_chain(g, "test");
  auto F = [&](int i) { return chain.stages[i - 1].forward; };
  auto B = [&](int i) { return chain.stages[i - 1].backward; };
  EXPECT_EQ(revolve_compute_order(chain, 1),
            (std::vector<NodeId>{F(1), F(2), F(3), F(4), B(4), F(1), F(2), F(3), B(3), F(1), F(2), B(2), F(1), B(1)}));
  EXPECT_EQ(revolve_compute_order(chain, 2),
            (std::vector<NodeId>{F(1), F(2), F(3), F(4), B(4), F(3), B(3), F(1), F(2), B(2), F(1), B(1)}));
  for (int32_t s : {1, 2, 3, 4}) {
    testing::expect_replays(g, schedule_from_computes(g, revolve_compute_order(chain, s), "revolve"));
  }
}

// On uniform_chain(l), the schedule computes forward nodes exactly t(l, s) + l times and each
// backward once, replays, and its peak is at most (s + 4) MiB (s snapshots including x, the
// current state, the taped a(i), g(i) and g(i-1); each tensor is 1 MiB).
TEST(RevolveSchedule, ForwardCountIsTPlusLOnUniformChains) {
  struct Case {
    int32_t l, s;
  };
  for (Case c : std::vector<Case>{{1, 1}, {2, 1}, {5, 1}, {10, 2}, {16, 3}, {20, 4}, {37, 3}, {64, 6}, {100, 5},
                                  {1000, 10}, {30, 29}, {30, 40}}) {
    Graph g = uniform_chain(c.l);
    Chain chain = require_chain(g, "test");
    std::vector<NodeId> order = revolve_compute_order(chain, c.s);
    Counts counts = count_computes(g, chain, order);
    const int64_t t = revolve_forward_steps(c.l, std::min(c.s, c.l));
    EXPECT_EQ(counts.forwards, t + c.l) << "l = " << c.l << ", s = " << c.s;
    EXPECT_EQ(counts.backwards, c.l);
    EXPECT_TRUE(counts.each_backward_once);
    Schedule schedule = schedule_from_computes(g, order, "revolve");
    testing::expect_replays(g, schedule);
    EXPECT_LE(schedule.peak_bytes, static_cast<uint64_t>(c.s + 4) * kMiB) << "l = " << c.l << ", s = " << c.s;
    // cost = forwards * 1 + backwards * 2
    EXPECT_DOUBLE_EQ(schedule.cost, static_cast<double>(t + c.l) + 2.0 * c.l);
  }
  EXPECT_EQ(revolve_forward_steps(100, 5) + 100, 416);
  EXPECT_EQ(revolve_forward_steps(1000, 10) + 1000, 4636);
}

// Revolve ignores sizes and costs: on heterogeneous chains the count is the same, and the
// schedule stays valid.
TEST(RevolveSchedule, HeterogeneousChainsKeepTheCountAndReplay) {
  for (uint64_t seed : {1, 2, 3}) {
    Graph g = random_chain(25, seed);
    Chain chain = require_chain(g, "test");
    for (int32_t s : {1, 2, 5}) {
      std::vector<NodeId> order = revolve_compute_order(chain, s);
      EXPECT_EQ(count_computes(g, chain, order).forwards, revolve_forward_steps(25, s) + 25);
      testing::expect_replays(g, schedule_from_computes(g, order, "revolve"));
    }
  }
}

// More snapshots never cost more advances, and the solver's frontier (s = 1..n, Pareto) replays.
TEST(RevolveSolver, FrontierOverSnapshots) {
  Graph g = uniform_chain(20);
  for (int64_t s = 2; s <= 20; ++s) EXPECT_LE(revolve_forward_steps(20, s), revolve_forward_steps(20, s - 1));
  const Solver* solver = find_solver("revolve");
  ASSERT_NE(solver, nullptr);
  std::vector<Schedule> frontier = solver->frontier(g, SolveOptions());
  ASSERT_FALSE(frontier.empty());
  for (size_t i = 0; i < frontier.size(); ++i) {
    testing::expect_replays(g, frontier[i]);
    if (i > 0) {
      EXPECT_GT(frontier[i].peak_bytes, frontier[i - 1].peak_bytes);
      EXPECT_LT(frontier[i].cost, frontier[i - 1].cost);
    }
  }
  // The cheapest point: s >= n - 1, t = 19 advances + 20 turns + 20 backwards of cost 2 = 79.
  EXPECT_DOUBLE_EQ(frontier.back().cost, 19 + 20 + 40.0);
  // The smallest peak: s = 1 keeps only x; x, a(i-1), a(i), g(i), g(i-1) = 5 MiB.
  EXPECT_EQ(frontier.front().peak_bytes, 5 * kMiB);
  EXPECT_EQ(frontier.front().solver, "revolve(s=1)");
}

TEST(RevolveSchedule, RejectsZeroSnapshots) {
  Graph g = uniform_chain(3);
  try {
    revolve_compute_order(require_chain(g, "test"), 0);
    FAIL() << "0 snapshots accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("snapshots = 0 is invalid"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gradrecomp
