// schedule_cost_lower_bound (the stage relaxation of include/gradrecomp/solvers/milp.h): hand-
// checked values, below every solver's answer and the exact optima, and what `auto` reports.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gradrecomp/error.h"
#include "gradrecomp/generators.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solvers/milp.h"
#include "milp/checkmate.h"
#include "milp/stage_relaxation.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

using testing::recompute_example;  // drawn in tests/support/graphs.h

constexpr double kTolerance = 1e-6;

// recompute_example:
//   x(10) -F1-> a(100) -F2-> b(10) -F3-> c(100) -B3-> gb(10) -B2(a, gb)-> ga(10) -B1(x, ga)-> gx(10)
// Costs all 1 (total 6). The relaxation checks memory right after each first computation:
// after F3, x (read by B1), b, c and a (if kept for B2) are live: 10 + 10 + 100 + 100 = 220. So a
// budget of 219 forces a to be dropped and F1 to run again before B2: bound 7 = the optimum
// (milp_test.cpp). At 130, B2 runs with x, a, gb and ga = 130: still 7. At 129 B2's own inputs and
// output (a, gb, ga = 120) plus x (a graph input B1 still reads: never recomputable) = 130 do not
// fit: no schedule exists, and the relaxation proves it without CBC.
TEST(LowerBound, HandChecked) {
  Graph g = recompute_example();
  struct Case { uint64_t budget; double bound; };
  for (Case c : {Case{220, 6}, Case{219, 7}, Case{130, 7}}) {
    CostLowerBound b = schedule_cost_lower_bound(g, c.budget);
    EXPECT_FALSE(b.infeasible) << c.budget;
    EXPECT_TRUE(b.relaxation_solved) << c.budget << ": " << b.method;
    EXPECT_NEAR(b.cost, c.bound, kTolerance) << c.budget << ": " << b.method;
    EXPECT_EQ(b.method.rfind("stage relaxation (", 0), 0u) << b.method;
  }
  // The LP alone: S[after F3, a] <= (219 - 120) / 100 = 0.99, so F1 is "recomputed" 0.01 times.
  CostLowerBound lp = schedule_cost_lower_bound(g, 219, LowerBoundOptions().with_integer(false));
  EXPECT_NEAR(lp.cost, 6.01, kTolerance) << lp.method;

  CostLowerBound below = schedule_cost_lower_bound(g, 129);
  EXPECT_TRUE(below.infeasible);
  EXPECT_EQ(below.method, "node \"B2\" runs with 130 B (its inputs, outputs and workspace, and the graph inputs "
                          "read after it), above the budget 129 B");
  CostLowerBound inputs = schedule_cost_lower_bound(g, 9);
  EXPECT_TRUE(inputs.infeasible);
  EXPECT_EQ(inputs.method, "the graph inputs alone take 10 bytes");
}

// The bound at a schedule's own peak can never exceed its cost, whichever solver made it.
void expect_below_every_solver(const Graph& g) {
  for (const Solver* solver : all_solvers()) {
    if (solver->unsupported_reason(g)) continue;
    if (solver->name() == "exhaustive" && g.num_nodes() > 8) continue;
    std::vector<Schedule> frontier;
    try {
      frontier = solver->frontier(g, SolveOptions().with_time_limit_seconds(20));
    } catch (const Error&) {
      continue;  // e.g. a heuristic with no schedule for this graph
    }
    for (const Schedule& s : frontier) {
      testing::expect_replays(g, s);
      CostLowerBound b = schedule_cost_lower_bound(g, s.peak_bytes);
      ASSERT_FALSE(b.infeasible) << g.name() << ", " << solver->name() << " at " << s.peak_bytes << ": " << b.method;
      EXPECT_LE(b.cost, s.cost * (1 + 1e-9)) << g.name() << ", " << solver->name() << " at " << s.peak_bytes;
      EXPECT_GE(b.cost, g.total_cost() * (1 - 1e-9));
    }
  }
}

