// Op-level training graphs of real architectures (forward + backward, spec format), for tests and
// benchmarks of solvers on graphs that are not chains: residual blocks, attention's Q/K/V
// branches, U-Net's long skips.
//
//   Graph r = gradrecomp::resnet(50);                 // torchvision's ResNet-50, batch 32, 224x224
//   Graph s = gradrecomp::residual_net(200);          // 200 basic blocks, ~2,800 nodes
//   Graph t = gradrecomp::transformer(12);            // GPT-2 small layout
//   Graph u = gradrecomp::unet(4);                    // Ronneberger's U-Net with batch norm
//
// What the graphs model
// - Sizes: every tensor is a shape times the bytes of its element type (options.bytes_per_element
//   for activations, 8 for int64 labels, token ids and max-pool indices). Costs are FLOPs
//   (multiply-add = 2): exact for convolutions and matrix products, a few FLOPs per element for
//   element-wise ops (documented next to each op in architectures.cpp). Backward costs: 2x the
//   forward for convolutions and matrix products (gradient of the input and of the weight), 1x
//   when no input gradient is needed (the first convolution, the embedding).
// - constant_bytes = parameters + their gradients (2 x parameters x bytes_per_element). The graph
//   meta holds {"architecture", "parameters", "forward_nodes"}.
// - Every node has meta {"op": kind, "phase": "forward" | "backward"}; backward nodes also name the
//   forward node they differentiate ("forward": id).
// - Backward: what PyTorch's autograd saves. conv / linear save their input; batch_norm and
//   layer_norm their input and the per-channel (per-row) statistics, a second output of the
//   forward node; relu and softmax their output; gelu its input; max_pool its input and the
//   indices (a second output); matmul both operands; cross_entropy the logits and the labels;
//   add, concat and avg_pool nothing. The backward node of an op reads those tensors and the
//   gradients of its outputs and produces one gradient per input that needs one (graph inputs,
//   labels and token ids need none; parameter gradients live in constant_bytes).
// - add's backward is the identity: it gets NO node, and the gradient of its output is directly
//   the gradient contribution to both of its inputs (as autograd passes the same tensor on).
// - A tensor read by several forward ops receives one gradient tensor per consumer
//   ("d.<tensor>@<consumer>") and an explicit "grad_sum" node adds them into "d.<tensor>";
//   a tensor with a single consumer gets "d.<tensor>" directly.
// - Ids: forward node "layer1.0.conv1" produces tensor "layer1.0.conv1" (node and tensor ids are
//   separate namespaces), extra outputs "<id>.stats" / "<id>.indices"; its backward node is
//   "<id>.backward".
// - Order: all forward nodes in execution order, then the backward nodes in reverse order (a
//   grad_sum right before the backward of the tensor's producer). Deterministic: no randomness.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gradrecomp/graph.h"

namespace gradrecomp {

struct ResidualNetOptions {
  int32_t batch_size = 32;
  int32_t image_size = 224;
  int32_t in_channels = 3;
  int32_t base_channels = 64;      // width of the stem and the first stage; doubles per stage
  int32_t num_classes = 1000;
  bool bottleneck = false;          // false: basic block (3x3, 3x3); true: 1x1, 3x3, 1x1 (x4 width)
  // Blocks of each stage (each stage after the first halves the resolution). Empty: the `blocks`
  // argument split over 4 stages as evenly as possible, the earlier stages taking the remainder.
  std::vector<int32_t> blocks_per_stage;
  uint64_t bytes_per_element = 4;
  std::string name;                 // graph name; empty: "residual-net-<blocks>[-bottleneck]-b<batch>"
};
// ResNet-like network (He et al. 2016, torchvision layout): stem conv7x7/2 + bn + relu + maxpool,
// residual blocks (conv, bn, relu, conv, bn, [1x1 conv + bn on the skip when the shape changes],
// add, relu), global average pool, fully connected, cross-entropy. About 14 nodes per basic block,
// 20 per bottleneck block: 500 to 5,000 nodes for 35 to 350 basic blocks.
Graph residual_net(int32_t blocks, const ResidualNetOptions& options = {});

// torchvision's resnet18/34 (basic) and resnet50/101/152 (bottleneck); options.bottleneck and
// blocks_per_stage are set from the depth, and the graph is named "resnet<depth>-b<batch>". Throws gradrecomp::Error for other depths.
Graph resnet(int32_t depth, ResidualNetOptions options = {});

struct TransformerOptions {
  int32_t batch_size = 8;
  int32_t sequence_length = 1024;
  int32_t model_dim = 768;
  int32_t heads = 12;
  int32_t mlp_ratio = 4;
  int32_t vocab_size = 50257;
  uint64_t bytes_per_element = 4;
};
// Decoder-only pre-norm transformer (GPT-2 layout, tied embeddings): token + position embedding;
// per layer: layer_norm, three linear projections Q, K, V (three branches from one tensor),
// scores = Q K^T, softmax, context = P V, output projection, residual add, layer_norm, linear,
// gelu, linear, residual add; final layer_norm, vocabulary projection, cross-entropy.
// About 29 nodes per layer.
Graph transformer(int32_t layers, const TransformerOptions& options = {});

struct UNetOptions {
  int32_t batch_size = 8;
  int32_t image_size = 256;          // must be divisible by 2^depth
  int32_t in_channels = 3;
  int32_t base_channels = 64;        // doubles at each level down
  int32_t num_classes = 2;
  int32_t convs_per_level = 2;       // conv3x3 + bn + relu repeated at every level (2 in the paper)
  uint64_t bytes_per_element = 4;
};
// U-Net (Ronneberger et al. 2015, with batch norm and padded convolutions): `depth` encoder levels
// (convs, then max-pool), a bottom level, `depth` decoder levels (2x2 transposed conv, concat with
// the encoder level's output -- the long skip --, convs), a 1x1 conv and a per-pixel cross-entropy.
Graph unet(int32_t depth, const UNetOptions& options = {});

}  // namespace gradrecomp
