// Builds the MILP written out in include/gradrecomp/solvers/milp.h (the "Recurrence" section).
#include "milp/checkmate.h"

#include <algorithm>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/schedule.h"

namespace gradrecomp::milp {

CheckmateFormulation::CheckmateFormulation(const Graph& graph, Objective objective, uint64_t budget_bytes,
                                           const FormulationOptions& options)
    : graph_(graph), options_(options), num_stages_(graph.num_nodes()) {
  const int32_t T = num_stages_;
  const int32_t K = graph.num_tensors();

  // latest_desc[i]: the last node (in file order) reachable from i, i included. A computation of
  // i in stage t > latest_desc[i] feeds only nodes < t, whose computations in stage t are
  // themselves useless: deleting them all keeps a valid schedule with no more memory or cost.
  std::vector<int32_t> latest_desc(T);
  for (NodeId i = T - 1; i >= 0; --i) {
    latest_desc[i] = i;
    for (TensorId k : graph.node(i).outputs) {
      for (NodeId reader : graph.tensor(k).readers) latest_desc[i] = std::max(latest_desc[i], latest_desc[reader]);
    }
  }
  // latest_use[k]: keeping k into stage t helps only if a reader can be computed in stage t.
  std::vector<int32_t> latest_use(K, -1);
  for (TensorId k = 0; k < K; ++k) {
    for (NodeId reader : graph.tensor(k).readers) latest_use[k] = std::max(latest_use[k], latest_desc[reader]);
  }

  const bool peak_mode = objective == Objective::kPeak;
  if (peak_mode) {
    scale_ = std::max<double>(1.0, static_cast<double>(graph.total_bytes_bound()));
  } else {
    scale_ = graph.total_cost() > 0 ? graph.total_cost() : 1.0;
  }
  const bool aux_integer = !options.continuous_auxiliaries;
  const bool lazy = !options.detailed_stages.empty();
  GRADRECOMP_ASSERT(!lazy || static_cast<int32_t>(options.detailed_stages.size()) == T,
                    "lazy stages need one flag per stage");
  // Lazy mode: graph inputs with a reader >= t are live during all of stage t in every schedule
  // (never recomputable); a recomputation that cannot fit beside them is fixed to 0.
  std::vector<uint64_t> held_inputs_bytes(T + 1, 0);
  for (TensorId k : graph.graph_inputs()) {
    const auto& readers = graph.tensor(k).readers;
    for (int32_t t = 0; !readers.empty() && t <= readers.back(); ++t) held_inputs_bytes[t] += graph.tensor(k).bytes;
  }
  auto touched_bytes = [&](NodeId n) {
    uint64_t total = graph.node(n).workspace_bytes;
    for (TensorId k : graph.node(n).outputs) total += graph.tensor(k).bytes;
    for (TensorId k : graph.node(n).inputs) {
      const auto& out = graph.node(n).outputs;
      if (std::find(out.begin(), out.end(), k) == out.end()) total += graph.tensor(k).bytes;
    }
    return total;
  };
  auto cannot_fit = [&](int32_t t, NodeId i) {
    uint64_t during = touched_bytes(i) + held_inputs_bytes[t];
    for (TensorId k : graph.node(i).inputs) {
      if (graph.is_graph_input(k) && graph.tensor(k).readers.back() >= t) during -= graph.tensor(k).bytes;
    }
    return during > budget_bytes;
  };

  // ---- R[t,i]: node i computed in stage t (i <= t); R[t,t] = 1.
  r_.assign(T, {});
  for (int32_t t = 0; t < T; ++t) {
    r_[t].assign(t + 1, -1);
    for (NodeId i = 0; i <= t; ++i) {
      if (i < t && options.prune && latest_desc[i] < t) continue;
      if (i < t && lazy && !peak_mode && cannot_fit(t, i)) continue;
      double cost = peak_mode ? 0.0 : graph.node(i).cost / scale_;
      r_[t][i] = program_.add_column(i == t ? 1 : 0, 1, cost, true);
    }
  }
  // ---- S[t,k]: tensor k live at the start of stage t (t >= 1). Graph inputs are live at the
  // start of stage 0 (a constant); a node's output cannot be live before its producer's stage.
  s_.assign(T, std::vector<int32_t>(K, -1));
  for (int32_t t = 1; t < T; ++t) {
    for (TensorId k = 0; k < K; ++k) {
      const Tensor& tensor = graph.tensor(k);
      if (tensor.readers.empty()) continue;  // freed as soon as it exists
      if (!graph.is_graph_input(k) && tensor.producer >= t) continue;
      if (options.prune && latest_use[k] < t) continue;
      s_[t][k] = program_.add_column(0, 1, 0, aux_integer);
    }
  }
  auto s_is_one = [&](int32_t t, TensorId k) { return t == 0 && graph.is_graph_input(k); };

  // ---- Dependencies: R[t,i] <= R[t,p(k)] + S[t,k] for every input k of i.
  for (int32_t t = 0; t < T; ++t) {
    for (NodeId i = 0; i <= t; ++i) {
      if (r(t, i) < 0) continue;
      for (TensorId k : graph.node(i).inputs) {
        if (s_is_one(t, k)) continue;
        auto& row = program_.add_row(-kInfinity, 0);
        row.terms.push_back({r(t, i), 1.0});
        NodeId p = graph.tensor(k).producer;
        if (p != kNoNode) {
          GRADRECOMP_ASSERT(lazy || r(t, p) >= 0, fmt::format("producer {} pruned in stage {} but reader {} kept", p, t, i));
          if (r(t, p) >= 0) row.terms.push_back({r(t, p), -1.0});
        }
        if (s(t, k) >= 0) row.terms.push_back({s(t, k), -1.0});
      }
    }
  }
  // ---- Retention: S[t+1,k] <= S[t,k] + R[t,p(k)].
  for (int32_t t = 0; t + 1 < T; ++t) {
    for (TensorId k = 0; k < K; ++k) {
      if (s(t + 1, k) < 0 || s_is_one(t, k)) continue;
      auto& row = program_.add_row(-kInfinity, 0);
      row.terms.push_back({s(t + 1, k), 1.0});
      if (s(t, k) >= 0) row.terms.push_back({s(t, k), -1.0});
      NodeId p = graph.tensor(k).producer;
      if (p != kNoNode && r(t, p) >= 0) row.terms.push_back({r(t, p), -1.0});
    }
  }

  // ---- Memory: U[t,j] = memory while node j runs in stage t, by the recurrence
  //   U[t,j0] = live(stage start) + R[t,j0] (out(j0) + ws(j0))
  //   U[t,j]  = U[t,j'] - R[t,j'] ws(j') - sum_k bytes(k) FREE[t,k,j'] + R[t,j] (out(j) + ws(j))
  // over the positions j' < j that exist in stage t; U[t,j] <= budget (or <= M).
  int32_t peak_column = -1;
  uint64_t inputs_bytes = 0, read_inputs_bytes = 0;
  for (TensorId k : graph.graph_inputs()) {
    inputs_bytes += graph.tensor(k).bytes;
    if (!graph.tensor(k).readers.empty()) read_inputs_bytes += graph.tensor(k).bytes;
  }
  if (peak_mode) {
    // The replay starts with every graph input live: the peak is at least their sum.
    peak_column = program_.add_column(static_cast<double>(inputs_bytes), kInfinity, 1.0 / scale_, false);
  }
  const double u_upper = peak_mode ? kInfinity : static_cast<double>(budget_bytes);
  for (int32_t t = 0; t < T; ++t) {
    if (lazy && !options.detailed_stages[t]) {
      // Stage-end row: while t runs for the first time, its inputs, outputs and workspace and
      // everything kept into stage t+1 are live.
      if (!peak_mode && touched_bytes(t) > budget_bytes) {
        // No schedule fits. An empty row with bounds that exclude 0 trips an assertion in Clp
        // (ClpNonLinearCost::checkInfeasibilities): fix R[t,t] = 1 against it instead.
        auto& row = program_.add_row(-kInfinity, 0);
        row.terms.push_back({r(t, t), 1.0});
        continue;
      }
      // kCost: ... <= budget; kPeak: ... <= M.
      auto& row = program_.add_row(-kInfinity, (peak_mode ? 0.0 : u_upper) - static_cast<double>(touched_bytes(t)));
      if (peak_mode) row.terms.push_back({peak_column, -1.0});
      for (TensorId k = 0; k < K; ++k) {
        if (s(t + 1, k) < 0 || graph.tensor(k).bytes == 0) continue;
        const Node& node = graph.node(t);
        if (std::find(node.inputs.begin(), node.inputs.end(), k) != node.inputs.end()) continue;
        if (std::find(node.outputs.begin(), node.outputs.end(), k) != node.outputs.end()) continue;
        row.terms.push_back({s(t + 1, k), static_cast<double>(graph.tensor(k).bytes)});
      }
      continue;
    }
    int32_t prev_u = -1;
    NodeId prev_j = kNoNode;
    std::vector<std::pair<TensorId, int32_t>> prev_frees;
    for (NodeId j = 0; j <= t; ++j) {
      if (r(t, j) < 0) continue;
      const Node& node = graph.node(j);
      int32_t u = program_.add_column(0, u_upper, 0, false);
      ++u_columns_;
      const double during = static_cast<double>(graph.output_bytes(j));  // outputs + workspace
      if (prev_u < 0) {
        // U - sum bytes(k) S[t,k] - during R = constant live bytes (graph inputs at t = 0)
        auto& row = program_.add_row(t == 0 ? static_cast<double>(read_inputs_bytes) : 0.0,
                                     t == 0 ? static_cast<double>(read_inputs_bytes) : 0.0);
        row.terms.push_back({u, 1.0});
        for (TensorId k = 0; k < K; ++k) {
          if (s(t, k) >= 0 && graph.tensor(k).bytes > 0) {
            row.terms.push_back({s(t, k), -static_cast<double>(graph.tensor(k).bytes)});
          }
        }
        row.terms.push_back({r(t, j), -during});
      } else {
        auto& row = program_.add_row(0, 0);
        row.terms.push_back({u, 1.0});
        row.terms.push_back({prev_u, -1.0});
        const double prev_ws = static_cast<double>(graph.node(prev_j).workspace_bytes);
        if (prev_ws > 0) row.terms.push_back({r(t, prev_j), prev_ws});
        for (auto [k, column] : prev_frees) row.terms.push_back({column, static_cast<double>(graph.tensor(k).bytes)});
        row.terms.push_back({r(t, j), -during});
      }
      if (peak_mode) {
        auto& row = program_.add_row(-kInfinity, 0);
        row.terms.push_back({u, 1.0});
        row.terms.push_back({peak_column, -1.0});
      }
      // FREE[t,k,j] for k read or produced by j: k may be dropped after j when j runs, no later
      // node of stage t reads k, and k is not kept into stage t+1.
      prev_frees.clear();
      std::vector<TensorId> touched = node.inputs;
      touched.insert(touched.end(), node.outputs.begin(), node.outputs.end());
      for (TensorId k : touched) {
        if (graph.tensor(k).bytes == 0) continue;
        std::vector<int32_t> blockers;  // FREE <= 1 - column
        bool impossible = false;
        for (NodeId reader : graph.tensor(k).readers) {
          if (reader <= j || reader > t) continue;
          if (reader == t) impossible = true;  // R[t,t] = 1 reads k later in the stage
          else if (r(t, reader) >= 0) blockers.push_back(r(t, reader));
        }
        if (impossible) continue;
        if (s(t + 1, k) >= 0) blockers.push_back(s(t + 1, k));
        int32_t f = program_.add_column(0, 1, 0, aux_integer);
        frees_.push_back({t, j, k, f});
        if (j != t) {
          auto& row = program_.add_row(-kInfinity, 0);  // FREE <= R[t,j]
          row.terms = {{f, 1.0}, {r(t, j), -1.0}};
        }
        for (int32_t blocker : blockers) {
          auto& row = program_.add_row(-kInfinity, 1);  // FREE + X <= 1
          row.terms = {{f, 1.0}, {blocker, 1.0}};
        }
        prev_frees.push_back({k, f});
      }
      prev_u = u;
      prev_j = j;
    }
  }
}

FormulationSize CheckmateFormulation::size() const {
  FormulationSize out;
  out.columns = static_cast<int64_t>(program_.columns.size());
  for (const auto& c : program_.columns) out.integers += c.integer ? 1 : 0;
  out.rows = static_cast<int64_t>(program_.rows.size());
  out.nonzeros = static_cast<int64_t>(program_.nonzeros());
  for (const auto& stage : r_) {
    for (int32_t c : stage) out.r += c >= 0 ? 1 : 0;
  }
  for (const auto& stage : s_) {
    for (int32_t c : stage) out.s += c >= 0 ? 1 : 0;
  }
  out.frees = static_cast<int64_t>(frees_.size());
  out.u = u_columns_;
  return out;
}

std::optional<std::vector<std::pair<int32_t, double>>> CheckmateFormulation::encode(
    const std::vector<NodeId>& computes) const {
  const int32_t T = num_stages_;
  std::vector<std::vector<NodeId>> stages(T);
  std::vector<char> seen(T, 0);
  int32_t current = -1;  // stage of the last first computation
  for (NodeId n : computes) {
    if (n < 0 || n >= T) return std::nullopt;
    if (!seen[n]) {
      if (n != current + 1) return std::nullopt;  // first computations must follow file order
      seen[n] = 1;
      current = n;
      stages[n].push_back(n);
      continue;
    }
    if (current + 1 >= T) break;  // recomputations after the last node are useless
    int32_t t = current + 1;
    if (r(t, n) < 0) continue;  // useless by the pruning rule: drop it
    stages[t].push_back(n);
  }
  if (current != T - 1) return std::nullopt;
  // The model runs each stage in increasing node order, once per node: reorder (CBC checks that
  // the reordered start still fits the budget and drops it otherwise).
  for (auto& stage : stages) {
    std::sort(stage.begin(), stage.end());
    stage.erase(std::unique(stage.begin(), stage.end()), stage.end());
  }
  std::vector<std::pair<int32_t, double>> ones;
  std::vector<std::vector<char>> in_stage(T);
  for (int32_t t = 0; t < T; ++t) {
    in_stage[t].assign(t + 1, 0);
    for (NodeId i : stages[t]) {
      ones.push_back({r(t, i), 1.0});
      in_stage[t][i] = 1;
    }
  }
  if (options_.continuous_auxiliaries) return ones;  // CBC derives S and FREE

  // S[t,k]: live at the start of stage t when the order runs with the earliest frees.
  std::vector<NodeId> sequence;
  std::vector<size_t> stage_begin(T);
  for (int32_t t = 0; t < T; ++t) {
    stage_begin[t] = sequence.size();
    sequence.insert(sequence.end(), stages[t].begin(), stages[t].end());
  }
  Schedule schedule;
  try {
    schedule = schedule_from_computes(graph_, sequence, "warm-start");
  } catch (const Error&) {
    return std::nullopt;
  }
  const int32_t K = graph_.num_tensors();
  std::vector<std::vector<char>> live_at(T + 1, std::vector<char>(K, 0));
  std::vector<char> live(K, 0);
  for (TensorId k : graph_.graph_inputs()) live[k] = 1;
  size_t computes_seen = 0;
  int32_t next_stage = 0;
  for (const Step& step : schedule.steps) {
    if (step.kind == StepKind::kCompute) {
      while (next_stage < T && stage_begin[next_stage] == computes_seen) live_at[next_stage++] = live;
      ++computes_seen;
      for (TensorId k : graph_.node(step.target).outputs) live[k] = 1;
    } else {
      live[step.target] = 0;
    }
  }
  for (int32_t t = 1; t < T; ++t) {
    for (TensorId k = 0; k < K; ++k) {
      if (!live_at[t][k]) continue;
      if (s(t, k) < 0) return std::nullopt;  // cannot happen: a live tensor has a pending reader
      ones.push_back({s(t, k), 1.0});
    }
  }
  // FREE at its bound: j runs, no later node of the stage reads k, k not kept into t+1.
  for (const FreeColumn& f : frees_) {
    if (!in_stage[f.t][f.j]) continue;
    if (f.t + 1 < T && live_at[f.t + 1][f.k]) continue;
    bool read_later = false;
    for (NodeId reader : graph_.tensor(f.k).readers) {
      if (reader > f.j && reader <= f.t && in_stage[f.t][reader]) read_later = true;
    }
    if (!read_later) ones.push_back({f.column, 1.0});
  }
  return ones;
}

std::vector<NodeId> CheckmateFormulation::decode(const std::vector<double>& values) const {
  std::vector<NodeId> computes;
  for (int32_t t = 0; t < num_stages_; ++t) {
    for (NodeId i = 0; i <= t; ++i) {
      if (r(t, i) >= 0 && values.at(r(t, i)) > 0.5) computes.push_back(i);
    }
  }
  return computes;
}

}  // namespace gradrecomp::milp