// Two branches read the same input: F1 and F2 can run in either order. Only B is a pivot (comparable
// with every node), so the relaxation has one stage, ending at B; with a large budget it is the
// total cost.
//   x -> F1 -> a;  x -> F2 -> b;  B(a, b) -> g
TEST(LowerBound, PivotStagesWhenTheOrderIsNotUnique) {
  GraphBuilder b("two-branches");
  b.input("x", 10);
  b.node("F1", 1.0, {"x"}, {{"a", 100}});
  b.node("F2", 2.0, {"x"}, {{"b", 100}});
  b.node("B", 3.0, {"a", "b"}, {{"g", 10}});
  Graph g = std::move(b).build();
  CostLowerBound bound = schedule_cost_lower_bound(g, 1000);
  EXPECT_NEAR(bound.cost, 6.0, kTolerance);
  EXPECT_TRUE(bound.relaxation_solved);
  EXPECT_EQ(bound.method.rfind("stage relaxation (1 stage for 3 nodes, ", 0), 0u) << bound.method;
  // B runs with a, b and g: 210 bytes. x is not read after B, so 209 is infeasible.
  EXPECT_TRUE(schedule_cost_lower_bound(g, 209).infeasible);
  CostLowerBound big = schedule_cost_lower_bound(testing::recompute_example(), 220, LowerBoundOptions().with_max_nodes(5));
  EXPECT_EQ(big.cost, 6.0);
  // Above the node limit the loss-time relaxation (loss_time_bound_test.cpp) replaces the stage relaxation.
  EXPECT_NE(big.method.find("; the stage relaxation is tried up to 5 nodes (graph has 6)"), std::string::npos)
      << big.method;
}

// n blocks of two parallel branches joined, and their backward (7n + 1 nodes, several
// topological orders):
//   P_i(h_{i-1}) -> p_i;  Q_i(h_{i-1}) -> q_i;  M_i(p_i, q_i) -> h_i;  L(h_n) -> g_n;
//   backward i = n..1: GM_i(p_i, q_i, g_i) -> dp_i, dq_i;  GP_i(h_{i-1}, dp_i) -> u_i;
//                      GQ_i(h_{i-1}, dq_i) -> v_i;  GS_i(u_i, v_i) -> g_{i-1}
Graph branchy(int32_t n, uint64_t seed) {
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&state](uint64_t lo, uint64_t hi) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (state >> 33) % (hi - lo + 1);
  };
  auto id = [](const char* name, int32_t i) { return std::string(name) + std::to_string(i); };
  GraphBuilder b("branchy-" + std::to_string(n) + "-" + std::to_string(seed));
  b.input("h0", next(10, 100));
  for (int32_t i = 1; i <= n; ++i) {
    b.node(id("P", i), static_cast<double>(next(1, 5)), {id("h", i - 1)}, {{id("p", i), next(10, 100)}});
    b.node(id("Q", i), static_cast<double>(next(1, 5)), {id("h", i - 1)}, {{id("q", i), next(10, 100)}});
    b.node(id("M", i), static_cast<double>(next(1, 5)), {id("p", i), id("q", i)}, {{id("h", i), next(10, 100)}});
  }
  b.node("L", 1.0, {id("h", n)}, {{id("g", n), next(10, 100)}});
  for (int32_t i = n; i >= 1; --i) {
    b.node(id("GM", i), static_cast<double>(next(1, 5)), {id("p", i), id("q", i), id("g", i)},
           {{id("dp", i), next(10, 100)}, {id("dq", i), next(10, 100)}});
    b.node(id("GP", i), static_cast<double>(next(1, 5)), {id("h", i - 1), id("dp", i)}, {{id("u", i), next(10, 100)}});
    b.node(id("GQ", i), static_cast<double>(next(1, 5)), {id("h", i - 1), id("dq", i)}, {{id("v", i), next(10, 100)}});
    b.node(id("GS", i), static_cast<double>(next(1, 5)), {id("u", i), id("v", i)}, {{id("g", i - 1), next(10, 100)}});
  }
  return std::move(b).build();
}

