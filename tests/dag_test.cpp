#include <gtest/gtest.h>

#include <algorithm>

#ifdef GRADRECOMP_HAVE_MILP
#include "gradrecomp/solvers/milp.h"
#endif
#include "gradrecomp/architectures.h"
#include "gradrecomp/error.h"
#include "gradrecomp/generators.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solver.h"
#include "gradrecomp/solvers/chain_dp.h"
#include "gradrecomp/solvers/dag.h"
#include "gradrecomp/solvers/exhaustive.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

const Solver& dag() {
  const Solver* s = find_solver("dag");
  EXPECT_NE(s, nullptr);
  return *s;
}

std::vector<TensorId> tensors(const Graph& g, std::initializer_list<const char*> ids) {
  std::vector<TensorId> out;
  for (const char* id : ids) out.push_back(g.find_tensor(id));
  return out;
}

std::vector<NodeId> nodes(const Graph& g, std::initializer_list<const char*> ids) {
  std::vector<NodeId> out;
  for (const char* id : ids) out.push_back(g.find_node(id));
  return out;
}

// A skip connection (sizes in bytes, costs in brackets):
//
//   x(10) -F1[1]-> a(100) -F2[2]-> b(40) -F3[3](a, b)-> c(60) -F4[1]-> loss(1)
//                  '-------------------^
//   B4[1]: c, loss      -> dc(60)
//   B3[6]: a, b, dc     -> da3(100), db(40)
//   B2[4]: a, db        -> da2(100)
//   B1[2]: x, da3, da2  -> dx(10)
//
// Forward positions F1..F4 = 0..3. a crosses cuts 1 and 2 (read by F3), so cut 2 passes a
// through: the articulation cuts are 1 and 3 -> blocks [F1 | B2 B1], [F2 F3 | B3], [F4 | B4].
Graph skip_graph() {
  GraphBuilder b("skip");
  b.input("x", 10);
  b.node("F1", 1, {"x"}, {{"a", 100}});
  b.node("F2", 2, {"a"}, {{"b", 40}});
  b.node("F3", 3, {"a", "b"}, {{"c", 60}});
  b.node("F4", 1, {"c"}, {{"loss", 1}});
  b.node("B4", 1, {"c", "loss"}, {{"dc", 60}});
  b.node("B3", 6, {"a", "b", "dc"}, {{"da3", 100}, {"db", 40}});
  b.node("B2", 4, {"a", "db"}, {{"da2", 100}});
  b.node("B1", 2, {"x", "da3", "da2"}, {{"dx", 10}});
  return std::move(b).build();
}

TEST(DagPhases, InferredFromTheLoss) {
  Graph g = skip_graph();
  DagPhases p = split_phases(g);
  EXPECT_EQ(p.forward, nodes(g, {"F1", "F2", "F3", "F4"}));
  EXPECT_EQ(p.backward, nodes(g, {"B4", "B3", "B2", "B1"}));
  EXPECT_NE(p.rule.find("the loss is \"F4\""), std::string::npos) << p.rule;
  // random_dag mirrors its forward nodes: the first half is forward.
  Graph r = random_dag(9, 4);
  EXPECT_EQ(split_phases(r).forward.size(), 9u);
}

// With meta the split is taken as given, even where inference would differ: here "N" (whose
// output only the next node reads) is declared backward.
TEST(DagPhases, MetaWinsAndMustBeComplete) {
  GraphBuilder b("meta");
  b.input("x", 1);
  b.node("F", 1, {"x"}, {{"y", 1}}, 0, R"({"phase": "forward"})");
  b.node("N", 1, {"y"}, {{"z", 1}}, 0, R"({"phase": "backward"})");
  b.node("M", 1, {"z", "x"}, {{"w", 1}}, 0, R"({"phase": "backward"})");
  Graph g = std::move(b).build();
  DagPhases p = split_phases(g);
  EXPECT_EQ(p.forward, nodes(g, {"F"}));
  EXPECT_EQ(p.rule, "node meta \"phase\"");

  GraphBuilder c("partial");
  c.input("x", 1);
  c.node("F", 1, {"x"}, {{"y", 1}}, 0, R"({"phase": "forward"})");
  c.node("B", 1, {"y"}, {{"z", 1}});
  Graph h = std::move(c).build();
  try {
    split_phases(h);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "node \"B\" has no meta \"phase\" but other nodes do (expected \"forward\" or "
                           "\"backward\" on every node, or on none)");
  }
  EXPECT_TRUE(dag().unsupported_reason(h).has_value());
}

