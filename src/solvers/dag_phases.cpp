// Forward / backward identification for the `dag` solver (rule 1 of include/gradrecomp/solvers/dag.h).
#include <algorithm>
#include <limits>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gradrecomp/error.h"
#include "gradrecomp/solvers/dag.h"

namespace gradrecomp {
namespace {

// The node's meta "phase" ("forward" / "backward"), nullopt when the node has none.
std::optional<std::string> phase_of(const Node& node) {
  if (node.meta_json.empty()) return std::nullopt;
  nlohmann::json meta = nlohmann::json::parse(node.meta_json, nullptr, /*allow_exceptions=*/false);
  if (!meta.is_object()) return std::nullopt;
  auto it = meta.find("phase");
  if (it == meta.end()) return std::nullopt;
  if (!it->is_string()) {
    throw Error(fmt::format("node \"{}\": meta \"phase\" is {}, expected \"forward\" or \"backward\"", node.id,
                            it->dump()));
  }
  return it->get<std::string>();
}

DagPhases split_by_meta(const Graph& graph) {
  DagPhases phases;
  phases.rule = "node meta \"phase\"";
  for (NodeId n = 0; n < graph.num_nodes(); ++n) {
    const Node& node = graph.node(n);
    std::optional<std::string> phase = phase_of(node);
    if (!phase) {
      throw Error(fmt::format("node \"{}\" has no meta \"phase\" but other nodes do (expected \"forward\" or "
                              "\"backward\" on every node, or on none)",
                              node.id));
    }
    if (*phase == "forward") {
      phases.forward.push_back(n);
    } else if (*phase == "backward") {
      phases.backward.push_back(n);
    } else {
      throw Error(fmt::format("node \"{}\": meta \"phase\" is \"{}\", expected \"forward\" or \"backward\"", node.id,
                              *phase));
    }
  }
  return phases;
}

// Longest prefix of p nodes in which every node has an output read at a position >= p.
DagPhases split_by_inference(const Graph& graph) {
  const int32_t count = graph.num_nodes();
  // last_read[v]: the largest position of a node reading an output of v (-1 if none).
  int32_t best = 0;
  int32_t prefix_min = std::numeric_limits<int32_t>::max();
  for (NodeId v = 0; v < count; ++v) {
    int32_t last_read = -1;
    for (TensorId t : graph.node(v).outputs) {
      const auto& readers = graph.tensor(t).readers;
      if (!readers.empty()) last_read = std::max(last_read, readers.back());
    }
    prefix_min = std::min(prefix_min, last_read);
    const int32_t p = v + 1;  // prefix of nodes 0..v
    if (p < count && prefix_min >= p) best = p;
  }
  if (best == 0) {
    throw Error(fmt::format("graph \"{}\": cannot tell forward from backward nodes: no prefix of the node list "
                            "passes an output of each of its nodes to a later node (add meta "
                            "{{\"phase\": \"forward\"|\"backward\"}} to every node)",
                            graph.name()));
  }
  DagPhases phases;
  phases.rule = fmt::format("inferred: the first {} nodes are forward (longest prefix whose every node has an "
                            "output read after it; the loss is \"{}\")",
                            best, graph.node(best - 1).id);
  for (NodeId n = 0; n < count; ++n) (n < best ? phases.forward : phases.backward).push_back(n);
  return phases;
}

}  // namespace

DagPhases split_phases(const Graph& graph) {
  if (graph.num_nodes() == 0) throw Error(fmt::format("graph \"{}\" has no nodes to schedule", graph.name()));
  bool any_meta = false;
  for (const Node& node : graph.nodes()) {
    if (phase_of(node)) {
      any_meta = true;
      break;
    }
  }
  DagPhases phases = any_meta ? split_by_meta(graph) : split_by_inference(graph);
  if (phases.forward.empty()) {
    throw Error(fmt::format("graph \"{}\" has no forward node ({}); expected at least one", graph.name(),
                            phases.rule));
  }
  std::vector<char> is_backward(graph.num_nodes(), 0);
  for (NodeId n : phases.backward) is_backward[n] = 1;
  for (NodeId n : phases.forward) {
    for (TensorId t : graph.node(n).inputs) {
      NodeId producer = graph.tensor(t).producer;
      if (producer != kNoNode && is_backward[producer]) {
        throw Error(fmt::format("forward node \"{}\" reads tensor \"{}\" of backward node \"{}\" (phases by {}); "
                                "a forward node may read only graph inputs and forward outputs",
                                graph.node(n).id, graph.tensor(t).id, graph.node(producer).id, phases.rule));
      }
    }
  }
  return phases;
}

}  // namespace gradrecomp