// On graphs with parallel branches the bound stays below the exact optimum (exhaustive) and is
// above the total cost somewhere.
TEST(LowerBound, BelowTheExhaustiveOptimumWithParallelBranches) {
  const Solver* exhaustive = find_solver("exhaustive");
  ASSERT_NE(exhaustive, nullptr);
  int cases = 0, above_total = 0;
  for (auto [n, seeds] : {std::pair{1, 6}, std::pair{2, 2}}) {
    for (int32_t seed = 1; seed <= seeds; ++seed) {
      Graph g = branchy(n, static_cast<uint64_t>(seed));
      for (const Schedule& point : exhaustive->frontier(g, SolveOptions())) {
        for (uint64_t budget : {point.peak_bytes, (point.peak_bytes + store_all_peak_bytes(g)) / 2}) {
          SolveResult best = exhaustive->solve_budget(g, budget, SolveOptions());
          ASSERT_EQ(best.status, SolveStatus::kSolved);
          CostLowerBound b = schedule_cost_lower_bound(g, budget);
          ASSERT_FALSE(b.infeasible) << g.name() << " at " << budget << ": " << b.method;
          EXPECT_LE(b.cost, best.schedule.cost * (1 + 1e-9)) << g.name() << " at " << budget << ": " << b.method;
          ++cases;
          above_total += b.cost > g.total_cost() + kTolerance;
        }
      }
      expect_below_every_solver(g);
    }
  }
  std::printf("parallel branches: %d budgets, bound > total cost on %d\n", cases, above_total);
  EXPECT_GT(above_total, 0);
}

TEST(LowerBound, BelowEverySolversAnswerOnSmallGraphs) {
  register_milp_solver();
  for (int32_t n = 2; n <= 4; ++n) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      RandomDagOptions options;
      options.long_edge_probability = 0.6;
      expect_below_every_solver(random_dag(n, seed, options));
      expect_below_every_solver(random_chain(n + 1, seed));
    }
  }
  expect_below_every_solver(recompute_example());
  expect_below_every_solver(testing::spec_example_graph());
  expect_below_every_solver(testing::saved_heavy_chain());
}

// Against the exact optimum over all schedules (exhaustive) at every frontier budget, and one
// byte below each (where the bound must prove infeasibility or stay below the next point).
TEST(LowerBound, BelowTheExhaustiveOptimumAndTightOnSome) {
  const Solver* exhaustive = find_solver("exhaustive");
  ASSERT_NE(exhaustive, nullptr);
  int tight = 0, above_total = 0, cases = 0;
  for (int32_t n = 2; n <= 4; ++n) {
    for (uint64_t seed = 1; seed <= 4; ++seed) {
      for (const Graph& g : {random_dag(n, seed), random_chain(n + 1, seed)}) {
        std::vector<Schedule> frontier = exhaustive->frontier(g, SolveOptions());
        for (const Schedule& point : frontier) {
          for (uint64_t budget : {point.peak_bytes, point.peak_bytes - 1}) {
            SolveResult best = exhaustive->solve_budget(g, budget, SolveOptions());
            CostLowerBound b = schedule_cost_lower_bound(g, budget);
            if (best.status == SolveStatus::kInfeasible) continue;  // the bound may or may not see it
            ++cases;
            ASSERT_FALSE(b.infeasible) << g.name() << " at " << budget << ": " << b.method;
            EXPECT_LE(b.cost, best.schedule.cost * (1 + 1e-9)) << g.name() << " at " << budget;
            tight += std::abs(b.cost - best.schedule.cost) <= kTolerance * best.schedule.cost;
            above_total += b.cost > g.total_cost() + kTolerance;
          }
        }
      }
    }
  }
  // Not a property, a measurement that keeps the test honest: the bound is exact on most of these
  // tiny graphs and above the trivial total-cost bound on some.
  RecordProperty("cases", cases);
  RecordProperty("tight", tight);
  RecordProperty("above_total", above_total);
  std::printf("exhaustive comparison: %d budgets, bound = optimum on %d, bound > total cost on %d\n", cases, tight,
              above_total);
  EXPECT_GT(above_total, 0);
}

TEST(LowerBound, BelowTheMilpOptimum) {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    Graph g = random_dag(6, seed);
    const uint64_t full = store_all_peak_bytes(g);
    for (double f : {0.9, 0.75, 0.6}) {
      const uint64_t budget = static_cast<uint64_t>(static_cast<double>(full) * f);
      MilpSolveResult m = milp_solve_budget(g, budget, MilpOptions().with_time_limit_seconds(30));
      CostLowerBound b = schedule_cost_lower_bound(g, budget);
      if (m.result.status == SolveStatus::kInfeasible) continue;
      testing::expect_replays(g, m.result.schedule);
      EXPECT_LE(b.cost, m.result.schedule.cost * (1 + 1e-9)) << g.name() << " at " << f;
    }
  }
}

