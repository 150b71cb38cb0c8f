// Block decomposition for the `dag` solver (rule 2 of include/gradrecomp/solvers/dag.h).
#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/solvers/dag.h"

namespace gradrecomp {

DagDecomposition decompose_dag(const Graph& graph, const DagPhases& phases, const DagCutOptions& options) {
  const DagCutPolicy policy = options.policy;
  const bool useful_cuts_only = options.useful_cuts_only;
  if (options.group < 1 || options.group_offset < 0 || options.group_offset >= options.group) {
    throw Error(fmt::format("dag cut grouping: group {} offset {}, expected group >= 1 and 0 <= offset < group",
                            options.group, options.group_offset));
  }
  const int32_t m = static_cast<int32_t>(phases.forward.size());
  if (m == 0) throw Error(fmt::format("graph \"{}\": no forward node to build blocks from", graph.name()));
  if (static_cast<int32_t>(phases.forward.size() + phases.backward.size()) != graph.num_nodes()) {
    throw Error(fmt::format("graph \"{}\": the phases list {} forward and {} backward nodes, expected {} in all",
                            graph.name(), phases.forward.size(), phases.backward.size(), graph.num_nodes()));
  }
  constexpr int32_t kUnset = std::numeric_limits<int32_t>::max();
  // fpos: forward position of a forward node, -1 for backward nodes; epos for backward nodes.
  std::vector<int32_t> fpos(graph.num_nodes(), -1);
  std::vector<int32_t> epos(graph.num_nodes(), -1);
  std::vector<char> seen(graph.num_nodes(), 0);
  for (int32_t i = 0; i < m; ++i) {
    NodeId n = phases.forward[i];
    GRADRECOMP_ASSERT(!seen[n], "node listed twice in phases");
    seen[n] = 1;
    fpos[n] = i;
  }
  // forbidden[p] for cut p in 1..m-1, as a difference array over [lo, hi].
  std::vector<int32_t> forbid_diff(m + 1, 0);
  for (NodeId b : phases.backward) {
    GRADRECOMP_ASSERT(!seen[b], "node listed twice in phases");
    seen[b] = 1;
    int32_t max_forward = -1;
    int32_t min_gradient = kUnset;
    for (TensorId t : graph.node(b).inputs) {
      NodeId p = graph.tensor(t).producer;
      if (p == kNoNode) continue;
      if (fpos[p] >= 0) {
        max_forward = std::max(max_forward, fpos[p]);
      } else {
        GRADRECOMP_ASSERT(epos[p] >= 0, "backward nodes must be visited in topological order");
        min_gradient = std::min(min_gradient, epos[p]);
      }
    }
    int32_t e = std::min(max_forward >= 0 ? max_forward : kUnset, min_gradient);
    if (e == kUnset) e = m - 1;
    epos[b] = e;
    if (max_forward > e) {  // forbid cuts p with e < p <= max_forward
      forbid_diff[e + 1] += 1;
      forbid_diff[max_forward + 1] -= 1;
    }
  }
  // last_need[t] for forward tensors: the largest position of a reader (forward: fpos,
  // backward: epos), at least the producer's position.
  std::vector<int32_t> pass_diff(m + 2, 0);  // tensors crossing cut p not produced at p-1
  std::vector<int32_t> last_need(graph.num_tensors(), -1);
  for (TensorId t = 0; t < graph.num_tensors(); ++t) {
    const Tensor& tensor = graph.tensor(t);
    if (tensor.producer == kNoNode || fpos[tensor.producer] < 0) continue;
    const int32_t q = fpos[tensor.producer];
    int32_t need = q;
    for (NodeId r : tensor.readers) need = std::max(need, fpos[r] >= 0 ? fpos[r] : epos[r]);
    last_need[t] = need;
    if (need >= q + 2) {  // crosses cuts q+2..need while produced before p-1
      pass_diff[q + 2] += 1;
      pass_diff[need + 1] -= 1;
    }
  }
  DagDecomposition d;
  d.forward_positions = m;
  // Running sums of the difference arrays give, for each cut p, whether it is forbidden and
  // how many tensors would pass through it from further back.
  std::vector<char> allowed(m, 0);
  {
    int32_t f = 0, pt = 0;
    for (int32_t p = 0; p < m; ++p) {
      f += forbid_diff[p];
      pt += pass_diff[p];
      if (p == 0) continue;
      bool ok = f == 0;
      if (policy == DagCutPolicy::kNoPassThrough && pt > 0) ok = false;
      allowed[p] = ok;
    }
  }
  if (useful_cuts_only) {
    // Cut p stays only when a tensor crossing it is read by some backward node: a block's output
    // is part of what its forward-keep holds until its backward, pure waste when no backward
    // reads it (batch norm -> relu: relu's backward reads its output, not its input).
    std::vector<int32_t> useful_diff(m + 1, 0);
    for (TensorId t = 0; t < graph.num_tensors(); ++t) {
      const Tensor& tensor = graph.tensor(t);
      if (tensor.producer == kNoNode || fpos[tensor.producer] < 0) continue;
      bool read_backward = false;
      for (NodeId r : tensor.readers) read_backward = read_backward || fpos[r] < 0;
      const int32_t q = fpos[tensor.producer];
      if (read_backward && last_need[t] > q) {  // crosses cuts q+1..last_need
        useful_diff[q + 1] += 1;
        useful_diff[last_need[t] + 1] -= 1;
      }
    }
    int32_t useful = 0;
    for (int32_t p = 0; p < m; ++p) {
      useful += useful_diff[p];
      if (p > 0 && useful == 0) allowed[p] = 0;
    }
  }
  if (options.group > 1) {
    int32_t index = 0;
    for (int32_t p = 1; p < m; ++p) {
      if (!allowed[p]) continue;
      if (index % options.group != options.group_offset) allowed[p] = 0;
      ++index;
    }
  }
  std::vector<int32_t> block_of_pos(m, 0);
  int32_t blocks = 1;
  for (int32_t p = 0; p < m; ++p) {
    if (p > 0 && allowed[p]) {
      d.cuts.push_back(p);
      ++blocks;
    }
    block_of_pos[p] = blocks - 1;
  }
  d.blocks.resize(blocks);
  auto block_of_node = [&](NodeId n) { return block_of_pos[fpos[n] >= 0 ? fpos[n] : epos[n]]; };
  for (NodeId n : phases.forward) d.blocks[block_of_pos[fpos[n]]].forward.push_back(n);
  for (NodeId n : phases.backward) d.blocks[block_of_node(n)].backward.push_back(n);

  for (TensorId t = 0; t < graph.num_tensors(); ++t) {
    const Tensor& tensor = graph.tensor(t);
    if (tensor.producer == kNoNode) {
      if (!tensor.readers.empty()) {
        d.baseline.push_back(t);
        d.baseline_bytes += tensor.bytes;
      }
      continue;
    }
    if (fpos[tensor.producer] >= 0) {
      const int32_t from = block_of_pos[fpos[tensor.producer]];
      const int32_t to = block_of_pos[last_need[t]];
      for (int32_t k = from; k < to; ++k) {
        d.blocks[k].output.push_back(t);
        d.blocks[k + 1].input.push_back(t);
      }
      if (to == from) {
        for (NodeId r : tensor.readers) {
          if (fpos[r] < 0) {  // a backward reader of the same block
            d.blocks[from].saved.push_back(t);
            break;
          }
        }
      }
    } else {
      const int32_t from = block_of_node(tensor.producer);
      int32_t to = from;
      for (NodeId r : tensor.readers) to = std::min(to, block_of_node(r));
      for (int32_t k = to; k < from; ++k) {
        d.blocks[k].gradient_in.push_back(t);
        d.blocks[k + 1].gradient_out.push_back(t);
      }
    }
  }
  return d;
}

}  // namespace gradrecomp
