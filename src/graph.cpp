#include "gradrecomp/graph.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "gradrecomp/error.h"

namespace gradrecomp {
namespace {

uint64_t checked_add(uint64_t a, uint64_t b, const std::string& what) {
  if (a > std::numeric_limits<uint64_t>::max() - b) {
    throw Error(fmt::format("{}: byte counts add up to more than 2^64-1 (the sum overflows 64 bits)", what));
  }
  return a + b;
}

}  // namespace

NodeId Graph::find_node(std::string_view id) const {
  auto it = node_index_.find(std::string(id));
  return it == node_index_.end() ? kNoNode : it->second;
}

TensorId Graph::find_tensor(std::string_view id) const {
  auto it = tensor_index_.find(std::string(id));
  return it == tensor_index_.end() ? -1 : it->second;
}

uint64_t Graph::output_bytes(NodeId n) const {
  uint64_t total = nodes_[n].workspace_bytes;
  for (TensorId t : nodes_[n].outputs) total += tensors_[t].bytes;
  return total;
}

GraphBuilder::GraphBuilder(std::string name) { graph_.name_ = std::move(name); }

GraphBuilder& GraphBuilder::constant_bytes(uint64_t bytes) {
  graph_.constant_bytes_ = bytes;
  return *this;
}

GraphBuilder& GraphBuilder::meta_json(std::string meta) {
  graph_.meta_json_ = std::move(meta);
  return *this;
}

TensorId GraphBuilder::add_tensor(const std::string& id, uint64_t bytes, NodeId producer,
                                  const std::string& where) {
  if (id.empty()) throw Error(fmt::format("{}: tensor id is empty (expected a non-empty string)", where));
  if (graph_.tensor_index_.count(id)) {
    throw Error(fmt::format("{}: duplicate tensor id \"{}\" (every tensor id must be unique)", where, id));
  }
  graph_.total_bytes_bound_ = checked_add(graph_.total_bytes_bound_, bytes, where);
  TensorId t = graph_.num_tensors();
  graph_.tensors_.push_back(Tensor{id, bytes, producer, {}});
  graph_.tensor_index_.emplace(id, t);
  return t;
}

GraphBuilder& GraphBuilder::input(const std::string& id, uint64_t bytes) {
  if (!graph_.nodes_.empty()) {
    throw Error(fmt::format("graph input \"{}\" declared after the first node (declare inputs first)", id));
  }
  graph_.graph_inputs_.push_back(add_tensor(id, bytes, kNoNode, fmt::format("graph input \"{}\"", id)));
  return *this;
}

GraphBuilder& GraphBuilder::node(const std::string& id, double cost, const std::vector<std::string>& inputs,
                                 const std::vector<OutputSpec>& outputs, uint64_t workspace_bytes,
                                 std::string meta_json) {
  std::string where = fmt::format("node \"{}\"", id);
  if (id.empty()) throw Error("node with an empty id (expected a non-empty string)");
  if (graph_.node_index_.count(id)) {
    throw Error(fmt::format("duplicate node id \"{}\" (every node id must be unique)", id));
  }
  if (!std::isfinite(cost) || cost < 0) {
    throw Error(fmt::format("{}: cost {} is invalid (expected a finite number >= 0)", where, cost));
  }
  NodeId n = graph_.num_nodes();
  Node node;
  node.id = id;
  node.cost = cost;
  node.workspace_bytes = workspace_bytes;
  node.meta_json = std::move(meta_json);
  for (const std::string& input : inputs) {
    TensorId t = graph_.find_tensor(input);
    if (t < 0) {
      throw Error(fmt::format(
          "{} reads tensor \"{}\" before it is produced (tensors must be graph inputs or outputs of an "
          "earlier node: nodes are listed in topological order)",
          where, input));
    }
    if (std::find(node.inputs.begin(), node.inputs.end(), t) != node.inputs.end()) {
      throw Error(fmt::format("{} lists input \"{}\" twice (each input at most once)", where, input));
    }
    node.inputs.push_back(t);
  }
  graph_.node_index_.emplace(id, n);
  for (const OutputSpec& output : outputs) {
    node.outputs.push_back(add_tensor(output.id, output.bytes, n, where));
  }
  for (TensorId t : node.inputs) graph_.tensors_[t].readers.push_back(n);
  // The bound keeps room for the largest workspace; re-check it whenever a workspace grows.
  checked_add(graph_.total_bytes_bound_, workspace_bytes, where);
  graph_.total_cost_ += cost;
  graph_.nodes_.push_back(std::move(node));
  return *this;
}

Graph GraphBuilder::build() && {
  uint64_t max_workspace = 0;
  for (const Node& n : graph_.nodes_) max_workspace = std::max(max_workspace, n.workspace_bytes);
  graph_.total_bytes_bound_ = checked_add(graph_.total_bytes_bound_, max_workspace, "graph");
  checked_add(graph_.total_bytes_bound_, graph_.constant_bytes_, "graph (constant_bytes plus activations)");
  if (!std::isfinite(graph_.total_cost_)) {
    throw Error("graph: the sum of node costs is not finite (costs too large)");
  }
  return std::move(graph_);
}

}  // namespace gradrecomp
