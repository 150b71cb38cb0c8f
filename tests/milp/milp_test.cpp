// The `milp` solver against hand-checked numbers, against brute force (`exhaustive`) and the
// chain DP (`chain-dp`), and its LP lower bound.
#include "gradrecomp/solvers/milp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gradrecomp/architectures.h"
#include "gradrecomp/error.h"
#include "gradrecomp/generators.h"
#include "gradrecomp/simulate.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

MilpOptions quick() { return MilpOptions().with_time_limit_seconds(60); }

void expect_same_cost(double a, double b, const std::string& where) {
  EXPECT_NEAR(a, b, 1e-9 * std::max(1.0, std::abs(b))) << where;
}

// A 100-byte activation read at the start and at the very end:
//
//   x(10) -F1-> a(100) -F2-> b(10) -F3-> c(100)
//                |                         |
//   gx(10) <-B1- ga(10) <-----B2------ gb(10) <-B3-
//        (B1 reads x, ga)   (B2 reads a, gb)  (B3 reads c)
//
// All costs 1 (total 6). Store-all keeps x, a and c together during F3..B3: peak 10+100+10+100 =
// 220 while F3 runs (x, a, b, c). Dropping a after F2 and recomputing F1 before B2 costs 1 and the
// peak becomes 130 (B2 runs with x, a, gb and its output ga). 130 is the floor: B2 needs x (for
// B1), a, gb and ga at once. So: budget >= 220 -> cost 6; 130..219 -> cost 7; < 130 infeasible.
using testing::recompute_example;  // drawn in tests/support/graphs.h

TEST(Milp, HandCheckedRecomputation) {
  Graph g = recompute_example();
  ASSERT_EQ(store_all_peak_bytes(g), 220u);
  struct Case { uint64_t budget; bool feasible; double cost; };
  for (Case c : {Case{220, true, 6}, Case{219, true, 7}, Case{130, true, 7}, Case{129, false, 0}}) {
    MilpSolveResult r = milp_solve_budget(g, c.budget, quick());
    if (!c.feasible) {
      EXPECT_EQ(r.result.status, SolveStatus::kInfeasible) << c.budget;
      EXPECT_EQ(r.result.min_feasible_peak_bytes, 130u);
      EXPECT_EQ(r.result.note, "budget 129 B is below the smallest feasible peak 130 B "
                               "(proven by the MILP)");
      continue;
    }
    ASSERT_EQ(r.result.status, SolveStatus::kSolved) << c.budget;
    testing::expect_replays(g, r.result.schedule);
    EXPECT_TRUE(r.result.proven_optimal);
    EXPECT_EQ(r.result.schedule.cost, c.cost) << c.budget;
    EXPECT_LE(r.result.schedule.peak_bytes, c.budget);
    ASSERT_TRUE(r.result.lower_bound_cost.has_value());
    EXPECT_NEAR(*r.result.lower_bound_cost, c.cost, 1e-6);
  }
  MilpSolveResult low = milp_min_peak(g, quick());
  EXPECT_EQ(low.result.min_feasible_peak_bytes, 130u);
  EXPECT_TRUE(low.result.proven_optimal);
  testing::expect_replays(g, low.result.schedule);
}

TEST(Milp, SpecExampleHasNoCheaperPeak) {
  // Spec graph: B1 runs with x, g1, its output g0 and 8 bytes of workspace = 308 bytes, which is
  // also the store-all peak; no recomputation can lower it.
  Graph g = testing::spec_example_graph();
  MilpSolveResult at = milp_solve_budget(g, 308, quick());
  ASSERT_EQ(at.result.status, SolveStatus::kSolved);
  testing::expect_replays(g, at.result.schedule);
  EXPECT_EQ(at.result.schedule.cost, 15.0);
  MilpSolveResult below = milp_solve_budget(g, 307, quick());
  EXPECT_EQ(below.result.status, SolveStatus::kInfeasible);
  EXPECT_EQ(below.result.min_feasible_peak_bytes, 308u);
}

