// The built-in model of `gradrecomp compare` (compare_default_model, include/gradrecomp/torch/compare.h).
#include <ATen/CPUGeneratorImpl.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "gradrecomp/solvers/units.h"
#include "gradrecomp/torch/compare.h"

namespace gradrecomp {

ZooModel compare_default_model(bool tiny) {
  const int64_t blocks = tiny ? 4 : 8;
  const int64_t channels = tiny ? 8 : 16;
  const int64_t image = tiny ? 16 : 32;
  const int64_t classes = 10;
  ZooModel m{.name = "resnet-demo",
             .config = tiny ? "tiny" : "default",
             .graph = ModelGraph("resnet-demo"),
             .make_batch = {},
             .parameters = 0,
             .reference_parameters = 0,
             .input_description = fmt::format("3x{}x{} images, {} classes", image, image, classes)};
  ModelGraph& g = m.graph;
  auto conv = [](int64_t in, int64_t out) {
    return torch::nn::AnyModule(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
  };
  auto batch_norm = [](int64_t c) { return torch::nn::AnyModule(torch::nn::BatchNorm2d(c)); };
  auto relu = []() { return torch::nn::AnyModule(torch::nn::ReLU()); };

  g.begin_unit("stem");
  ValueId v = g.add_module("stem_conv", conv(3, channels), ModelGraph::kBatch);
  v = g.add_module("stem_bn", batch_norm(channels), v);
  v = g.add_module("stem_relu", relu(), v);
  for (int64_t b = 1; b <= blocks; ++b) {
    const std::string p = fmt::format("block{}", b);
    g.begin_unit(p);
    const ValueId in = v;
    ValueId h = g.add_module(p + "_conv1", conv(channels, channels), in);
    h = g.add_module(p + "_bn1", batch_norm(channels), h);
    h = g.add_module(p + "_relu1", relu(), h);
    h = g.add_module(p + "_conv2", conv(channels, channels), h);
    h = g.add_module(p + "_bn2", batch_norm(channels), h);
    h = g.add(p + "_add", {h, in}, [](const std::vector<torch::Tensor>& x) { return x[0] + x[1]; }, "add");
    v = g.add_module(p + "_relu2", relu(), h);
  }
  g.begin_unit("head");
  v = g.add("head_pool", {v}, [](const std::vector<torch::Tensor>& x) { return x[0].mean({2, 3}); }, "mean");
  v = g.add_module("head_fc", torch::nn::AnyModule(torch::nn::Linear(channels, classes)), v);
  g.begin_unit(kLossUnit);
  g.add(
      "loss", {v},
      [classes](const std::vector<torch::Tensor>& x) {
        // Synthetic labels that work for any batch size: sample i has class i mod classes.
        const torch::Tensor labels = torch::arange(x[0].size(0), torch::kLong).remainder(classes);
        return torch::nn::functional::cross_entropy(x[0], labels);
      },
      "loss");
  m.make_batch = [image](int64_t batch, uint64_t seed) {
    torch::Generator generator = at::detail::createCPUGenerator(seed);
    return torch::randn({batch, 3, image, image}, generator);
  };
  for (const torch::Tensor& p : g.parameters()) m.parameters += p.numel();
  return m;
}

}  // namespace gradrecomp
