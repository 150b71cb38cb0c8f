// `gradrecomp compare`'s library (include/gradrecomp/torch/compare.h) on the tiny built-in model:
//
//   x(3x16x16) -> stem(conv, bn, relu) -> 4 x block(conv, bn, relu, conv, bn, +x, relu) -> head(mean, fc) -> loss
//   units:        "stem"                 "block1".."block4"                              "head"          "loss"
//
// Six counted units: sqrt uses round(sqrt(6)) = 2 segments of 3, every2 segments {stem, block1},
// {block2, block3}, {block4, head}; the loss joins the last segment. A block keeps 7 activations of 8x16x16 floats (8 KiB per
// sample), so recomputing all but the last segment must lower the measured peak.
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "gradrecomp/simulate.h"
#include "gradrecomp/solvers/units.h"
#include "gradrecomp/torch/compare.h"
#include "gradrecomp/torch/memory_tracker.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

CompareOptions quick() { return CompareOptions().with_steps(2).with_throughput_steps(1); }

TEST(Compare, AllStrategiesRunWithBitwiseGradients) {
  torch::manual_seed(0);
  ZooModel model = compare_default_model(/*tiny=*/true);
  CompareReport r = compare_strategies(model, 4, quick());
  ASSERT_EQ(r.strategies.size(), 4u);
  EXPECT_EQ(r.units, 6);  // stem, 4 blocks, head
  for (const StrategyResult& s : r.strategies) {
    SCOPED_TRACE(std::string(strategy_name(s.plan.strategy)));
    EXPECT_TRUE(s.gradients_equal) << s.gradient_mismatch;
    EXPECT_EQ(s.max_abs_gradient_difference, 0.0);
    EXPECT_EQ(s.step_seconds.size(), 2u);
    EXPECT_GT(s.median_step_seconds, 0.0);
    EXPECT_GT(s.measured_peak_bytes, 0);
    // The measured timeline covers every schedule step and its highest point is the step's peak
    // (the last round's; the reported peak is the maximum over rounds).
    ASSERT_EQ(s.timeline_peak_bytes.size(), s.plan.schedule.steps.size());
    ASSERT_EQ(s.timeline_simulated_bytes.size(), s.plan.schedule.steps.size());
    EXPECT_LE(*std::max_element(s.timeline_peak_bytes.begin(), s.timeline_peak_bytes.end()), s.measured_peak_bytes);
    // Measured and simulated peaks agree up to the executor's small extras (the 4-byte loss copy,
    // labels made inside the loss op): within 5%.
    EXPECT_NEAR(static_cast<double>(s.measured_peak_bytes), static_cast<double>(s.plan.schedule.peak_bytes),
                0.05 * static_cast<double>(s.plan.schedule.peak_bytes));
  }
  const StrategyResult& full = r.strategies[0];
  const StrategyResult& sqrt = r.strategies[1];
  const StrategyResult& every2 = r.strategies[2];
  EXPECT_EQ(full.plan.recomputed_nodes, 0);
  EXPECT_EQ(sqrt.plan.schedule.solver, "sqrt-units(K=2)");
  EXPECT_GT(sqrt.plan.recomputed_nodes, 0);
  EXPECT_LT(sqrt.measured_peak_bytes, full.measured_peak_bytes);
  EXPECT_LT(every2.measured_peak_bytes, full.measured_peak_bytes);
  EXPECT_EQ(r.strategies[3].plan.note.rfind("auto used", 0), 0u) << r.strategies[3].plan.note;
  EXPECT_FALSE(r.optimal_frontier.empty());

  nlohmann::json j = compare_report_json(r);
  EXPECT_EQ(j["format"], "gradrecomp.compare/1");
  EXPECT_EQ(j["model"]["batch"], 4);
  ASSERT_EQ(j["strategies"].size(), 4u);
  for (const auto& s : j["strategies"]) {
    for (const char* key : {"name", "plan", "simulated", "measured", "gradients", "timeline"}) {
      EXPECT_TRUE(s.contains(key)) << key;
    }
    EXPECT_TRUE(s["measured"].contains("peak_bytes"));
    EXPECT_TRUE(s["measured"].contains("overhead"));
    EXPECT_TRUE(s["gradients"]["bitwise_equal_to_full"].get<bool>());
    EXPECT_FALSE(s.contains("batch_search"));  // no cap given
  }
  EXPECT_EQ(j["strategies"][1]["measured"]["peak_bytes"], sqrt.measured_peak_bytes);
  EXPECT_TRUE(j["runtime"].contains("blas_libraries"));
}

// The executor's per-step memory (StepReport::step_peak_bytes) reaches exactly the step's peak.
TEST(Compare, StepTimelineReachesTheStepPeak) {
  torch::manual_seed(0);
  ZooModel model = compare_default_model(true);
  const torch::Tensor batch = model.make_batch(2, 1);
  ModelProfile profile = profile_model(model.graph, batch);
  for (Strategy s : all_strategies()) {
    StrategyPlan plan = plan_strategy(profile.graph, s, OptimalTarget());
    testing::expect_replays(profile.graph, plan.schedule);
    ModelExecutor executor(model.graph, profile);
    StepReport r = executor.run(plan.schedule, batch.clone());
    ASSERT_EQ(r.step_peak_bytes.size(), plan.schedule.steps.size());
    ASSERT_EQ(r.step_live_bytes.size(), plan.schedule.steps.size());
    EXPECT_EQ(*std::max_element(r.step_peak_bytes.begin(), r.step_peak_bytes.end()), r.peak_bytes);
    for (size_t i = 0; i < r.step_peak_bytes.size(); ++i) EXPECT_GE(r.step_peak_bytes[i], r.step_live_bytes[i]);
  }
}

