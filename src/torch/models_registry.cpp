// The model zoo's registry (zoo_model_names, make_zoo_model) and the op helpers every
// architecture shares (models_internal.h).
#include <ATen/CPUGeneratorImpl.h>

#include <set>

#include "gradrecomp/error.h"
#include "gradrecomp/torch/models.h"
#include "models_internal.h"

namespace gradrecomp {
namespace zoo {

int64_t count_parameters(const ModelGraph& graph) {
  int64_t total = 0;
  for (const torch::Tensor& p : graph.parameters()) total += p.numel();
  return total;
}

at::Generator seeded_generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

ValueId add_sum(ModelGraph& graph, const std::string& name, ValueId a, ValueId b) {
  return graph.add(name, {a, b}, [](const Inputs& in) { return in[0] + in[1]; }, "add");
}

ValueId add_dropout(ModelGraph& graph, const std::string& name, ValueId x, double p) {
  if (p <= 0) return x;
  return graph.add_module(name, torch::nn::AnyModule(torch::nn::Dropout(p)), x);
}

ValueId add_layer_norm(ModelGraph& graph, const std::string& name, ValueId x, int64_t hidden, double eps) {
  torch::nn::LayerNorm norm(torch::nn::LayerNormOptions({hidden}).eps(eps));
  return graph.add_module(name, torch::nn::AnyModule(norm), x);
}

ValueId add_linear(ModelGraph& graph, const std::string& name, ValueId x, torch::nn::Linear linear) {
  return graph.add_module(name, torch::nn::AnyModule(std::move(linear)), x);
}

ValueId add_classification_loss(ModelGraph& graph, ValueId logits, int64_t classes) {
  graph.begin_unit("loss");
  return graph.add(
      "loss", {logits},
      [classes](const Inputs& in) {
        const torch::Tensor rows = torch::arange(in[0].size(0), in[0].options().dtype(torch::kLong));
        const torch::Tensor labels = torch::remainder(rows, classes);
        return torch::nn::functional::cross_entropy(in[0], labels);
      },
      "loss");
}

ZooModel finish_model(std::string name, ZooSize size, ModelGraph graph,
                      std::function<torch::Tensor(int64_t, uint64_t)> make_batch, int64_t full_reference_parameters,
                      std::string input_description) {
  ZooModel model;
  model.name = std::move(name);
  model.config = size == ZooSize::kFull ? "full" : "small";
  model.parameters = count_parameters(graph);
  model.graph = std::move(graph);
  model.make_batch = std::move(make_batch);
  model.reference_parameters = size == ZooSize::kFull ? full_reference_parameters : 0;
  model.input_description = std::move(input_description);
  return model;
}

}  // namespace zoo

std::vector<std::string> zoo_model_names() { return {"resnet152", "bert_large", "vit_b_16", "gpt2"}; }

ZooModel make_zoo_model(const std::string& name, ZooSize size) {
  if (name == "resnet152") return zoo::make_resnet152(size);
  if (name == "bert_large") return zoo::make_bert_large(size);
  if (name == "vit_b_16") return zoo::make_vit_b_16(size);
  if (name == "gpt2") return zoo::make_gpt2(size);
  std::string accepted;
  for (const std::string& known : zoo_model_names()) accepted += (accepted.empty() ? "" : ", ") + known;
  throw Error("unknown zoo model \"" + name + "\" (expected one of: " + accepted + ")");
}

}  // namespace gradrecomp
