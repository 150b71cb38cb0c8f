// Builds the stage relaxation written out (with its proof) in include/gradrecomp/solvers/milp.h,
// section "Lower bound on every answer".
#include "milp/stage_relaxation.h"

#include <algorithm>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/units.h"

namespace gradrecomp::milp {

std::optional<std::string> why_not_unique_topological_order(const Graph& graph) {
  for (NodeId i = 0; i + 1 < graph.num_nodes(); ++i) {
    bool edge = false;
    for (TensorId k : graph.node(i).outputs) {
      const auto& readers = graph.tensor(k).readers;
      edge = edge || std::binary_search(readers.begin(), readers.end(), i + 1);
    }
    if (!edge) {
      return fmt::format("node \"{}\" does not read any output of node \"{}\" just before it, so the two can run in "
                         "either order",
                         graph.node(i + 1).id, graph.node(i).id);
    }
  }
  return std::nullopt;
}

namespace {

// Bytes of the union of a node's inputs and outputs, plus its workspace.
uint64_t touched_bytes(const Graph& graph, NodeId n, std::vector<char>& mark) {
  uint64_t total = graph.node(n).workspace_bytes;
  for (const auto* list : {&graph.node(n).inputs, &graph.node(n).outputs}) {
    for (TensorId k : *list) {
      if (!mark[k]) total += graph.tensor(k).bytes;
      mark[k] = 1;
    }
  }
  for (const auto* list : {&graph.node(n).inputs, &graph.node(n).outputs}) {
    for (TensorId k : *list) mark[k] = 0;
  }
  return total;
}

}  // namespace

StageRelaxation::StageRelaxation(const Graph& graph, uint64_t budget_bytes) : graph_(graph) {
  const int32_t T = graph.num_nodes();
  const int32_t K = graph.num_tensors();
  scale_ = graph.total_cost() > 0 ? graph.total_cost() : 1.0;
  const double budget = static_cast<double>(budget_bytes);
  std::vector<char> mark(K, 0);

  // ---- Pivots: nodes comparable with every other node (an ancestor or a descendant of each).
  // Every schedule computes them for the first time in file order, and every other node for the
  // first time between the same two pivots.
  std::vector<std::vector<char>> below(T, std::vector<char>(T, 0));  // below[v][w]: w is a descendant of v
  for (NodeId v = T - 1; v >= 0; --v) {
    for (TensorId k : graph.node(v).outputs) {
      for (NodeId r : graph.tensor(k).readers) {
        below[v][r] = 1;
        for (NodeId w = r + 1; w < T; ++w) below[v][w] = below[v][w] || below[r][w];
      }
    }
  }
  std::vector<int32_t> related(T, 0);
  for (NodeId v = 0; v < T; ++v) {
    for (NodeId w = 0; w < T; ++w) {
      if (below[v][w]) ++related[v], ++related[w];
    }
  }
  for (NodeId v = 0; v < T; ++v) {
    if (related[v] == T - 1) pivots_.push_back(v);
  }
  const int32_t P = static_cast<int32_t>(pivots_.size());
  // stage_of[v]: the stage of v's first computation: the first pivot v is, or is an ancestor of;
  // P (the tail stage, after the last pivot) for the nodes below every pivot.
  stage_of_.assign(T, P);
  for (NodeId v = 0; v < T; ++v) {
    for (int32_t s = 0; s < P; ++s) {
      if (pivots_[s] == v || below[v][pivots_[s]]) {
        stage_of_[v] = s;
        break;
      }
    }
  }
  const bool tail = std::count(stage_of_.begin(), stage_of_.end(), P) > 0;
  const int32_t S = P + (tail ? 1 : 0);
  num_stages_ = S;

  // latest_stage[i]: the last stage of a first computation of i or of a descendant. A
  // computation of i in a later stage feeds only nodes already computed: useless (milp.h).
  std::vector<int32_t> latest_stage(T);
  for (NodeId i = T - 1; i >= 0; --i) {
    latest_stage[i] = stage_of_[i];
    for (TensorId k : graph.node(i).outputs) {
      for (NodeId r : graph.tensor(k).readers) latest_stage[i] = std::max(latest_stage[i], latest_stage[r]);
    }
  }
  std::vector<int32_t> latest_use(K, -1);
  for (TensorId k = 0; k < K; ++k) {
    for (NodeId r : graph.tensor(k).readers) latest_use[k] = std::max(latest_use[k], latest_stage[r]);
  }
  // held_inputs_bytes[s]: graph inputs still to be read after stage s or by its pivot. Never
  // recomputable, they are live during all of stage s in every schedule.
  std::vector<uint64_t> held_inputs_bytes(S, 0);
  for (TensorId k : graph.graph_inputs()) {
    for (int32_t s = 0; s < S; ++s) {
      bool held = false;
      for (NodeId r : graph.tensor(k).readers) held = held || stage_of_[r] > s || (s < P && r == pivots_[s]);
      if (held) held_inputs_bytes[s] += graph.tensor(k).bytes;
    }
  }

  // ---- Every node runs with its inputs, outputs and workspace, and the graph inputs that a
  // descendant still reads: above the budget, no schedule exists.
  std::vector<uint64_t> own_bytes(T);
  for (NodeId v = 0; v < T; ++v) {
    own_bytes[v] = touched_bytes(graph, v, mark);
    uint64_t with_inputs = own_bytes[v];
    const auto& in = graph.node(v).inputs;
    for (TensorId k : graph.graph_inputs()) {
      if (std::find(in.begin(), in.end(), k) != in.end()) continue;
      bool later = false;
      for (NodeId r : graph.tensor(k).readers) later = later || below[v][r];
      if (later) with_inputs += graph.tensor(k).bytes;
    }
    if (with_inputs > budget_bytes) {
      infeasible_ = fmt::format("node \"{}\" runs with {} (its inputs, outputs and workspace, and the graph inputs "
                                "read after it), above the budget {}",
                                graph.node(v).id, format_bytes_exact(with_inputs), format_bytes_exact(budget_bytes));
      return;
    }
  }

  // ---- R[s,i]: i computed at least once in stage s; = 1 when s is the stage of its first
  // computation. A recomputation that cannot run beside the held graph inputs is fixed to 0.
  r_.assign(S, std::vector<int32_t>(T, -1));
  for (int32_t s = 0; s < S; ++s) {
    for (NodeId i = 0; i < T; ++i) {
      if (stage_of_[i] > s || latest_stage[i] < s) continue;
      const bool first = stage_of_[i] == s;
      if (!first) {
        uint64_t during = own_bytes[i] + held_inputs_bytes[s];
        for (TensorId k : graph.node(i).inputs) {
          if (!graph.is_graph_input(k)) continue;
          bool held = false;
          for (NodeId r : graph.tensor(k).readers) held = held || stage_of_[r] > s || (s < P && r == pivots_[s]);
          if (held) during -= graph.tensor(k).bytes;
        }
        if (during > budget_bytes) continue;
      }
      r_[s][i] = program_.add_column(first ? 1 : 0, 1, graph.node(i).cost / scale_, true);
      ++r_columns_;
    }
  }
  // ---- S[s,k], s >= 1: k live right after the first computation of pivot s-1. Fixed to 1 for
  // the inputs and outputs of that pivot and for graph inputs read in stage s or later.
  s_.assign(S, std::vector<int32_t>(K, -1));
  for (int32_t s = 1; s < S; ++s) {
    const Node& pivot = graph.node(pivots_[s - 1]);
    for (TensorId k = 0; k < K; ++k) {
      const Tensor& tensor = graph.tensor(k);
      if (tensor.readers.empty()) continue;
      if (!graph.is_graph_input(k) && stage_of_[tensor.producer] >= s) continue;
      if (latest_use[k] < s) continue;
      bool forced = false;
      if (graph.is_graph_input(k)) {
        for (NodeId r : tensor.readers) forced = forced || stage_of_[r] >= s;
      }
      for (const auto* list : {&pivot.inputs, &pivot.outputs}) {
        forced = forced || std::find(list->begin(), list->end(), k) != list->end();
      }
      s_[s][k] = program_.add_column(forced ? 1 : 0, 1, 0, true);
      ++s_columns_;
    }
  }
  auto r_at = [&](int32_t s, NodeId i) { return i != kNoNode ? r_[s][i] : -1; };
  auto s_at = [&](int32_t s, TensorId k) { return s >= 1 && s < S ? s_[s][k] : -1; };

  // ---- Dependencies: R[s,i] <= R[s,p(k)] + S[s,k] for every input k of i.
  for (int32_t s = 0; s < S; ++s) {
    for (NodeId i = 0; i < T; ++i) {
      if (r_[s][i] < 0) continue;
      for (TensorId k : graph.node(i).inputs) {
        if (s == 0 && graph.is_graph_input(k)) continue;  // S[0,k] = 1
        auto& row = program_.add_row(-kInfinity, 0);
        row.terms.push_back({r_[s][i], 1.0});
        if (int32_t p = r_at(s, graph.tensor(k).producer); p >= 0) row.terms.push_back({p, -1.0});
        if (int32_t sk = s_at(s, k); sk >= 0) row.terms.push_back({sk, -1.0});
      }
    }
  }
  // ---- Retention: S[s+1,k] <= S[s,k] + R[s,p(k)] (S[0,k] = 1 for graph inputs, else 0).
  for (int32_t s = 0; s + 1 < S; ++s) {
    for (TensorId k = 0; k < K; ++k) {
      if (s_[s + 1][k] < 0) continue;
      if (s == 0 && graph.is_graph_input(k)) continue;
      auto& row = program_.add_row(-kInfinity, 0);
      row.terms.push_back({s_[s + 1][k], 1.0});
      if (int32_t sk = s_at(s, k); sk >= 0) row.terms.push_back({sk, -1.0});
      if (int32_t p = r_at(s, graph.tensor(k).producer); p >= 0) row.terms.push_back({p, -1.0});
    }
  }
  // ---- Memory at the first computation of pivot s: what is live right after it (S[s+1,.])
  // plus its workspace; its inputs and outputs are constants.
  for (int32_t s = 0; s + 1 < S && s < P; ++s) {
    const NodeId t = pivots_[s];
    auto& row = program_.add_row(-kInfinity, budget - static_cast<double>(own_bytes[t]));
    for (TensorId k : graph.node(t).inputs) mark[k] = 1;
    for (TensorId k : graph.node(t).outputs) mark[k] = 1;
    for (TensorId k = 0; k < K; ++k) {
      if (mark[k] || s_[s + 1][k] < 0 || graph.tensor(k).bytes == 0) continue;
      row.terms.push_back({s_[s + 1][k], static_cast<double>(graph.tensor(k).bytes)});
    }
    for (TensorId k : graph.node(t).inputs) mark[k] = 0;
    for (TensorId k : graph.node(t).outputs) mark[k] = 0;
  }
}

std::optional<std::vector<std::pair<int32_t, double>>> StageRelaxation::encode(const std::vector<Step>& steps) const {
  const int32_t T = graph_.num_nodes();
  const int32_t P = static_cast<int32_t>(pivots_.size());
  std::vector<std::pair<int32_t, double>> ones;
  if (infeasible_ || r_.empty()) return std::nullopt;
  std::vector<char> live(graph_.num_tensors(), 0), seen(T, 0), in_stage(T, 0);
  for (TensorId k : graph_.graph_inputs()) live[k] = 1;
  int32_t stage = 0;  // the stage of the next computation
  for (const Step& step : steps) {
    if (step.kind == StepKind::kFree) {
      live[step.target] = 0;
      continue;
    }
    const NodeId n = step.target;
    if (stage >= num_stages_) break;  // after the last pivot, with no tail: not needed
    if (!seen[n] && stage_of_[n] != stage) return std::nullopt;
    seen[n] = 1;
    for (TensorId k : graph_.node(n).outputs) live[k] = 1;
    if (!in_stage[n] && r_[stage][n] >= 0) ones.push_back({r_[stage][n], 1.0});
    in_stage[n] = 1;
    if (stage < P && n == pivots_[stage]) {
      std::fill(in_stage.begin(), in_stage.end(), 0);
      ++stage;
      if (stage < num_stages_) {
        for (TensorId k = 0; k < graph_.num_tensors(); ++k) {
          if (live[k] && s_[stage][k] >= 0) ones.push_back({s_[stage][k], 1.0});
        }
      }
    }
  }
  if (std::count(seen.begin(), seen.end(), 1) != T) return std::nullopt;
  return ones;
}

FormulationSize StageRelaxation::size() const {
  FormulationSize out;
  out.columns = static_cast<int64_t>(program_.columns.size());
  for (const auto& c : program_.columns) out.integers += c.integer ? 1 : 0;
  out.rows = static_cast<int64_t>(program_.rows.size());
  out.nonzeros = static_cast<int64_t>(program_.nonzeros());
  out.r = r_columns_;
  out.s = s_columns_;
  return out;
}

}  // namespace gradrecomp::milp
