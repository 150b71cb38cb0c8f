#include "gradrecomp/chain.h"

#include <algorithm>

#include <fmt/format.h>

#include "gradrecomp/error.h"

namespace gradrecomp {
namespace {

bool contains(const std::vector<TensorId>& list, TensorId t) {
  return std::find(list.begin(), list.end(), t) != list.end();
}

}  // namespace

uint64_t bytes_of(const Graph& graph, const std::vector<TensorId>& tensors) {
  uint64_t total = 0;
  for (TensorId t : tensors) total += graph.tensor(t).bytes;
  return total;
}

std::optional<Chain> recognize_chain(const Graph& graph, std::string* why_not) {
  auto reject = [&](std::string reason) -> std::optional<Chain> {
    if (why_not) *why_not = "not a chain: " + std::move(reason);
    return std::nullopt;
  };
  const int32_t nodes = graph.num_nodes();
  if (nodes == 0 || nodes % 2 != 0) {
    return reject(fmt::format("a chain of n stages has 2n nodes (F1..Fn then Bn..B1); this graph has {}", nodes));
  }
  const int32_t n = nodes / 2;
  Chain chain;
  chain.stages.resize(n);
  // forward(i) / backward(i) for 1-based stage i.
  auto forward = [&](int32_t i) { return static_cast<NodeId>(i - 1); };
  auto backward = [&](int32_t i) { return static_cast<NodeId>(2 * n - i); };
  auto describe = [&](NodeId node) {
    return node < n ? fmt::format("node \"{}\" (forward stage {})", graph.node(node).id, node + 1)
                    : fmt::format("node \"{}\" (backward stage {})", graph.node(node).id, 2 * n - node);
  };

  for (TensorId t : graph.graph_inputs()) {
    const auto& readers = graph.tensor(t).readers;
    if (readers.empty()) continue;
    if (contains(graph.node(forward(1)).inputs, t)) chain.input.push_back(t);
    else chain.extra_inputs.push_back(t);
  }

  for (int32_t i = 1; i <= n; ++i) {
    ChainStage& stage = chain.stages[i - 1];
    stage.forward = forward(i);
    stage.backward = backward(i);
    // Forward inputs: outputs of F(i-1) or graph inputs.
    for (TensorId t : graph.node(stage.forward).inputs) {
      NodeId producer = graph.tensor(t).producer;
      if (producer != kNoNode && !(i > 1 && producer == forward(i - 1))) {
        return reject(fmt::format("{} reads tensor \"{}\" produced by {} (expected only outputs of forward stage {} "
                                  "or graph inputs)", describe(stage.forward), graph.tensor(t).id, describe(producer), i - 1));
      }
    }
    // Forward outputs: activation (read by F(i+1)), saved (read by backward nodes only), unread.
    for (TensorId t : graph.node(stage.forward).outputs) {
      const auto& readers = graph.tensor(t).readers;
      if (readers.empty()) {
        stage.forward_unread.push_back(t);
      } else if (i < n && contains(graph.node(forward(i + 1)).inputs, t)) {
        stage.activation.push_back(t);
      } else {
        stage.saved.push_back(t);
      }
      for (NodeId reader : readers) {
        bool ok = reader == forward(i + 1) || reader == backward(i) ||
                  (i < n && reader == backward(i + 1) && contains(stage.activation, t));
        if (!ok) {
          return reject(fmt::format("tensor \"{}\" of {} is read by {} (expected readers: the next forward stage, "
                                    "backward stage {}, or backward stage {} for the activation)", graph.tensor(t).id,
                                    describe(stage.forward), describe(reader), i, i + 1));
        }
      }
    }
    // Backward outputs: gradient read by B(i-1) only, or nobody.
    for (TensorId t : graph.node(stage.backward).outputs) {
      const auto& readers = graph.tensor(t).readers;
      if (readers.empty()) {
        stage.backward_unread.push_back(t);
        continue;
      }
      for (NodeId reader : readers) {
        if (i == 1 || reader != backward(i - 1)) {
          return reject(fmt::format("tensor \"{}\" of {} is read by {} (expected only backward stage {})",
                                    graph.tensor(t).id, describe(stage.backward), describe(reader), i - 1));
        }
      }
      stage.gradient.push_back(t);
    }
  }
  // Backward inputs: own forward, the activation F(i) read (from F(i-1)), B(i+1), graph inputs.
  for (int32_t i = 1; i <= n; ++i) {
    const ChainStage& stage = chain.stages[i - 1];
    for (TensorId t : graph.node(stage.backward).inputs) {
      NodeId producer = graph.tensor(t).producer;
      bool ok = producer == kNoNode || producer == stage.forward ||
                (i > 1 && producer == forward(i - 1) && contains(chain.stages[i - 2].activation, t)) ||
                (i < n && producer == backward(i + 1));
      if (!ok) {
        return reject(fmt::format("{} reads tensor \"{}\" produced by {} (expected outputs of forward stage {}, the "
                                  "activation of forward stage {}, gradients of backward stage {}, or graph inputs)",
                                  describe(stage.backward), graph.tensor(t).id, describe(producer), i, i - 1, i + 1));
      }
    }
  }
  return chain;
}

std::optional<std::string> chain_unsupported_reason(const Graph& graph) {
  std::string why;
  if (recognize_chain(graph, &why)) return std::nullopt;
  return why;
}

Chain require_chain(const Graph& graph, std::string_view solver_name) {
  std::string why;
  std::optional<Chain> chain = recognize_chain(graph, &why);
  if (!chain) throw Error(fmt::format("solver \"{}\" needs a chain; graph \"{}\" is {}", solver_name, graph.name(), why));
  return *chain;
}

}  // namespace gradrecomp
