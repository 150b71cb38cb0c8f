// The training graph: one forward+backward step as a DAG of nodes producing tensors
// (the in-memory form of `gradrecomp.tgraph/1`, see ../shared/spec/formats.md section 1).
//
//   gradrecomp::GraphBuilder b("chain-2");
//   b.input("x", 100);
//   b.node("F1", 2.0, {"x"}, {{"a1", 100}});
//   b.node("B1", 4.0, {"x", "a1"}, {{"g0", 100}});
//   gradrecomp::Graph g = std::move(b).build();   // validates; throws gradrecomp::Error
//
// Tensors and nodes are addressed by dense indices (`TensorId`, `NodeId`) in file order; the
// string ids of the document are kept for messages and output. A built Graph is immutable and
// satisfies every rule of the spec (topological order, unique ids, sizes that cannot overflow).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gradrecomp {

using NodeId = int32_t;
using TensorId = int32_t;
inline constexpr NodeId kNoNode = -1;

struct Tensor {
  std::string id;
  uint64_t bytes = 0;
  NodeId producer = kNoNode;      // kNoNode for graph inputs
  std::vector<NodeId> readers;    // nodes that list this tensor as an input, ascending
};

struct Node {
  std::string id;
  double cost = 0.0;
  std::vector<TensorId> inputs;
  std::vector<TensorId> outputs;
  uint64_t workspace_bytes = 0;
  std::string meta_json;          // the optional "meta" object, verbatim (empty when absent)
};

class Graph {
 public:
  const std::string& name() const { return name_; }
  uint64_t constant_bytes() const { return constant_bytes_; }
  const std::string& meta_json() const { return meta_json_; }

  int32_t num_nodes() const { return static_cast<int32_t>(nodes_.size()); }
  int32_t num_tensors() const { return static_cast<int32_t>(tensors_.size()); }
  const Node& node(NodeId id) const { return nodes_[id]; }
  const Tensor& tensor(TensorId id) const { return tensors_[id]; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<Tensor>& tensors() const { return tensors_; }
  const std::vector<TensorId>& graph_inputs() const { return graph_inputs_; }
  bool is_graph_input(TensorId t) const { return tensors_[t].producer == kNoNode; }

  // Index of a string id, or -1 when there is none.
  NodeId find_node(std::string_view id) const;
  TensorId find_tensor(std::string_view id) const;

  // Sum of every node's cost: the cost of the store-all schedule.
  double total_cost() const { return total_cost_; }
  // Sum of every tensor's bytes plus the largest workspace: no replay can exceed it, and
  // construction guarantees it fits in 64 bits.
  uint64_t total_bytes_bound() const { return total_bytes_bound_; }
  // Bytes of a node's outputs (all of them) plus its workspace.
  uint64_t output_bytes(NodeId n) const;

 private:
  friend class GraphBuilder;
  std::string name_;
  std::string meta_json_;
  uint64_t constant_bytes_ = 0;
  std::vector<Node> nodes_;
  std::vector<Tensor> tensors_;
  std::vector<TensorId> graph_inputs_;
  std::unordered_map<std::string, NodeId> node_index_;
  std::unordered_map<std::string, TensorId> tensor_index_;
  double total_cost_ = 0.0;
  uint64_t total_bytes_bound_ = 0;
};

struct OutputSpec {
  std::string id;
  uint64_t bytes = 0;
};

// Builds a Graph in topological order, checking each rule as it goes.
class GraphBuilder {
 public:
  explicit GraphBuilder(std::string name);
  GraphBuilder& constant_bytes(uint64_t bytes);
  GraphBuilder& meta_json(std::string meta);
  GraphBuilder& input(const std::string& id, uint64_t bytes);
  GraphBuilder& node(const std::string& id, double cost, const std::vector<std::string>& inputs,
                     const std::vector<OutputSpec>& outputs, uint64_t workspace_bytes = 0,
                     std::string meta_json = {});
  Graph build() &&;

 private:
  TensorId add_tensor(const std::string& id, uint64_t bytes, NodeId producer, const std::string& where);
  Graph graph_;
};

}  // namespace gradrecomp
