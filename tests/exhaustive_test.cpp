#include <gtest/gtest.h>

#include <algorithm>

#include "gradrecomp/error.h"
#include "gradrecomp/generators.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solver.h"
#include "gradrecomp/solvers/exhaustive.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

// A 3-stage chain with big saved internals (sizes in bytes, F costs 1, B costs 2, total 9):
//
//   x(10) -F1-> a1(10), s1(100) -F2-> a2(10), s2(100) -F3-> a3(1), s3(100)
//   B3(a2, a3, s3)      -> g2(10)
//   B2(a1, a2, s2, g2)  -> g1(10)
//   B1(x,  a1, s1, g1)  -> g0(10)
//
// Store-all: after F3, x a1 s1 a2 s2 a3 s3 = 331 are live; B3 adds g2: peak 341, cost 9.
// Cost 9 means every node runs once, in the order above, with nothing freeable early: so any
// budget below 341 forces a recomputation. Dropping s1 after F1 and recomputing F1 before B1
// (a1 stays live, so only s1 is produced again) peaks at B3 with x a1 a2 s2 a3 s3 g2 = 241 for
// cost 10; dropping s2 instead peaks at B2 with x a1 s1 a2 s2 g2 g1 = 250 (also cost 10, so a
// budget of 340 may get either). Below 241 both s1 and s2 must be dropped: cost 11,
// and the smallest peak of all is B2's own working set x a1 a2 s2 g2 + g1 = 150.
// Frontier: (150, 11), (241, 10), (341, 9).
using testing::saved_heavy_chain;  // drawn in tests/support/graphs.h

int count_computes(const Schedule& s) { return static_cast<int>(compute_sequence(s).size()); }

TEST(Exhaustive, StoreAllBudgetRunsEveryNodeOnce) {
  Graph g = saved_heavy_chain();
  ASSERT_EQ(store_all_peak_bytes(g), 341u);
  std::optional<Schedule> s = exhaustive_schedule(g, 341);
  ASSERT_TRUE(s);
  testing::expect_replays(g, *s);
  EXPECT_EQ(s->peak_bytes, 341u);
  EXPECT_DOUBLE_EQ(s->cost, 9.0);
  EXPECT_EQ(count_computes(*s), 6);
}

TEST(Exhaustive, OneByteLessForcesExactlyOneRecomputation) {
  Graph g = saved_heavy_chain();
  for (uint64_t budget : {340u, 249u, 241u}) {
    std::optional<Schedule> s = exhaustive_schedule(g, budget);
    ASSERT_TRUE(s) << budget;
    testing::expect_replays(g, *s);
    EXPECT_DOUBLE_EQ(s->cost, 10.0) << budget;  // one extra forward (cost 1)
    EXPECT_EQ(count_computes(*s), 7) << budget;
    EXPECT_TRUE(s->peak_bytes == 241u || s->peak_bytes == 250u) << s->peak_bytes;
    if (budget < 250) EXPECT_EQ(s->peak_bytes, 241u);
  }
  std::optional<Schedule> two = exhaustive_schedule(g, 240);
  ASSERT_TRUE(two);
  testing::expect_replays(g, *two);
  EXPECT_DOUBLE_EQ(two->cost, 11.0);  // two extra forwards; any peak up to 240 may come with it
  EXPECT_LE(two->peak_bytes, 240u);
}

TEST(Exhaustive, FrontierAndSmallestPeak) {
  Graph g = saved_heavy_chain();
  const Solver* solver = find_solver("exhaustive");
  ASSERT_NE(solver, nullptr);
  std::vector<Schedule> frontier = solver->frontier(g, {});
  ASSERT_EQ(frontier.size(), 3u);
  const std::vector<std::pair<uint64_t, double>> expected = {{150, 11.0}, {241, 10.0}, {341, 9.0}};
  for (size_t i = 0; i < frontier.size(); ++i) {
    testing::expect_replays(g, frontier[i]);
    EXPECT_EQ(frontier[i].peak_bytes, expected[i].first);
    EXPECT_DOUBLE_EQ(frontier[i].cost, expected[i].second);
  }
  EXPECT_EQ(exhaustive_min_peak_bytes(g), 150u);
  SolveResult r = solver->solve_budget(g, 149, {});
  EXPECT_EQ(r.status, SolveStatus::kInfeasible);
  EXPECT_EQ(r.min_feasible_peak_bytes, 150u);
  EXPECT_EQ(r.note, "no schedule has a peak within 149 B; the smallest feasible peak is 150 B");
  SolveResult ok = solver->solve_budget(g, 200, {});
  ASSERT_EQ(ok.status, SolveStatus::kSolved);
  testing::expect_replays(g, ok.schedule);
  EXPECT_TRUE(ok.proven_optimal);
  EXPECT_DOUBLE_EQ(ok.schedule.cost, 11.0);
  EXPECT_EQ(ok.min_feasible_peak_bytes, 150u);
}