TEST(DagPhases, ForwardReadingBackwardIsRejected) {
  GraphBuilder b("bad");
  b.input("x", 1);
  b.node("F", 1, {"x"}, {{"y", 1}}, 0, R"({"phase": "forward"})");
  b.node("B", 1, {"y"}, {{"g", 1}}, 0, R"({"phase": "backward"})");
  b.node("G", 1, {"g"}, {{"h", 1}}, 0, R"({"phase": "forward"})");
  Graph g = std::move(b).build();
  try {
    split_phases(g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("forward node \"G\" reads tensor \"g\" of backward node \"B\""),
              std::string::npos) << e.what();
  }
}

TEST(DagBlocks, SkipGraphArticulationCuts) {
  Graph g = skip_graph();
  DagDecomposition d = decompose_dag(g, split_phases(g), {});
  EXPECT_EQ(d.cuts, (std::vector<int32_t>{1, 3}));
  ASSERT_EQ(d.blocks.size(), 3u);
  EXPECT_EQ(d.baseline, tensors(g, {"x"}));
  EXPECT_EQ(d.baseline_bytes, 10u);
  const DagBlock& b1 = d.blocks[0];
  EXPECT_EQ(b1.forward, nodes(g, {"F1"}));
  EXPECT_EQ(b1.backward, nodes(g, {"B2", "B1"}));  // B2 reads a (position 0) only
  EXPECT_EQ(b1.output, tensors(g, {"a"}));
  EXPECT_EQ(b1.gradient_in, tensors(g, {"da3", "db"}));
  const DagBlock& b2 = d.blocks[1];
  EXPECT_EQ(b2.forward, nodes(g, {"F2", "F3"}));
  EXPECT_EQ(b2.backward, nodes(g, {"B3"}));
  EXPECT_EQ(b2.input, tensors(g, {"a"}));
  EXPECT_EQ(b2.output, tensors(g, {"c"}));
  EXPECT_EQ(b2.saved, tensors(g, {"b"}));
  EXPECT_EQ(b2.gradient_in, tensors(g, {"dc"}));
  EXPECT_EQ(b2.gradient_out, tensors(g, {"da3", "db"}));
  const DagBlock& b3 = d.blocks[2];
  EXPECT_EQ(b3.backward, nodes(g, {"B4"}));
  EXPECT_EQ(b3.saved, tensors(g, {"loss"}));
  EXPECT_TRUE(b3.output.empty());

  // Every position: cut 2 too; a then crosses two cuts (block 2's output is {a, b}).
  DagDecomposition every = decompose_dag(g, split_phases(g), DagCutOptions().with_policy(DagCutPolicy::kEveryPosition));
  EXPECT_EQ(every.cuts, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(every.blocks[1].output, tensors(g, {"a", "b"}));
  EXPECT_EQ(every.blocks[2].input, tensors(g, {"a", "b"}));
  // Groups of 2 from the second cut: only cut 3 stays.
  DagDecomposition grouped =
      decompose_dag(g, split_phases(g), DagCutOptions().with_policy(DagCutPolicy::kEveryPosition).with_group(2, 1));
  EXPECT_EQ(grouped.cuts, (std::vector<int32_t>{2}));
  EXPECT_THROW(decompose_dag(g, split_phases(g), DagCutOptions().with_group(2, 2)), Error);
}

// x -F1-> a -N-> n -R-> r -F4-> loss; the backward reads a (BN), r (BR, BF4) but never n
// (like batch norm -> relu): the cut after N is useless and merged away. (Phases come from meta:
// inference needs every forward node to have an output some backward node reads.)
TEST(DagBlocks, CutsNobodyReadsBackwardAreMerged) {
  const std::string fwd = R"({"phase": "forward"})", bwd = R"({"phase": "backward"})";
  GraphBuilder b("bn-relu");
  b.input("x", 8);
  b.node("F1", 1, {"x"}, {{"a", 8}}, 0, fwd);
  b.node("N", 1, {"a"}, {{"n", 8}}, 0, fwd);
  b.node("R", 1, {"n"}, {{"r", 8}}, 0, fwd);
  b.node("F4", 1, {"r"}, {{"loss", 1}}, 0, fwd);
  b.node("BF4", 1, {"r", "loss"}, {{"dr", 8}}, 0, bwd);
  b.node("BR", 1, {"r", "dr"}, {{"dn", 8}}, 0, bwd);
  b.node("BN", 1, {"a", "dn"}, {{"da", 8}}, 0, bwd);
  b.node("B1", 1, {"x", "da"}, {{"dx", 8}}, 0, bwd);
  Graph g = std::move(b).build();
  EXPECT_EQ(decompose_dag(g, split_phases(g), {}).cuts, (std::vector<int32_t>{1, 2, 3}));
  DagDecomposition useful = decompose_dag(g, split_phases(g), DagCutOptions().with_useful_cuts_only(true));
  EXPECT_EQ(useful.cuts, (std::vector<int32_t>{1, 3}));  // n (cut 2) is internal to [N R]
}

// Block 2 of the skip graph, [F2 F3 | B3], holding a(1) = {a} (100 bytes):
//   forward-discard: F2 makes b (100 + 40 = 140), F3 makes c (+60 = 200), b dies: fd = 200.
//   keep {b, c}: kept 100; backward starts with a, c, b, dc (260), c dies at once (B3 does not
//   read it; B4 did), B3 makes da3 + db: 200 + 140 = 340. The model's floor a + kept + d(2) +
//   d(1) = 100 + 100 + 60 + 140 = 400 is higher, so bw = 400.
//   keep {c} only: kept 60; backward reruns F2 (160 + 40 = 200), then B3 (340); floor
//   100 + 60 + 60 + 140 = 360. It costs F2 (2.0) again: 8.0 instead of 6.0.
TEST(DagModel, SkipGraphMenu) {
  Graph g = skip_graph();
  DagDecomposition d = decompose_dag(g, split_phases(g), {});
  DagChainModel m = build_dag_chain_model(g, d);
  ASSERT_EQ(m.model.length(), 3);
  EXPECT_EQ(m.model.baseline_bytes, 10u);
  const ChainModelStage& s = m.model.stages[1];
  EXPECT_EQ(s.activation_bytes, 60u);
  EXPECT_EQ(s.gradient_bytes, 140u);
  EXPECT_EQ(s.forward_peak_bytes, 200u);
  EXPECT_DOUBLE_EQ(s.forward_cost, 5.0);
  ASSERT_EQ(s.keep_options.size(), 2u);
  EXPECT_EQ(s.keep_options[0].kept_bytes, 100u);
  EXPECT_EQ(s.keep_options[0].forward_peak_bytes, 200u);
  EXPECT_EQ(s.keep_options[0].backward_peak_bytes, 400u);
  EXPECT_DOUBLE_EQ(s.keep_options[0].backward_cost, 6.0);
  EXPECT_EQ(m.options[1][0].backward_sequence, nodes(g, {"B3"}));
  EXPECT_EQ(s.keep_options[1].kept_bytes, 60u);
  EXPECT_EQ(s.keep_options[1].backward_peak_bytes, 360u);
  EXPECT_DOUBLE_EQ(s.keep_options[1].backward_cost, 8.0);
  EXPECT_EQ(m.options[1][1].backward_sequence, nodes(g, {"F2", "B3"}));
  validate_chain_model(m.model);  // the chain DP's own consistency check
}

// The model is an upper bound: every plan of the DP's frontier replays (simulator) at or below
// its model peak, at exactly its model cost, for every decomposition.
TEST(DagModel, ReplayNeverExceedsTheModel) {
  std::vector<Graph> graphs = {skip_graph(), random_dag(12, 1), random_dag(25, 2), residual_net(3)};
  for (const Graph& g : graphs) {
    for (DagCutPolicy policy : {DagCutPolicy::kNoPassThrough, DagCutPolicy::kEveryPosition}) {
      for (int32_t group : {1, 2}) {
        DagCutOptions cut = DagCutOptions().with_policy(policy).with_useful_cuts_only(group > 1).with_group(group);
        DagDecomposition d = decompose_dag(g, split_phases(g), cut);
        DagChainModel m = build_dag_chain_model(g, d);
        ChainDp dp(m.model);
        for (const ChainFrontierPoint& point : dp.frontier()) {
          std::optional<ChainPlan> plan = dp.plan_for_budget(point.peak_bytes);
          ASSERT_TRUE(plan);
          Schedule s = schedule_from_computes(g, dag_plan_computes(d, m, plan->ops), "test");
          testing::expect_replays(g, s);
          EXPECT_LE(s.peak_bytes, plan->peak_bytes) << g.name();
          EXPECT_NEAR(s.cost, plan->cost, 1e-9 * plan->cost) << g.name();
        }
      }
    }
  }
}

std::vector<Graph> varied_graphs() {
  std::vector<Graph> graphs;
  graphs.push_back(testing::spec_example_graph());
  graphs.push_back(skip_graph());
  for (uint64_t seed = 1; seed <= 3; ++seed) graphs.push_back(random_dag(20, seed));
  graphs.push_back(random_dag(40, 9, RandomDagOptions{.max_fan_in = 4, .long_edge_probability = 0.5}));
  graphs.push_back(residual_net(4));
  graphs.push_back(transformer(1, TransformerOptions{.batch_size = 1, .sequence_length = 64, .model_dim = 64,
                                                     .heads = 2, .vocab_size = 100}));
  graphs.push_back(unet(2, UNetOptions{.batch_size = 1, .image_size = 32}));
  return graphs;
}

TEST(DagSolver, EveryFrontierScheduleReplays) {
  for (const Graph& g : varied_graphs()) {
    std::vector<Schedule> f = dag().frontier(g, {});
    ASSERT_FALSE(f.empty()) << g.name();
    for (size_t i = 0; i < f.size(); ++i) {
      testing::expect_replays(g, f[i]);
      if (i > 0) {
        EXPECT_GT(f[i].peak_bytes, f[i - 1].peak_bytes) << g.name();
        EXPECT_LT(f[i].cost, f[i - 1].cost) << g.name();
      }
    }
    // The cheapest end is the no-recomputation cost, within the store-all peak.
    EXPECT_NEAR(f.back().cost, g.total_cost(), 1e-9 * g.total_cost()) << g.name();
    EXPECT_LE(f.back().peak_bytes, store_all_peak_bytes(g)) << g.name();
  }
}

// On chains the decomposition is the chain itself, so dag can do everything chain-dp does; its
// menus (drop the saved tensor, groups of stages) may do better, never worse.
TEST(DagSolver, ChainsMatchChainDp) {
  const Solver* chain_dp = find_solver("chain-dp");
  if (!chain_dp) GTEST_SKIP() << "solver \"chain-dp\" is not registered";
  int equal = 0, better = 0;
  for (int32_t n : {1, 3, 8, 20}) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      Graph g = random_chain(n, seed);
      const uint64_t store_all = store_all_peak_bytes(g);
      for (double fraction : {1.0, 0.8, 0.6, 0.45, 0.3}) {
        const uint64_t budget = static_cast<uint64_t>(fraction * static_cast<double>(store_all));
        SolveResult a = dag().solve_budget(g, budget, {});
        SolveResult b = chain_dp->solve_budget(g, budget, {});
        if (b.status != SolveStatus::kSolved) continue;
        ASSERT_EQ(a.status, SolveStatus::kSolved) << g.name() << " at " << budget;
        testing::expect_replays(g, a.schedule);
        EXPECT_LE(a.schedule.cost, b.schedule.cost * (1 + 1e-9)) << g.name() << " at " << budget;
        (a.schedule.cost < b.schedule.cost * (1 - 1e-9) ? better : equal)++;
      }
    }
  }
  // With a single keep option per stage the model is chain-dp's, so its frontier is the same.
  Graph g = random_chain(12, 5);
  DagDecomposition d = decompose_dag(g, split_phases(g), {});
  ChainDp mine(build_dag_chain_model(g, d, /*max_options=*/1).model);
  std::vector<Schedule> theirs = chain_dp->frontier(g, {});
  ASSERT_EQ(mine.frontier().size(), theirs.size());
  for (size_t i = 0; i < theirs.size(); ++i) {
    EXPECT_EQ(mine.frontier()[i].peak_bytes, theirs[i].peak_bytes);
    EXPECT_NEAR(mine.frontier()[i].cost, theirs[i].cost, 1e-9 * theirs[i].cost);
  }
  RecordProperty("equal", equal);
  RecordProperty("better", better);
  EXPECT_GT(equal, 0);
}

