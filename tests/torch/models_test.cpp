// The model zoo of include/gradrecomp/torch/models.h.
//
// Full-size models are only built, to count their parameters against the reference counts of
// bench/pytorch/models.py (REFERENCE_PARAMS). The small configurations (models.py --small) run:
//
//   batch -> unit "stem"/"embeddings" -> one unit per block -> "head"/"pooler" -> unit "loss"
//
// At batch 2, profile_model measures one training step into a training graph (F.<op> / B.<op>
// nodes with meta "unit") whose store-all schedule must replay and whose forward nodes list the
// units in order. Then, at a batch where activations set the peak (SmallCase::dag_batch), a `dag`
// schedule at half the store-all peak must replay, recompute something, and give parameter
// gradients and a loss bit-identical to the executor's store-all run with the same dropout stream.
#include "gradrecomp/torch/models.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solver.h"
#include "support/graphs.h"
#include "support/bitwise.h"

namespace gradrecomp {
namespace {

using testing::bitwise_equal;

// Counted here from the graph's parameters (independently of ZooModel::parameters).
int64_t count(const ModelGraph& graph) {
  int64_t total = 0;
  for (const torch::Tensor& p : graph.parameters()) total += p.numel();
  return total;
}

std::map<std::string, int> kinds_of(const ModelGraph& graph) {
  std::map<std::string, int> kinds;
  for (const ModelOp& op : graph.ops()) ++kinds[op.kind];
  return kinds;
}

TEST(ZooModels, NamesAreStableAndUnknownNamesAreRejected) {
  EXPECT_EQ(zoo_model_names(), (std::vector<std::string>{"resnet152", "bert_large", "vit_b_16", "gpt2"}));
  try {
    make_zoo_model("resnet50", ZooSize::kSmall);
    FAIL() << "expected gradrecomp::Error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown zoo model \"resnet50\" (expected one of: resnet152, bert_large, vit_b_16, gpt2)");
  }
}

// bench/pytorch/models.py REFERENCE_PARAMS (torchvision's resnet152 and vit_b_16, HF BertModel
// bert-large-uncased with pooler, HF GPT2Model with the lm_head tied to wte).
TEST(ZooModels, FullSizeParameterCountsEqualTheReferences) {
  const std::map<std::string, int64_t> reference{
      {"resnet152", 60'192'808}, {"bert_large", 335'141'888}, {"vit_b_16", 86'567'656}, {"gpt2", 124'439'808}};
  for (const std::string& name : zoo_model_names()) {
    const auto start = std::chrono::steady_clock::now();
    int64_t counted = 0;
    {
      ZooModel model = make_zoo_model(name, ZooSize::kFull);  // freed at the end of this scope
      counted = count(model.graph);
      EXPECT_EQ(model.config, "full");
      EXPECT_EQ(model.parameters, counted) << name;
      EXPECT_EQ(model.reference_parameters, reference.at(name)) << name;
      std::cout << name << " (full): " << model.graph.ops().size() << " ops, " << counted << " parameters (reference "
                << reference.at(name) << "), input " << model.input_description << ", built in "
                << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s\n";
    }
    EXPECT_EQ(counted, reference.at(name)) << name;
  }
}

// ---- small configurations ----------------------------------------------------------------------

struct SmallCase {
  std::string name;
  // sum(p.numel() for p in build(name, small=True).model.parameters()), computed with
  //   cd bench/pytorch && /usr/bin/python3 -c "import models; print(models.build('NAME', True).num_params)"
  // (PyTorch 1.13, torchvision 0.14).
  int64_t parameters;
  std::vector<std::string> units;  // models.py's top-level children, then the loss
  int64_t ops_per_block;           // ops in each block unit (resnet: per block with a downsample)
  // Batch of the dag test: large enough that activations, not one op's workspace, set the peak.
  // At batch 2, BERT-small's store-all peak is B.embeddings (the dense gradient of the word
  // embedding, 30522 x 256 floats = 31.25 MB of workspace), and ViT-small's 17 tokens make
  // activations smaller than the parameter-gradient workspaces: no schedule gets below store-all.
  // ResNet-small at batch 2 gets down to 73% only (B.layer4.0.conv2 needs 18.9 MB of workspace);
  // at batch 4, 58%.
  int64_t dag_batch;
};

// gtest (and ctest's test names) print the parameter as its model name.
void PrintTo(const SmallCase& c, std::ostream* os) { *os << c.name; }

std::vector<std::string> blocks(const std::string& first, const std::string& prefix, int count,
                                const std::string& last) {
  std::vector<std::string> units{first};
  for (int i = 0; i < count; ++i) units.push_back(prefix + std::to_string(i));
  units.push_back(last);
  units.push_back("loss");
  return units;
}

std::vector<SmallCase> small_cases() {
  return {
      // stem | layer1: 1 block, layer2: 2, layer3: 2, layer4: 1 | head; a downsampling bottleneck is
      // conv/bn/relu x2, conv3, bn3, downsample conv + bn, add, relu = 12 ops.
      {"resnet152", 11'462'184,
       {"stem", "layer1.0", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "head", "loss"}, 12, 4},
      // post-LN layer: qkv scores softmax dropout context proj drop1 add1 norm1 fc1 gelu fc2 drop2 add2 norm2
      {"bert_large", 11'170'560, blocks("embeddings", "layer.", 4, "pooler"), 15, 8},
      // pre-LN block without dropout (p = 0): ln_1 qkv scores softmax context proj add1 ln_2 fc1 gelu fc2 add2
      {"vit_b_16", 2'123'944, blocks("embeddings", "encoder.", 4, "head"), 12, 16},
      // pre-LN causal block: ln_1 qkv scores softmax dropout context proj drop1 add1 ln_2 fc1 gelu fc2 drop2 add2
      {"gpt2", 5'322'240, blocks("embeddings", "h.", 4, "head"), 15, 2},
  };
}

class SmallZooModel : public ::testing::TestWithParam<SmallCase> {};

TEST_P(SmallZooModel, ParameterCountEqualsModelsPy) {
  const SmallCase& c = GetParam();
  ZooModel model = make_zoo_model(c.name, ZooSize::kSmall);
  std::cout << c.name << " (small): " << model.graph.ops().size() << " ops, " << count(model.graph)
            << " parameters, input " << model.input_description << "\n";
  EXPECT_EQ(model.config, "small");
  EXPECT_EQ(model.reference_parameters, 0);
  EXPECT_EQ(model.parameters, c.parameters);
  EXPECT_EQ(count(model.graph), c.parameters);
}

TEST_P(SmallZooModel, UnitsAreTheTopLevelBlocksInOrder) {
  const SmallCase& c = GetParam();
  ZooModel model = make_zoo_model(c.name, ZooSize::kSmall);
  std::vector<std::string> units;
  std::map<std::string, int64_t> ops_in_unit;
  for (const ModelOp& op : model.graph.ops()) {
    ASSERT_FALSE(op.unit.empty()) << "op " << op.name << " has no unit";
    if (units.empty() || units.back() != op.unit) units.push_back(op.unit);
    ++ops_in_unit[op.unit];
  }
  EXPECT_EQ(units, c.units);  // also proves each unit's ops are contiguous (no unit listed twice)
  EXPECT_EQ(ops_in_unit[c.units[1]], c.ops_per_block);
  EXPECT_EQ(ops_in_unit["loss"], 1);
  EXPECT_EQ(model.graph.ops().back().name, "loss");
}

// The node with the largest transient workspace, for the log.
std::string largest_workspace(const Graph& g) {
  const Node* largest = &g.node(0);
  for (const Node& node : g.nodes()) {
    if (node.workspace_bytes > largest->workspace_bytes) largest = &node;
  }
  return largest->id + " (" + std::to_string(largest->workspace_bytes) + " B)";
}

TEST_P(SmallZooModel, ProfilesAtBatch2WithUnitsAndReplays) {
  const SmallCase& c = GetParam();
  torch::manual_seed(3);
  ZooModel model = make_zoo_model(c.name, ZooSize::kSmall);

  // Plain autograd forward: a finite loss.
  torch::manual_seed(4321);
  const torch::Tensor loss = model.graph.forward(model.make_batch(2, 7));
  ASSERT_EQ(loss.numel(), 1);
  EXPECT_TRUE(std::isfinite(loss.item<double>())) << loss.item<double>();

  // make_batch is deterministic in its seed and leaves the global generator alone: two runs from
  // the same global seed, one with two make_batch calls and one with one, draw the same numbers.
  torch::manual_seed(4321);
  const torch::Tensor a = model.make_batch(2, 11);
  const torch::Tensor b = model.make_batch(2, 11);
  const torch::Tensor global_after = torch::rand({4});
  torch::manual_seed(4321);
  EXPECT_TRUE(bitwise_equal(a, b));
  EXPECT_FALSE(bitwise_equal(a, model.make_batch(2, 12)));
  EXPECT_TRUE(bitwise_equal(torch::rand({4}), global_after)) << "make_batch drew from the global generator";

  const ModelProfile profile = profile_model(model.graph, model.make_batch(2, 7));
  const Graph& g = profile.graph;
  // Every op is on a gradient path (each model starts with a parameterised op): F and B per op.
  EXPECT_EQ(g.num_nodes(), 2 * static_cast<int32_t>(model.graph.ops().size()));

  // Every node carries its op's unit; forward nodes list the units in order.
  std::vector<std::string> units;
  for (const Node& node : g.nodes()) {
    const nlohmann::json meta = nlohmann::json::parse(node.meta_json);
    ASSERT_TRUE(meta.contains("unit")) << node.id << " meta " << node.meta_json;
    if (meta.at("phase") != "forward") continue;
    const std::string unit = meta.at("unit").get<std::string>();
    if (units.empty() || units.back() != unit) units.push_back(unit);
  }
  EXPECT_EQ(units, c.units);

  const Schedule store_all = store_all_schedule(g);
  testing::expect_replays(g, store_all);
  std::cout << c.name << " (small, batch 2): " << g.num_nodes() << " nodes, " << g.num_tensors()
            << " tensors, store-all peak " << store_all.peak_bytes << " B, constant " << g.constant_bytes()
            << " B, largest workspace " << largest_workspace(g) << "\n";
}

// One training step's gradients through the executor, with a fixed dropout stream.
struct StepResult {
  std::vector<torch::Tensor> gradients;
  torch::Tensor loss;
};

StepResult run_step(const ZooModel& model, const ModelProfile& profile, const Schedule& schedule, int64_t batch) {
  std::vector<torch::Tensor> parameters = model.graph.parameters();
  ensure_gradients(parameters);
  for (torch::Tensor& p : parameters) p.mutable_grad().zero_();
  ModelExecutor executor(model.graph, profile);
  torch::manual_seed(4321);
  StepReport report = executor.run(schedule, model.make_batch(batch, 7));
  StepResult result;
  for (const torch::Tensor& p : parameters) result.gradients.push_back(p.grad().clone());
  result.loss = report.loss;
  std::cout << "  " << schedule.solver << ": simulated peak " << schedule.peak_bytes << " B, measured "
            << report.peak_bytes << " B, " << report.seconds * 1e3 << " ms\n";
  return result;
}

TEST_P(SmallZooModel, DagScheduleAtHalfTheStoreAllPeakGivesStoreAllGradients) {
  const SmallCase& c = GetParam();
  torch::manual_seed(3);
  ZooModel model = make_zoo_model(c.name, ZooSize::kSmall);
  const ModelProfile profile = profile_model(model.graph, model.make_batch(c.dag_batch, 7));
  const Graph& g = profile.graph;
  const Schedule store_all = store_all_schedule(g);
  testing::expect_replays(g, store_all);

  // dag at half the store-all peak (or at its smallest feasible peak if that is higher).
  const Solver* dag = find_solver("dag");
  ASSERT_NE(dag, nullptr);
  uint64_t budget = store_all.peak_bytes / 2;
  SolveResult solved = dag->solve_budget(g, budget, SolveOptions());
  if (solved.status == SolveStatus::kInfeasible) {
    budget = solved.min_feasible_peak_bytes;
    solved = dag->solve_budget(g, budget, SolveOptions());
  }
  ASSERT_EQ(solved.status, SolveStatus::kSolved) << c.name;
  const Schedule& plan = solved.schedule;
  testing::expect_replays(g, plan);
  int64_t computes = 0;
  for (const Step& step : plan.steps) computes += step.kind == StepKind::kCompute;
  std::cout << c.name << " (small, batch " << c.dag_batch << "): store-all peak " << store_all.peak_bytes
            << " B; dag budget " << budget << " B -> peak " << plan.peak_bytes << " B ("
            << 100.0 * static_cast<double>(plan.peak_bytes) / static_cast<double>(store_all.peak_bytes) << "%), "
            << computes - g.num_nodes() << " recomputations, overhead " << overhead_of(g, plan.cost) * 100 << "%\n";
  EXPECT_LE(plan.peak_bytes, budget);
  EXPECT_LE(plan.peak_bytes, store_all.peak_bytes * 3 / 4) << "expected about half the store-all peak";
  EXPECT_GT(computes, g.num_nodes()) << "the dag schedule recomputes nothing";

  const StepResult reference = run_step(model, profile, store_all, c.dag_batch);
  const StepResult recomputed = run_step(model, profile, plan, c.dag_batch);
  EXPECT_TRUE(bitwise_equal(reference.loss, recomputed.loss));
  ASSERT_EQ(reference.gradients.size(), recomputed.gradients.size());
  int64_t nonzero = 0;
  for (size_t i = 0; i < reference.gradients.size(); ++i) {
    EXPECT_TRUE(bitwise_equal(reference.gradients[i], recomputed.gradients[i])) << c.name << ": parameter " << i;
    nonzero += reference.gradients[i].abs().sum().item<double>() > 0;
  }
  // Every parameter receives a gradient (zero gradients everywhere would make the check void).
  EXPECT_EQ(nonzero, static_cast<int64_t>(reference.gradients.size()));
}

INSTANTIATE_TEST_SUITE_P(Zoo, SmallZooModel, ::testing::ValuesIn(small_cases()),
                         [](const ::testing::TestParamInfo<SmallCase>& info) { return info.param.name; });

// ---- op-level granularity ------------------------------------------------------------------------

TEST(ZooModels, ResNetSmallHasOneOpPerLayer) {
  ZooModel model = make_zoo_model("resnet152", ZooSize::kSmall);
  const std::vector<ModelOp>& ops = model.graph.ops();
  ASSERT_GE(ops.size(), 4u);
  EXPECT_EQ(ops[0].kind, "Conv2d");
  EXPECT_EQ(ops[1].kind, "BatchNorm2d");
  EXPECT_EQ(ops[2].kind, "ReLU");
  EXPECT_EQ(ops[3].kind, "MaxPool2d");
  // 6 bottlenecks: 3 convs + 3 batch norms + 3 ReLUs + 1 add each; the first of each stage (4)
  // also has a downsample conv + batch norm. Plus the stem's conv/bn/relu.
  std::map<std::string, int> kinds = kinds_of(model.graph);
  EXPECT_EQ(kinds["Conv2d"], 1 + 6 * 3 + 4);
  EXPECT_EQ(kinds["BatchNorm2d"], 1 + 6 * 3 + 4);
  EXPECT_EQ(kinds["ReLU"], 1 + 6 * 3);
  EXPECT_EQ(kinds["add"], 6);
  EXPECT_EQ(kinds["Linear"], 1);
  EXPECT_EQ(ops.size(), 4u + 6 * 10 + 4 * 2 + 2 + 1);
}

TEST(ZooModels, TransformerLayersHaveSeparateAttentionOps) {
  // Per layer: Linear x4 (qkv, proj, fc1, fc2), matmul x2 (scores, context), Softmax, GELU,
  // add x2 (residuals), LayerNorm x2, Dropout x3 where dropout > 0 (probabilities, two residual
  // branches). Outside the layers: one more LayerNorm (BERT's embeddings norm, ViT's ln, GPT-2's
  // ln_f), one more Linear (pooler.dense, head, lm_head), the embeddings' Dropout (BERT, GPT-2),
  // ViT's pos_embedding add.
  struct Expected {
    std::string name;
    int dropouts_per_layer;
    int extra_dropouts;
    int extra_adds;
  };
  const int layers = 4;
  const std::vector<Expected> models{{"bert_large", 3, 1, 0}, {"vit_b_16", 0, 0, 1}, {"gpt2", 3, 1, 0}};
  for (const Expected& e : models) {
    ZooModel model = make_zoo_model(e.name, ZooSize::kSmall);
    std::map<std::string, int> kinds = kinds_of(model.graph);
    EXPECT_EQ(kinds["matmul"], 2 * layers) << e.name;
    EXPECT_EQ(kinds["Softmax"], layers) << e.name;
    EXPECT_EQ(kinds["GELU"], layers) << e.name;
    EXPECT_EQ(kinds["LayerNorm"], 2 * layers + 1) << e.name;
    EXPECT_EQ(kinds["Linear"], 4 * layers + 1) << e.name;
    EXPECT_EQ(kinds["add"], 2 * layers + e.extra_adds) << e.name;
    EXPECT_EQ(kinds["Dropout"], e.dropouts_per_layer * layers + e.extra_dropouts) << e.name;
  }
}

}  // namespace
}  // namespace gradrecomp
