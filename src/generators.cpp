#include "gradrecomp/generators.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gradrecomp/error.h"

namespace gradrecomp {
namespace {

struct StageSpec {
  uint64_t activation_bytes, saved_bytes, gradient_bytes, forward_workspace, backward_workspace;
  double forward_cost, backward_cost;
};

// Rotor-shaped chain: see generators.h.
Graph build_chain(const std::string& name, uint64_t input_bytes, const std::vector<StageSpec>& stages) {
  const int32_t n = static_cast<int32_t>(stages.size());
  if (n < 1) throw Error(fmt::format("a chain needs at least 1 stage, got {}", n));
  GraphBuilder b(name);
  b.input("x", input_bytes);
  auto act = [](int32_t i) { return i == 0 ? std::string("x") : fmt::format("a{}", i); };
  for (int32_t i = 1; i <= n; ++i) {
    const StageSpec& s = stages[i - 1];
    std::vector<OutputSpec> outputs = {{act(i), s.activation_bytes}};
    if (s.saved_bytes > 0) outputs.push_back({fmt::format("s{}", i), s.saved_bytes});
    b.node(fmt::format("F{}", i), s.forward_cost, {act(i - 1)}, outputs, s.forward_workspace);
  }
  for (int32_t i = n; i >= 1; --i) {
    const StageSpec& s = stages[i - 1];
    std::vector<std::string> inputs = {act(i - 1), act(i)};
    if (s.saved_bytes > 0) inputs.push_back(fmt::format("s{}", i));
    if (i < n) inputs.push_back(fmt::format("g{}", i));
    uint64_t grad_bytes = i == 1 ? input_bytes : stages[i - 2].activation_bytes;
    b.node(fmt::format("B{}", i), s.backward_cost, inputs, {{fmt::format("g{}", i - 1), grad_bytes}},
           s.backward_workspace);
  }
  return std::move(b).build();
}

}  // namespace

Graph uniform_chain(int32_t stages, const UniformChainOptions& options) {
  std::vector<StageSpec> specs(stages, StageSpec{options.activation_bytes, options.saved_bytes, 0, 0, 0,
                                                 options.forward_cost, options.backward_cost});
  return build_chain(fmt::format("uniform-chain-{}", stages), options.activation_bytes, specs);
}

Graph random_chain(int32_t stages, uint64_t seed, const RandomChainOptions& options) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint64_t> bytes(options.min_bytes, options.max_bytes);
  std::uniform_real_distribution<double> cost(options.min_cost, options.max_cost);
  std::vector<StageSpec> specs;
  for (int32_t i = 0; i < stages; ++i) {
    StageSpec s{};
    s.activation_bytes = bytes(rng);
    s.saved_bytes = bytes(rng);
    s.forward_cost = cost(rng);
    s.backward_cost = cost(rng) * 2;
    if (options.with_workspace) {
      s.forward_workspace = bytes(rng) / 4;
      s.backward_workspace = bytes(rng) / 4;
    }
    specs.push_back(s);
  }
  specs.back().activation_bytes = 4;  // the loss
  return build_chain(fmt::format("random-chain-{}-seed{}", stages, seed), bytes(rng), specs);
}

Graph random_dag(int32_t forward_nodes, uint64_t seed, const RandomDagOptions& options) {
  if (forward_nodes < 1) throw Error(fmt::format("random_dag needs at least 1 forward node, got {}", forward_nodes));
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint64_t> bytes(options.min_bytes, options.max_bytes);
  std::uniform_real_distribution<double> cost(1.0, 10.0);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  GraphBuilder b(fmt::format("random-dag-{}-seed{}", forward_nodes, seed));
  uint64_t input_bytes = bytes(rng);
  b.input("x", input_bytes);
  // tensor k (0 = x, k = output of forward node k) and who reads it.
  std::vector<std::string> names = {"x"};
  std::vector<uint64_t> sizes = {input_bytes};
  std::vector<std::vector<int32_t>> inputs_of(forward_nodes + 1);
  std::vector<std::vector<int32_t>> consumers(forward_nodes + 1);
  std::vector<double> forward_cost(forward_nodes + 1);
  for (int32_t k = 1; k <= forward_nodes; ++k) {
    std::vector<int32_t> inputs = {k - 1};  // keep a spine so everything is connected
    std::uniform_int_distribution<int32_t> any_earlier(0, k - 1);
    int32_t extra = options.max_fan_in > 1 ? std::uniform_int_distribution<int32_t>(0, options.max_fan_in - 1)(rng) : 0;
    for (int32_t e = 0; e < extra; ++e) {
      if (unit(rng) > options.long_edge_probability) continue;
      int32_t src = any_earlier(rng);
      if (std::find(inputs.begin(), inputs.end(), src) == inputs.end()) inputs.push_back(src);
    }
    inputs_of[k] = inputs;
    for (int32_t src : inputs) consumers[src].push_back(k);
    names.push_back(fmt::format("t{}", k));
    sizes.push_back(k == forward_nodes ? 4 : bytes(rng));
    forward_cost[k] = cost(rng);
    std::vector<std::string> input_names;
    for (int32_t src : inputs) input_names.push_back(names[src]);
    b.node(fmt::format("F{}", k), forward_cost[k], input_names, {{names[k], sizes[k]}});
  }
  // Backward: node k reads its inputs, its output and the gradient of its output (the sum over
  // consumers is folded into one gradient tensor per consumer edge: dk_from_c), and produces the
  // gradient of each input it read.
  for (int32_t k = forward_nodes; k >= 1; --k) {
    std::vector<std::string> inputs;
    for (int32_t src : inputs_of[k]) inputs.push_back(names[src]);
    inputs.push_back(names[k]);
    for (int32_t c : consumers[k]) inputs.push_back(fmt::format("d{}_from{}", k, c));
    std::vector<OutputSpec> outputs;
    for (int32_t src : inputs_of[k]) outputs.push_back({fmt::format("d{}_from{}", src, k), sizes[src]});
    b.node(fmt::format("B{}", k), forward_cost[k] * 2, inputs, outputs);
  }
  return std::move(b).build();
}

}  // namespace gradrecomp
