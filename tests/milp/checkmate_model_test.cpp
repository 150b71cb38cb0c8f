// The Checkmate formulation itself (src/milp/checkmate.h): a schedule encoded as a warm start is
// a feasible point of the model at its own peak with the schedule's cost, decode() inverts
// encode(), and the model never claims less memory than the replay.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gradrecomp/generators.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solver.h"
#include "milp/checkmate.h"
#include "milp/linear_program.h"
#include "support/graphs.h"

namespace gradrecomp::milp {
namespace {

// Fixes every integer column to the encoded value (1 if listed, else 0) and solves the LP that
// remains (U, and S / FREE when continuous).
LpOutcome solve_fixed(const CheckmateFormulation& f, const std::vector<std::pair<int32_t, double>>& ones) {
  LinearProgram lp = f.program();
  std::vector<double> value(lp.columns.size(), 0.0);
  for (auto [column, v] : ones) value[column] = v;
  for (size_t c = 0; c < lp.columns.size(); ++c) {
    if (lp.columns[c].integer) lp.columns[c].lower = lp.columns[c].upper = value[c];
  }
  CbcSettings settings;
  settings.relax_integrality = true;
  settings.time_limit_seconds = 30;
  return solve_with_cbc(lp, settings);
}

void expect_encoding_feasible(const Graph& g, const Schedule& s, bool continuous) {
  // The budget is the replayed peak of the schedule in the model's normal form (stages sorted).
  FormulationOptions options;
  options.continuous_auxiliaries = continuous;
  CheckmateFormulation probe(g, Objective::kCost, g.total_bytes_bound(), options);
  auto ones = probe.encode(compute_sequence(s));
  ASSERT_TRUE(ones.has_value()) << g.name();
  std::vector<double> values(probe.program().columns.size(), 0.0);
  for (auto [column, v] : *ones) values[column] = v;
  std::vector<NodeId> normal = probe.decode(values);
  Schedule replayed = schedule_from_computes(g, normal, "normal-form");
  testing::expect_replays(g, replayed);

  CheckmateFormulation f(g, Objective::kCost, replayed.peak_bytes, options);
  auto at_peak = f.encode(compute_sequence(s));
  ASSERT_TRUE(at_peak.has_value());
  LpOutcome fixed = solve_fixed(f, *at_peak);
  ASSERT_EQ(fixed.status, LpStatus::kOptimal) << g.name() << ": encoded schedule infeasible at its replayed peak "
                                              << replayed.peak_bytes;
  EXPECT_NEAR(fixed.objective * f.objective_scale(), replayed.cost, 1e-6 * replayed.cost) << g.name();
  // One byte less must be infeasible for the same decisions: the model is not looser than the
  // replay (with binary S and FREE fixed the memory is exact).
  if (!continuous && replayed.peak_bytes > 0) {
    CheckmateFormulation tight(g, Objective::kCost, replayed.peak_bytes - 1, options);
    auto ones_tight = tight.encode(compute_sequence(s));
    ASSERT_TRUE(ones_tight.has_value());
    EXPECT_NE(solve_fixed(tight, *ones_tight).status, LpStatus::kOptimal) << g.name();
  }
}

TEST(CheckmateModel, EncodedSchedulesAreFeasibleAtTheirPeak) {
  const Solver* dtr = find_solver("dtr");
  ASSERT_NE(dtr, nullptr);
  std::vector<Graph> graphs;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    graphs.push_back(random_dag(6, seed));
    graphs.push_back(random_chain(4, seed, RandomChainOptions{.with_workspace = true}));
  }
  for (const Graph& g : graphs) {
    for (const Schedule& s : dtr->frontier(g, SolveOptions())) {
      expect_encoding_feasible(g, s, false);
      expect_encoding_feasible(g, s, true);
    }
  }
}

TEST(CheckmateModel, RejectsOrdersNotInFileOrder) {
  // F1 and F2 both read x; computing F2 first is a valid schedule but not of the model's form.
  GraphBuilder b("two-branches");
  b.input("x", 10);
  b.node("F1", 1, {"x"}, {{"a", 10}});
  b.node("F2", 1, {"x"}, {{"b", 10}});
  b.node("B", 1, {"a", "b"}, {{"g", 10}});
  Graph g = std::move(b).build();
  CheckmateFormulation f(g, Objective::kCost, 1000, FormulationOptions());
  EXPECT_FALSE(f.encode({1, 0, 2}).has_value());
  EXPECT_TRUE(f.encode({0, 1, 2}).has_value());
}

TEST(CheckmateModel, PruningDropsOnlyUselessStages) {
  //   x -F1-> a -F2-> b          (b has no reader)
  //   x -F3-> c -F4-> d
  // Nothing after F2 depends on F1 or F2, so recomputing them in stage 2 (F3) or 3 (F4) is
  // useless: R[2,F1], R[2,F2], R[3,F1], R[3,F2] are pruned. R[3,F3] stays (F4 reads c).
  // Columns R: 1 + 2 + 3 + 4 = 10 without pruning, 10 - 4 = 6 with it.
  GraphBuilder b("prunable");
  b.input("x", 10);
  b.node("F1", 1, {"x"}, {{"a", 10}});
  b.node("F2", 1, {"a"}, {{"b", 10}});
  b.node("F3", 1, {"x"}, {{"c", 10}});
  b.node("F4", 1, {"c"}, {{"d", 10}});
  Graph g = std::move(b).build();
  FormulationOptions pruned, full;
  full.prune = false;
  EXPECT_EQ(CheckmateFormulation(g, Objective::kCost, 100, full).size().r, 10);
  EXPECT_EQ(CheckmateFormulation(g, Objective::kCost, 100, pruned).size().r, 6);
}

}  // namespace
}  // namespace gradrecomp::milp
