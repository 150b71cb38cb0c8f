// Per-block keep menus and the chain model of a decomposition for the `dag` solver (rule 3 of
// include/gradrecomp/solvers/dag.h), and the expansion of chain plans into node computations.
#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/solvers/dag.h"

namespace gradrecomp {
namespace {

// Replays a short node sequence with the simulator's rules (compute: during = live + outputs not
// live + workspace) and the earliest frees of schedule_from_computes, restricted to the sequence:
// a tensor is freed after its last read before it is produced again, unless pinned. Graph inputs
// (the model's baseline) are live and not counted. Scratch arrays are shared between replays and
// reset through stamps, so a replay costs O(sequence) rather than O(tensors).
class LocalReplayer {
 public:
  explicit LocalReplayer(const Graph& graph)
      : graph_(graph), live_(graph.num_tensors(), 0), pinned_(graph.num_tensors(), 0),
        next_(graph.num_tensors(), 0), stamp_(graph.num_tensors(), 0) {}

  // Peak bytes (baseline excluded) of running `sequence` from `live` with `pinned` never freed.
  // The starting state counts in the peak.
  uint64_t peak(const std::vector<NodeId>& sequence, const std::vector<const std::vector<TensorId>*>& live,
                const std::vector<const std::vector<TensorId>*>& pinned) {
    ++epoch_;
    auto touch = [&](TensorId t) {
      if (stamp_[t] != epoch_) {
        stamp_[t] = epoch_;
        live_[t] = 0;
        pinned_[t] = 0;
        next_[t] = kNone;
      }
    };
    uint64_t live_bytes = 0;
    for (const auto* list : live) {
      for (TensorId t : *list) {
        touch(t);
        if (!live_[t]) {
          live_[t] = 1;
          live_bytes += graph_.tensor(t).bytes;
        }
      }
    }
    for (const auto* list : pinned) {
      for (TensorId t : *list) {
        touch(t);
        pinned_[t] = 1;
      }
    }
    // Frees after each position, found scanning backwards (as schedule_from_computes does).
    free_after_.assign(sequence.size(), {});
    for (size_t i = sequence.size(); i-- > 0;) {
      const Node& node = graph_.node(sequence[i]);
      std::vector<TensorId>& frees = free_after_[i];
      // Outputs first: a node never reads its own outputs, so the order does not matter.
      for (TensorId t : node.outputs) {
        touch(t);
        if (next_[t] != kRead) frees.push_back(t);
        next_[t] = kProduce;
      }
      for (TensorId t : node.inputs) {
        if (graph_.is_graph_input(t)) continue;
        touch(t);
        if (next_[t] != kRead) frees.push_back(t);
        next_[t] = kRead;
      }
    }
    uint64_t peak_bytes = live_bytes;
    auto release = [&](TensorId t) {
      if (live_[t] && !pinned_[t]) {
        live_[t] = 0;
        live_bytes -= graph_.tensor(t).bytes;
      }
    };
    for (const auto* list : live) {
      for (TensorId t : *list) {
        if (next_[t] != kRead) release(t);
      }
    }
    for (size_t i = 0; i < sequence.size(); ++i) {
      const Node& node = graph_.node(sequence[i]);
      for (TensorId t : node.inputs) {
        GRADRECOMP_ASSERT(graph_.is_graph_input(t) || live_[t],
                          fmt::format("dag block replay: node \"{}\" reads \"{}\", which the block model does not "
                                      "hold",
                                      node.id, graph_.tensor(t).id));
      }
      uint64_t during = live_bytes + node.workspace_bytes;
      for (TensorId t : node.outputs) {
        if (!live_[t]) {
          live_[t] = 1;
          during += graph_.tensor(t).bytes;
        }
      }
      live_bytes = during - node.workspace_bytes;
      peak_bytes = std::max(peak_bytes, during);
      for (TensorId t : free_after_[i]) release(t);
    }
    return peak_bytes;
  }

