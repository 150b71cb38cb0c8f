// ModelExecutor: runs any valid schedule of a profiled model (include/gradrecomp/torch/model_graph.h).
#include "gradrecomp/torch/model_graph.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/torch/memory_tracker.h"
#include "model_runtime.h"

namespace gradrecomp {

using namespace model_runtime;  // NOLINT: this file is the runtime's client

// ---- executor --------------------------------------------------------------------------------

ModelExecutor::ModelExecutor(const ModelGraph& model, const ModelProfile& profile)
    : model_(model), profile_(profile), state_(std::make_unique<State>(model)) {
  if (profile.forward_node.size() != model.ops().size()) {
    throw Error("ModelExecutor: the profile has " + std::to_string(profile.forward_node.size()) +
                " ops, model \"" + model.name() + "\" " + std::to_string(model.ops().size()) +
                " (expected the profile of this model)");
  }
  for (size_t i = 0; i < model.ops().size(); ++i) {
    state_->has_backward[i] = profile.ops[i].has_backward;
    state_->uses_rng[i] = profile.ops[i].uses_rng;
  }
}

ModelExecutor::~ModelExecutor() = default;

ModelExecutor& ModelExecutor::check_determinism(bool value) {
  state_->check_determinism = value;
  return *this;
}

StepReport ModelExecutor::run(const Schedule& schedule, torch::Tensor batch) {
  const Graph& graph = profile_.graph;
  Simulation sim = simulate(graph, schedule.steps);
  if (!sim.valid) throw Error("ModelExecutor::run: invalid schedule for graph \"" + graph.name() + "\": " + sim.error);
  if (!batch.defined() || static_cast<uint64_t>(batch.storage().nbytes()) != profile_.batch_bytes) {
    throw Error("ModelExecutor::run: the batch has " +
                std::to_string(batch.defined() ? batch.storage().nbytes() : 0) + " bytes, the profile " +
                std::to_string(profile_.batch_bytes) + " (expected a batch of the profiled shape)");
  }
  const size_t n = model_.ops().size();
  // Reverse maps from graph ids to model objects.
  std::vector<int32_t> node_op(graph.num_nodes(), -1);
  std::vector<bool> node_is_backward(graph.num_nodes(), false);
  for (size_t i = 0; i < n; ++i) {
    node_op[profile_.forward_node[i]] = static_cast<int32_t>(i);
    if (profile_.backward_node[i] != kNoNode) {
      node_op[profile_.backward_node[i]] = static_cast<int32_t>(i);
      node_is_backward[profile_.backward_node[i]] = true;
    }
  }
  enum class Kind { kValue, kSaved, kPartial };
  struct TensorRef {
    Kind kind;
    int32_t index;   // value id, op, or op for partials
    int32_t input;   // input index for partials
  };
  std::vector<TensorRef> tensors(graph.num_tensors(), TensorRef{Kind::kValue, 0, 0});
  for (size_t v = 0; v <= n; ++v) tensors[profile_.value_tensor[v]] = {Kind::kValue, static_cast<int32_t>(v), 0};
  for (size_t i = 0; i < n; ++i) {
    if (profile_.saved_tensor[i] >= 0) tensors[profile_.saved_tensor[i]] = {Kind::kSaved, static_cast<int32_t>(i), 0};
    if (profile_.backward_node[i] == kNoNode) continue;
    const Node& node = graph.node(profile_.backward_node[i]);
    for (TensorId t : node.outputs) {
      const std::string& id = graph.tensor(t).id;
      const int32_t k = std::stoi(id.substr(id.rfind('.') + 1));
      tensors[t] = {Kind::kPartial, static_cast<int32_t>(i), k};
    }
  }
  std::vector<int> compute_count(n, 0);
  for (const Step& step : schedule.steps) {
    if (step.kind == StepKind::kCompute && !node_is_backward[step.target]) ++compute_count[node_op[step.target]];
  }
  std::vector<int> backward_count(n, 0);
  for (const Step& step : schedule.steps) {
    if (step.kind == StepKind::kCompute && node_is_backward[step.target]) ++backward_count[node_op[step.target]];
  }
  for (size_t i = 0; i < n; ++i) {
    state_->recomputed[i] = compute_count[i] > 1;
    state_->retain_graph[i] = backward_count[i] > 1;
  }

  State& state = *state_;
  ensure_gradients(model_.parameters());
  StepReport report;
  const int64_t batch_bytes = static_cast<int64_t>(profile_.batch_bytes);
  auto start = Clock::now();
  {
    MemoryScope scope;
    state.begin_step(std::move(batch));
    // Graph inputs no one reads are freed by the schedule itself.
    report.step_seconds.reserve(schedule.steps.size());
    report.step_peak_bytes.reserve(schedule.steps.size());
    report.step_live_bytes.reserve(schedule.steps.size());
    const int64_t base_bytes = scope.start_bytes() - batch_bytes;
    for (const Step& step : schedule.steps) {
      const auto step_start = Clock::now();
      MemoryScope step_scope;  // nests: the step's own high-water mark, restored into `scope`
      if (step.kind == StepKind::kCompute) {
        const size_t i = static_cast<size_t>(node_op[step.target]);
        if (node_is_backward[step.target]) {
          state.backward(i);
        } else {
          // s<i> is an output of F<i>: build the graph unless it is live already.
          state.forward(i, /*with_graph=*/state.has_backward[i] && !state.root[i].defined());
        }
        if (i + 1 == n && !node_is_backward[step.target] && !report.loss.defined()) {
          report.loss = state.value[n].clone();
        }
      } else {
        const TensorRef& ref = tensors[step.target];
        switch (ref.kind) {
          case Kind::kValue: state.free_value(ref.index); break;
          case Kind::kSaved: state.free_saved(ref.index); break;
          case Kind::kPartial: state.partial[ref.index][ref.input] = torch::Tensor(); break;
        }
      }
      report.step_seconds.push_back(seconds_since(step_start));
      report.step_peak_bytes.push_back(step_scope.start_bytes() + step_scope.peak_bytes() - base_bytes);
      report.step_live_bytes.push_back(step_scope.start_bytes() + step_scope.live_delta_bytes() - base_bytes);
    }
    report.peak_bytes = scope.peak_bytes() + batch_bytes;
    // Whatever the schedule left live is dropped at the end of the step.
    state.end_step();
  }
  report.seconds = seconds_since(start);
  return report;
}

}  // namespace gradrecomp
