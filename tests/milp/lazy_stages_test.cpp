// The lazy-stage formulation (MilpOptions::lazy_stages, include/gradrecomp/solvers/milp.h)
// against the Checkmate formulation and brute force.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "gradrecomp/generators.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solvers/milp.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

MilpOptions checkmate() { return MilpOptions().with_time_limit_seconds(60).with_lazy_stages(false); }
MilpOptions lazy() { return MilpOptions().with_time_limit_seconds(60).with_lazy_stages(true); }

// recompute_example (tests/support/graphs.h):
//   x(10) -F1-> a(100) -F2-> b(10) -F3-> c(100) -B3-> gb(10) -B2(a, gb)-> ga(10) -B1(x, ga)-> gx(10)
// At 219 bytes a cannot stay live through F3 (x, a, b, c = 220), so F1 runs again before B2:
// cost 7. The first round (no within-stage rows) already finds it, and its replay fits: F1's
// recomputation runs with x, gb and a (120), B2 with x, a, gb, ga (130). One round, no stage
// detailed, and the answer is optimal over all schedules.
TEST(LazyStages, HandChecked) {
  Graph g = testing::recompute_example();
  MilpSolveResult r = milp_solve_budget(g, 219, lazy());
  ASSERT_EQ(r.result.status, SolveStatus::kSolved) << r.result.note;
  testing::expect_replays(g, r.result.schedule);
  EXPECT_TRUE(r.result.proven_optimal);
  EXPECT_EQ(r.result.schedule.cost, 7.0);
  EXPECT_EQ(r.stats.rounds, 1);
  EXPECT_EQ(r.stats.detailed_stages, 0);
  EXPECT_NE(r.result.note.find("; optimal over all schedules of the spec"), std::string::npos) << r.result.note;
  MilpSolveResult none = milp_solve_budget(g, 129, lazy());
  EXPECT_EQ(none.result.status, SolveStatus::kInfeasible);
  EXPECT_EQ(none.result.min_feasible_peak_bytes, 130u);
}

// Two branches that can run in either order: the model fixes the file's order of first
// computations, so lazy stages claim optimality for the model only.
//   x(10) -> F1 -> a(100);  x -> F2 -> b(100);  B(a, b) -> g(10)
TEST(LazyStages, NoGlobalClaimWhenTheOrderIsNotUnique) {
  GraphBuilder b("two-branches");
  b.input("x", 10);
  b.node("F1", 1.0, {"x"}, {{"a", 100}});
  b.node("F2", 2.0, {"x"}, {{"b", 100}});
  b.node("B", 3.0, {"a", "b"}, {{"g", 10}});
  Graph g = std::move(b).build();
  MilpSolveResult r = milp_solve_budget(g, store_all_peak_bytes(g), lazy());
  ASSERT_EQ(r.result.status, SolveStatus::kSolved);
  testing::expect_replays(g, r.result.schedule);
  EXPECT_TRUE(r.result.proven_optimal);
  EXPECT_EQ(r.result.note.find("all schedules"), std::string::npos) << r.result.note;
}

struct Tally {
  int cases = 0, equal = 0, cheaper = 0, multi_round = 0, peaks = 0, peak_multi_round = 0;
};

// Lazy is never worse than Checkmate (it admits every schedule of that model) and never better
// than the exhaustive optimum.
void compare(const Graph& g, uint64_t budget, Tally& tally, const Solver* exhaustive) {
  MilpSolveResult a = milp_solve_budget(g, budget, checkmate());
  MilpSolveResult b = milp_solve_budget(g, budget, lazy());
  std::string where = g.name() + " at " + std::to_string(budget);
  ASSERT_EQ(b.result.status, SolveStatus::kSolved) << where << ": " << b.result.note;
  testing::expect_replays(g, b.result.schedule);
  EXPECT_LE(b.result.schedule.peak_bytes, budget) << where;
  EXPECT_TRUE(b.result.proven_optimal) << where;
  ++tally.cases;
  tally.multi_round += b.stats.rounds > 1;
  const double cb = b.result.schedule.cost;
  if (a.result.status == SolveStatus::kSolved) {
    ASSERT_TRUE(a.result.proven_optimal) << where;
    const double ca = a.result.schedule.cost;
    EXPECT_LE(cb, ca * (1 + 1e-9)) << where;
    tally.equal += std::abs(ca - cb) <= 1e-9 * ca;
    tally.cheaper += cb < ca * (1 - 1e-9);
  } else {
    ++tally.cheaper;  // fits where no schedule of the Checkmate model does
  }
  if (exhaustive && g.num_nodes() <= 8) {
    SolveResult e = exhaustive->solve_budget(g, budget, SolveOptions());
    ASSERT_EQ(e.status, SolveStatus::kSolved) << where;
    EXPECT_GE(cb, e.schedule.cost * (1 - 1e-9)) << where;
  }
}

// Budgets from the smallest peak (milp_min_peak with lazy stages, checked against Checkmate's and
// exhaustive's) to store-all; one byte below that peak is infeasible.
TEST(LazyStages, AgreesWithCheckmateAndExhaustive) {
  const Solver* exhaustive = find_solver("exhaustive");
  Tally tally;
  for (int32_t n = 2; n <= 5; ++n) {
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      RandomDagOptions options;
      options.long_edge_probability = 0.5;
      for (const Graph& g : {random_dag(n, seed, options), random_chain(n, seed)}) {
        MilpSolveResult low = milp_solve_budget(g, 0, lazy());  // below the inputs: no CBC
        MilpSolveResult lazy_peak = milp_min_peak(g, lazy().with_lazy_min_peak(true));
        MilpSolveResult checkmate_peak = milp_min_peak(g, checkmate());
        ASSERT_TRUE(lazy_peak.result.proven_optimal && checkmate_peak.result.proven_optimal) << g.name();
        testing::expect_replays(g, lazy_peak.result.schedule);
        const uint64_t lo = lazy_peak.result.min_feasible_peak_bytes, hi = store_all_peak_bytes(g);
        EXPECT_EQ(lazy_peak.result.schedule.peak_bytes, lo);
        EXPECT_LE(lo, checkmate_peak.result.min_feasible_peak_bytes) << g.name();
        ++tally.peaks;
        tally.peak_multi_round += lazy_peak.stats.rounds > 1;
        if (exhaustive && g.num_nodes() <= 8) {
          EXPECT_EQ(lo, exhaustive->solve_budget(g, 0, SolveOptions()).min_feasible_peak_bytes) << g.name();
        }
        EXPECT_EQ(low.result.status, SolveStatus::kInfeasible);
        if (lo > 0) {
          MilpSolveResult below = milp_solve_budget(g, lo - 1, lazy());
          EXPECT_EQ(below.result.status, SolveStatus::kInfeasible) << g.name();
          EXPECT_EQ(below.result.min_feasible_peak_bytes, lo) << g.name();
        }
        for (uint64_t budget : {lo, lo + (hi - lo) / 3, lo + 2 * (hi - lo) / 3, hi}) compare(g, budget, tally, exhaustive);
      }
    }
  }
  std::printf("lazy vs checkmate: %d budgets, equal %d, lazy cheaper %d, more than one round %d; smallest peaks: %d, "
              "more than one round %d\n",
              tally.cases, tally.equal, tally.cheaper, tally.multi_round, tally.peaks, tally.peak_multi_round);
  EXPECT_EQ(tally.cases, 128);
  EXPECT_GT(tally.multi_round + tally.peak_multi_round, 0);  // the within-stage rows are needed somewhere
}

}  // namespace
}  // namespace gradrecomp