// The spec example (formats.md): F2 runs with x, a1, a2, s2 live (x is needed by B1 and cannot be
// recomputed) = 270, and B1 with x, g1, g0 and 8 bytes of workspace = 308. Nothing can go below
// 308, which is also store-all's peak: the frontier is the single point (308, 15).
TEST(Exhaustive, SpecExampleHasOnePoint) {
  Graph g = testing::spec_example_graph();
  std::vector<Schedule> frontier = find_solver("exhaustive")->frontier(g, {});
  ASSERT_EQ(frontier.size(), 1u);
  testing::expect_replays(g, frontier[0]);
  EXPECT_EQ(frontier[0].peak_bytes, 308u);
  EXPECT_DOUBLE_EQ(frontier[0].cost, 15.0);
  EXPECT_FALSE(exhaustive_schedule(g, 307));
}

// Small general DAGs (random_dag with 4 forward nodes, some long edges, mirrored backward: 8 nodes).
// Exhaustive must never be beaten by any schedule of any other solver that supports the graph, at
// that schedule's own peak.
TEST(Exhaustive, NeverWorseThanOtherSolversOnSmallDags) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    Graph g = random_dag(4, seed);
    ASSERT_FALSE(exhaustive_unsupported_reason(g)) << g.name();
    for (const Solver* other : all_solvers()) {
      if (other->name() == "exhaustive" || other->name() == "auto" || other->unsupported_reason(g)) continue;
      std::vector<Schedule> theirs;
      try {
        theirs = other->frontier(g, {});
      } catch (const Error&) {
        continue;  // e.g. an optional solver that needs more than the graph gives
      }
      for (const Schedule& s : theirs) {
        testing::expect_replays(g, s);
        std::optional<Schedule> mine = exhaustive_schedule(g, s.peak_bytes);
        ASSERT_TRUE(mine) << other->name() << " found a schedule at " << s.peak_bytes << " on " << g.name();
        testing::expect_replays(g, *mine);
        EXPECT_LE(mine->cost, s.cost * (1 + 1e-9)) << other->name() << " on " << g.name();
        EXPECT_LE(mine->peak_bytes, s.peak_bytes);
      }
    }
  }
}

// The min-peak search and the cost search agree: at the smallest peak there is a schedule, one
// byte below there is none.
TEST(Exhaustive, MinPeakIsTight) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    Graph g = random_dag(4, seed);
    uint64_t least = exhaustive_min_peak_bytes(g);
    std::optional<Schedule> at = exhaustive_schedule(g, least);
    ASSERT_TRUE(at) << g.name();
    testing::expect_replays(g, *at);
    EXPECT_FALSE(exhaustive_schedule(g, least - 1)) << g.name();
  }
}

TEST(Exhaustive, RefusesBigGraphsWithAReason) {
  Graph g = random_chain(40, 1);  // 80 nodes, 121 tensors
  std::optional<std::string> why = exhaustive_unsupported_reason(g);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, "graph \"random-chain-40-seed1\" has 121 tensors and 80 nodes; exhaustive search handles at most 64 "
                  "tensors and 64 nodes");
  EXPECT_EQ(find_solver("exhaustive")->unsupported_reason(g), why);
  try {
    exhaustive_schedule(g, 1 << 30);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), *why);
  }
}

TEST(Exhaustive, StateLimitIsReported) {
  Graph g = random_chain(5, 3);
  try {
    exhaustive_schedule(g, store_all_peak_bytes(g) / 2, ExhaustiveOptions().with_max_states(10));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("settled more than 10 states (max_states)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gradrecomp
