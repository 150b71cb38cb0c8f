// The profiler and the executor of include/gradrecomp/torch/model_graph.h on a small conv net:
//
//   x[4,3,8,8] -> 0_conv2d(3->8, 3x3, pad 1) -> 1_batchnorm2d -> 2_relu -> 3_dropout(0.2)
//              -> 4_conv2d(8->8) -> 5_batchnorm2d -> 6_relu -> loss = mean(y^2)
//
// Every activation is 4 x 8 x 8 x 8 floats = 8192 bytes; the batch 4 x 3 x 8 x 8 floats = 3072.
// Every schedule (store-all and each solver's frontier ends) runs through expect_replays, then
// through the executor for 3 SGD steps next to plain autograd: parameters, gradients and
// batch-norm statistics must be bit-identical, and the measured peak within 10% of the simulated.
#include "gradrecomp/torch/model_graph.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstring>
#include <iostream>

#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solver.h"
#include "gradrecomp/torch/memory_tracker.h"
#include "support/graphs.h"
#include "support/bitwise.h"
#include "support/training.h"

namespace gradrecomp {
namespace {

constexpr uint64_t kActivationBytes = 4 * 8 * 8 * 8 * 4;
constexpr int kSteps = 3;

using testing::bitwise_equal;
using testing::expect_identical;
using testing::snapshot;
using testing::TrainResult;

torch::nn::Sequential make_net() {
  torch::manual_seed(11);
  return torch::nn::Sequential(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)), torch::nn::BatchNorm2d(8), torch::nn::ReLU(),
      torch::nn::Dropout(0.2), torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 3).padding(1)),
      torch::nn::BatchNorm2d(8), torch::nn::ReLU());
}

ModelGraph make_model(torch::nn::Sequential net) {
  return ModelGraph::from_sequential(net, [](const torch::Tensor& y) { return y.pow(2).mean(); }, "convnet");
}

torch::Tensor make_batch(int step) {
  torch::manual_seed(1000 + step);
  return torch::randn({4, 3, 8, 8});
}

TEST(ModelGraph, FromSequentialMakesOneOpPerModulePlusLoss) {
  ModelGraph model = make_model(make_net());
  ASSERT_EQ(model.ops().size(), 8u);
  EXPECT_EQ(model.ops()[0].name, "0_conv2d");
  EXPECT_EQ(model.ops()[1].kind, "BatchNorm2d");
  EXPECT_EQ(model.ops()[3].name, "3_dropout");
  EXPECT_EQ(model.ops()[7].name, "loss");
  EXPECT_EQ(model.parameters().size(), 8u);  // 2 convs x (weight, bias) + 2 BN x (weight, bias)
}

TEST(ModelGraph, ViewOpsAreRejectedWithTheOpName) {
  ModelGraph model("views");
  ValueId h = model.add("double", {ModelGraph::kBatch}, [](const std::vector<torch::Tensor>& in) { return in[0] * 2; });
  model.add("flatten", {h}, [](const std::vector<torch::Tensor>& in) { return in[0].flatten(); });
  try {
    profile_model(model, torch::ones({2, 3}));
    FAIL() << "expected gradrecomp::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model op \"flatten\" returns a view of (or modifies in place) its input value 1"),
              std::string::npos)
        << e.what();
  }
}

TEST(ModelProfile, MeasuresOutputsSavedBytesAndWhatBackwardReads) {
  torch::nn::Sequential net = make_net();
  ModelGraph model = make_model(net);
  torch::Tensor before = net[0]->as<torch::nn::Conv2d>()->weight.clone();
  ModelProfile profile = profile_model(model, make_batch(0));
  const Graph& g = profile.graph;
  std::cout << "profiled graph: " << g.num_nodes() << " nodes, " << g.num_tensors() << " tensors\n";
  for (const Node& node : g.nodes()) {
    std::cout << "  " << node.id << " cost " << node.cost * 1e6 << " us, workspace " << node.workspace_bytes << " B ->";
    for (TensorId t : node.outputs) std::cout << " " << g.tensor(t).id << "=" << g.tensor(t).bytes;
    std::cout << "\n";
  }
  // 8 forward nodes and 8 backward nodes: every op is on a gradient path (the convs have weights).
  EXPECT_EQ(g.num_nodes(), 16);
  EXPECT_EQ(g.tensor(g.find_tensor("x")).bytes, 4u * 3 * 8 * 8 * 4);
  EXPECT_EQ(g.tensor(g.find_tensor("a.0_conv2d")).bytes, kActivationBytes);
  EXPECT_EQ(g.tensor(g.find_tensor("a.loss")).bytes, 4u);
  // ReLU keeps only its output (counted in a.2_relu, not again in s.2_relu); dropout keeps its
  // float mask (one activation); batch norm keeps its per-channel mean and inverse std (2 x 8 floats).
  EXPECT_EQ(g.tensor(g.find_tensor("s.2_relu")).bytes, 0u);
  EXPECT_TRUE(profile.ops[2].saves_output);
  EXPECT_EQ(g.tensor(g.find_tensor("s.3_dropout")).bytes, kActivationBytes);
  EXPECT_EQ(g.tensor(g.find_tensor("s.1_batchnorm2d")).bytes, 2u * 8 * 4);
  // The convolutions keep their input: B.0_conv2d reads the batch, B.4_conv2d reads a.3_dropout.
  auto reads = [&g](const std::string& node, const std::string& tensor) {
    const Node& n = g.node(g.find_node(node));
    return std::find(n.inputs.begin(), n.inputs.end(), g.find_tensor(tensor)) != n.inputs.end();
  };
  EXPECT_TRUE(reads("B.0_conv2d", "x"));
  EXPECT_TRUE(reads("B.4_conv2d", "a.3_dropout"));
  EXPECT_FALSE(reads("B.3_dropout", "a.2_relu"));
  // The first conv's input is the batch: no gradient for it.
  EXPECT_TRUE(g.node(g.find_node("B.0_conv2d")).outputs.empty());
  // Profiling left the model as it was.
  EXPECT_TRUE(bitwise_equal(before, net[0]->as<torch::nn::Conv2d>()->weight));
  EXPECT_FALSE(net[0]->as<torch::nn::Conv2d>()->weight.grad().defined());
  EXPECT_EQ(net[1]->as<torch::nn::BatchNorm2d>()->num_batches_tracked.item<int64_t>(), 0);
}

