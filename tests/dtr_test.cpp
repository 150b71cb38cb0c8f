// `dtr` (Dynamic Tensor Rematerialization, greedy): valid schedules within the budget on chains,
// DAGs and architecture graphs; never better than the exact optimum; deterministic.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gradrecomp/architectures.h"
#include "gradrecomp/generators.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solver.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

const Solver& dtr() {
  const Solver* s = find_solver("dtr");
  EXPECT_NE(s, nullptr);
  return *s;
}

// x(10) -F1-> a(100) -F2-> b(10) -F3-> c(100); B3 reads c -> gb; B2 reads a, gb -> ga;
// B1 reads x, ga -> gx (all 10 bytes, every cost 1, total 6).
// Store-all peaks at 220 bytes while F3 runs (x, a, b, c). Under a 150-byte budget DTR must
// evict before F3: b is F3's input (pinned), x a graph input, so it evicts a (100 bytes, cost 1)
// and F3 runs at 120. B2 later needs a: DTR rematerialises it by recomputing F1 from x (cost 1),
// B2 runs at 130. Cost 7 = the optimum here.
using testing::recompute_example;  // drawn in tests/support/graphs.h

TEST(Dtr, EvictsAndRematerialisesTheStaleActivation) {
  Graph g = recompute_example();
  SolveResult r = dtr().solve_budget(g, 150, SolveOptions());
  ASSERT_EQ(r.status, SolveStatus::kSolved) << r.note;
  Simulation sim = testing::expect_replays(g, r.schedule);
  EXPECT_EQ(r.schedule.cost, 7.0);
  EXPECT_EQ(sim.peak_bytes, 130u);
  std::vector<NodeId> order = compute_sequence(r.schedule);
  std::vector<std::string> ids;
  for (NodeId n : order) ids.push_back(g.node(n).id);
  EXPECT_EQ(ids, (std::vector<std::string>{"F1", "F2", "F3", "B3", "F1", "B2", "B1"}));
  // At the store-all peak nothing is evicted.
  SolveResult full = dtr().solve_budget(g, 220, SolveOptions());
  ASSERT_EQ(full.status, SolveStatus::kSolved);
  EXPECT_EQ(full.schedule.cost, 6.0);
}

TEST(Dtr, BelowEveryNodesNeedsIsInfeasible) {
  // B2 runs with a, gb, its output ga and x (which B1 still needs): 130 bytes is a floor for any
  // schedule. Under 100 bytes DTR fails and reports the smallest peak it reached (by bisection on
  // the budget), here the optimum 130.
  Graph g = recompute_example();
  SolveResult r = dtr().solve_budget(g, 100, SolveOptions());
  EXPECT_EQ(r.status, SolveStatus::kInfeasible);
  EXPECT_EQ(r.min_feasible_peak_bytes, 130u);
  EXPECT_EQ(r.note, "dtr: budget 100 B is below the smallest peak DTR reached, 130 B");
}

void expect_valid_at_fractions(const Graph& g, const std::vector<double>& fractions) {
  const uint64_t full = store_all_peak_bytes(g);
  for (double f : fractions) {
    uint64_t budget = static_cast<uint64_t>(static_cast<double>(full) * f);
    SolveResult r = dtr().solve_budget(g, budget, SolveOptions());
    if (r.status == SolveStatus::kInfeasible) {
      EXPECT_GT(r.min_feasible_peak_bytes, budget) << g.name() << " at " << f;
      continue;
    }
    Simulation sim = testing::expect_replays(g, r.schedule);
    EXPECT_LE(sim.peak_bytes, budget) << g.name() << " at " << f;
    EXPECT_GE(r.schedule.cost, g.total_cost() * (1 - 1e-12)) << g.name();
    if (f >= 1.0) EXPECT_DOUBLE_EQ(r.schedule.cost, g.total_cost()) << g.name();
  }
}

TEST(Dtr, RespectsTheBudgetOnChainsAndDags) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    expect_valid_at_fractions(random_chain(20, seed), {1.0, 0.8, 0.6, 0.4, 0.25});
    expect_valid_at_fractions(random_dag(30, seed), {1.0, 0.8, 0.6, 0.4, 0.25});
  }
}

TEST(Dtr, RespectsTheBudgetOnArchitectures) {
  expect_valid_at_fractions(residual_net(8, ResidualNetOptions{.batch_size = 2, .image_size = 64}), {1.0, 0.7, 0.5, 0.3});
  expect_valid_at_fractions(transformer(3, TransformerOptions{.batch_size = 1, .sequence_length = 64, .model_dim = 32,
                                                              .heads = 4, .vocab_size = 100}),
                            {1.0, 0.7, 0.5, 0.3});
  expect_valid_at_fractions(unet(3, UNetOptions{.batch_size = 1, .image_size = 32, .base_channels = 8}),
                            {1.0, 0.7, 0.5, 0.3});
}

TEST(Dtr, NeverBeatsExhaustive) {
  const Solver* exhaustive = find_solver("exhaustive");
  if (!exhaustive) GTEST_SKIP() << "solver \"exhaustive\" is not registered";
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    Graph g = random_chain(4, seed);
    for (const Schedule& s : dtr().frontier(g, SolveOptions())) {
      testing::expect_replays(g, s);
      SolveResult best = exhaustive->solve_budget(g, s.peak_bytes, SolveOptions());
      ASSERT_EQ(best.status, SolveStatus::kSolved);
      EXPECT_GE(s.cost, best.schedule.cost * (1 - 1e-9)) << g.name() << " at " << s.peak_bytes;
    }
  }
}

TEST(Dtr, FrontierIsParetoAndDeterministic) {
  Graph g = random_dag(40, 3);
  std::vector<Schedule> a = dtr().frontier(g, SolveOptions());
  std::vector<Schedule> b = dtr().frontier(g, SolveOptions());
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    testing::expect_replays(g, a[i]);
    EXPECT_EQ(a[i].steps, b[i].steps);
    if (i > 0) {
      EXPECT_GT(a[i].peak_bytes, a[i - 1].peak_bytes);
      EXPECT_LT(a[i].cost, a[i - 1].cost);
    }
  }
  EXPECT_DOUBLE_EQ(a.back().cost, g.total_cost());  // the store-all budget needs no recomputation
  EXPECT_LT(a.front().peak_bytes, store_all_peak_bytes(g));
}

}  // namespace
}  // namespace gradrecomp
