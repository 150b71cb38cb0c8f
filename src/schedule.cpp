#include "gradrecomp/schedule.h"

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"

namespace gradrecomp {

Schedule schedule_from_computes(const Graph& graph, const std::vector<NodeId>& computes,
                                const std::string& solver_name) {
  const size_t count = computes.size();
  // next_event[t]: scanning backwards, the position of the next compute that reads or produces t.
  // A tensor may be freed after position i when its next event is a (re)production or nothing.
  enum class Event : uint8_t { kNone, kRead, kProduce };
  std::vector<Event> next_event(graph.num_tensors(), Event::kNone);
  // free_after[i]: tensors to free right after compute i.
  std::vector<std::vector<TensorId>> free_after(count);
  std::vector<TensorId> free_at_start;
  for (size_t i = count; i-- > 0;) {
    NodeId n = computes[i];
    if (n < 0 || n >= graph.num_nodes()) {
      throw Error(fmt::format("compute sequence position {}: unknown node index {}", i, n));
    }
    const Node& node = graph.node(n);
    // Outputs are freed after this compute unless read later before being produced again;
    // inputs likewise. Inputs are listed first, as in the store-all schedule.
    std::vector<TensorId> dead_outputs;
    for (TensorId t : node.outputs) {
      if (next_event[t] != Event::kRead) dead_outputs.push_back(t);
      next_event[t] = Event::kProduce;
    }
    for (TensorId t : node.inputs) {
      if (next_event[t] != Event::kRead) free_after[i].push_back(t);
      next_event[t] = Event::kRead;
    }
    free_after[i].insert(free_after[i].end(), dead_outputs.begin(), dead_outputs.end());
  }
  for (TensorId t : graph.graph_inputs()) {
    if (next_event[t] != Event::kRead) free_at_start.push_back(t);
  }

  Schedule schedule;
  schedule.graph_name = graph.name();
  schedule.solver = solver_name;
  schedule.steps.reserve(count * 2 + free_at_start.size());
  for (TensorId t : free_at_start) schedule.steps.push_back(Step::free(t));
  for (size_t i = 0; i < count; ++i) {
    schedule.steps.push_back(Step::compute(computes[i]));
    for (TensorId t : free_after[i]) schedule.steps.push_back(Step::free(t));
  }
  Simulation sim = simulate(graph, schedule.steps);
  if (!sim.valid) {
    throw Error(fmt::format("solver \"{}\" produced an invalid compute order: {}", solver_name, sim.error));
  }
  schedule.peak_bytes = sim.peak_bytes;
  schedule.cost = sim.cost;
  return schedule;
}

std::vector<NodeId> compute_sequence(const Schedule& schedule) {
  std::vector<NodeId> computes;
  for (const Step& step : schedule.steps) {
    if (step.kind == StepKind::kCompute) computes.push_back(step.target);
  }
  return computes;
}

}  // namespace gradrecomp