// Brute force over every schedule of the spec (exhaustive A*) on random DAGs of 3-6 forward
// nodes, at every point of its frontier that dag reaches. Measured here: worst cost ratio 1.0695,
// 79 of 80 points optimal. Over 20 seeds of 3-7 forward nodes (docs/benchmarks/dag.md): worst
// 1.62, 303 of 341 points within 1%, and 58 exhaustive frontier points below dag's smallest
// peak -- the 1% target of issue 3 is NOT met everywhere. The optimum there recomputes backward
// nodes whose long-edge gradients it freed, or holds gradients differently, outside the chain
// model. This test pins the measured bound so a regression shows, and checks that dag is never
// better than the optimum (which would be a replay bug).
TEST(DagSolver, SmallDagsAgainstExhaustive) {
  const Solver* exhaustive = find_solver("exhaustive");
  if (!exhaustive) GTEST_SKIP() << "solver \"exhaustive\" is not registered";
  double worst = 1;
  int points = 0, unreached = 0, optimal = 0;
  for (int32_t n = 3; n <= 6; ++n) {
    for (uint64_t seed = 1; seed <= 8; ++seed) {
      Graph g = random_dag(n, seed);
      std::vector<Schedule> best = exhaustive->frontier(g, {});
      std::vector<Schedule> mine = dag().frontier(g, {});
      for (const Schedule& e : best) {
        SolveResult r = pick_for_budget(g, mine, e.peak_bytes);
        if (r.status != SolveStatus::kSolved) {
          ++unreached;
          continue;
        }
        ++points;
        EXPECT_GE(r.schedule.cost, e.cost * (1 - 1e-9)) << g.name();
        double ratio = r.schedule.cost / e.cost;
        if (ratio <= 1 + 1e-9) ++optimal;
        worst = std::max(worst, ratio);
      }
      EXPECT_EQ(mine.back().peak_bytes, best.back().peak_bytes) << g.name();  // store-all end
    }
  }
  RecordProperty("worst_ratio", std::to_string(worst));
  RecordProperty("points", points);
  RecordProperty("optimal_points", optimal);
  RecordProperty("unreached_points", unreached);
  std::cout << "dag vs exhaustive: worst cost ratio " << worst << " over " << points << " points (" << optimal
            << " optimal); " << unreached << " exhaustive points below dag's smallest peak\n";
  EXPECT_LE(worst, 1.07);
  EXPECT_GE(optimal, points * 9 / 10);
}

