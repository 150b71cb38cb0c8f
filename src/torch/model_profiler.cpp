// profile_model: one instrumented training step into a training graph (include/gradrecomp/torch/model_graph.h).
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

// ---- profiler --------------------------------------------------------------------------------

namespace {

std::string meta_for(const ModelOp& op, const char* phase) {
  std::string meta = std::string("{\"op\": \"") + op.kind + "\", \"phase\": \"" + phase + "\"";
  if (!op.unit.empty()) meta += ", \"unit\": \"" + op.unit + "\"";
  return meta + "}";
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

ModelProfile profile_model(const ModelGraph& model, const torch::Tensor& batch, int repeats) {
  const size_t n = model.ops().size();
  if (n == 0) throw Error("profile_model: model \"" + model.name() + "\" has no ops (expected at least the loss)");
  if (repeats < 1) throw Error("profile_model: repeats is " + std::to_string(repeats) + " (expected >= 1)");
  if (!batch.defined()) throw Error("profile_model: the batch is undefined (expected a tensor)");
  MemoryTracker::install();
  anchor_tensor();
  std::vector<torch::Tensor> parameters = model.parameters();

  // Everything a step changes, restored at the end.
  std::vector<torch::Tensor> saved_params, saved_grads, saved_buffers;
  {
    torch::NoGradGuard no_grad;
    for (const torch::Tensor& p : parameters) {
      saved_params.push_back(p.clone());
      saved_grads.push_back(p.grad().defined() ? p.grad().clone() : torch::Tensor());
    }
    for (const torch::Tensor& b : model.buffers()) saved_buffers.push_back(b.clone());
  }
  auto generators = capture_generators(batch);
  ensure_gradients(parameters);

  ModelProfile profile;
  profile.ops.resize(n);
  std::vector<std::vector<double>> forward_times(n), backward_times(n);
  ModelExecutor::State state(model);
  // Repeat -1 warms up (first calls initialise kernels and caches) and is not timed.
  for (int repeat = -1; repeat < repeats; ++repeat) {
    restore_generators(generators);
    state.begin_step(batch.clone());
    for (size_t i = 0; i < n; ++i) {
      OpMeasurement& m = profile.ops[i];
      const ModelOp& op = model.ops()[i];
      std::vector<size_t> input_uses;
      for (ValueId v : op.inputs) input_uses.push_back(state.value[v].storage().use_count());
      // Inputs on a gradient path are known from the ops before; the op itself decides below.
      state.has_backward[i] = true;
      const at::Tensor rng_before = cpu_rng_state();
      MemoryScope scope;
      auto start = Clock::now();
      state.forward(i, /*with_graph=*/true);
      if (repeat >= 0) forward_times[i].push_back(seconds_since(start));
      const bool has_backward = state.root[i].defined();
      state.has_backward[i] = has_backward;
      const int64_t kept = scope.live_delta_bytes();
      m.has_backward = has_backward;
      m.output_bytes = state.value[i + 1].storage().nbytes();
      m.saved_bytes = has_backward ? static_cast<uint64_t>(std::max<int64_t>(0, kept - static_cast<int64_t>(m.output_bytes))) : 0;
      m.forward_workspace_bytes = static_cast<uint64_t>(std::max<int64_t>(0, scope.peak_bytes() - std::max<int64_t>(kept, 0)));
      m.saves_input.assign(op.inputs.size(), false);
      if (has_backward) {
        for (size_t k = 0; k < op.inputs.size(); ++k) {
          m.saves_input[k] = state.value[op.inputs[k]].storage().use_count() > input_uses[k];
        }
        // Holders of the output storage: root, value, and the graph if it saved the output.
        m.saves_output = state.value[i + 1].storage().use_count() > 2;
      }
      m.uses_rng = m.uses_rng || !torch::equal(rng_before, cpu_rng_state());
    }
    for (size_t i = n; i-- > 0;) {
      if (!state.has_backward[i]) continue;
      OpMeasurement& m = profile.ops[i];
      MemoryScope scope;
      auto start = Clock::now();
      state.backward(i);
      if (repeat >= 0) backward_times[i].push_back(seconds_since(start));
      // The simulator counts B's inputs (saved tensors included) as live until after B, plus B's
      // outputs, plus its workspace; the engine frees saved tensors during B, so the live delta
      // understates the outputs. Workspace = the transient peak above the gradients B produced.
      int64_t produced = 0;
      for (const torch::Tensor& g : state.partial[i]) {
        if (g.defined()) produced += static_cast<int64_t>(g.storage().nbytes());
      }
      m.backward_workspace_bytes = static_cast<uint64_t>(std::max<int64_t>(0, scope.peak_bytes() - produced));
      state.free_saved(i);
      for (size_t c = i + 1; c < n; ++c) {
        for (size_t k = 0; k < model.ops()[c].inputs.size(); ++k) {
          if (model.ops()[c].inputs[k] == static_cast<ValueId>(i + 1)) state.partial[c][k] = torch::Tensor();
        }
      }
    }
    // Gradient sizes: the profile keeps the last repeat's partials of the first consumers.
    if (repeat + 1 < repeats) {
      for (auto& list : state.partial) std::fill(list.begin(), list.end(), torch::Tensor());
    }
  }

  // ---- the training graph ----
  GraphBuilder builder(model.name());
  profile.batch_bytes = batch.storage().nbytes();
  builder.input("x", profile.batch_bytes);
  profile.forward_node.assign(n, kNoNode);
  profile.backward_node.assign(n, kNoNode);
  profile.value_tensor.assign(n + 1, -1);
  profile.saved_tensor.assign(n, -1);
  std::vector<std::string> value_name(n + 1);
  value_name[0] = "x";
  for (size_t i = 0; i < n; ++i) {
    const ModelOp& op = model.ops()[i];
    OpMeasurement& m = profile.ops[i];
    m.forward_seconds = median_of(forward_times[i]);
    std::vector<std::string> inputs;
    for (ValueId v : op.inputs) {
      if (std::find(inputs.begin(), inputs.end(), value_name[v]) == inputs.end()) inputs.push_back(value_name[v]);
    }
    value_name[i + 1] = "a." + op.name;
    std::vector<OutputSpec> outputs{{value_name[i + 1], m.output_bytes}};
    if (m.has_backward) outputs.push_back({"s." + op.name, m.saved_bytes});
    builder.node("F." + op.name, m.forward_seconds, inputs, outputs, m.forward_workspace_bytes, meta_for(op, "forward"));
  }
  for (size_t i = n; i-- > 0;) {
    const ModelOp& op = model.ops()[i];
    OpMeasurement& m = profile.ops[i];
    if (!m.has_backward) continue;
    m.backward_seconds = median_of(backward_times[i]);
    std::vector<std::string> inputs{"s." + op.name};
    for (size_t c = i + 1; c < n; ++c) {
      for (size_t k = 0; k < model.ops()[c].inputs.size(); ++k) {
        if (model.ops()[c].inputs[k] == static_cast<ValueId>(i + 1) && profile.ops[c].has_backward) {
          inputs.push_back("d." + model.ops()[c].name + "." + std::to_string(k));
        }
      }
    }
    auto add_input = [&inputs](const std::string& id) {
      if (std::find(inputs.begin(), inputs.end(), id) == inputs.end()) inputs.push_back(id);
    };
    if (m.saves_output) add_input(value_name[i + 1]);
    for (size_t k = 0; k < op.inputs.size(); ++k) {
      if (m.saves_input[k]) add_input(value_name[op.inputs[k]]);
    }
    std::vector<OutputSpec> outputs;
    for (size_t k = 0; k < op.inputs.size(); ++k) {
      if (!state.input_needs_grad(i, k)) continue;
      // The gradient of an input has the input's storage size.
      outputs.push_back({"d." + op.name + "." + std::to_string(k), profile.ops[op.inputs[k] - 1].output_bytes});
    }
    builder.node("B." + op.name, m.backward_seconds, inputs, outputs, m.backward_workspace_bytes,
                 meta_for(op, "backward"));
  }
  uint64_t constant = 0;
  for (const torch::Tensor& p : parameters) constant += 2 * p.storage().nbytes();
  for (const torch::Tensor& b : model.buffers()) constant += b.storage().nbytes();
  builder.constant_bytes(constant);
  profile.graph = std::move(builder).build();
  profile.value_tensor[0] = profile.graph.find_tensor("x");
  for (size_t i = 0; i < n; ++i) {
    const std::string& name = model.ops()[i].name;
    profile.forward_node[i] = profile.graph.find_node("F." + name);
    profile.backward_node[i] = profile.graph.find_node("B." + name);
    profile.value_tensor[i + 1] = profile.graph.find_tensor("a." + name);
    profile.saved_tensor[i] = profile.graph.find_tensor("s." + name);
  }

  // Leave the model as it was.
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < parameters.size(); ++i) {
      parameters[i].copy_(saved_params[i]);
      if (saved_grads[i].defined()) {
        parameters[i].mutable_grad() = saved_grads[i];
      } else {
        parameters[i].mutable_grad() = torch::Tensor();
      }
    }
    std::vector<torch::Tensor> buffers = model.buffers();
    for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(saved_buffers[i]);
  }
  restore_generators(generators);
  return profile;
}

}  // namespace gradrecomp
