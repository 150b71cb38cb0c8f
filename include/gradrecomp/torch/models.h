// The benchmark architectures of issue 5, built op by op on ModelGraph (convolution, batch norm,
// activation, attention's projections, softmax, dropout... are separate ops), each op tagged with
// its top-level unit (stem, one bottleneck, one encoder layer, head) as PyTorch's
// checkpoint_sequential would see the model's top-level children.
//
//   gradrecomp::ZooModel m = gradrecomp::make_zoo_model("resnet152", gradrecomp::ZooSize::kFull);
//   std::cout << m.parameters << " parameters (reference " << m.reference_parameters << ")\n";
//   torch::Tensor batch = m.make_batch(8, /*seed=*/1);
//   gradrecomp::ModelProfile profile = gradrecomp::profile_model(m.graph, batch);
//
// Every model ends with its loss op; labels/targets are synthetic and derived from the batch
// inside the loss op (so any batch size works without rebuilding the model).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gradrecomp/torch/model_graph.h"

namespace gradrecomp {

enum class ZooSize { kFull, kSmall };

struct ZooModel {
  std::string name;                  // "resnet152", "bert_large", "vit_b_16", "gpt2", or a file name
  std::string config;                // "full" or "small" (or "torchscript")
  ModelGraph graph;
  // A synthetic batch of `batch` samples, deterministic in `seed` (images: float N x C x H x W;
  // text models: int64 token ids N x sequence).
  std::function<torch::Tensor(int64_t batch, uint64_t seed)> make_batch;
  int64_t parameters = 0;            // counted from graph.parameters()
  int64_t reference_parameters = 0;  // the reference architecture's count; 0 for small configs
  std::string input_description;     // "3x224x224 images", "128 tokens", ...
};

// The names make_zoo_model accepts, in a stable order.
std::vector<std::string> zoo_model_names();

// Builds a model with freshly initialised parameters (torch::manual_seed is not touched; the
// caller seeds). Throws gradrecomp::Error naming `name` and listing the accepted names if unknown.
ZooModel make_zoo_model(const std::string& name, ZooSize size);

}  // namespace gradrecomp