TrainResult train_plain() {
  torch::nn::Sequential net = make_net();
  ModelGraph model = make_model(net);
  ensure_gradients(model.parameters());
  torch::optim::SGD optimizer(model.parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  std::vector<double> losses;
  torch::manual_seed(77);
  for (int step = 0; step < kSteps; ++step) {
    optimizer.zero_grad();
    torch::Tensor batch = make_batch(step);
    torch::manual_seed(500 + step);  // the dropout stream of this step
    torch::Tensor loss = model.forward(batch);
    loss.backward();
    losses.push_back(loss.item<double>());
    if (step + 1 < kSteps) optimizer.step();
  }
  return snapshot(model, losses);
}

// Trains with the executor; the schedule comes from `plan` given the profiled graph.
TrainResult train_scheduled(const std::function<Schedule(const Graph&)>& plan, double* worst_peak_error) {
  torch::nn::Sequential net = make_net();
  ModelGraph model = make_model(net);
  ModelProfile profile = profile_model(model, make_batch(0));
  Schedule schedule = plan(profile.graph);
  testing::expect_replays(profile.graph, schedule);
  ModelExecutor executor(model, profile);
  ensure_gradients(model.parameters());
  torch::optim::SGD optimizer(model.parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  std::vector<double> losses;
  *worst_peak_error = 0;
  for (int step = 0; step < kSteps; ++step) {
    optimizer.zero_grad();
    torch::Tensor batch = make_batch(step);
    torch::manual_seed(500 + step);
    StepReport report = executor.run(schedule, std::move(batch));
    losses.push_back(report.loss.item<double>());
    const double error = std::abs(static_cast<double>(report.peak_bytes) - static_cast<double>(schedule.peak_bytes)) /
                         static_cast<double>(schedule.peak_bytes);
    std::cout << "  " << schedule.solver << " step " << step << ": simulated peak " << schedule.peak_bytes
              << " B, measured " << report.peak_bytes << " B (" << error * 100 << "%), cost " << schedule.cost * 1e3
              << " ms simulated, " << report.seconds * 1e3 << " ms measured\n";
    *worst_peak_error = std::max(*worst_peak_error, error);
    if (step + 1 < kSteps) optimizer.step();
  }
  return snapshot(model, losses);
}

TEST(ModelExecutor, StoreAllMatchesPlainAutogradAndTheSimulatedPeak) {
  TrainResult plain = train_plain();
  double error = 0;
  TrainResult scheduled = train_scheduled([](const Graph& g) { return store_all_schedule(g); }, &error);
  expect_identical(plain, scheduled, "store-all");
  EXPECT_LE(error, 0.10);
}

TEST(ModelExecutor, RecomputingEveryForwardMatchesPlainAutograd) {
  // Hand-made schedule with the most recomputation: before each backward node, recompute the
  // whole forward prefix it needs (schedule_from_computes adds the frees).
  TrainResult plain = train_plain();
  double error = 0;
  auto plan = [](const Graph& g) {
    std::vector<NodeId> order;
    const int32_t ops = g.num_nodes() / 2;
    for (NodeId f = 0; f < ops; ++f) order.push_back(f);
    for (NodeId b = ops; b < g.num_nodes(); ++b) {
      if (b > ops) {
        const int32_t op = g.num_nodes() - 1 - b;  // backward nodes run in reverse op order
        for (NodeId f = 0; f <= op; ++f) order.push_back(f);
      }
      order.push_back(b);
    }
    return schedule_from_computes(g, order, "recompute-all");
  };
  TrainResult scheduled = train_scheduled(plan, &error);
  expect_identical(plain, scheduled, "recompute-all");
  EXPECT_LE(error, 0.10);
}

TEST(ModelExecutor, EverySolversFrontierMatchesPlainAutograd) {
  TrainResult plain = train_plain();
  torch::nn::Sequential net = make_net();
  ModelGraph model = make_model(net);
  ModelProfile profile = profile_model(model, make_batch(0));
  int solvers_run = 0;
  for (const Solver* solver : all_solvers()) {
    if (auto reason = solver->unsupported_reason(profile.graph)) {
      std::cout << solver->name() << ": skipped (" << *reason << ")\n";
      continue;
    }
    std::vector<Schedule> frontier = solver->frontier(profile.graph, SolveOptions());
    ASSERT_FALSE(frontier.empty()) << solver->name();
    std::vector<size_t> picks{0};
    if (frontier.size() > 1) picks.push_back(frontier.size() - 1);
    for (size_t pick : picks) {
      // Each run profiles a fresh copy; the frontier is recomputed on its graph by the same rule.
      double error = 0;
      auto plan = [solver, pick](const Graph& g) {
        std::vector<Schedule> f = solver->frontier(g, SolveOptions());
        return f[std::min(pick, f.size() - 1)];
      };
      TrainResult scheduled = train_scheduled(plan, &error);
      expect_identical(plain, scheduled, std::string(solver->name()) + " frontier[" + std::to_string(pick) + "]");
      EXPECT_LE(error, 0.10) << solver->name();
      ++solvers_run;
    }
  }
  EXPECT_GE(solvers_run, 2);
}

// x[2,4] -> 0_linear(4->4) -> noisy (adds a call counter) -> loss = sum(y^2)
// The schedule computes F.0_linear, F.noisy, F.loss, then recomputes F.noisy before B.noisy;
// the counter makes the recomputation differ, and the check names the op.
TEST(ModelExecutor, DeterminismCheckNamesTheOpWhoseRecomputationDiffered) {
  torch::manual_seed(2);
  torch::nn::Linear linear(4, 4);
  ModelGraph model("noisy");
  ValueId h = model.add_module("0_linear", torch::nn::AnyModule(linear), ModelGraph::kBatch);
  auto calls = std::make_shared<int>(0);
  ValueId y = model.add("noisy", {h}, [calls](const std::vector<torch::Tensor>& in) {
    return in[0] + static_cast<double>((*calls)++);
  });
  model.add("loss", {y}, [](const std::vector<torch::Tensor>& in) { return in[0].pow(2).sum(); });
  ModelProfile profile = profile_model(model, torch::ones({2, 4}));
  const Graph& g = profile.graph;
  std::vector<NodeId> order{g.find_node("F.0_linear"), g.find_node("F.noisy"), g.find_node("F.loss"),
                            g.find_node("B.loss"), g.find_node("F.noisy"), g.find_node("B.noisy"),
                            g.find_node("B.0_linear")};
  Schedule schedule = schedule_from_computes(g, order, "recompute-noisy");
  testing::expect_replays(g, schedule);
  ModelExecutor executor(model, profile);
  EXPECT_NO_THROW(executor.run(schedule, torch::ones({2, 4})));  // unchecked: runs, silently wrong
  executor.check_determinism(true);
  try {
    executor.run(schedule, torch::ones({2, 4}));
    FAIL() << "expected gradrecomp::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("model op \"noisy\" (node F.noisy) recomputed an output that differs "
                                         "bitwise from its first computation"),
              std::string::npos)
        << e.what();
  }
}