 private:
  static constexpr uint8_t kNone = 0, kRead = 1, kProduce = 2;
  const Graph& graph_;
  std::vector<uint8_t> live_, pinned_, next_;
  std::vector<uint32_t> stamp_;
  uint32_t epoch_ = 0;
  std::vector<std::vector<TensorId>> free_after_;
};

uint64_t sum_bytes(const Graph& graph, const std::vector<TensorId>& tensors) {
  uint64_t total = 0;
  for (TensorId t : tensors) total += graph.tensor(t).bytes;
  return total;
}

double sum_cost(const Graph& graph, const std::vector<NodeId>& nodes) {
  double total = 0;
  for (NodeId n : nodes) total += graph.node(n).cost;
  return total;
}

// What one block needs to build its menu: the internals and their producers.
class BlockMenuBuilder {
 public:
  BlockMenuBuilder(const Graph& graph, const DagBlock& block, std::vector<char>& internal_scratch,
                   std::vector<char>& kept_scratch, std::vector<char>& node_scratch)
      : graph_(graph), block_(block), internal_(internal_scratch), kept_(kept_scratch), in_set_(node_scratch) {
    for (NodeId n : block.forward) {
      for (TensorId t : graph.node(n).outputs) internal_[t] = 1;
    }
    for (TensorId t : block.output) internal_[t] = 0;
  }
  ~BlockMenuBuilder() {
    for (NodeId n : block_.forward) {
      for (TensorId t : graph_.node(n).outputs) internal_[t] = 0, kept_[t] = 0;
      in_set_[n] = 0;
    }
  }

  // Forward nodes (in block order) that backward must rerun when only `kept` internals are kept:
  // the producers of every dropped saved tensor and, transitively, of dropped internals they read.
  std::vector<NodeId> recompute_closure(const std::vector<TensorId>& kept) {
    for (TensorId t : kept) kept_[t] = 1;
    std::vector<TensorId> dropped;
    for (TensorId t : block_.saved) {
      if (!kept_[t]) dropped.push_back(t);
    }
    std::vector<NodeId> chosen = producers_to_rerun(std::move(dropped));
    for (TensorId t : kept) kept_[t] = 0;
    return chosen;
  }

  // The producers of the `dropped` tensors and, transitively, of the dropped (not kept_)
  // internals they read, in file order (forward nodes are listed in file order).
  std::vector<NodeId> producers_to_rerun(std::vector<TensorId> stack) {
    std::vector<NodeId> chosen;
    while (!stack.empty()) {
      TensorId t = stack.back();
      stack.pop_back();
      NodeId p = graph_.tensor(t).producer;
      if (in_set_[p]) continue;
      in_set_[p] = 1;
      chosen.push_back(p);
      for (TensorId u : graph_.node(p).inputs) {
        if (internal_[u] && !kept_[u]) stack.push_back(u);
      }
    }
    for (NodeId n : chosen) in_set_[n] = 0;
    std::sort(chosen.begin(), chosen.end());
    return chosen;
  }

  // Lazy backward: before each backward node, rerun (in forward order) just what recomputes
  // the dropped internals it reads, so recomputed tensors live only until that node; costs
  // more than recomputing everything up front when backward nodes share dropped tensors.
  std::vector<NodeId> lazy_backward(const std::vector<TensorId>& kept) {
    for (TensorId t : kept) kept_[t] = 1;
    std::vector<NodeId> sequence;
    for (NodeId b : block_.backward) {
      std::vector<TensorId> dropped;
      for (TensorId t : graph_.node(b).inputs) {
        if (internal_[t] && !kept_[t]) dropped.push_back(t);
      }
      std::vector<NodeId> chosen = producers_to_rerun(std::move(dropped));
      sequence.insert(sequence.end(), chosen.begin(), chosen.end());
      sequence.push_back(b);
    }
    for (TensorId t : kept) kept_[t] = 0;
    return sequence;
  }