// The batch search ends on a batch whose measured peak fits and the next batch, which was probed
// by the bisection, does not. The cap is full caching's measured peak at batch 5 plus a little:
// batches up to 5 fit, and since every activation grows with the batch, 6 does not.
TEST(Compare, BatchSearchFindsTheLargestFittingBatch) {
  torch::manual_seed(0);
  ZooModel model = compare_default_model(true);
  const torch::Tensor batch = model.make_batch(5, 1);
  ModelProfile profile = profile_model(model.graph, batch);
  ModelExecutor executor(model.graph, profile);
  const int64_t peak5 = executor.run(store_all_schedule(profile.graph), batch.clone()).peak_bytes;
  const uint64_t cap = static_cast<uint64_t>(peak5) + 64;

  BatchSearch b = search_batch(model, Strategy::kFull, 2, cap, quick());
  EXPECT_EQ(b.largest_batch, 5);
  ASSERT_TRUE(b.first_failing_batch.has_value());
  EXPECT_EQ(*b.first_failing_batch, 6);
  EXPECT_LE(b.measured_peak_bytes, static_cast<int64_t>(cap));
  // Probes: 2 and 4 fit, 8 does not, then bisection 6 (no), 5 (yes).
  std::vector<int64_t> probed;
  for (const BatchProbe& p : b.probes) probed.push_back(p.batch);
  EXPECT_EQ(probed, (std::vector<int64_t>{2, 4, 8, 6, 5}));
  for (const BatchProbe& p : b.probes) {
    EXPECT_EQ(p.fits, p.batch <= 5) << p.batch;
    EXPECT_EQ(p.fits, p.measured_peak_bytes <= static_cast<int64_t>(cap)) << p.batch;
  }
  EXPECT_GT(b.samples_per_second, 0.0);

  // sqrt needs less memory than full: under the same cap it fits a larger batch.
  BatchSearch s = search_batch(model, Strategy::kSqrt, 2, cap, quick());
  EXPECT_GT(s.largest_batch, 5);
  // optimal plans at the cap (the cheapest plan that fits), so it fits at least full's batch.
  BatchSearch o = search_batch(model, Strategy::kOptimal, 2, cap, quick());
  EXPECT_GE(o.largest_batch, 5);
}

TEST(Compare, CapBelowBatchOneIsReportedNotThrown) {
  torch::manual_seed(0);
  ZooModel model = compare_default_model(true);
  BatchSearch b = search_batch(model, Strategy::kFull, 2, /*cap_bytes=*/1024, quick());
  EXPECT_EQ(b.largest_batch, 0);
  ASSERT_TRUE(b.first_failing_batch.has_value());
  EXPECT_EQ(*b.first_failing_batch, 1);
  EXPECT_EQ(b.probes.back().batch, 1);
  EXPECT_GT(b.probes.back().measured_peak_bytes, 1024);
  EXPECT_EQ(b.samples_per_second, 0.0);
  // optimal has no plan at all under 1 KiB: the probe says so with the smallest feasible peak.
  BatchSearch o = search_batch(model, Strategy::kOptimal, 1, 1024, quick());
  ASSERT_EQ(o.probes.size(), 1u);
  EXPECT_FALSE(o.probes[0].planned);
  EXPECT_GT(o.probes[0].simulated_peak_bytes, 1024u);
}

TEST(Compare, InfeasibleBudgetNamesTheSmallestPeak) {
  torch::manual_seed(0);
  ZooModel model = compare_default_model(true);
  ModelProfile profile = profile_model(model.graph, model.make_batch(2, 1));
  OptimalTarget target;
  target.budget = Budget{1000, std::nullopt};
  try {
    plan_strategy(profile.graph, Strategy::kOptimal, target);
    FAIL() << "expected InfeasibleTarget";
  } catch (const InfeasibleTarget& e) {
    EXPECT_GT(e.min_feasible_peak_bytes(), 1000u);
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("budget 1000 B is below the smallest feasible peak", 0), 0u) << message;
  }
  // A budget of 60% of full caching's simulated peak is feasible and respected.
  target.budget = parse_budget("60%");
  StrategyPlan plan = plan_strategy(profile.graph, Strategy::kOptimal, target);
  EXPECT_LE(plan.schedule.peak_bytes, static_cast<uint64_t>(0.6 * static_cast<double>(store_all_peak_bytes(profile.graph))) + 1);
}

TEST(Compare, BadOptions) {
  ZooModel model = compare_default_model(true);
  try {
    compare_strategies(model, 2, CompareOptions().with_steps(0));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "compare: steps = 0 (expected >= 1)");
  }
  try {
    compare_strategies(model, 2, CompareOptions().with_strategies({Strategy::kSqrt}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("must start with \"full\""), std::string::npos) << e.what();
  }
}

// A model without units (a hand-built ModelGraph with no begin_unit) cannot run the unit baselines.
TEST(Compare, ModelWithoutUnits) {
  ModelGraph g("plain");
  auto lin = std::make_shared<torch::nn::LinearImpl>(4, 4);
  ValueId v = g.add("lin", {ModelGraph::kBatch}, [lin](const std::vector<torch::Tensor>& x) { return lin->forward(x[0]); },
                    "Linear", lin);
  g.add("loss", {v}, [](const std::vector<torch::Tensor>& x) { return x[0].pow(2).mean(); }, "loss");
  ModelProfile profile = profile_model(g, torch::randn({2, 4}));
  try {
    plan_strategy(profile.graph, Strategy::kSqrt, OptimalTarget());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("graph \"plain\" has no unit meta"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gradrecomp