TEST(Milp, GraphInputsAloneAboveBudget) {
  Graph g = recompute_example();
  MilpSolveResult r = milp_solve_budget(g, 9, quick());
  EXPECT_EQ(r.result.status, SolveStatus::kInfeasible);
  EXPECT_EQ(r.result.note, "budget 9 B is below the smallest feasible peak 130 B "
                           "(the graph inputs alone take 10 B)");
}

// Budgets to test a graph at: every peak of the reference frontier, one byte below each, and a
// point in between consecutive peaks.
std::vector<uint64_t> budgets_from(const std::vector<Schedule>& frontier) {
  std::vector<uint64_t> budgets;
  for (size_t i = 0; i < frontier.size(); ++i) {
    budgets.push_back(frontier[i].peak_bytes);
    budgets.push_back(frontier[i].peak_bytes - 1);
    if (i + 1 < frontier.size()) budgets.push_back((frontier[i].peak_bytes + frontier[i + 1].peak_bytes) / 2);
  }
  return budgets;
}

void expect_matches_reference(const Solver& reference, const Graph& g) {
  std::vector<Schedule> frontier = reference.frontier(g, SolveOptions());
  ASSERT_FALSE(frontier.empty()) << g.name();
  for (uint64_t budget : budgets_from(frontier)) {
    SolveResult want = reference.solve_budget(g, budget, SolveOptions());
    MilpSolveResult got = milp_solve_budget(g, budget, quick());
    std::string where = g.name() + " at budget " + std::to_string(budget);
    ASSERT_EQ(got.result.status, want.status) << where << ": " << got.result.note;
    if (want.status == SolveStatus::kInfeasible) {
      EXPECT_EQ(got.result.min_feasible_peak_bytes, want.min_feasible_peak_bytes) << where;
      continue;
    }
    testing::expect_replays(g, got.result.schedule);
    EXPECT_TRUE(got.result.proven_optimal) << where;
    expect_same_cost(got.result.schedule.cost, want.schedule.cost, where);
    // The LP relaxation bounds the optimum from below.
    std::optional<double> bound = milp_lower_bound(g, budget, quick());
    ASSERT_TRUE(bound.has_value()) << where;
    EXPECT_LE(*bound, got.result.schedule.cost * (1 + 1e-9)) << where;
    EXPECT_GE(*bound, g.total_cost() * (1 - 1e-9)) << where;
  }
}

TEST(Milp, EqualsExhaustiveOnTinyRandomDags) {
  const Solver* exhaustive = find_solver("exhaustive");
  if (!exhaustive) GTEST_SKIP() << "solver \"exhaustive\" is not registered";
  for (int32_t n = 2; n <= 4; ++n) {
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      RandomDagOptions options;
      options.long_edge_probability = 0.6;
      expect_matches_reference(*exhaustive, random_dag(n, seed, options));
    }
  }
}

TEST(Milp, EqualsExhaustiveOnTinyChains) {
  const Solver* exhaustive = find_solver("exhaustive");
  if (!exhaustive) GTEST_SKIP() << "solver \"exhaustive\" is not registered";
  for (int32_t n = 1; n <= 4; ++n) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      RandomChainOptions options;
      options.with_workspace = seed % 2 == 0;
      expect_matches_reference(*exhaustive, random_chain(n, seed, options));
    }
  }
  expect_matches_reference(*exhaustive, recompute_example());
}