TEST(DagSolver, AgainstMilpWithinOnePercent) {
#ifdef GRADRECOMP_HAVE_MILP
  if (!find_solver("milp")) register_milp_solver();
#endif
  const Solver* milp = find_solver("milp");
  if (!milp) GTEST_SKIP() << "solver \"milp\" is not registered in this binary (optional CBC target)";
  Graph g = random_dag(10, 1);
  const uint64_t store_all = store_all_peak_bytes(g);
  for (double fraction : {0.9, 0.7}) {
    const uint64_t budget = static_cast<uint64_t>(fraction * static_cast<double>(store_all));
    SolveResult exact = milp->solve_budget(g, budget, SolveOptions().with_time_limit_seconds(30));
    SolveResult mine = dag().solve_budget(g, budget, {});
    if (exact.status != SolveStatus::kSolved || mine.status != SolveStatus::kSolved) continue;
    testing::expect_replays(g, mine.schedule);
    EXPECT_LE(mine.schedule.cost, exact.schedule.cost * 1.01) << "budget " << budget;
  }
}

TEST(DagSolver, PeakNeverRisesAsTheBudgetFalls) {
  for (const Graph& g : {random_dag(30, 5), residual_net(4), unet(2, UNetOptions{.batch_size = 1, .image_size = 32})}) {
    std::vector<Schedule> f = dag().frontier(g, {});
    const uint64_t high = store_all_peak_bytes(g), low = f.front().peak_bytes;
    uint64_t previous_peak = UINT64_MAX;
    double previous_cost = 0;
    for (int i = 0; i <= 12; ++i) {
      const uint64_t budget = high - (high - low) * static_cast<uint64_t>(i) / 12;
      SolveResult r = dag().solve_budget(g, budget, {});
      ASSERT_EQ(r.status, SolveStatus::kSolved) << g.name() << " at " << budget;
      testing::expect_replays(g, r.schedule);
      EXPECT_LE(r.schedule.peak_bytes, previous_peak) << g.name() << " at " << budget;
      EXPECT_GE(r.schedule.cost, previous_cost * (1 - 1e-12)) << g.name() << " at " << budget;
      previous_peak = r.schedule.peak_bytes;
      previous_cost = r.schedule.cost;
    }
  }
}

