// The runtime shared by the profiler (model_profiler.cpp) and the executor (model_executor.cpp)
// of include/gradrecomp/torch/model_graph.h: values whose bytes can be released and put back in
// every storage that shares them, gradient capture at op boundaries, generator snapshots for
// bitwise-equal recomputation, and the per-step state of a model being run. Private to
// gradrecomp_torch.
#pragma once

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gradrecomp/error.h"
#include "gradrecomp/torch/memory_tracker.h"
#include "gradrecomp/torch/model_graph.h"
#include "tensor_hash.h"

namespace gradrecomp::model_runtime {

using Clock = std::chrono::steady_clock;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---- storage groups: one value's bytes shared by every StorageImpl that refers to them --------

inline void release_shared_bytes(void* context) { delete static_cast<std::shared_ptr<c10::DataPtr>*>(context); }

inline c10::DataPtr share_bytes(const std::shared_ptr<c10::DataPtr>& owner) {
  return c10::DataPtr(owner->get(), new std::shared_ptr<c10::DataPtr>(owner), &release_shared_bytes,
                      owner->device());
}

// A value's storages: the first computation's StorageImpl (possibly saved by autograd graphs)
// and those of recomputations. bind() makes all of them share the newest bytes; evict() empties
// all of them, so the bytes are really released when the schedule frees the value.
class StorageGroup {
 public:
  void bind(const c10::Storage& fresh) {
    c10::StorageImpl* fresh_impl = fresh.unsafeGetStorageImpl();
    c10::DataPtr bytes = fresh_impl->set_data_ptr(c10::DataPtr(nullptr, fresh.device()));
    auto owner = std::make_shared<c10::DataPtr>(std::move(bytes));
    fresh_impl->set_data_ptr_noswap(share_bytes(owner));
    bool present = false;
    std::vector<c10::weak_intrusive_ptr<c10::StorageImpl>> alive;
    for (auto& weak : members_) {
      auto member = weak.lock();
      if (!member) continue;
      if (member.get() == fresh_impl) {
        present = true;
      } else {
        GRADRECOMP_ASSERT(member->nbytes() == fresh_impl->nbytes(), "recomputed value changed its size");
        member->set_data_ptr_noswap(share_bytes(owner));
      }
      alive.push_back(weak);
    }
    if (!present) alive.push_back(fresh.getWeakStorageImpl());
    members_ = std::move(alive);
  }

  void evict() {
    for (auto& weak : members_) {
      auto member = weak.lock();
      if (member) member->set_data_ptr_noswap(c10::DataPtr(nullptr, member->device()));
    }
  }

  void clear() { members_.clear(); }

 private:
  std::vector<c10::weak_intrusive_ptr<c10::StorageImpl>> members_;
};

// ---- gradient capture ------------------------------------------------------------------------

struct GradSlot : torch::CustomClassHolder {
  torch::Tensor grad;
};

inline const torch::Tensor& anchor_tensor() {
  static const torch::Tensor* anchor = new torch::Tensor(torch::empty({0}).requires_grad_(true));
  return *anchor;
}

// Identity whose backward stores the incoming gradient in a slot: the op's inputs are not leaves,
// so no AccumulateGrad node holds them, and their gradients come back to the executor.
class CaptureGrad : public torch::autograd::Function<CaptureGrad> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, c10::intrusive_ptr<GradSlot> slot, const torch::Tensor& x,
                               const torch::Tensor& anchor) {
    (void)anchor;
    ctx->set_materialize_grads(false);
    ctx->saved_data["slot"] = c10::IValue::make_capsule(std::move(slot));
    return x.variable_data();
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto slot = c10::static_intrusive_pointer_cast<GradSlot>(ctx->saved_data["slot"].toCapsule());
    if (grads[0].defined()) slot->grad = slot->grad.defined() ? slot->grad + grads[0] : grads[0];
    return {torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// ---- generator states and buffers ------------------------------------------------------------

inline std::vector<std::pair<at::Generator, at::Tensor>> capture_generators(const torch::Tensor& batch) {
  std::vector<std::pair<at::Generator, at::Tensor>> states;
  std::vector<at::Generator> generators{at::detail::getDefaultCPUGenerator()};
  if (batch.defined() && batch.is_cuda()) {
    generators.push_back(at::globalContext().defaultGenerator(batch.device()));
  }
  for (at::Generator& generator : generators) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    states.emplace_back(generator, generator.get_state());
  }
  return states;
}

inline void restore_generators(std::vector<std::pair<at::Generator, at::Tensor>>& states) {
  for (auto& [generator, state] : states) {
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
  }
}

// A copy of the generators an op may draw from, for replaying its recomputations. The CPU
// generator is copied as an object (its mt19937 engine and cached normal samples, about 2.5 KB
// of host memory, not a tensor): a get_state() tensor per recomputed op would be tensor memory
// the training graph does not describe. CUDA generators are saved as state tensors.
struct RngSnapshot {
  std::shared_ptr<at::CPUGeneratorImpl> cpu;
  std::vector<std::pair<at::Generator, at::Tensor>> cuda;
  bool empty() const { return cpu == nullptr; }
};

inline RngSnapshot take_rng(const torch::Tensor& batch) {
  RngSnapshot snapshot;
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    snapshot.cpu = at::check_generator<at::CPUGeneratorImpl>(generator)->clone();
  }
  if (batch.defined() && batch.is_cuda()) {
    at::Generator cuda = at::globalContext().defaultGenerator(batch.device());
    std::lock_guard<std::mutex> lock(cuda.mutex());
    snapshot.cuda.emplace_back(cuda, cuda.get_state());
  }
  return snapshot;
}

