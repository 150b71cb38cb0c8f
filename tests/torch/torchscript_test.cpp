// load_torchscript_sequential (include/gradrecomp/torch/torchscript.h) on the committed fixtures of
// tests/torch/data (made by make_fixtures.py; the parameter counts below are what it prints):
//
//   convnet.pt  x[N,3,16,16] -> 0 Conv2d(3->8, 3x3, pad 1) -> 1 BatchNorm2d(8) -> 2 ReLU -> 3 Dropout(0.2)
//               -> 4 Conv2d(8->8) -> 5 ReLU -> 6 AdaptiveAvgPool2d(1) -> 7 Flatten -> 8 Linear(8->10)
//               914 parameters: 224 + 16 + 584 + 90. Flatten returns a view of the pooled tensor,
//               so children 6 and 7 become one op "6_adaptiveavgpool2d+flatten" (unit "6+7").
//   mlp.pt      x[N,16] -> Linear(16->32) -> ReLU -> Linear(32->32) -> ReLU -> Linear(32->4)
//               1732 parameters (544 + 1056 + 132), one op per child.
//   views.pt    x[N,4,4] -> 0 Flatten -> 1 Linear(16->32) -> 2 ReLU(inplace) -> 3 Linear(32->8) -> 4 Identity
//               808 parameters. Flatten is a view of the batch, ReLU writes its input in place, and
//               Identity returns its input: ops "0_flatten+linear+relu" and "3_linear+identity".
//   skip.pt (x + b(relu(a(x))), not a Sequential), pair.pt (a child returning a tuple),
//   inplace_first.pt (ReLU(inplace) on the batch), state_dict.pt (torch.save, not TorchScript).
//
// The training tests run the loaded conv net for 2 SGD steps (momentum) with the executor, once
// with the store-all schedule and once with checkpointing schedules, and require parameters,
// gradients, batch-norm statistics and losses to be bitwise equal; store-all is also compared
// with plain autograd through the same ops.
#include "gradrecomp/torch/torchscript.h"

#include <gtest/gtest.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>

#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solver.h"
#include "gradrecomp/torch/model_graph.h"
#include "support/graphs.h"
#include "support/bitwise.h"
#include "support/training.h"