TEST(DagSolver, Deterministic) {
  for (const Graph& g : {random_dag(30, 8), residual_net(4)}) {
    std::vector<Schedule> f = dag().frontier(g, {});
    const uint64_t budget = (f.front().peak_bytes + f.back().peak_bytes) / 2;
    SolveResult a = dag().solve_budget(g, budget, {});
    SolveResult b = dag().solve_budget(g, budget, {});
    ASSERT_EQ(a.status, SolveStatus::kSolved);
    EXPECT_EQ(a.schedule.steps, b.schedule.steps);
    EXPECT_EQ(a.note, b.note);
    std::vector<Schedule> fa = dag().frontier(g, {}), fb = dag().frontier(g, {});
    ASSERT_EQ(fa.size(), fb.size());
    for (size_t i = 0; i < fa.size(); ++i) EXPECT_EQ(fa[i].steps, fb[i].steps);
  }
}

TEST(DagSolver, InfeasibleBudgetReportsTheSmallestPeak) {
  Graph g = random_dag(15, 3);
  std::vector<Schedule> f = dag().frontier(g, {});
  const uint64_t smallest = f.front().peak_bytes;
  SolveResult r = dag().solve_budget(g, smallest - 1, {});
  EXPECT_EQ(r.status, SolveStatus::kInfeasible);
  EXPECT_EQ(r.min_feasible_peak_bytes, smallest);
  EXPECT_NE(r.note.find("is below the smallest peak dag reaches"), std::string::npos) << r.note;
  SolveResult ok = dag().solve_budget(g, smallest, {});
  ASSERT_EQ(ok.status, SolveStatus::kSolved);
  EXPECT_EQ(ok.schedule.peak_bytes, smallest);
  EXPECT_EQ(*ok.schedule.budget_bytes, smallest);
  testing::expect_replays(g, ok.schedule);
}