inline void put_rng(const RngSnapshot& snapshot) {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    auto* impl = at::check_generator<at::CPUGeneratorImpl>(generator);
    impl->set_engine(snapshot.cpu->engine());
    impl->set_next_float_normal_sample(snapshot.cpu->next_float_normal_sample());
    impl->set_next_double_normal_sample(snapshot.cpu->next_double_normal_sample());
  }
  for (const auto& [cuda, state] : snapshot.cuda) {
    at::Generator g = cuda;
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(state);
  }
}

inline at::Tensor cpu_rng_state() {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

struct ExecutorState {
  explicit ExecutorState(const ModelGraph& graph) : model(graph) {
    const size_t n = model.ops().size();
    value.resize(n + 1);
    groups.resize(n + 1);
    root.resize(n);
    slots.resize(n);
    partial.resize(n);
    has_backward.assign(n, false);
    uses_rng.assign(n, false);
    first_hash.assign(n, 0);
    recomputed.assign(n, false);
    retain_graph.assign(n, false);
    computed.assign(n, false);
    rng.resize(n);
    for (size_t i = 0; i < n; ++i) {
      slots[i].resize(model.ops()[i].inputs.size());
      partial[i].resize(model.ops()[i].inputs.size());
    }
  }

  const ModelGraph& model;
  std::vector<torch::Tensor> value;                               // per value; undefined = not live
  std::vector<StorageGroup> groups;                               // per value
  std::vector<torch::Tensor> root;                                // per op: output with grad_fn (s live)
  std::vector<std::vector<c10::intrusive_ptr<GradSlot>>> slots;   // per op, per input
  std::vector<std::vector<torch::Tensor>> partial;                // per op, per input: d.<op>.<k>
  std::vector<bool> has_backward;                                 // per op (known after profiling)
  std::vector<bool> recomputed;                                   // per op: computed more than once this step
  std::vector<bool> retain_graph;                                 // per op: its B node runs more than once
  std::vector<bool> computed;                                     // per op: computed this step
  std::vector<bool> uses_rng;                                     // per op (known after profiling)
  std::vector<RngSnapshot> rng;                                   // per recomputed op that draws
  bool check_determinism = false;
  std::vector<uint64_t> first_hash;                               // per op, when checking

  const ModelOp& op(size_t i) const { return model.ops()[i]; }

  // Whether input k of op i gets a gradient: it is an op output on a gradient path.
  bool input_needs_grad(size_t i, size_t k) const {
    ValueId v = op(i).inputs[k];
    return v != ModelGraph::kBatch && has_backward[v - 1];
  }

  void begin_step(torch::Tensor batch) {
    end_step();
    std::fill(computed.begin(), computed.end(), false);
    value[0] = batch.detach();
    groups[0].bind(value[0].storage());
  }

  // Computes op i's forward. with_graph: build its autograd graph (unless the op has no backward).
  void forward(size_t i, bool with_graph) {
    const ModelOp& model_op = op(i);
    std::vector<torch::Tensor> args;
    for (size_t k = 0; k < model_op.inputs.size(); ++k) {
      const torch::Tensor& input = value[model_op.inputs[k]];
      GRADRECOMP_ASSERT(input.defined(), "op input is not live (the simulator accepted the schedule)");
      // A shallow copy (new TensorImpl, same storage): if the op's graph saves it, the storage's
      // reference count shows it (the profiler's test for "backward reads this input").
      args.push_back(input.variable_data());
    }
    const bool first = !computed[i];
    RngSnapshot caller_rng;
    if (first && recomputed[i] && uses_rng[i]) rng[i] = take_rng(value[0]);
    if (!first && !rng[i].empty()) {
      caller_rng = take_rng(value[0]);
      put_rng(rng[i]);
    }
    std::vector<std::pair<torch::Tensor, torch::Tensor>> buffers;
    if (!first && model_op.module) {
      torch::NoGradGuard no_grad;
      for (const torch::Tensor& b : model_op.module->buffers()) {
        if (b.defined()) buffers.emplace_back(b, b.clone());
      }
    }

    torch::Tensor out;
    if (with_graph) {
      torch::AutoGradMode grad_mode(true);
      for (size_t k = 0; k < args.size(); ++k) {
        if (!input_needs_grad(i, k)) continue;
        slots[i][k] = c10::make_intrusive<GradSlot>();
        args[k] = CaptureGrad::apply(slots[i][k], args[k], anchor_tensor());
      }
      out = model_op.fn(args);
    } else {
      torch::NoGradGuard no_grad;
      out = model_op.fn(args);
    }
    args.clear();

    // Batch-norm statistics and other buffers change once per step: put the recomputation's
    // updates back. set_data keeps the version counters autograd checks.
    for (auto& [buffer, saved] : buffers) buffer.set_data(saved);
    if (!caller_rng.empty()) put_rng(caller_rng);

    if (!out.defined()) throw Error("model op \"" + model_op.name + "\" returned an undefined tensor");
    for (ValueId v : model_op.inputs) {
      if (out.storage().is_alias_of(value[v].storage())) {
        throw Error("model op \"" + model_op.name + "\" returns a view of (or modifies in place) its input value " +
                    std::to_string(v) + " (expected a result in new storage: merge the op with its neighbour)");
      }
    }
    if (with_graph && out.requires_grad()) root[i] = out;
    value[i + 1] = out.detach();
    groups[i + 1].bind(value[i + 1].storage());
    if (check_determinism) {
      const uint64_t hash = torch_detail::bitwise_hash(value[i + 1]);
      if (first && recomputed[i]) first_hash[i] = hash;
      if (!first && hash != first_hash[i]) {
        std::ostringstream message;
        message << "model op \"" << model_op.name << "\" (node F." << model_op.name
                << ") recomputed an output that differs bitwise from its first computation in this step (hash "
                << std::hex << first_hash[i] << " then " << hash
                << "); expected a deterministic op: does it read state that changes between calls?";
        throw Error(message.str());
      }
    }
    computed[i] = true;
  }

  // The gradient of op i's output: 1 for the loss, else the consumers' partial gradients summed
  // in consumer order.
  torch::Tensor output_grad(size_t i) const {
    const size_t n = model.ops().size();
    if (i + 1 == n) return torch::ones_like(root[i]);
    torch::Tensor sum;
    for (size_t c = i + 1; c < n; ++c) {
      for (size_t k = 0; k < op(c).inputs.size(); ++k) {
        if (op(c).inputs[k] != static_cast<ValueId>(i + 1) || !partial[c][k].defined()) continue;
        sum = sum.defined() ? sum + partial[c][k] : partial[c][k];
      }
    }
    return sum;
  }

  void backward(size_t i) {
    GRADRECOMP_ASSERT(root[i].defined(), "backward of an op whose graph is not live");
    torch::Tensor grad = output_grad(i);
    if (!grad.defined()) grad = torch::zeros_like(root[i]);
    // Without retain_graph the engine drops each autograd node's saved tensors as soon as the
    // node has run, as plain loss.backward() does (fewer page faults measured, see
    // docs/benchmarks/torch.md); the graph is kept only for an op whose B node the schedule runs
    // more than once.
    torch::autograd::backward({root[i]}, {grad}, /*retain_graph=*/retain_graph[i]);
    grad.reset();
    for (size_t k = 0; k < slots[i].size(); ++k) {
      if (!slots[i][k]) continue;
      torch::Tensor g = std::move(slots[i][k]->grad);
      slots[i][k]->grad = torch::Tensor();
      // A gradient passed through unchanged shares storage with the incoming one; the graph
      // counts them as two tensors, so make it one.
      if (g.defined() && g.storage().use_count() > 1) g = g.clone();
      partial[i][k] = std::move(g);
    }
  }

  // Drops everything a step holds (values, graphs, gradients, generator copies).
  void end_step() {
    for (auto& group : groups) group.clear();
    std::fill(value.begin(), value.end(), torch::Tensor());
    std::fill(root.begin(), root.end(), torch::Tensor());
    for (auto& list : slots) std::fill(list.begin(), list.end(), c10::intrusive_ptr<GradSlot>());
    for (auto& list : partial) std::fill(list.begin(), list.end(), torch::Tensor());
    std::fill(rng.begin(), rng.end(), RngSnapshot());
  }

  void free_value(ValueId v) {
    groups[v].evict();
    value[v] = torch::Tensor();
  }
  void free_saved(size_t i) {
    root[i] = torch::Tensor();
    for (auto& slot : slots[i]) slot.reset();
  }
};

}  // namespace gradrecomp::model_runtime

namespace gradrecomp {

// The executor's opaque state is the shared runtime state.
struct ModelExecutor::State : model_runtime::ExecutorState {
  using ExecutorState::ExecutorState;
};

}  // namespace gradrecomp