namespace gradrecomp {
namespace {

constexpr int kSteps = 2;
constexpr int64_t kBatch = 4;

std::string fixture(const std::string& name) {
  return (std::filesystem::path(__FILE__).parent_path() / "data" / name).string();
}

using testing::bitwise_equal;

// The Error's message, or "" (and a test failure) if `load` does not throw one.
std::string error_of(const std::function<void()>& load) {
  try {
    load();
  } catch (const Error& e) {
    std::cout << "  error: " << e.what() << "\n";
    return e.what();
  }
  ADD_FAILURE() << "expected gradrecomp::Error";
  return "";
}

std::vector<std::string> op_names(const ModelGraph& graph) {
  std::vector<std::string> names;
  for (const ModelOp& op : graph.ops()) names.push_back(op.name);
  return names;
}

TEST(TorchScript, ConvNetHasOneOpPerChildWithFlattenFusedIntoThePooling) {
  ZooModel m = load_torchscript_sequential(fixture("convnet.pt"), {3, 16, 16});
  EXPECT_EQ(m.name, "convnet");
  EXPECT_EQ(m.config, "torchscript");
  EXPECT_EQ(m.input_description, "3x16x16 float samples");
  EXPECT_EQ(op_names(m.graph), (std::vector<std::string>{"0_conv2d", "1_batchnorm2d", "2_relu", "3_dropout", "4_conv2d",
                                                         "5_relu", "6_adaptiveavgpool2d+flatten", "8_linear", "loss"}));
  EXPECT_EQ(m.graph.ops()[1].kind, "BatchNorm2d");
  EXPECT_EQ(m.graph.ops()[6].kind, "AdaptiveAvgPool2d+Flatten");
  EXPECT_EQ(m.graph.ops()[6].unit, "6+7");
  EXPECT_EQ(m.graph.ops()[7].unit, "8");
  EXPECT_EQ(m.graph.ops()[8].unit, "loss");
  // make_fixtures.py prints "convnet.pt: 914 parameters".
  EXPECT_EQ(m.parameters, 914);
  EXPECT_EQ(m.reference_parameters, 914);
  // 2 convs, batch norm and linear, each weight and bias; BN's running mean, variance, count.
  EXPECT_EQ(m.graph.parameters().size(), 8u);
  EXPECT_EQ(m.graph.buffers().size(), 3u);
}

TEST(TorchScript, LoadingLeavesBuffersAndTheGlobalGeneratorUntouched) {
  torch::manual_seed(3);
  const torch::Tensor rng_before = at::detail::getDefaultCPUGenerator().get_state();
  ZooModel m = load_torchscript_sequential(fixture("convnet.pt"), {3, 16, 16});
  EXPECT_TRUE(bitwise_equal(rng_before, at::detail::getDefaultCPUGenerator().get_state()));
  // The probe forward ran batch norm in training mode; its statistics are back to the initial ones.
  std::vector<torch::Tensor> buffers = m.graph.buffers();
  ASSERT_EQ(buffers.size(), 3u);
  EXPECT_TRUE(bitwise_equal(buffers[0], torch::zeros({8})));  // running_mean
  EXPECT_TRUE(bitwise_equal(buffers[1], torch::ones({8})));   // running_var
  EXPECT_EQ(buffers[2].item<int64_t>(), 0);                   // num_batches_tracked
}

TEST(TorchScript, OpsComputeWhatTheScriptedSequentialComputes) {
  // The same file loaded twice: once as ops, once as the scripted module itself. With the same
  // dropout stream both give the same output, and both update the batch-norm statistics alike.
  ZooModel m = load_torchscript_sequential(fixture("convnet.pt"), {3, 16, 16});
  torch::jit::Module scripted = torch::jit::load(fixture("convnet.pt"));
  scripted.train(true);
  torch::Tensor batch = m.make_batch(kBatch, 9);
  torch::manual_seed(21);
  torch::Tensor loss = m.graph.forward(batch);
  torch::manual_seed(21);
  torch::Tensor output;
  {
    torch::jit::GraphOptimizerEnabledGuard unoptimized(false);
    output = scripted.forward({batch}).toTensor();
  }
  EXPECT_TRUE(bitwise_equal(loss, output.pow(2).mean())) << loss.item<float>() << " vs " << output.pow(2).mean().item<float>();
  std::vector<torch::Tensor> buffers = m.graph.buffers();
  std::vector<torch::Tensor> scripted_buffers;
  for (const torch::Tensor& b : scripted.buffers()) scripted_buffers.push_back(b);
  ASSERT_EQ(buffers.size(), scripted_buffers.size());
  for (size_t i = 0; i < buffers.size(); ++i) EXPECT_TRUE(bitwise_equal(buffers[i], scripted_buffers[i])) << i;
  EXPECT_EQ(buffers[2].item<int64_t>(), 1);
}

TEST(TorchScript, ParametersAreTheScriptedModulesOwnTensors) {
  // Gradients land in the scripted parameters, and an optimizer step on graph.parameters()
  // changes what the scripted children compute.
  ZooModel m = load_torchscript_sequential(fixture("mlp.pt"), {16});
  EXPECT_EQ(op_names(m.graph),
            (std::vector<std::string>{"0_linear", "1_relu", "2_linear", "3_relu", "4_linear", "loss"}));
  // make_fixtures.py prints "mlp.pt: 1732 parameters".
  EXPECT_EQ(m.parameters, 1732);
  torch::Tensor batch = m.make_batch(kBatch, 2);
  torch::Tensor before = m.graph.forward(batch).detach();
  std::vector<torch::Tensor> parameters = m.graph.parameters();
  ASSERT_EQ(parameters.size(), 6u);
  m.graph.forward(batch).backward();
  for (const torch::Tensor& p : parameters) EXPECT_TRUE(p.grad().defined());
  torch::optim::SGD(parameters, torch::optim::SGDOptions(0.1)).step();
  EXPECT_LT(m.graph.forward(batch).item<float>(), before.item<float>());
}

TEST(TorchScript, CrossEntropyUsesSyntheticLabels) {
  ZooModel m = load_torchscript_sequential(fixture("mlp.pt"), {16}, /*cross_entropy=*/true);
  EXPECT_EQ(m.graph.ops().back().kind, "cross_entropy");
  torch::Tensor batch = m.make_batch(6, 4);
  torch::Tensor logits = batch;
  for (size_t i = 0; i + 1 < m.graph.ops().size(); ++i) logits = m.graph.ops()[i].fn({logits});
  // Sample k has label k mod 4.
  torch::Tensor expected = torch::nn::functional::cross_entropy(logits, torch::tensor({0, 1, 2, 3, 0, 1}));
  EXPECT_TRUE(bitwise_equal(m.graph.forward(batch), expected));
}

TEST(TorchScript, ViewsInPlaceAndIdentityChildrenAreFusedAndTheExecutorRunsThem) {
  ZooModel m = load_torchscript_sequential(fixture("views.pt"), {4, 4});
  EXPECT_EQ(op_names(m.graph), (std::vector<std::string>{"0_flatten+linear+relu", "3_linear+identity", "loss"}));
  EXPECT_EQ(m.graph.ops()[0].unit, "0+1+2");
  // make_fixtures.py prints "views.pt: 808 parameters".
  EXPECT_EQ(m.parameters, 808);
  // Unfused, the executor would reject the view and the in-place result; fused, the profile
  // and a step run, and the step matches plain autograd.
  ModelProfile profile = profile_model(m.graph, m.make_batch(kBatch, 1));
  Schedule schedule = store_all_schedule(profile.graph);
  testing::expect_replays(profile.graph, schedule);
  ModelExecutor executor(m.graph, profile);
  StepReport report = executor.run(schedule, m.make_batch(kBatch, 1));
  torch::Tensor plain = m.graph.forward(m.make_batch(kBatch, 1));
  EXPECT_TRUE(bitwise_equal(report.loss, plain));
}

TEST(TorchScript, MakeBatchIsDeterministicInTheSeedAndLeavesTheGlobalGenerator) {
  ZooModel m = load_torchscript_sequential(fixture("convnet.pt"), {3, 16, 16});
  torch::manual_seed(8);
  const torch::Tensor rng_before = at::detail::getDefaultCPUGenerator().get_state();
  torch::Tensor a = m.make_batch(5, 42);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{5, 3, 16, 16}));
  EXPECT_EQ(a.scalar_type(), torch::kFloat);
  EXPECT_TRUE(bitwise_equal(a, m.make_batch(5, 42)));
  EXPECT_FALSE(bitwise_equal(a, m.make_batch(5, 43)));
  EXPECT_TRUE(bitwise_equal(rng_before, at::detail::getDefaultCPUGenerator().get_state()));
}