TEST(ModelExecutor, DeterminismCheckPassesOnTheConvNetWithDropout) {
  torch::nn::Sequential net = make_net();
  ModelGraph model = make_model(net);
  ModelProfile profile = profile_model(model, make_batch(0));
  const Graph& g = profile.graph;
  std::vector<NodeId> order;
  const int32_t ops = g.num_nodes() / 2;
  for (NodeId f = 0; f < ops; ++f) order.push_back(f);
  for (NodeId b = ops; b < g.num_nodes(); ++b) {
    for (NodeId f = 0; b > ops && f <= g.num_nodes() - 1 - b; ++f) order.push_back(f);
    order.push_back(b);
  }
  Schedule schedule = schedule_from_computes(g, order, "recompute-all");
  testing::expect_replays(g, schedule);
  ModelExecutor executor(model, profile);
  executor.check_determinism(true);
  EXPECT_NO_THROW(executor.run(schedule, make_batch(1)));
}

TEST(ModelExecutor, RejectsAnInvalidScheduleWithTheSimulatorsMessage) {
  torch::nn::Sequential net = make_net();
  ModelGraph model = make_model(net);
  ModelProfile profile = profile_model(model, make_batch(0));
  ModelExecutor executor(model, profile);
  Schedule bad;
  bad.steps = {Step::compute(profile.graph.find_node("F.1_batchnorm2d"))};
  try {
    executor.run(bad, make_batch(0));
    FAIL() << "expected gradrecomp::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid schedule for graph \"convnet\""), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gradrecomp