TEST(Milp, EqualsChainDpOnSmallChains) {
  // On chains chain-dp claims the optimum over all schedules; milp is exact there too (chains
  // have a single topological order). When they differ, exhaustive search says who is right.
  const Solver* chain_dp = find_solver("chain-dp");
  if (!chain_dp) GTEST_SKIP() << "solver \"chain-dp\" is not registered";
  const Solver* exhaustive = find_solver("exhaustive");
  for (int32_t n : {5, 6}) {
    Graph g = random_chain(n, 100 + n);
    std::vector<uint64_t> all = budgets_from(chain_dp->frontier(g, SolveOptions()));
    std::vector<uint64_t> budgets;  // at most 8, spread over the frontier (keeps the test short)
    for (size_t i = 0; i < all.size(); i += std::max<size_t>(1, all.size() / 8)) budgets.push_back(all[i]);
    for (uint64_t budget : budgets) {
      SolveResult dp = chain_dp->solve_budget(g, budget, SolveOptions());
      if (dp.status != SolveStatus::kSolved) continue;
      MilpSolveResult got = milp_solve_budget(g, budget, quick());
      ASSERT_EQ(got.result.status, SolveStatus::kSolved) << g.name() << " at " << budget;
      testing::expect_replays(g, got.result.schedule);
      // milp is exact: chain-dp can never be cheaper.
      EXPECT_LE(got.result.schedule.cost, dp.schedule.cost * (1 + 1e-9)) << g.name() << " at " << budget;
      if (std::abs(got.result.schedule.cost - dp.schedule.cost) > 1e-9 * dp.schedule.cost) {
        std::string referee = "exhaustive not registered";
        if (exhaustive) {
          SolveResult e = exhaustive->solve_budget(g, budget, SolveOptions());
          referee = "exhaustive: " + std::to_string(e.schedule.cost);
        }
        ADD_FAILURE() << g.name() << " at budget " << budget << ": milp " << got.result.schedule.cost
                      << ", chain-dp " << dp.schedule.cost << " (" << referee << ")";
      }
    }
  }
}

TEST(Milp, VariantsAgree) {
  // Only R integer vs Checkmate's all-binary model, with and without pruning, warm start and lazy
  // stages: the same optimum (the claims of milp.h that S/FREE may be continuous and pruning is
  // exact; lazy stages can only be cheaper than Checkmate, and are not here).
  Graph g = random_dag(5, 11);
  uint64_t hi = store_all_peak_bytes(g);
  uint64_t lo = milp_min_peak(g, quick()).result.min_feasible_peak_bytes;
  ASSERT_LT(lo, hi);
  for (uint64_t budget : {lo, (lo + hi) / 2, hi}) {
    MilpSolveResult base = milp_solve_budget(g, budget, quick());
    ASSERT_EQ(base.result.status, SolveStatus::kSolved);
    ASSERT_TRUE(base.result.proven_optimal);
    for (MilpOptions variant : {quick().with_continuous_auxiliaries(true), quick().with_prune(false),
                                quick().with_warm_start(false), quick().with_lazy_stages(false),
                                quick().with_lazy_stages(false).with_continuous_auxiliaries(true)}) {
      MilpSolveResult r = milp_solve_budget(g, budget, variant);
      ASSERT_EQ(r.result.status, SolveStatus::kSolved);
      testing::expect_replays(g, r.result.schedule);
      expect_same_cost(r.result.schedule.cost, base.result.schedule.cost, "variant");
      if (variant.continuous_auxiliaries) EXPECT_LT(r.stats.integers, base.stats.integers);
      if (!variant.prune) EXPECT_GE(r.stats.columns, base.stats.columns);
    }
  }
}

TEST(Milp, LowerBoundInfeasibleBelowTheFloor) {
  // Below the graph inputs, even the relaxation has no solution.
  EXPECT_FALSE(milp_lower_bound(recompute_example(), 9).has_value());
  // At 130 bytes (the floor) the relaxation is feasible and at most the optimum 7.
  std::optional<double> bound = milp_lower_bound(recompute_example(), 130);
  ASSERT_TRUE(bound.has_value());
  EXPECT_GE(*bound, 6.0);
  EXPECT_LE(*bound, 7.0 + 1e-9);
}