// ---- training: checkpointed schedules against store-all --------------------------------------

using testing::TrainResult;

// A training run, and how many forward computations its schedule has (none without a schedule).
struct TrainRun : TrainResult {
  int forward_computes = 0;  // in the schedule
  int forward_nodes = 0;
};

// Loads a fresh conv net, profiles it, and trains kSteps steps with the executor and the schedule
// `plan` makes from the profiled graph (or with plain autograd if `plan` is empty).
TrainRun train(const std::function<Schedule(const Graph&)>& plan) {
  ZooModel m = load_torchscript_sequential(fixture("convnet.pt"), {3, 16, 16});
  ModelProfile profile = profile_model(m.graph, m.make_batch(kBatch, 100));
  std::unique_ptr<ModelExecutor> executor;
  Schedule schedule;
  int forward_computes = 0, forward_nodes = 0;
  if (plan) {
    schedule = plan(profile.graph);
    testing::expect_replays(profile.graph, schedule);
    executor = std::make_unique<ModelExecutor>(m.graph, profile);
    for (const Step& step : schedule.steps) {
      const Node& node = profile.graph.node(step.target);
      if (step.kind == StepKind::kCompute && node.id.rfind("F.", 0) == 0) ++forward_computes;
    }
    for (const Node& node : profile.graph.nodes()) forward_nodes += node.id.rfind("F.", 0) == 0;
  }
  ensure_gradients(m.graph.parameters());
  torch::optim::SGD optimizer(m.graph.parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  std::vector<double> losses;
  for (int step = 0; step < kSteps; ++step) {
    optimizer.zero_grad();
    torch::Tensor batch = m.make_batch(kBatch, 100 + step);
    torch::manual_seed(500 + step);  // this step's dropout stream
    if (executor) {
      StepReport report = executor->run(schedule, std::move(batch));
      losses.push_back(report.loss.item<double>());
      std::cout << "  " << schedule.solver << " step " << step << ": simulated peak " << schedule.peak_bytes
                << " B, measured " << report.peak_bytes << " B\n";
    } else {
      torch::Tensor loss = m.graph.forward(batch);
      loss.backward();
      losses.push_back(loss.item<double>());
    }
    optimizer.step();
  }
  return TrainRun{testing::snapshot(m.graph, std::move(losses)), forward_computes, forward_nodes};
}

// testing::expect_identical, and the conv net's shape of the state: 2 convs, batch norm and linear
// (weight and bias each), batch norm's running mean, variance and count of kSteps batches.
void expect_identical_convnet(const TrainResult& expected, const TrainResult& actual, const std::string& what) {
  ASSERT_EQ(expected.params.size(), 8u) << what;
  ASSERT_EQ(expected.buffers.size(), 3u) << what;
  testing::expect_identical(expected, actual, what);
  ASSERT_EQ(actual.buffers.size(), 3u) << what;  // a failed size check above returns from expect_identical only
  // 2 steps of batch norm in training mode.
  EXPECT_EQ(actual.buffers[2].item<int64_t>(), kSteps) << what;
}

Schedule recompute_all(const Graph& g) {
  // Before each backward node, recompute the whole forward prefix it needs (forward nodes come
  // first in the profiled graph, backward nodes after them in reverse op order).
  std::vector<NodeId> order;
  const int32_t ops = g.num_nodes() / 2;
  for (NodeId f = 0; f < ops; ++f) order.push_back(f);
  for (NodeId b = ops; b < g.num_nodes(); ++b) {
    for (NodeId f = 0; b > ops && f <= g.num_nodes() - 1 - b; ++f) order.push_back(f);
    order.push_back(b);
  }
  return schedule_from_computes(g, order, "recompute-all");
}

TEST(TorchScriptTraining, StoreAllExecutorMatchesPlainAutograd) {
  TrainRun plain = train(nullptr);
  TrainRun store_all = train([](const Graph& g) { return store_all_schedule(g); });
  expect_identical_convnet(plain, store_all, "store-all vs plain autograd");
}

TEST(TorchScriptTraining, CheckpointedSchedulesMatchStoreAllBitwise) {
  TrainRun store_all = train([](const Graph& g) { return store_all_schedule(g); });

  // Every op (batch norm and dropout included) is recomputed before its backward.
  TrainRun all = train(recompute_all);
  EXPECT_GT(all.forward_computes, all.forward_nodes);
  expect_identical_convnet(store_all, all, "recompute-all");

  // The planners' smallest-peak schedules on the profiled graph.
  for (const char* name : {"chain-dp", "dag"}) {
    const Solver* solver = find_solver(name);
    ASSERT_NE(solver, nullptr) << name;
    auto plan = [solver](const Graph& g) {
      if (auto reason = solver->unsupported_reason(g)) throw Error(*reason);
      std::vector<Schedule> frontier = solver->frontier(g, SolveOptions());
      return *std::min_element(frontier.begin(), frontier.end(), [](const Schedule& a, const Schedule& b) {
        return a.peak_bytes < b.peak_bytes;
      });
    };
    TrainRun planned = train(plan);
    EXPECT_GT(planned.forward_computes, planned.forward_nodes) << name << " recomputes nothing";
    expect_identical_convnet(store_all, planned, name);
  }
}

// ---- errors ----------------------------------------------------------------------------------

TEST(TorchScriptErrors, MissingFile) {
  const std::string path = fixture("no_such_model.pt");
  std::string message = error_of([&] { load_torchscript_sequential(path, {3}); });
  EXPECT_NE(message.find("TorchScript file \"" + path + "\" does not exist"), std::string::npos) << message;
}

TEST(TorchScriptErrors, FilesThatAreNotTorchScript) {
  // A torch.save'd state dict (a zip archive without TorchScript code) and a text file.
  std::string message = error_of([] { load_torchscript_sequential(fixture("state_dict.pt"), {4}); });
  EXPECT_NE(message.find("state_dict.pt\" is not a TorchScript module: "), std::string::npos) << message;
  EXPECT_NE(message.find("torch.save writes pickles"), std::string::npos) << message;
  message = error_of([] { load_torchscript_sequential(fixture("make_fixtures.py"), {4}); });
  EXPECT_NE(message.find("make_fixtures.py\" is not a TorchScript module: "), std::string::npos) << message;
  // torch's reason is one line.
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(TorchScriptErrors, ModuleThatIsNotASequential) {
  std::string message = error_of([] { load_torchscript_sequential(fixture("skip.pt"), {8}); });
  EXPECT_NE(message.find("skip.pt\" holds a module of type __torch__.SkipBlock (expected a torch.nn.Sequential, type "
                         "__torch__.torch.nn.modules.container.Sequential"),
            std::string::npos)
      << message;
}

TEST(TorchScriptErrors, SampleShapeTheFirstChildRejects) {
  // 4 channels where the first convolution expects 3.
  std::string message = error_of([] { load_torchscript_sequential(fixture("convnet.pt"), {4, 16, 16}); });
  EXPECT_NE(message.find("sample shape [4, 16, 16] (probe batch [2, 4, 16, 16]) is not accepted by child 0 (Conv2d): "),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("to have 3 channels, but got 4 channels instead"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  // The MLP's first Linear takes 16 features.
  message = error_of([] { load_torchscript_sequential(fixture("mlp.pt"), {8}); });
  EXPECT_NE(message.find("sample shape [8] (probe batch [2, 8]) is not accepted by child 0 (Linear): "),
            std::string::npos)
      << message;
  message = error_of([] { load_torchscript_sequential(fixture("mlp.pt"), {0, 16}); });
  EXPECT_NE(message.find("sample shape [0, 16] is not a shape"), std::string::npos) << message;
}

TEST(TorchScriptErrors, SampleShapeALaterChildRejects) {
  // views.pt flattens any 4 x k sample, but its Linear takes 16 features.
  std::string message = error_of([] { load_torchscript_sequential(fixture("views.pt"), {4, 5}); });
  EXPECT_NE(message.find("views.pt\": with sample shape [4, 5], child 1 (Linear) fails on its input of shape [2, 20]: "
                         "mat1 and mat2 shapes cannot be multiplied (2x20 and 16x32)"),
            std::string::npos)
      << message;
}

TEST(TorchScriptErrors, BatchOfAnotherShapeAtRunTimeNamesTheOpAndChild) {
  ZooModel m = load_torchscript_sequential(fixture("mlp.pt"), {16});
  std::string message = error_of([&m] { m.graph.forward(torch::zeros({2, 15})); });
  EXPECT_NE(message.find("mlp.pt\": model op \"0_linear\": child 0 (Linear) fails on its input of shape [2, 15]: "),
            std::string::npos)
      << message;
}

TEST(TorchScriptErrors, ChildThatDoesNotReturnOneTensor) {
  std::string message = error_of([] { load_torchscript_sequential(fixture("pair.pt"), {4}); });
  EXPECT_NE(message.find("pair.pt\": child 1 (Pair) returns a Tuple[Tensor, Tensor] (expected one tensor"),
            std::string::npos)
      << message;
}

TEST(TorchScriptErrors, ChildThatModifiesTheBatchInPlace) {
  std::string message = error_of([] { load_torchscript_sequential(fixture("inplace_first.pt"), {4}); });
  EXPECT_NE(message.find("child 0 (ReLU) modifies the model input in place"), std::string::npos) << message;
}

TEST(TorchScriptErrors, CrossEntropyNeedsATwoDimensionalOutput) {
  // The MLP applied to [N, 3, 16] samples outputs [N, 3, 4].
  std::string message = error_of([] { load_torchscript_sequential(fixture("mlp.pt"), {3, 16}, true); });
  EXPECT_NE(message.find("cross-entropy needs a 2-D output (batch x classes), the model's output has shape [2, 3, 4]"),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace gradrecomp