// A schedule within the budget is handed to CBC as a MIP start; the bound is the same.
TEST(LowerBound, KnownScheduleIsAMipStart) {
  const Solver* dag = find_solver("dag");
  ASSERT_NE(dag, nullptr);
  Graph g = random_dag(10, 1);
  const uint64_t budget = store_all_peak_bytes(g) * 8 / 10;
  SolveResult answer = dag->solve_budget(g, budget, SolveOptions());
  ASSERT_EQ(answer.status, SolveStatus::kSolved);
  testing::expect_replays(g, answer.schedule);
  CostLowerBound plain = schedule_cost_lower_bound(g, budget);
  CostLowerBound started = schedule_cost_lower_bound(g, budget, LowerBoundOptions(), &answer.schedule);
  EXPECT_FALSE(plain.stats.warm_started);
  EXPECT_TRUE(started.stats.warm_started);
  EXPECT_EQ(started.stats.warm_start_from, "dag");
  ASSERT_TRUE(plain.relaxation_solved && started.relaxation_solved);
  EXPECT_NEAR(plain.cost, started.cost, kTolerance * plain.cost);
  EXPECT_LE(started.cost, answer.schedule.cost * (1 + 1e-9));
}

TEST(LowerBound, RelaxationIsSmallerThanCheckmate) {
  Graph g = random_dag(10, 3);
  const uint64_t budget = store_all_peak_bytes(g) * 7 / 10;
  milp::StageRelaxation relaxation(g, budget);
  milp::CheckmateFormulation checkmate(g, milp::Objective::kCost, budget, milp::FormulationOptions());
  milp::FormulationSize r = relaxation.size(), c = checkmate.size();
  EXPECT_LT(r.columns, c.columns);
  EXPECT_LT(r.rows, c.rows);
  EXPECT_EQ(r.frees, 0);
  EXPECT_EQ(r.u, 0);
  EXPECT_LE(r.r, c.r);
}

TEST(LowerBound, AutoReportsBoundAndGap) {
  register_milp_solver();
  const Solver* automatic = find_solver("auto");
  ASSERT_NE(automatic, nullptr);
  Graph g = random_dag(8, 2);
  const uint64_t full = store_all_peak_bytes(g);
  // At the store-all peak nothing is recomputed: bound = cost = total, proven optimal.
  SolveResult at_full = automatic->solve_budget(g, full, SolveOptions());
  ASSERT_EQ(at_full.status, SolveStatus::kSolved);
  testing::expect_replays(g, at_full.schedule);
  ASSERT_TRUE(at_full.lower_bound_cost.has_value());
  EXPECT_NEAR(*at_full.lower_bound_cost, g.total_cost(), kTolerance * g.total_cost());
  EXPECT_TRUE(at_full.proven_optimal);
  EXPECT_NE(at_full.note.find("gap 0.00% (stage relaxation"), std::string::npos) << at_full.note;

  SolveResult tight = automatic->solve_budget(g, full * 8 / 10, SolveOptions());
  ASSERT_EQ(tight.status, SolveStatus::kSolved);
  testing::expect_replays(g, tight.schedule);
  ASSERT_TRUE(tight.lower_bound_cost.has_value());
  EXPECT_LE(*tight.lower_bound_cost, tight.schedule.cost);
  EXPECT_GE(*tight.lower_bound_cost, g.total_cost() * (1 - 1e-9));
  EXPECT_NE(tight.note.find("lower bound"), std::string::npos) << tight.note;
  EXPECT_NE(tight.note.find("gap"), std::string::npos) << tight.note;

  SolveResult capped = automatic->solve_overhead(g, 0.1, SolveOptions());
  ASSERT_EQ(capped.status, SolveStatus::kSolved);
  testing::expect_replays(g, capped.schedule);
  ASSERT_TRUE(capped.lower_bound_cost.has_value());
  EXPECT_LE(*capped.lower_bound_cost, capped.schedule.cost);
}

}  // namespace
}  // namespace gradrecomp