TEST(Milp, TimeLimitReturnsAScheduleWithItsGap) {
  Graph g = random_dag(25, 5);
  uint64_t budget = store_all_peak_bytes(g) * 6 / 10;
  MilpSolveResult r = milp_solve_budget(g, budget, MilpOptions().with_time_limit_seconds(1));
  if (r.result.status == SolveStatus::kInfeasible) {
    EXPECT_GT(r.result.min_feasible_peak_bytes, budget);
    return;
  }
  testing::expect_replays(g, r.result.schedule);
  ASSERT_TRUE(r.result.lower_bound_cost.has_value());
  EXPECT_LE(*r.result.lower_bound_cost, r.result.schedule.cost * (1 + 1e-9));
  EXPECT_GE(*r.result.lower_bound_cost, g.total_cost() * (1 - 1e-9));
  if (!r.result.proven_optimal) EXPECT_NE(r.result.note.find("gap"), std::string::npos) << r.result.note;
}

TEST(Milp, ArchitectureGraphWithMultiOutputAndOutputlessNodes) {
  // A one-level U-Net: batch_norm and max_pool have two outputs (statistics, indices), the first
  // convolution's backward has none, the labels are a second graph input. milp must replay within
  // the budget and never be worse than its warm start.
  Graph g = unet(1, UNetOptions{.batch_size = 1, .image_size = 8, .in_channels = 1, .base_channels = 2,
                                .convs_per_level = 1});
  const uint64_t budget = store_all_peak_bytes(g) * 7 / 10;
  MilpSolveResult r = milp_solve_budget(g, budget, MilpOptions().with_time_limit_seconds(5));
  ASSERT_EQ(r.result.status, SolveStatus::kSolved) << r.result.note;
  Simulation sim = testing::expect_replays(g, r.result.schedule);
  EXPECT_LE(sim.peak_bytes, budget);
  const Solver* dtr = find_solver("dtr");
  ASSERT_NE(dtr, nullptr);
  SolveResult greedy = dtr->solve_budget(g, budget, SolveOptions());
  if (greedy.status == SolveStatus::kSolved) {
    EXPECT_LE(r.result.schedule.cost, greedy.schedule.cost * (1 + 1e-9));
  }
  ASSERT_TRUE(r.result.lower_bound_cost.has_value());
  EXPECT_LE(*r.result.lower_bound_cost, r.result.schedule.cost * (1 + 1e-9));
}

TEST(Milp, RegisteredSolverFrontierAndOverhead) {
  register_milp_solver();
  register_milp_solver();  // idempotent
  const Solver* milp = find_solver("milp");
  ASSERT_NE(milp, nullptr);
  Graph g = random_chain(4, 9);
  std::vector<Schedule> frontier = milp->frontier(g, SolveOptions());
  ASSERT_GE(frontier.size(), 2u);
  for (size_t i = 0; i < frontier.size(); ++i) {
    testing::expect_replays(g, frontier[i]);
    if (i > 0) {
      EXPECT_GT(frontier[i].peak_bytes, frontier[i - 1].peak_bytes);
      EXPECT_LT(frontier[i].cost, frontier[i - 1].cost);
    }
  }
  EXPECT_EQ(frontier.back().cost, g.total_cost());
  // Overhead cap of 0: the smallest peak without recomputation.
  SolveResult none = milp->solve_overhead(g, 0.0, SolveOptions());
  ASSERT_EQ(none.status, SolveStatus::kSolved);
  testing::expect_replays(g, none.schedule);
  expect_same_cost(none.schedule.cost, g.total_cost(), "overhead 0");
  EXPECT_LE(none.schedule.peak_bytes, store_all_peak_bytes(g));
  // A generous cap reaches the minimum peak.
  SolveResult any = milp->solve_overhead(g, 10.0, SolveOptions());
  ASSERT_EQ(any.status, SolveStatus::kSolved);
  EXPECT_EQ(any.schedule.peak_bytes, frontier.front().peak_bytes);
}

}  // namespace
}  // namespace gradrecomp
