#include "gradrecomp/simulate.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "gradrecomp/error.h"

namespace gradrecomp {

Simulation simulate(const Graph& graph, const std::vector<Step>& steps) {
  Simulation sim;
  std::vector<char> live(graph.num_tensors(), 0);
  std::vector<char> computed(graph.num_nodes(), 0);
  uint64_t live_bytes = 0;
  for (TensorId t : graph.graph_inputs()) {
    live[t] = 1;
    live_bytes += graph.tensor(t).bytes;
  }
  sim.peak_bytes = live_bytes;
  sim.timeline_bytes.reserve(steps.size());

  auto fail = [&](int64_t step, std::string message) {
    sim.valid = false;
    sim.error_step = step;
    sim.error = std::move(message);
    return sim;
  };

  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    if (step.kind == StepKind::kCompute) {
      if (step.target < 0 || step.target >= graph.num_nodes()) {
        return fail(i, fmt::format("step {}: compute of unknown node index {}", i, step.target));
      }
      const Node& node = graph.node(step.target);
      for (TensorId t : node.inputs) {
        if (!live[t]) {
          return fail(i, fmt::format("step {}: compute \"{}\" needs tensor \"{}\", which is not live", i,
                                     node.id, graph.tensor(t).id));
        }
      }
      uint64_t during = live_bytes + node.workspace_bytes;
      for (TensorId t : node.outputs) {
        if (!live[t]) {
          during += graph.tensor(t).bytes;
          live[t] = 1;
        }
      }
      live_bytes = during - node.workspace_bytes;
      if (during > sim.peak_bytes) {
        sim.peak_bytes = during;
        sim.peak_step = static_cast<int64_t>(i);
      }
      sim.timeline_bytes.push_back(during);
      sim.cost += node.cost;
      computed[step.target] = 1;
    } else {
      if (step.target < 0 || step.target >= graph.num_tensors()) {
        return fail(i, fmt::format("step {}: free of unknown tensor index {}", i, step.target));
      }
      if (!live[step.target]) {
        return fail(i, fmt::format("step {}: free \"{}\", which is not live", i, graph.tensor(step.target).id));
      }
      live[step.target] = 0;
      live_bytes -= graph.tensor(step.target).bytes;
      sim.timeline_bytes.push_back(live_bytes);
    }
  }
  for (NodeId n = 0; n < graph.num_nodes(); ++n) {
    if (!computed[n]) {
      return fail(static_cast<int64_t>(steps.size()),
                  fmt::format("node \"{}\" is never computed (every node must be computed at least once)",
                              graph.node(n).id));
    }
  }
  sim.valid = true;
  return sim;
}

Schedule store_all_schedule(const Graph& graph) {
  Schedule schedule;
  schedule.graph_name = graph.name();
  schedule.solver = "store-all";
  for (TensorId t : graph.graph_inputs()) {
    if (graph.tensor(t).readers.empty()) schedule.steps.push_back(Step::free(t));
  }
  for (NodeId n = 0; n < graph.num_nodes(); ++n) {
    schedule.steps.push_back(Step::compute(n));
    const Node& node = graph.node(n);
    for (TensorId t : node.inputs) {
      if (graph.tensor(t).readers.back() == n) schedule.steps.push_back(Step::free(t));
    }
    for (TensorId t : node.outputs) {
      if (graph.tensor(t).readers.empty()) schedule.steps.push_back(Step::free(t));
    }
  }
  Simulation sim = simulate(graph, schedule.steps);
  GRADRECOMP_ASSERT(sim.valid, sim.error);
  schedule.peak_bytes = sim.peak_bytes;
  schedule.cost = sim.cost;
  return schedule;
}

uint64_t store_all_peak_bytes(const Graph& graph) { return store_all_schedule(graph).peak_bytes; }

double overhead_of(const Graph& graph, double cost) {
  double total = graph.total_cost();
  if (total <= 0) return 0.0;
  return cost / total - 1.0;
}

double memory_ratio_of(uint64_t peak_bytes, uint64_t store_all_peak) {
  if (store_all_peak == 0) return 1.0;
  return static_cast<double>(peak_bytes) / static_cast<double>(store_all_peak);
}

Simulation verify_schedule(const Graph& graph, const Schedule& schedule) {
  Simulation sim = simulate(graph, schedule.steps);
  if (!sim.valid) throw Error(fmt::format("schedule from \"{}\" is invalid: {}", schedule.solver, sim.error));
  if (sim.peak_bytes != schedule.peak_bytes) {
    throw Error(fmt::format("schedule from \"{}\" records peak_bytes {} but replays to {}", schedule.solver,
                            schedule.peak_bytes, sim.peak_bytes));
  }
  double tolerance = 1e-9 * std::max(1.0, std::abs(sim.cost));
  if (std::abs(sim.cost - schedule.cost) > tolerance) {
    throw Error(fmt::format("schedule from \"{}\" records cost {} but replays to {}", schedule.solver,
                            schedule.cost, sim.cost));
  }
  if (schedule.budget_bytes && *schedule.budget_bytes < sim.peak_bytes) {
    throw Error(fmt::format("schedule from \"{}\" has budget_bytes {} below its peak_bytes {}", schedule.solver,
                            *schedule.budget_bytes, sim.peak_bytes));
  }
  return sim;
}

}  // namespace gradrecomp