  // The order in which saved tensors are dropped: greedy least extra recompute cost per byte
  // (exact marginal closures up to kGreedyLimit saved tensors, a static ranking beyond).
  std::vector<TensorId> drop_order() {
    constexpr size_t kGreedyLimit = 48;
    std::vector<TensorId> kept = block_.saved;
    std::vector<TensorId> order;
    auto better = [&](double score, TensorId t, double best_score, TensorId best) {
      if (best < 0) return true;
      if (score != best_score) return score < best_score;
      if (graph_.tensor(t).bytes != graph_.tensor(best).bytes) return graph_.tensor(t).bytes > graph_.tensor(best).bytes;
      return t < best;
    };
    auto per_byte = [&](double cost, TensorId t) {
      return cost / static_cast<double>(std::max<uint64_t>(graph_.tensor(t).bytes, 1));
    };
    if (kept.size() > kGreedyLimit) {
      std::vector<std::pair<double, TensorId>> scored;
      for (TensorId t : kept) {
        std::vector<TensorId> others;
        for (TensorId u : kept) {
          if (u != t) others.push_back(u);
        }
        scored.push_back({per_byte(sum_cost(graph_, recompute_closure(others)), t), t});
      }
      std::sort(scored.begin(), scored.end(), [&](const auto& a, const auto& b) {
        return better(a.first, a.second, b.first, b.second);
      });
      for (const auto& s : scored) order.push_back(s.second);
      return order;
    }
    double current = 0;  // recompute cost with `kept`
    while (!kept.empty()) {
      TensorId best = -1;
      double best_score = 0, best_cost = 0;
      for (size_t i = 0; i < kept.size(); ++i) {
        std::vector<TensorId> others = kept;
        others.erase(others.begin() + static_cast<std::ptrdiff_t>(i));
        double cost = sum_cost(graph_, recompute_closure(others));
        double score = per_byte(cost - current, kept[i]);
        if (better(score, kept[i], best_score, best)) {
          best = kept[i];
          best_score = score;
          best_cost = cost;
        }
      }
      order.push_back(best);
      kept.erase(std::find(kept.begin(), kept.end(), best));
      current = best_cost;
    }
    return order;
  }

