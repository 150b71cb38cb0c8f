// Private pieces shared by the model zoo's files (models_registry.cpp, models_resnet.cpp,
// models_transformer.cpp): op helpers that keep every op's result in new storage (the rule of
// model_graph.h), a module that only holds parameters, and the seeded local generator that
// make_batch and the synthetic loss targets draw from.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gradrecomp/torch/model_graph.h"
#include "gradrecomp/torch/models.h"

namespace gradrecomp::zoo {

using Inputs = std::vector<torch::Tensor>;

// The builders, one per architecture (models_resnet.cpp, models_transformer.cpp).
ZooModel make_resnet152(ZooSize size);
ZooModel make_bert_large(ZooSize size);
ZooModel make_vit_b_16(ZooSize size);
ZooModel make_gpt2(ZooSize size);

// Elements of the graph's parameters, each tensor once (a tied weight counts once).
int64_t count_parameters(const ModelGraph& graph);

// A CPU generator seeded with `seed`; drawing from it leaves the global generator untouched.
at::Generator seeded_generator(uint64_t seed);

// A module that only holds parameters (class token, position embedding, a tied weight), so that
// ModelGraph::parameters() sees them through the op that uses them.
struct ParameterHolder : torch::nn::Module {
  explicit ParameterHolder(const std::string& type_name) : torch::nn::Module(type_name) {}
  torch::Tensor add(const std::string& name, torch::Tensor tensor) {
    return register_parameter(name, std::move(tensor));
  }
};

// Op `name` = in[0] + in[1] (a residual connection), kind "add".
ValueId add_sum(ModelGraph& graph, const std::string& name, ValueId a, ValueId b);

// Dropout op `name` (kind "Dropout") when p > 0. With p == 0 dropout is the identity (ATen
// returns its input itself, which model_graph.h forbids as an op result), so no op is added and
// `x` is returned.
ValueId add_dropout(ModelGraph& graph, const std::string& name, ValueId x, double p);

ValueId add_layer_norm(ModelGraph& graph, const std::string& name, ValueId x, int64_t hidden, double eps);
ValueId add_linear(ModelGraph& graph, const std::string& name, ValueId x, torch::nn::Linear linear);

// Multi-head self-attention on x [batch, tokens, hidden], one op each, named <prefix>.<op>:
//   qkv      fused Linear(hidden, 3 hidden), returned in heads layout [3, batch, heads, tokens, d]
//            (contiguous: the head reshape is folded into the projection)
//   scores   q k^T / sqrt(d), with -inf above the diagonal when causal      [batch, heads, t, t]
//   softmax  over the last dimension
//   dropout  on the probabilities (only when dropout > 0)
//   context  probabilities x v, heads merged back                            [batch, t, hidden]
//   proj     Linear(hidden, hidden)
struct AttentionConfig {
  int64_t hidden = 0;
  int64_t heads = 0;
  double dropout = 0;
  bool causal = false;
};
struct AttentionOps {
  ValueId output = 0;                 // the proj op's output
  torch::nn::Linear qkv{nullptr};
  torch::nn::Linear proj{nullptr};
};
AttentionOps add_self_attention(ModelGraph& graph, const std::string& prefix, ValueId x,
                                const AttentionConfig& config);

// Feed-forward block: <prefix>.fc1 Linear(hidden, ffn), <prefix>.gelu (exact, or the tanh
// approximation when gelu_tanh), <prefix>.fc2 Linear(ffn, hidden). Returns fc2's output.
struct MlpOps {
  ValueId output = 0;
  torch::nn::Linear fc1{nullptr};
  torch::nn::Linear fc2{nullptr};
};
MlpOps add_mlp(ModelGraph& graph, const std::string& prefix, ValueId x, int64_t hidden, int64_t ffn, bool gelu_tanh);

// Loss op "loss" in unit "loss": cross-entropy of logits [batch, classes] against the synthetic
// labels i % classes derived from the batch size.
ValueId add_classification_loss(ModelGraph& graph, ValueId logits, int64_t classes);

// Fills the fields of ZooModel that follow from the graph and the size.
ZooModel finish_model(std::string name, ZooSize size, ModelGraph graph,
                      std::function<torch::Tensor(int64_t, uint64_t)> make_batch, int64_t full_reference_parameters,
                      std::string input_description);

}  // namespace gradrecomp::zoo
