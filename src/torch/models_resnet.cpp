// ResNet-152 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016) as
// torchvision.models.resnet152 builds it (Bottleneck with the stride on the 3x3 convolution,
// layers [3, 8, 36, 3], 1000 classes), op by op:
//
//   unit "stem":       conv1 (7x7/2, 3->64) | bn1 | relu | maxpool (3x3/2)
//   unit "layerL.B":   conv1 (1x1) | bn1 | relu1 | conv2 (3x3, stride) | bn2 | relu2 | conv3 (1x1, x4) | bn3
//                      [| downsample.0 (1x1, stride) | downsample.1 (batch norm), on the block input]
//                      | add (bn3 + shortcut) | relu3
//   unit "head":       avgpool (adaptive 1x1, flattened) | fc (2048 -> 1000)
//   unit "loss":       cross-entropy against labels i % 1000
//
// The ReLUs are out of place (torchvision's are in place; the storage rule of model_graph.h
// needs every op result in new storage). Initialisation follows torchvision: convolutions
// Kaiming-normal (fan out, ReLU gain), batch norms weight 1 bias 0, fc PyTorch's default.
// Small config (bench/pytorch/models.py --small): bottlenecks [1, 2, 2, 1], 64x64 images.
#include <array>

#include "models_internal.h"

namespace gradrecomp::zoo {
namespace {

constexpr int64_t kClasses = 1000;
constexpr int64_t kExpansion = 4;
constexpr int64_t kResNet152Parameters = 60'192'808;

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
  torch::NoGradGuard no_grad;
  torch::nn::init::kaiming_normal_(conv->weight, 0, torch::kFanOut, torch::kReLU);
  return conv;
}

ValueId add_conv(ModelGraph& graph, const std::string& name, ValueId x, int64_t in, int64_t out, int64_t kernel,
                 int64_t stride, int64_t padding) {
  return graph.add_module(name, torch::nn::AnyModule(make_conv(in, out, kernel, stride, padding)), x);
}

ValueId add_batch_norm(ModelGraph& graph, const std::string& name, ValueId x, int64_t channels) {
  return graph.add_module(name, torch::nn::AnyModule(torch::nn::BatchNorm2d(channels)), x);
}

ValueId add_relu(ModelGraph& graph, const std::string& name, ValueId x) {
  return graph.add_module(name, torch::nn::AnyModule(torch::nn::ReLU()), x);
}

// One Bottleneck block (its own unit) on value x with `inplanes` channels; returns its output.
ValueId add_bottleneck(ModelGraph& graph, const std::string& unit, ValueId x, int64_t inplanes, int64_t planes,
                       int64_t stride) {
  graph.begin_unit(unit);
  const std::string p = unit + ".";
  const int64_t out = planes * kExpansion;
  ValueId h = add_conv(graph, p + "conv1", x, inplanes, planes, 1, 1, 0);
  h = add_batch_norm(graph, p + "bn1", h, planes);
  h = add_relu(graph, p + "relu1", h);
  h = add_conv(graph, p + "conv2", h, planes, planes, 3, stride, 1);
  h = add_batch_norm(graph, p + "bn2", h, planes);
  h = add_relu(graph, p + "relu2", h);
  h = add_conv(graph, p + "conv3", h, planes, out, 1, 1, 0);
  h = add_batch_norm(graph, p + "bn3", h, out);
  ValueId shortcut = x;
  if (stride != 1 || inplanes != out) {
    shortcut = add_conv(graph, p + "downsample.0", x, inplanes, out, 1, stride, 0);
    shortcut = add_batch_norm(graph, p + "downsample.1", shortcut, out);
  }
  h = add_sum(graph, p + "add", h, shortcut);
  return add_relu(graph, p + "relu3", h);
}

}  // namespace

ZooModel make_resnet152(ZooSize size) {
  const bool full = size == ZooSize::kFull;
  const std::array<int, 4> blocks = full ? std::array<int, 4>{3, 8, 36, 3} : std::array<int, 4>{1, 2, 2, 1};
  const int64_t image = full ? 224 : 64;

  ModelGraph graph("resnet152");
  graph.begin_unit("stem");
  ValueId x = add_conv(graph, "conv1", ModelGraph::kBatch, 3, 64, 7, 2, 3);
  x = add_batch_norm(graph, "bn1", x, 64);
  x = add_relu(graph, "relu", x);
  x = graph.add_module(
      "maxpool", torch::nn::AnyModule(torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(3).stride(2).padding(1))), x);

  int64_t inplanes = 64;
  for (int layer = 0; layer < 4; ++layer) {
    const int64_t planes = int64_t{64} << layer;
    for (int b = 0; b < blocks[layer]; ++b) {
      const int64_t stride = (layer > 0 && b == 0) ? 2 : 1;
      x = add_bottleneck(graph, "layer" + std::to_string(layer + 1) + "." + std::to_string(b), x, inplanes, planes,
                         stride);
      inplanes = planes * kExpansion;
    }
  }

  graph.begin_unit("head");
  x = graph.add("avgpool", {x}, [](const Inputs& in) { return torch::adaptive_avg_pool2d(in[0], {1, 1}).flatten(1); },
                "AdaptiveAvgPool2d");
  x = add_linear(graph, "fc", x, torch::nn::Linear(inplanes, kClasses));
  add_classification_loss(graph, x, kClasses);

  auto make_batch = [image](int64_t batch, uint64_t seed) {
    return torch::randn({batch, 3, image, image}, seeded_generator(seed));
  };
  const std::string input = "3x" + std::to_string(image) + "x" + std::to_string(image) + " images, " +
                            std::to_string(kClasses) + " classes";
  return finish_model("resnet152", size, std::move(graph), make_batch, kResNet152Parameters, input);
}

}  // namespace gradrecomp::zoo
