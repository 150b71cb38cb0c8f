// Architecture generators: valid training graphs whose parameters, shapes and node counts match
// the published networks, and whose store-all schedules replay.
#include "gradrecomp/architectures.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

nlohmann::json graph_meta(const Graph& g) { return nlohmann::json::parse(g.meta_json()); }
nlohmann::json node_meta(const Graph& g, NodeId n) { return nlohmann::json::parse(g.node(n).meta_json); }

uint64_t bytes_of(const Graph& g, const std::string& tensor) {
  TensorId t = g.find_tensor(tensor);
  EXPECT_GE(t, 0) << "no tensor " << tensor;
  return t >= 0 ? g.tensor(t).bytes : 0;
}

// The structural promises of architectures.h, checked on any generated graph:
// - every node has meta op + phase, forward nodes come first, then backward nodes;
// - every backward node (except grad_sum) names an existing forward node;
// - the forward-node count in the graph meta matches;
// - the store-all schedule replays.
void expect_well_formed(const Graph& g) {
  int32_t forward = 0;
  bool seen_backward = false;
  std::set<std::string> forward_ids;
  for (NodeId n = 0; n < g.num_nodes(); ++n) {
    nlohmann::json meta = node_meta(g, n);
    ASSERT_TRUE(meta.contains("op")) << g.node(n).id;
    ASSERT_TRUE(meta.contains("phase")) << g.node(n).id;
    std::string phase = meta["phase"];
    if (phase == "forward") {
      EXPECT_FALSE(seen_backward) << "forward node " << g.node(n).id << " after a backward node";
      ++forward;
      forward_ids.insert(g.node(n).id);
    } else {
      ASSERT_EQ(phase, "backward") << g.node(n).id;
      seen_backward = true;
      if (meta["op"] != "grad_sum") {
        ASSERT_TRUE(meta.contains("forward")) << g.node(n).id;
        EXPECT_TRUE(forward_ids.count(meta["forward"].get<std::string>())) << g.node(n).id;
      }
    }
  }
  EXPECT_EQ(graph_meta(g)["forward_nodes"].get<int32_t>(), forward);
  EXPECT_EQ(g.constant_bytes(), graph_meta(g)["parameters"].get<uint64_t>() * 4 * 2);
  Schedule s = store_all_schedule(g);
  testing::expect_replays(g, s);
}

// Sum of multiply-adds of convolutions and linear layers in the forward pass, per sample
// (costs are 2 FLOPs per multiply-add).
double forward_macs_per_sample(const Graph& g, int32_t batch) {
  double flops = 0;
  for (NodeId n = 0; n < g.num_nodes(); ++n) {
    nlohmann::json meta = node_meta(g, n);
    if (meta["phase"] == "forward" && (meta["op"] == "conv2d" || meta["op"] == "linear")) flops += g.node(n).cost;
  }
  return flops / 2 / batch;
}

TEST(Architectures, ResNetParametersMatchTorchvision) {
  // torchvision.models.resnet18().parameters() sums to 11,689,512 and resnet50 to 25,557,032,
  // resnet152 to 60,192,808 (conv weights without bias, batch-norm weight+bias, fc weight+bias).
  EXPECT_EQ(graph_meta(resnet(18))["parameters"].get<int64_t>(), 11689512);
  EXPECT_EQ(graph_meta(resnet(50))["parameters"].get<int64_t>(), 25557032);
  EXPECT_EQ(graph_meta(resnet(152))["parameters"].get<int64_t>(), 60192808);
}

TEST(Architectures, ResNet50ShapesNodesAndFlops) {
  Graph g = resnet(50);
  expect_well_formed(g);
  // Forward: stem conv/bn/relu/maxpool (4) + 16 bottleneck blocks x 10 ops (3 conv, 3 bn, 3 relu,
  // add) + 4 downsample conv+bn (8) + avgpool, fc, loss (3) = 175.
  // Backward: one per forward op except the 16 adds (159) + one grad_sum per block input (the
  // input feeds conv1 and the skip) (16) = 175.
  EXPECT_EQ(g.num_nodes(), 350);
  EXPECT_EQ(graph_meta(g)["forward_nodes"], 175);
  // Shapes (batch 32, fp32): stem output 64x112x112, last block 2048x7x7, indices int64 64x56x56.
  EXPECT_EQ(bytes_of(g, "conv1"), 32ull * 64 * 112 * 112 * 4);
  EXPECT_EQ(bytes_of(g, "layer4.2.conv3"), 32ull * 2048 * 7 * 7 * 4);
  EXPECT_EQ(bytes_of(g, "maxpool.indices"), 32ull * 64 * 56 * 56 * 8);
  EXPECT_EQ(bytes_of(g, "bn1.stats"), 2ull * 64 * 4);
  // ResNet-50 is quoted at 4.1 GMACs per 224x224 image (torchvision: 4.09 GFLOPS, counting MACs).
  double macs = forward_macs_per_sample(g, 32);
  EXPECT_GT(macs, 4.0e9);
  EXPECT_LT(macs, 4.2e9);
  // A block input has two gradient contributions summed by an explicit node.
  NodeId sum = g.find_node("layer1.1.relu_out.grad_sum");
  ASSERT_GE(sum, 0);
  EXPECT_EQ(g.node(sum).inputs.size(), 2u);
  // relu's backward reads its own output (saved), not its input.
  NodeId relu_bw = g.find_node("layer1.0.relu1.backward");
  ASSERT_GE(relu_bw, 0);
  std::set<std::string> reads;
  for (TensorId t : g.node(relu_bw).inputs) reads.insert(g.tensor(t).id);
  EXPECT_EQ(reads, (std::set<std::string>{"layer1.0.relu1", "d.layer1.0.relu1"}));
  // The first convolution needs no input gradient: its backward produces nothing.
  EXPECT_TRUE(g.node(g.find_node("conv1.backward")).outputs.empty());
}