 private:
  const Graph& graph_;
  const DagBlock& block_;
  std::vector<char>& internal_;
  std::vector<char>& kept_;
  std::vector<char>& in_set_;
};

bool dominates(const KeepOption& a, const KeepOption& b) {
  return a.kept_bytes <= b.kept_bytes && a.forward_peak_bytes <= b.forward_peak_bytes &&
         a.backward_peak_bytes <= b.backward_peak_bytes && a.forward_cost + a.backward_cost <= b.forward_cost + b.backward_cost;
}

}  // namespace

DagChainModel build_dag_chain_model(const Graph& graph, const DagDecomposition& decomposition, int32_t max_options,
                                    bool with_lazy) {
  if (max_options < 1) throw Error(fmt::format("dag: max_options is {}, expected at least 1", max_options));
  DagChainModel result;
  result.model.input_bytes = 0;  // graph inputs are in the baseline
  result.model.baseline_bytes = decomposition.baseline_bytes;
  LocalReplayer replayer(graph);
  std::vector<char> internal(graph.num_tensors(), 0), kept_flag(graph.num_tensors(), 0), node_flag(graph.num_nodes(), 0);
  const int32_t n = static_cast<int32_t>(decomposition.blocks.size());
  for (int32_t k = 0; k < n; ++k) {
    const DagBlock& block = decomposition.blocks[k];
    const uint64_t in_bytes = sum_bytes(graph, block.input);
    const uint64_t out_bytes = sum_bytes(graph, block.output);
    const uint64_t d_in = sum_bytes(graph, block.gradient_in);
    const uint64_t d_out = sum_bytes(graph, block.gradient_out);
    ChainModelStage stage;
    stage.activation_bytes = out_bytes;
    stage.gradient_bytes = d_out;
    stage.forward_cost = sum_cost(graph, block.forward);
    stage.forward_peak_bytes =
        std::max(replayer.peak(block.forward, {&block.input}, {&block.input, &block.output}), in_bytes + out_bytes);

    BlockMenuBuilder menu(graph, block, internal, kept_flag, node_flag);
    std::vector<TensorId> order = menu.drop_order();
    const int32_t s = static_cast<int32_t>(order.size());
    std::vector<int32_t> prefixes;
    if (s + 1 <= max_options) {
      prefixes.resize(s + 1);
      std::iota(prefixes.begin(), prefixes.end(), 0);
    } else if (max_options == 1) {
      prefixes = {0};
    } else {
      for (int32_t i = 0; i < max_options; ++i) {
        int32_t p = static_cast<int32_t>((static_cast<int64_t>(i) * s + (max_options - 1) / 2) / (max_options - 1));
        if (prefixes.empty() || prefixes.back() != p) prefixes.push_back(p);
      }
    }
    std::vector<KeepOption> figures;
    std::vector<DagKeepOption> options;
    for (int32_t dropped : prefixes) {
      std::vector<TensorId> kept(order.begin() + dropped, order.end());
      std::sort(kept.begin(), kept.end());
      const uint64_t kept_bytes = out_bytes + sum_bytes(graph, kept);
      const uint64_t forward_peak = std::max(
          replayer.peak(block.forward, {&block.input}, {&block.input, &block.output, &kept}), in_bytes + kept_bytes);
      // Eager (recompute everything first) and lazy (just in time) backward sequences.
      std::vector<NodeId> eager = menu.recompute_closure(kept);
      eager.insert(eager.end(), block.backward.begin(), block.backward.end());
      std::vector<std::vector<NodeId>> sequences = {std::move(eager)};
      if (with_lazy && dropped > 0) {
        std::vector<NodeId> lazy = menu.lazy_backward(kept);
        if (lazy != sequences.front()) sequences.push_back(std::move(lazy));
      }
      for (std::vector<NodeId>& sequence : sequences) {
        KeepOption f;
        f.kept_bytes = kept_bytes;
        f.forward_cost = stage.forward_cost;
        f.forward_peak_bytes = forward_peak;
        f.backward_cost = sum_cost(graph, sequence);
        f.backward_peak_bytes =
            std::max(replayer.peak(sequence, {&block.input, &block.output, &kept, &block.gradient_in},
                                   {&block.input, &block.gradient_out}),
                     in_bytes + kept_bytes + d_in + d_out);
        figures.push_back(f);
        options.push_back(DagKeepOption{kept, std::move(sequence)});
      }
    }
    // Drop dominated options (keep the first of equal ones).
    for (size_t i = 0; i < figures.size(); ++i) {
      bool dominated = false;
      for (size_t j = 0; j < figures.size() && !dominated; ++j) {
        if (i == j) continue;
        if (dominates(figures[j], figures[i]) && (!dominates(figures[i], figures[j]) || j < i)) dominated = true;
      }
      if (!dominated) {
        stage.keep_options.push_back(figures[i]);
        if (result.options.size() <= static_cast<size_t>(k)) result.options.resize(k + 1);
        result.options[k].push_back(options[i]);
      }
    }
    result.model.stages.push_back(std::move(stage));
  }
  result.options.resize(n);
  return result;
}

std::vector<NodeId> dag_plan_computes(const DagDecomposition& decomposition, const DagChainModel& model,
                                      const std::vector<ChainOp>& ops) {
  std::vector<NodeId> computes;
  const int32_t n = static_cast<int32_t>(decomposition.blocks.size());
  for (const ChainOp& op : ops) {
    GRADRECOMP_ASSERT(op.stage >= 1 && op.stage <= n, fmt::format("chain op stage {} of {}", op.stage, n));
    const DagBlock& block = decomposition.blocks[op.stage - 1];
    if (op.kind == ChainOpKind::kBackward) {
      const auto& options = model.options[op.stage - 1];
      GRADRECOMP_ASSERT(op.option >= 0 && op.option < static_cast<int32_t>(options.size()),
                        fmt::format("chain op option {} of stage {}", op.option, op.stage));
      const auto& sequence = options[op.option].backward_sequence;
      computes.insert(computes.end(), sequence.begin(), sequence.end());
    } else {
      computes.insert(computes.end(), block.forward.begin(), block.forward.end());
    }
  }
  return computes;
}

}  // namespace gradrecomp
