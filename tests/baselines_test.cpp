// Tests of the segment-checkpointing baselines: `segments`, `sqrt`, `every-k`, `chen-greedy`
// (include/gradrecomp/solvers/segments.h), plus the properties every chain baseline (and `revolve`)
// must have: schedules replay, frontiers are sorted and Pareto, budgets below the frontier are
// infeasible with the right smallest peak, and non-chains are refused with a readable message.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gradrecomp/chain.h"
#include "gradrecomp/error.h"
#include "gradrecomp/generators.h"
#include "gradrecomp/schedule.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solver.h"
#include "gradrecomp/solvers/segments.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

constexpr uint64_t kMiB = 1 << 20;
const std::vector<std::string> kChainBaselines = {"sqrt", "every-k", "segments", "chen-greedy", "revolve"};

const Solver& solver_named(const std::string& name) {
  const Solver* solver = find_solver(name);
  if (!solver) throw Error("solver \"" + name + "\" is not registered");
  return *solver;
}

// How many times each node is computed in a schedule.
std::vector<int32_t> compute_counts(const Graph& graph, const Schedule& schedule) {
  std::vector<int32_t> counts(graph.num_nodes(), 0);
  for (NodeId n : compute_sequence(schedule)) ++counts[n];
  return counts;
}

// Forward computations beyond the first of each forward node.
int32_t forward_recomputations(const Graph& graph, const Chain& chain, const Schedule& schedule) {
  std::vector<int32_t> counts = compute_counts(graph, schedule);
  int32_t extra = 0;
  for (const ChainStage& stage : chain.stages) extra += counts[stage.forward] - 1;
  return extra;
}

void expect_sorted_pareto(const std::vector<Schedule>& frontier, const std::string& what) {
  ASSERT_FALSE(frontier.empty()) << what;
  for (size_t i = 1; i < frontier.size(); ++i) {
    EXPECT_GT(frontier[i].peak_bytes, frontier[i - 1].peak_bytes) << what << " point " << i;
    EXPECT_LT(frontier[i].cost, frontier[i - 1].cost) << what << " point " << i;
  }
}

// uniform_chain(16): x = a0 and every a(i), g(i) is 1 MiB, F costs 1, B costs 2, no saved internals.
//
//   x -F1-> a1 -F2-> a2 ... -F16-> a16          B16 <- a15, a16;   Bi <- a(i-1), a(i), g(i)
//
// Store-all keeps x, a1..a16 (17 MiB) and B16 adds g15: peak 18 MiB, cost 16*1 + 16*2 = 48.
// sqrt: K = round(sqrt(16)) = 4 segments [1-4] [5-8] [9-12] [13-16]. The forward keeps x, a4, a8,
// a12 and the whole last segment a13..a16: 8 MiB, and B16 adds g15: 9 MiB. Segment [9-12] later
// recomputes a9..a11 next to x, a4, a8, a12, g12 (8 MiB) and B12 adds g11: 9 MiB again; the
// earlier segments hold fewer boundaries, so the peak is 9 MiB. Each of the 3 recomputed segments
// reruns its first 3 stages (a(hi) is the kept input of the next segment): 9 extra forwards of
// cost 1, so the cost is 48 + 9 = 57.
TEST(Sqrt, UniformChainOf16HasTheHandComputedPeakAndCost) {
  Graph g = uniform_chain(16);
  Schedule store_all = store_all_schedule(g);
  testing::expect_replays(g, store_all);
  EXPECT_EQ(store_all.peak_bytes, 18 * kMiB);
  EXPECT_DOUBLE_EQ(store_all.cost, 48.0);

  std::vector<Schedule> frontier = solver_named("sqrt").frontier(g, SolveOptions());
  ASSERT_EQ(frontier.size(), 1u);
  const Schedule& s = frontier.front();
  testing::expect_replays(g, s);
  EXPECT_EQ(s.solver, "sqrt(K=4)");
  EXPECT_EQ(s.peak_bytes, 9 * kMiB);
  EXPECT_LT(s.peak_bytes * 2, store_all.peak_bytes + 1);  // at most half of store-all
  EXPECT_EQ(forward_recomputations(g, require_chain(g, "test"), s), 9);
  EXPECT_DOUBLE_EQ(s.cost, store_all.cost + 9 * 1.0);
}