TEST(Architectures, ResidualNetScalesFrom500To5000Nodes) {
  // Basic blocks: 7 forward ops (+2 for a downsample), 6 backward (+2) + 1 grad_sum.
  // 36 blocks in 4 stages (3 with downsample): 4 + 36*7 + 6 + 3 = 265 forward,
  // 265 - 36 adds + 36 grad_sums = 265 backward.
  Graph small = residual_net(36);
  EXPECT_EQ(small.num_nodes(), 530);
  expect_well_formed(small);
  Graph large = residual_net(350, ResidualNetOptions{.batch_size = 8});
  EXPECT_EQ(large.num_nodes(), 2 * (4 + 350 * 7 + 6 + 3));
  EXPECT_GE(large.num_nodes(), 4900);
  expect_well_formed(large);
}

TEST(Architectures, TransformerMatchesGpt2Small) {
  Graph g = transformer(12);
  // GPT-2 small has 124,439,808 parameters (tied embeddings): 12 x (12 d^2 + 13 d) + vocab x d +
  // 1024 x d + 2 d with d = 768.
  EXPECT_EQ(graph_meta(g)["parameters"].get<int64_t>(), 124439808);
  // Forward: embedding + 12 x 14 + ln_f, lm_head, loss = 172; backward: 172 - 24 adds + 3
  // grad_sums per layer (ln_1 output read by q, k, v; the layer input and the mid-layer residual
  // read by a layer norm and an add) = 184.
  EXPECT_EQ(graph_meta(g)["forward_nodes"], 172);
  EXPECT_EQ(g.num_nodes(), 172 + 184);
  expect_well_formed(g);
  EXPECT_EQ(bytes_of(g, "h0.attn.scores"), 8ull * 12 * 1024 * 1024 * 4);
  EXPECT_EQ(bytes_of(g, "h3.mlp.fc"), 8ull * 1024 * 3072 * 4);
  NodeId qkv_sum = g.find_node("h5.ln_1.grad_sum");
  ASSERT_GE(qkv_sum, 0);
  EXPECT_EQ(g.node(qkv_sum).inputs.size(), 3u);  // from the Q, K and V branches
}

TEST(Architectures, UNetParametersAndLongSkips) {
  // depth 1, base 4 channels, 1 input channel, 2 classes (conv weights, bn weight+bias):
  //   down0:  conv 1->4 (36) + bn (8) + conv 4->4 (144) + bn (8)          = 196
  //   bottom: conv 4->8 (288) + bn (16) + conv 8->8 (576) + bn (16)       = 896
  //   up0:    upconv 8->4 2x2 + bias (132) + conv 8->4 (288) + bn (8)
  //           + conv 4->4 (144) + bn (8)                                    = 580
  //   head:   1x1 conv 4->2 + bias                                          = 10
  UNetOptions tiny{.batch_size = 2, .image_size = 16, .in_channels = 1, .base_channels = 4};
  Graph t = unet(1, tiny);
  EXPECT_EQ(graph_meta(t)["parameters"].get<int64_t>(), 196 + 896 + 580 + 10);
  expect_well_formed(t);

  Graph g = unet(4);
  expect_well_formed(g);
  // The long skip: the last activation of encoder level 0 is read by its max-pool and, much
  // later, by the decoder's concat.
  TensorId skip = g.find_tensor("down0.relu2");
  ASSERT_GE(skip, 0);
  std::set<std::string> readers;
  for (NodeId n : g.tensor(skip).readers) {
    if (node_meta(g, n)["phase"] == "forward") readers.insert(g.node(n).id);
  }
  EXPECT_EQ(readers, (std::set<std::string>{"down0.pool", "up0.concat"}));
  EXPECT_EQ(bytes_of(g, "up0.concat"), 8ull * 128 * 256 * 256 * 4);
  // convs_per_level scales the graph: 4 levels x 3 convs = many more nodes than x 2.
  UNetOptions deep;
  deep.convs_per_level = 6;
  EXPECT_GT(unet(4, deep).num_nodes(), 2 * g.num_nodes());
}

TEST(Architectures, Deterministic) {
  Graph a = transformer(2, TransformerOptions{.batch_size = 1, .sequence_length = 16, .model_dim = 8, .heads = 2,
                                              .vocab_size = 11});
  Graph b = transformer(2, TransformerOptions{.batch_size = 1, .sequence_length = 16, .model_dim = 8, .heads = 2,
                                              .vocab_size = 11});
  ASSERT_EQ(a.num_nodes(), b.num_nodes());
  for (NodeId n = 0; n < a.num_nodes(); ++n) {
    EXPECT_EQ(a.node(n).id, b.node(n).id);
    EXPECT_EQ(a.node(n).cost, b.node(n).cost);
    EXPECT_EQ(a.node(n).inputs, b.node(n).inputs);
  }
  expect_well_formed(a);
}

TEST(Architectures, RejectsBadOptionsWithClearMessages) {
  try {
    resnet(19);
    FAIL() << "resnet(19) should throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "resnet depth 19 is not one of 18, 34, 50, 101, 152");
  }
  try {
    unet(3, UNetOptions{.image_size = 100});
    FAIL() << "unet with image 100 should throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unet image_size 100 must be a positive multiple of 2^depth = 2^3");
  }
  EXPECT_THROW(transformer(0), Error);
}

}  // namespace
}  // namespace gradrecomp
