#include "gradrecomp/torch/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <sstream>

#include "gradrecomp/error.h"
#include "tensor_hash.h"

namespace gradrecomp {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

thread_local int t_recompute_depth = 0;

class RecomputingFlag {
 public:
  RecomputingFlag() { ++t_recompute_depth; }
  ~RecomputingFlag() { --t_recompute_depth; }
  RecomputingFlag(const RecomputingFlag&) = delete;
  RecomputingFlag& operator=(const RecomputingFlag&) = delete;
};

// ---- random generator states --------------------------------------------------------------

struct GeneratorState {
  at::Generator generator;
  at::Tensor state;
};

at::Tensor get_state(at::Generator& generator) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_state(at::Generator& generator, const at::Tensor& state) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

// The CPU default generator, and the default generator of every CUDA device an input lives on
// (LibTorch builds without CUDA never see a CUDA tensor, so this needs no CUDA headers).
std::vector<GeneratorState> capture_generators(const std::vector<torch::Tensor>& inputs) {
  std::vector<GeneratorState> states;
  at::Generator cpu = at::detail::getDefaultCPUGenerator();
  states.push_back({cpu, get_state(cpu)});
  std::vector<c10::DeviceIndex> cuda_devices;
  for (const torch::Tensor& input : inputs) {
    if (!input.defined() || !input.is_cuda()) continue;
    c10::DeviceIndex index = input.device().index();
    if (std::find(cuda_devices.begin(), cuda_devices.end(), index) != cuda_devices.end()) continue;
    cuda_devices.push_back(index);
    at::Generator generator = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, index));
    states.push_back({generator, get_state(generator)});
  }
  return states;
}

// Sets saved generator states for the lifetime of the object, then puts the caller's back.
class GeneratorFork {
 public:
  explicit GeneratorFork(std::vector<GeneratorState>& saved) : saved_(saved) {
    for (GeneratorState& entry : saved_) {
      callers_.push_back(get_state(entry.generator));
      set_state(entry.generator, entry.state);
    }
  }
  ~GeneratorFork() {
    for (size_t i = 0; i < saved_.size(); ++i) set_state(saved_[i].generator, callers_[i]);
  }
  GeneratorFork(const GeneratorFork&) = delete;
  GeneratorFork& operator=(const GeneratorFork&) = delete;

 private:
  std::vector<GeneratorState>& saved_;
  std::vector<at::Tensor> callers_;
};

// ---- buffers restored around recomputation -------------------------------------------------

class BufferSnapshot {
 public:
  explicit BufferSnapshot(const std::vector<std::shared_ptr<torch::nn::Module>>& modules) {
    torch::NoGradGuard no_grad;
    for (const auto& module : modules) {
      if (!module) continue;
      for (const torch::Tensor& buffer : module->buffers(/*recurse=*/true)) {
        if (buffer.defined()) saved_.emplace_back(buffer, buffer.clone());
      }
    }
  }
  ~BufferSnapshot() {
    torch::NoGradGuard no_grad;
    for (auto& [buffer, copy] : saved_) buffer.copy_(copy);
  }
  BufferSnapshot(const BufferSnapshot&) = delete;
  BufferSnapshot& operator=(const BufferSnapshot&) = delete;

 private:
  std::vector<std::pair<torch::Tensor, torch::Tensor>> saved_;
};

// ---- determinism check ---------------------------------------------------------------------

struct Fingerprint {
  std::vector<int64_t> sizes;
  c10::ScalarType dtype = c10::ScalarType::Undefined;
  uint64_t hash = 0;
};

// Shape, dtype and the FNV-1a hash of the bytes (tensor_hash.h); all empty for an undefined tensor.
Fingerprint fingerprint(const torch::Tensor& tensor) {
  Fingerprint result;
  if (!tensor.defined()) return result;
  result.sizes = tensor.sizes().vec();
  result.dtype = tensor.scalar_type();
  result.hash = torch_detail::bitwise_hash(tensor);
  return result;
}

std::string describe(const Fingerprint& print) {
  std::ostringstream out;
  out << (print.dtype == c10::ScalarType::Undefined ? "undefined" : c10::toString(print.dtype)) << " [";
  for (size_t i = 0; i < print.sizes.size(); ++i) out << (i ? ", " : "") << print.sizes[i];
  out << "] hash " << std::hex << print.hash;
  return out.str();
}

// ---- the autograd Function -----------------------------------------------------------------

struct CheckpointState : torch::CustomClassHolder {
  CheckpointFn fn;
  CheckpointOptions options;
  std::vector<GeneratorState> generators;
  std::vector<Fingerprint> fingerprints;
  size_t num_outputs = 0;
};