TEST(DagSolver, OverheadDirection) {
  Graph g = residual_net(4);
  std::vector<Schedule> f = dag().frontier(g, {});
  SolveResult none = dag().solve_overhead(g, 0.0, {});
  ASSERT_EQ(none.status, SolveStatus::kSolved);
  EXPECT_EQ(none.schedule.peak_bytes, f.back().peak_bytes);
  SolveResult any = dag().solve_overhead(g, 10.0, {});
  ASSERT_EQ(any.status, SolveStatus::kSolved);
  EXPECT_EQ(any.schedule.peak_bytes, f.front().peak_bytes);
  SolveResult tenth = dag().solve_overhead(g, 0.1, {});
  ASSERT_EQ(tenth.status, SolveStatus::kSolved);
  EXPECT_LE(overhead_of(g, tenth.schedule.cost), 0.1 + 1e-9);
  EXPECT_LT(tenth.schedule.peak_bytes, none.schedule.peak_bytes);
  testing::expect_replays(g, tenth.schedule);
}

// Large graphs take the windowed single-budget path (> 200 nodes): still valid and within budget.
TEST(DagSolver, LargeGraphSingleBudget) {
  Graph g = residual_net(20);
  ASSERT_GT(g.num_nodes(), 200);
  const uint64_t budget = store_all_peak_bytes(g) / 2;
  SolveResult r = dag().solve_budget(g, budget, {});
  ASSERT_EQ(r.status, SolveStatus::kSolved) << r.note;
  testing::expect_replays(g, r.schedule);
  EXPECT_LE(r.schedule.peak_bytes, budget);
  EXPECT_LT(overhead_of(g, r.schedule.cost), 0.2);
}