TEST(Segments, SegmentEndsAreNearEqualWithTheLongerSegmentsFirst) {
  EXPECT_EQ(equal_segment_ends(16, 4), (std::vector<int32_t>{4, 8, 12, 16}));
  EXPECT_EQ(equal_segment_ends(10, 3), (std::vector<int32_t>{4, 7, 10}));
  EXPECT_EQ(equal_segment_ends(10, 0), (std::vector<int32_t>{4, 7, 10}));  // round(sqrt(10)) = 3
  EXPECT_EQ(equal_segment_ends(5, 5), (std::vector<int32_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(equal_segment_ends(5, 1), (std::vector<int32_t>{5}));
  EXPECT_EQ(every_k_segment_ends(7, 2), (std::vector<int32_t>{2, 4, 6, 7}));
  EXPECT_EQ(every_k_segment_ends(7, 9), (std::vector<int32_t>{7}));
  try {
    equal_segment_ends(5, 6);
    FAIL() << "6 segments of a 5-stage chain accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("segments = 6 is out of range for a chain of 5 stages (expected 0..5"),
              std::string::npos) << e.what();
  }
  try {
    every_k_segment_ends(5, 0);
    FAIL() << "k = 0 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("every_k = 0 is invalid"), std::string::npos) << e.what();
  }
}

// A chain whose stages have saved internals s(i) (0.5 MiB each, read only by B(i)):
//   x -F1-> a1,s1 -F2-> a2,s2 ... -F6-> a6,s6
// With K = 2 segments [1-3] [4-6], the first segment must recompute F1, F2 and also F3: a3 is the
// kept input of segment 2, but s3 was dropped after the forward pass. 3 extra forwards.
// With K = 6 (one stage per segment) every stage but the last recomputes its F for its s(i): 5.
TEST(Segments, BoundaryStageIsRecomputedOnlyForItsSavedInternals) {
  UniformChainOptions options;
  options.saved_bytes = kMiB / 2;
  Graph g = uniform_chain(6, options);
  Chain chain = require_chain(g, "test");
  Schedule two = schedule_from_computes(g, segment_compute_order(chain, {3, 6}), "test");
  testing::expect_replays(g, two);
  EXPECT_EQ(forward_recomputations(g, chain, two), 3);
  EXPECT_DOUBLE_EQ(two.cost, g.total_cost() + 3.0);
  Schedule six = schedule_from_computes(g, segment_compute_order(chain, equal_segment_ends(6, 6)), "test");
  testing::expect_replays(g, six);
  EXPECT_EQ(forward_recomputations(g, chain, six), 5);

  // Without saved internals, the same segmentations recompute one stage less per segment.
  Graph plain = uniform_chain(6);
  Chain plain_chain = require_chain(plain, "test");
  Schedule plain_two = schedule_from_computes(plain, segment_compute_order(plain_chain, {3, 6}), "test");
  testing::expect_replays(plain, plain_two);
  EXPECT_EQ(forward_recomputations(plain, plain_chain, plain_two), 2);
}

TEST(Segments, ComputeOrderRejectsBadSegmentEnds) {
  Graph g = uniform_chain(6);
  Chain chain = require_chain(g, "test");
  try {
    segment_compute_order(chain, {3, 5});
    FAIL() << "ends not finishing at stage 6 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("must finish with the last stage 6 (got 5)"), std::string::npos) << e.what();
  }
  try {
    segment_compute_order(chain, {3, 3, 6});
    FAIL() << "repeated end accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("segment end 3 at position 1 does not follow 3"), std::string::npos)
        << e.what();
  }
}

// k = 1 keeps every activation and, without saved internals, recomputes nothing: the same cost
// as store-all (16 forwards + 16 backwards = 48), and the same peak (18 MiB, see above).
TEST(EveryK, KEqualsOneCostsWhatStoreAllCosts) {
  Graph g = uniform_chain(16);
  Schedule store_all = store_all_schedule(g);
  SolveResult r = solver_named("every-k").solve_overhead(g, 0.0, SolveOptions().with_every_k(1));
  ASSERT_EQ(r.status, SolveStatus::kSolved) << r.note;
  testing::expect_replays(g, r.schedule);
  EXPECT_EQ(r.schedule.solver, "every-k(k=1)");
  EXPECT_DOUBLE_EQ(r.schedule.cost, store_all.cost);
  EXPECT_EQ(r.schedule.peak_bytes, store_all.peak_bytes);
}

// k = 2 on uniform_chain(16): 8 segments of 2; segments 1..7 each recompute their first stage:
// cost 48 + 7 = 55. Forward keeps x, a2, a4, ..., a14 (8 MiB) and a15, a16: 10 MiB, B16 adds g15.
TEST(EveryK, DefaultIsCheckpointTwo) {
  Graph g = uniform_chain(16);
  SolveResult r = solver_named("every-k").solve_budget(g, 100 * kMiB, SolveOptions());
  ASSERT_EQ(r.status, SolveStatus::kSolved) << r.note;
  testing::expect_replays(g, r.schedule);
  EXPECT_EQ(r.schedule.solver, "every-k(k=2)");
  EXPECT_DOUBLE_EQ(r.schedule.cost, 55.0);
  EXPECT_EQ(r.schedule.peak_bytes, 11 * kMiB);
}

// every-k pins k: a budget between the frontier's smallest peak and k = 2's peak is infeasible,
// and the smallest feasible peak reported is k = 2's (what this request can reach).
TEST(EveryK, PinnedKReportsItsOwnPeakWhenInfeasible) {
  Graph g = uniform_chain(16);
  const Solver& solver = solver_named("every-k");
  SolveResult fits = solver.solve_budget(g, 100 * kMiB, SolveOptions().with_every_k(2));
  ASSERT_EQ(fits.status, SolveStatus::kSolved);
  SolveResult r = solver.solve_budget(g, fits.schedule.peak_bytes - 1, SolveOptions().with_every_k(2));
  EXPECT_EQ(r.status, SolveStatus::kInfeasible);
  EXPECT_EQ(r.min_feasible_peak_bytes, fits.schedule.peak_bytes);
  EXPECT_NE(r.note.find("with k = 2"), std::string::npos) << r.note;
  EXPECT_THROW(solver.solve_budget(g, kMiB, SolveOptions().with_every_k(0)), Error);
}

TEST(Segments, PinnedKUsesExactlyThatKAndRejectsOutOfRange) {
  Graph g = uniform_chain(16);
  const Solver& solver = solver_named("segments");
  SolveResult r = solver.solve_budget(g, 100 * kMiB, SolveOptions().with_segments(4));
  ASSERT_EQ(r.status, SolveStatus::kSolved);
  testing::expect_replays(g, r.schedule);
  EXPECT_EQ(r.schedule.solver, "segments(K=4)");
  EXPECT_EQ(r.schedule.peak_bytes, 9 * kMiB);  // the sqrt schedule above
  try {
    solver.solve_budget(g, 100 * kMiB, SolveOptions().with_segments(17));
    FAIL() << "17 segments of 16 stages accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("segments = 17 is out of range for the 16-stage chain"), std::string::npos)
        << e.what();
  }
}

// Unpinned segments searches every K: with the budget of the sqrt schedule (9 MiB) it must find a
// schedule at least as cheap as sqrt's 57; with the store-all peak, one without recomputation.
TEST(Segments, UnpinnedSearchPicksTheCheapestKThatFits) {
  Graph g = uniform_chain(16);
  const Solver& solver = solver_named("segments");
  SolveResult tight = solver.solve_budget(g, 9 * kMiB, SolveOptions());
  ASSERT_EQ(tight.status, SolveStatus::kSolved) << tight.note;
  testing::expect_replays(g, tight.schedule);
  EXPECT_LE(tight.schedule.peak_bytes, 9 * kMiB);
  EXPECT_LE(tight.schedule.cost, 57.0);
  SolveResult loose = solver.solve_budget(g, 18 * kMiB, SolveOptions());
  ASSERT_EQ(loose.status, SolveStatus::kSolved);
  testing::expect_replays(g, loose.schedule);
  EXPECT_DOUBLE_EQ(loose.schedule.cost, 48.0);
}

// Chen's greedy on uniform_chain(10), each stage 1 MiB: with b = 2.5 MiB the running total reaches
// 3 MiB > b at stages 3, 6 and 9, so the segments are [1-3] [4-6] [7-9] [10]. A threshold at or
// above the total (10 MiB) never triggers: one segment, the store-all order.
TEST(ChenGreedy, SegmentEndsFollowTheThreshold) {
  Graph g = uniform_chain(10);
  Chain chain = require_chain(g, "test");
  EXPECT_EQ(chen_greedy_segment_ends(g, chain, 5 * kMiB / 2), (std::vector<int32_t>{3, 6, 9, 10}));
  EXPECT_EQ(chen_greedy_segment_ends(g, chain, 10 * kMiB), (std::vector<int32_t>{10}));
  EXPECT_EQ(chen_greedy_segment_ends(g, chain, 0), (std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  // Saved internals count: with s(i) = 1 MiB each stage weighs 2 MiB, so b = 2.5 MiB cuts every 2.
  UniformChainOptions options;
  options.saved_bytes = kMiB;
  Graph heavy = uniform_chain(10, options);
  EXPECT_EQ(chen_greedy_segment_ends(heavy, require_chain(heavy, "test"), 5 * kMiB / 2),
            (std::vector<int32_t>{2, 4, 6, 8, 10}));
}

TEST(ChenGreedy, FrontierSpansStoreAllToCheckpointing) {
  Graph g = uniform_chain(16);
  std::vector<Schedule> frontier = solver_named("chen-greedy").frontier(g, SolveOptions());
  expect_sorted_pareto(frontier, "chen-greedy");
  for (const Schedule& s : frontier) testing::expect_replays(g, s);
  // The largest threshold gives the store-all order: the cheapest point costs 48 at 18 MiB.
  EXPECT_DOUBLE_EQ(frontier.back().cost, 48.0);
  EXPECT_EQ(frontier.back().peak_bytes, 18 * kMiB);
  EXPECT_LT(frontier.front().peak_bytes, 10 * kMiB);
}

std::vector<Graph> test_chains() {
  std::vector<Graph> graphs;
  graphs.push_back(uniform_chain(16));
  graphs.push_back(uniform_chain(1));
  UniformChainOptions saved;
  saved.saved_bytes = 3 * kMiB;
  graphs.push_back(uniform_chain(9, saved));
  graphs.push_back(testing::spec_example_graph());
  for (uint64_t seed = 1; seed <= 4; ++seed) graphs.push_back(random_chain(12, seed));
  RandomChainOptions workspace;
  workspace.with_workspace = true;
  graphs.push_back(random_chain(10, 11, workspace));
  return graphs;
}

// Every solver, every chain: each frontier point replays and the frontier is sorted and Pareto.
TEST(ChainBaselines, FrontiersReplayAndAreSortedPareto) {
  for (const Graph& g : test_chains()) {
    ASSERT_TRUE(recognize_chain(g)) << g.name();
    for (const std::string& name : kChainBaselines) {
      const Solver& solver = solver_named(name);
      EXPECT_FALSE(solver.unsupported_reason(g)) << name << " on " << g.name();
      std::vector<Schedule> frontier = solver.frontier(g, SolveOptions());
      expect_sorted_pareto(frontier, name + " on " + g.name());
      for (const Schedule& s : frontier) testing::expect_replays(g, s);
      // Never better than store-all's cost (recomputation only adds cost).
      EXPECT_GE(frontier.back().cost, g.total_cost() * (1 - 1e-12)) << name << " on " << g.name();
    }
  }
}

// A budget one byte below the frontier's smallest peak is infeasible, and the result says which
// peak is the smallest; the frontier's smallest peak itself is feasible.
TEST(ChainBaselines, BudgetBelowTheSmallestPeakIsInfeasible) {
  for (const Graph& g : test_chains()) {
    for (const std::string& name : {"sqrt", "segments", "chen-greedy", "revolve"}) {
      const Solver& solver = solver_named(name);
      std::vector<Schedule> frontier = solver.frontier(g, SolveOptions());
      const uint64_t smallest = frontier.front().peak_bytes;
      SolveResult r = solver.solve_budget(g, smallest - 1, SolveOptions());
      EXPECT_EQ(r.status, SolveStatus::kInfeasible) << name << " on " << g.name();
      EXPECT_EQ(r.min_feasible_peak_bytes, smallest) << name << " on " << g.name();
      EXPECT_NE(r.note.find("below the smallest feasible peak"), std::string::npos) << r.note;
      SolveResult ok = solver.solve_budget(g, smallest, SolveOptions());
      ASSERT_EQ(ok.status, SolveStatus::kSolved) << name << " on " << g.name();
      testing::expect_replays(g, ok.schedule);
      EXPECT_EQ(ok.schedule.peak_bytes, smallest);
    }
  }
}

// A general DAG: with long_edge_probability 1 some forward nodes read tensors from further back
// than the previous node, so it is not a chain. Every chain solver must say so in the
// recognizer's own words (unsupported_reason) and refuse to solve ("needs a chain").
TEST(ChainBaselines, NonChainGraphIsRefusedWithTheRecognizersReason) {
  RandomDagOptions options;
  options.long_edge_probability = 1.0;
  Graph g = random_dag(10, 3, options);
  std::string why;
  ASSERT_FALSE(recognize_chain(g, &why)) << "random_dag(10, 3) with long edges should not be a chain";
  for (const std::string& name : kChainBaselines) {
    const Solver& solver = solver_named(name);
    std::optional<std::string> reason = solver.unsupported_reason(g);
    ASSERT_TRUE(reason.has_value()) << name;
    EXPECT_EQ(*reason, why) << name;
    try {
      solver.frontier(g, SolveOptions());
      FAIL() << name << " accepted a non-chain";
    } catch (const Error& e) {
      std::string text = e.what();
      EXPECT_NE(text.find("\"" + name + "\" needs a chain"), std::string::npos) << text;
      EXPECT_NE(text.find(why), std::string::npos) << text;
    }
    EXPECT_THROW(solver.solve_budget(g, 1 << 30, SolveOptions()), Error) << name;
    EXPECT_THROW(solver.solve_overhead(g, 1.0, SolveOptions()), Error) << name;
  }
}

TEST(ChainBaselines, ProgressIsReportedForSweeps) {
  Graph g = uniform_chain(8);
  for (const std::string& name : {"segments", "every-k", "chen-greedy", "revolve"}) {
    int calls = 0;
    double last = -1;
    bool increasing = true;
    SolveOptions options;
    options.with_progress([&](double fraction, std::string_view) {
      increasing = increasing && fraction >= last && fraction <= 1.0;
      last = fraction;
      ++calls;
    });
    solver_named(name).frontier(g, options);
    EXPECT_GT(calls, 0) << name;
    EXPECT_TRUE(increasing) << name;
  }
}

}  // namespace
}  // namespace gradrecomp