// A leaf that requires grad, passed as an extra input when no real input does, so that autograd
// calls backward and the parameters inside fn get their gradients. Its gradient is never defined.
const torch::Tensor& anchor_tensor() {
  static const torch::Tensor* anchor = new torch::Tensor(torch::empty({0}).requires_grad_(true));
  return *anchor;
}

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, c10::intrusive_ptr<CheckpointState> state,
                               at::TensorList inputs, c10::optional<at::Tensor> anchor) {
    (void)anchor;
    std::vector<torch::Tensor> input_list = inputs.vec();
    if (state->options.preserve_rng_state()) state->generators = capture_generators(input_list);
    variable_list outputs;
    {
      torch::NoGradGuard no_grad;
      outputs = state->fn(input_list);
    }
    state->num_outputs = outputs.size();
    variable_list non_differentiable;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!outputs[i].defined()) {
        throw Error("checkpoint \"" + state->options.name() + "\": output " + std::to_string(i) +
                    " of fn is an undefined tensor (expected every output to be defined)");
      }
      if (!at::isFloatingType(outputs[i].scalar_type()) && !at::isComplexType(outputs[i].scalar_type())) {
        non_differentiable.push_back(outputs[i]);
      }
    }
    if (state->options.check_determinism()) {
      state->fingerprints.clear();
      for (const torch::Tensor& output : outputs) state->fingerprints.push_back(fingerprint(output));
    }
    ctx->mark_non_differentiable(non_differentiable);
    ctx->set_materialize_grads(false);
    ctx->save_for_backward(input_list);
    ctx->saved_data["state"] = c10::IValue::make_capsule(std::move(state));
    return outputs;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto state = c10::static_intrusive_pointer_cast<CheckpointState>(ctx->saved_data["state"].toCapsule());
    const variable_list saved = ctx->get_saved_variables();

    variable_list detached;
    detached.reserve(saved.size());
    for (const torch::Tensor& input : saved) {
      torch::Tensor copy = input.detach();
      if (input.requires_grad()) copy.requires_grad_(true);
      detached.push_back(std::move(copy));
    }

    // The buffers are put back only after the recomputed graph's backward: batch norm saves its
    // running statistics for backward, and restoring them earlier would bump their versions.
    BufferSnapshot buffers(state->options.buffer_modules());
    variable_list outputs;
    {
      std::optional<GeneratorFork> fork;
      if (state->options.preserve_rng_state()) fork.emplace(state->generators);
      RecomputingFlag recomputing;
      torch::AutoGradMode grad_enabled(true);
      outputs = state->fn(detached);
    }
    check_recomputation(*state, outputs);

    variable_list roots;
    variable_list root_grads;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (i < grad_outputs.size() && grad_outputs[i].defined() && outputs[i].requires_grad()) {
        roots.push_back(outputs[i]);
        root_grads.push_back(grad_outputs[i]);
      }
    }
    if (!roots.empty()) torch::autograd::backward(roots, root_grads);

    // One gradient per forward argument: state (none), each input, anchor (none).
    variable_list input_grads;
    input_grads.reserve(detached.size() + 2);
    input_grads.emplace_back();
    for (const torch::Tensor& input : detached) {
      input_grads.push_back(input.requires_grad() ? input.grad() : torch::Tensor());
    }
    input_grads.emplace_back();
    return input_grads;
  }

 private:
  static void check_recomputation(const CheckpointState& state, const variable_list& outputs) {
    const std::string& name = state.options.name();
    if (outputs.size() != state.num_outputs) {
      throw Error("checkpoint \"" + name + "\": recomputation returned " + std::to_string(outputs.size()) +
                  " outputs, the forward pass " + std::to_string(state.num_outputs) +
                  " (expected fn to return the same number of tensors every time)");
    }
    if (!state.options.check_determinism()) return;
    for (size_t i = 0; i < outputs.size(); ++i) {
      Fingerprint again = fingerprint(outputs[i]);
      const Fingerprint& first = state.fingerprints[i];
      if (again.hash != first.hash || again.sizes != first.sizes || again.dtype != first.dtype) {
        throw Error("checkpoint \"" + name + "\": output " + std::to_string(i) + " of " +
                    std::to_string(outputs.size()) + " differs after recomputation (forward: " +
                    describe(first) + ", recomputed: " + describe(again) +
                    "); expected bitwise-identical results: is fn nondeterministic, or does it read "
                    "state that changed between forward and backward?");
      }
    }
  }
};

}  // namespace

bool is_recomputing() { return t_recompute_depth > 0; }

std::vector<torch::Tensor> checkpoint_tensors(CheckpointFn fn, const std::vector<torch::Tensor>& inputs,
                                              const CheckpointOptions& options) {
  if (!fn) throw Error("checkpoint \"" + options.name() + "\": fn is empty (expected a callable)");
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      throw Error("checkpoint \"" + options.name() + "\": tensor argument " + std::to_string(i) +
                  " is undefined (expected defined tensors)");
    }
  }
  if (!torch::GradMode::is_enabled()) return fn(inputs);

  auto state = c10::make_intrusive<CheckpointState>();
  state->fn = std::move(fn);
  state->options = options;
  bool any_requires_grad = false;
  for (const torch::Tensor& input : inputs) any_requires_grad = any_requires_grad || input.requires_grad();
  c10::optional<at::Tensor> anchor;
  if (!any_requires_grad) anchor = anchor_tensor();
  return CheckpointFunction::apply(std::move(state), at::TensorList(inputs), anchor);
}

}  // namespace gradrecomp