// Chains of more than 64 blocks are coarsened two ways: grouped down to <= 64 stages with short
// menus (3 prefixes, eager backward) and down to <= 30 with full menus; the answer is at least as
// cheap as each of them alone (on BERT-Large's measured graph the second is much better, on a
// 48-layer GPT-2 the first). Each is rebuilt here from the public pieces.
TEST(DagSolver, LongChainsOfBlocksTakeTheBetterCoarsening) {
  Graph g = transformer(36);
  const DagPhases phases = split_phases(g);
  const DagCutOptions first = DagCutOptions().with_useful_cuts_only(true);
  const size_t blocks = decompose_dag(g, phases, first).blocks.size();
  ASSERT_GT(blocks, 64u);
  const uint64_t budget = store_all_peak_bytes(g) * 35 / 100;
  SolveResult r = dag().solve_budget(g, budget, {});
  ASSERT_EQ(r.status, SolveStatus::kSolved) << r.note;
  testing::expect_replays(g, r.schedule);
  EXPECT_NE(r.note.find("best of 2 block decompositions"), std::string::npos) << r.note;
  for (size_t most : {size_t{64}, size_t{30}}) {
    const int32_t group = static_cast<int32_t>((blocks + most - 1) / most);
    DagDecomposition d = decompose_dag(g, phases, DagCutOptions(first).with_group(group, 0));
    DagChainModel m = most == 64 ? build_dag_chain_model(g, d, 3, /*with_lazy=*/false) : build_dag_chain_model(g, d);
    ChainDp dp(m.model);
    std::optional<ChainPlan> plan = dp.plan_for_budget(budget);
    ASSERT_TRUE(plan.has_value()) << "grouped down to " << most;
    Schedule alone = schedule_from_computes(g, dag_plan_computes(d, m, plan->ops), "alone");
    EXPECT_LE(r.schedule.cost, alone.cost * (1 + 1e-12)) << "grouped down to " << most << ": " << d.blocks.size()
                                                         << " blocks";
  }
}

}  // namespace
}  // namespace gradrecomp
