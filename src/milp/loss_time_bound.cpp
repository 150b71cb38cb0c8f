// loss_time_lower_bound and loss_time_min_peak_for_overhead: the loss-time relaxation
// (milp/loss_time_bound.h) solved by CBC. The formulation and the proof that it bounds every
// schedule of the spec: include/gradrecomp/solvers/milp.h ("Loss-time relaxation").
#include "milp/loss_time_bound.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solvers/milp.h"

namespace gradrecomp {
namespace milp {

LossTimeRelaxation::LossTimeRelaxation(const Graph& graph, const DagPhases& phases) : graph_(&graph) {
  const int32_t n = graph.num_nodes();
  backward_.assign(static_cast<size_t>(n), false);
  for (NodeId b : phases.backward) backward_[static_cast<size_t>(b)] = true;
  auto produced_by_backward = [&](TensorId t) {
    NodeId p = graph.tensor(t).producer;
    return p != kNoNode && backward_[static_cast<size_t>(p)];
  };
  for (NodeId b : phases.backward) {
    const Node& node = graph.node(b);
    if (std::none_of(node.inputs.begin(), node.inputs.end(), produced_by_backward)) b0_.push_back(b);
  }
  redo_col_.assign(static_cast<size_t>(n), -1);
  keep_col_.assign(static_cast<size_t>(graph.num_tensors()), -1);
  if (b0_.empty()) return;

  // A: the forward nodes that are ancestors of every node of B0 (one reverse search per node of B0).
  std::vector<int32_t> count(static_cast<size_t>(n), 0), stamp(static_cast<size_t>(n), -1);
  std::vector<NodeId> stack;
  for (size_t i = 0; i < b0_.size(); ++i) {
    auto push_producers = [&](NodeId v) {
      for (TensorId t : graph.node(v).inputs) {
        NodeId p = graph.tensor(t).producer;
        if (p == kNoNode || backward_[static_cast<size_t>(p)] || stamp[static_cast<size_t>(p)] == static_cast<int32_t>(i))
          continue;
        stamp[static_cast<size_t>(p)] = static_cast<int32_t>(i);
        ++count[static_cast<size_t>(p)];
        stack.push_back(p);
      }
    };
    push_producers(b0_[i]);
    while (!stack.empty()) {
      NodeId v = stack.back();
      stack.pop_back();
      push_producers(v);
    }
  }
  for (NodeId v = 0; v < n; ++v) {
    if (!backward_[static_cast<size_t>(v)] && count[static_cast<size_t>(v)] == static_cast<int32_t>(b0_.size())) {
      redo_col_[static_cast<size_t>(v)] = static_cast<int32_t>(a_nodes_.size());
      a_nodes_.push_back(v);
    }
  }

  // keep[t]: tensors of A's nodes and graph inputs that a backward node or a node of A reads.
  auto in_a = [&](NodeId v) { return v != kNoNode && redo_col_[static_cast<size_t>(v)] >= 0; };
  std::vector<bool> forced;
  for (TensorId t = 0; t < graph.num_tensors(); ++t) {
    const Tensor& tensor = graph.tensor(t);
    if (tensor.producer != kNoNode && !in_a(tensor.producer)) continue;
    bool read_backward = false, read_a = false;
    for (NodeId r : tensor.readers) {
      read_backward = read_backward || backward_[static_cast<size_t>(r)];
      read_a = read_a || in_a(r);
    }
    if (!read_backward && !read_a) continue;
    bool must = tensor.producer == kNoNode && read_backward;  // a graph input cannot be recomputed
    if (b0_.size() == 1) {
      const Node& b = graph.node(b0_[0]);
      must = must || std::find(b.inputs.begin(), b.inputs.end(), t) != b.inputs.end();
    }
    keep_col_[static_cast<size_t>(t)] = static_cast<int32_t>(keep_tensors_.size());
    keep_tensors_.push_back(t);
    forced_.push_back(must);
    if (must) forced_bytes_ += tensor.bytes;
  }
  extra_bytes_ = std::numeric_limits<uint64_t>::max();
  for (NodeId b : b0_) extra_bytes_ = std::min(extra_bytes_, graph.output_bytes(b) + graph.node(b).workspace_bytes);
  scale_ = 0;
  for (NodeId v : a_nodes_) scale_ = std::max(scale_, graph.node(v).cost);
  if (!(scale_ > 0)) scale_ = 1;
}

LinearProgram LossTimeRelaxation::program(uint64_t budget_bytes) const {
  const Graph& graph = *graph_;
  LinearProgram lp;
  const int32_t k = num_keep();
  for (int32_t c = 0; c < k; ++c) lp.add_column(forced_[static_cast<size_t>(c)] ? 1 : 0, 1, 0, true);
  for (NodeId v : a_nodes_) lp.add_column(0, 1, graph.node(v).cost / scale_, true);
  auto redo = [&](NodeId v) { return k + redo_col_[static_cast<size_t>(v)]; };

  // (1) a tensor of A read by a backward node is live at loss time or produced again after it.
  for (int32_t c = 0; c < k; ++c) {
    TensorId t = keep_tensors_[static_cast<size_t>(c)];
    NodeId p = graph.tensor(t).producer;
    if (forced_[static_cast<size_t>(c)] || p == kNoNode) continue;
    const std::vector<NodeId>& readers = graph.tensor(t).readers;
    if (std::none_of(readers.begin(), readers.end(), [&](NodeId r) { return backward_[static_cast<size_t>(r)]; }))
      continue;
    LinearProgram::Row& row = lp.add_row(1, kInfinity);
    row.terms = {{c, 1.0}, {redo(p), 1.0}};
  }
  // (2) a node of A run after loss time finds each input kept or produced again.
  for (NodeId v : a_nodes_) {
    std::vector<TensorId> inputs = graph.node(v).inputs;
    std::sort(inputs.begin(), inputs.end());
    inputs.erase(std::unique(inputs.begin(), inputs.end()), inputs.end());
    for (TensorId t : inputs) {
      int32_t c = keep_col_[static_cast<size_t>(t)];
      if (forced_[static_cast<size_t>(c)]) continue;
      LinearProgram::Row& row = lp.add_row(-kInfinity, 0);
      row.terms = {{redo(v), 1.0}, {c, -1.0}};
      NodeId p = graph.tensor(t).producer;
      if (p != kNoNode) row.terms.push_back({redo(p), -1.0});
    }
  }
  // (3) memory at loss time, in units of the budget (CBC's tolerances are then relative to it).
  const double unit = static_cast<double>(std::max<uint64_t>(budget_bytes, 1));
  LinearProgram::Row& memory =
      lp.add_row(-kInfinity, static_cast<double>(budget_bytes - forced_bytes_ - extra_bytes_) / unit);
  for (int32_t c = 0; c < k; ++c) {
    uint64_t bytes = graph.tensor(keep_tensors_[static_cast<size_t>(c)]).bytes;
    if (!forced_[static_cast<size_t>(c)] && bytes > 0) memory.terms.push_back({c, static_cast<double>(bytes) / unit});
  }
  return lp;
}

std::optional<std::vector<std::pair<int32_t, double>>> LossTimeRelaxation::encode(const std::vector<Step>& steps) const {
  const Graph& graph = *graph_;
  std::vector<bool> live(static_cast<size_t>(graph.num_tensors()), false);
  for (TensorId t : graph.graph_inputs()) live[static_cast<size_t>(t)] = true;
  std::vector<bool> redone(a_nodes_.size(), false);
  bool after = false;
  std::vector<std::pair<int32_t, double>> ones;
  for (const Step& step : steps) {
    if (step.kind == StepKind::kFree) {
      if (!after) live[static_cast<size_t>(step.target)] = false;
      continue;
    }
    NodeId v = step.target;
    if (!after && backward_[static_cast<size_t>(v)]) {
      after = true;
      for (int32_t c = 0; c < num_keep(); ++c)
        if (live[static_cast<size_t>(keep_tensors_[static_cast<size_t>(c)])]) ones.push_back({c, 1.0});
    }
    if (!after) {
      for (TensorId t : graph.node(v).outputs) live[static_cast<size_t>(t)] = true;
    } else if (redo_col_[static_cast<size_t>(v)] >= 0 && !redone[static_cast<size_t>(redo_col_[static_cast<size_t>(v)])]) {
      redone[static_cast<size_t>(redo_col_[static_cast<size_t>(v)])] = true;
      ones.push_back({num_keep() + redo_col_[static_cast<size_t>(v)], 1.0});
    }
  }
  if (!after) return std::nullopt;
  return ones;
}

}  // namespace milp

CostLowerBound loss_time_lower_bound(const Graph& graph, uint64_t budget_bytes, double time_limit_seconds,
                                     const Schedule* known, bool integer) {
  CostLowerBound out = trivial_lower_bound(graph, budget_bytes);
  if (out.infeasible) return out;
  const double total = graph.total_cost();
  auto begin = std::chrono::steady_clock::now();
  DagPhases phases;
  try {
    phases = split_phases(graph);
  } catch (const Error& e) {
    out.method += fmt::format("; no loss-time relaxation (no forward/backward split: {})", e.what());
    return out;
  }
  milp::LossTimeRelaxation relaxation(graph, phases);
  if (relaxation.initial_backward().empty()) {
    out.method += "; no loss-time relaxation (no backward node)";
    return out;
  }
  const uint64_t fixed = relaxation.forced_bytes() + relaxation.extra_bytes();
  if (fixed > budget_bytes) {
    out.infeasible = true;
    out.method = fmt::format(
        "loss-time relaxation: {} B must be live when the first backward node runs (graph inputs read by "
        "backward nodes{}), above the budget {} B",
        fixed, relaxation.initial_backward().size() == 1 ? ", the inputs, outputs and workspace of that node"
                                                   : ", the least outputs and workspace of a first backward node",
        budget_bytes);
    return out;
  }
  milp::LinearProgram program = relaxation.program(budget_bytes);
  out.stats.build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  out.stats.columns = static_cast<int64_t>(program.columns.size());
  out.stats.integers = out.stats.columns;
  out.stats.rows = static_cast<int64_t>(program.rows.size());
  out.stats.nonzeros = static_cast<int64_t>(program.nonzeros());

  // The LP relaxation first (milliseconds on 1,000-node graphs, and a bound by itself), then
  // branch and bound for at most 40% of the time limit: measured on ResNet-152 (1030 nodes), CBC
  // either closes the gap within 2 s or does not move its bound off the LP's in 20 s.
  const bool fits = known && known->peak_bytes <= budget_bytes;
  milp::CbcSettings settings;
  settings.time_limit_seconds = time_limit_seconds;
  settings.relax_integrality = true;
  milp::LpOutcome lp = milp::solve_with_cbc(program, settings);
  if (lp.status == milp::LpStatus::kInfeasible && fits) {
    // A replayed schedule fits, so the claim is CBC's mistake, not a proof: use no bound from it.
    out.method += "; the LP of the loss-time relaxation was reported infeasible although a schedule fits (ignored)";
    return out;
  }
  if (lp.status == milp::LpStatus::kInfeasible) {
    out.infeasible = true;
    out.method = "loss-time relaxation: no schedule fits (proven by its LP)";
    return out;
  }
  double bound = lp.status == milp::LpStatus::kOptimal ? lp.objective : -milp::kInfinity;
  milp::LpOutcome outcome = lp;
  if (integer) {
    settings.relax_integrality = false;
    settings.time_limit_seconds = 0.4 * time_limit_seconds;
    if (fits) {
      if (auto ones = relaxation.encode(known->steps)) {
        settings.warm_start = std::move(*ones);
        out.stats.warm_started = true;
        out.stats.warm_start_from = known->solver;
      }
    }
    outcome = milp::solve_with_cbc(program, settings);
    out.stats.solve_seconds = lp.seconds + outcome.seconds;
    out.stats.nodes = outcome.nodes;
    if (outcome.status == milp::LpStatus::kInfeasible && !fits) {
      out.infeasible = true;
      out.method = "loss-time relaxation: no schedule fits (proven)";
      return out;
    }
    if (outcome.status == milp::LpStatus::kOptimal) {
      bound = outcome.objective;
    } else if (outcome.status != milp::LpStatus::kInfeasible && std::isfinite(outcome.best_bound) &&
               outcome.best_bound > -1e100) {  // CBC reports -DBL_MAX when it has no bound
      bound = std::max(bound, outcome.best_bound);
    }
  } else {
    out.stats.solve_seconds = lp.seconds;
  }
  if (!std::isfinite(bound)) {
    out.method += fmt::format("; the loss-time relaxation proved nothing within {} s", time_limit_seconds);
    return out;
  }
  // The objective is scaled so that the costliest node of A costs 1. CBC's relative gap (1e-10)
  // is covered by the margin; its primal and integrality tolerances only widen the feasible set
  // (rows and bounds within 1e-7 / 1e-6), which lowers the value: still a bound.
  double extra = std::max(0.0, (bound - 1e-7 * (1 + std::abs(bound))) * relaxation.objective_scale());
  out.cost = total + extra;
  out.relaxation_solved = outcome.status == milp::LpStatus::kOptimal;
  const char* kind = integer ? "loss-time relaxation" : "LP of the loss-time relaxation";
  out.method = out.relaxation_solved
                   ? fmt::format("{} ({} nodes always before the loss, {:.2f} s)",
                                 kind, relaxation.always_before().size(), out.stats.solve_seconds)
                   : fmt::format("{} ({} nodes always before the loss, {} at the {:.3g} s "
                                 "time limit)",
                                 kind, relaxation.always_before().size(),
                                 lp.status == milp::LpStatus::kOptimal && bound <= lp.objective ? "its LP bound" : "CBC's bound",
                                 settings.time_limit_seconds);
  return out;
}

uint64_t loss_time_min_peak_for_overhead(const Graph& graph, double max_overhead, double time_limit) {
  if (!(max_overhead >= 0)) throw Error(fmt::format("max_overhead {} must be >= 0", max_overhead));
  const double limit = graph.total_cost() * (1 + max_overhead);
  uint64_t inputs_bytes = 0;
  for (TensorId k : graph.graph_inputs()) inputs_bytes += graph.tensor(k).bytes;
  // Invariant: no schedule with peak <= lo costs <= limit (proven), when has_lo. store-all fits
  // the overhead, so nothing can be proven at its peak (hi).
  bool has_lo = inputs_bytes > 0;
  uint64_t lo = inputs_bytes > 0 ? inputs_bytes - 1 : 0;
  uint64_t hi = store_all_peak_bytes(graph);
  auto proven_above = [&](uint64_t budget) {
    CostLowerBound b = loss_time_lower_bound(graph, budget, time_limit);
    return b.infeasible || b.cost > limit;
  };
  if (!has_lo && hi > 0 && proven_above(0)) has_lo = true;
  while (hi > lo + 1 && static_cast<double>(hi - lo) > 1e-5 * static_cast<double>(hi)) {
    uint64_t mid = lo + (hi - lo) / 2;
    if (proven_above(mid)) {
      lo = mid;
      has_lo = true;
    } else {
      hi = mid;
    }
  }
  return has_lo ? lo + 1 : 0;
}

}  // namespace gradrecomp
