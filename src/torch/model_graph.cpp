#include "gradrecomp/torch/model_graph.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>

#include "gradrecomp/error.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/torch/memory_tracker.h"

namespace gradrecomp {
namespace {

using Clock = std::chrono::steady_clock;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---- storage groups: one value's bytes shared by every StorageImpl that refers to them --------

void release_shared_bytes(void* context) { delete static_cast<std::shared_ptr<c10::DataPtr>*>(context); }

c10::DataPtr share_bytes(const std::shared_ptr<c10::DataPtr>& owner) {
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

const torch::Tensor& anchor_tensor() {
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

std::vector<std::pair<at::Generator, at::Tensor>> capture_generators(const torch::Tensor& batch) {
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

void restore_generators(std::vector<std::pair<at::Generator, at::Tensor>>& states) {
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

RngSnapshot take_rng(const torch::Tensor& batch) {
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

void put_rng(const RngSnapshot& snapshot) {
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

at::Tensor cpu_rng_state() {
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

// FNV-1a over a tensor's bytes in row-major order.
uint64_t bitwise_hash(const torch::Tensor& tensor) {
  torch::Tensor contiguous = tensor.detach().to(torch::kCPU).contiguous();
  const auto* bytes = static_cast<const unsigned char*>(contiguous.data_ptr());
  uint64_t hash = 1469598103934665603ull;
  for (size_t i = 0; i < contiguous.nbytes(); ++i) {
    hash ^= bytes[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

std::string short_kind(const torch::nn::Module& module) {
  std::string name = module.name();
  const std::string prefix = "torch::nn::";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "Impl") == 0) name.resize(name.size() - 4);
  return name;
}

void flatten_sequential(ModelGraph& graph, const torch::nn::Sequential& model, ValueId& last, int& counter,
                        bool top_level) {
  int child_index = 0;
  for (const torch::nn::AnyModule& child : *model) {
    if (top_level) graph.begin_unit(std::to_string(child_index++));
    std::shared_ptr<torch::nn::Module> module = child.ptr();
    if (auto nested = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(module)) {
      flatten_sequential(graph, torch::nn::Sequential(nested), last, counter, false);
      continue;
    }
    std::string kind = short_kind(*module);
    std::string lower = kind;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    last = graph.add_module(std::to_string(counter++) + "_" + lower, child, last);
  }
}

}  // namespace

// ---- ModelGraph ------------------------------------------------------------------------------

ModelGraph::ModelGraph(std::string name) : name_(std::move(name)) {}

ValueId ModelGraph::add(std::string name, std::vector<ValueId> inputs, OpFn fn, std::string kind,
                        std::shared_ptr<torch::nn::Module> module) {
  const ValueId next = static_cast<ValueId>(ops_.size()) + 1;
  for (const ModelOp& op : ops_) {
    if (op.name == name) throw Error("model op \"" + name + "\" is defined twice (expected unique op names)");
  }
  if (!fn) throw Error("model op \"" + name + "\" has no function (expected a callable)");
  for (ValueId input : inputs) {
    if (input < 0 || input >= next) {
      throw Error("model op \"" + name + "\" reads value " + std::to_string(input) +
                  ", which does not exist yet (expected 0 for the batch or 1.." + std::to_string(next - 1) +
                  " for earlier ops' outputs)");
    }
  }
  ops_.push_back(ModelOp{std::move(name), std::move(kind), std::move(inputs), std::move(fn), std::move(module), unit_});
  return next;
}

void ModelGraph::begin_unit(std::string name) {
  const bool plain = std::none_of(name.begin(), name.end(), [](unsigned char c) {
    return c == '"' || c == '\\' || c < 0x20;
  });
  if (!plain) {
    throw Error("model unit name \"" + name + "\" contains a quote, backslash or control character (expected plain text)");
  }
  unit_ = std::move(name);
}

ValueId ModelGraph::add_module(std::string name, torch::nn::AnyModule module, ValueId input) {
  std::shared_ptr<torch::nn::Module> pointer = module.ptr();
  std::string kind = short_kind(*pointer);
  auto any = std::make_shared<torch::nn::AnyModule>(std::move(module));
  OpFn fn = [any](const std::vector<torch::Tensor>& inputs) { return any->forward(inputs.at(0)); };
  return add(std::move(name), {input}, std::move(fn), std::move(kind), std::move(pointer));
}

ModelGraph ModelGraph::from_sequential(torch::nn::Sequential model,
                                       std::function<torch::Tensor(const torch::Tensor&)> loss, std::string name) {
  if (!loss) throw Error("from_sequential: the loss function is empty (expected a callable)");
  ModelGraph graph(std::move(name));
  ValueId last = kBatch;
  int counter = 0;
  flatten_sequential(graph, model, last, counter, true);
  graph.begin_unit("loss");
  graph.add("loss", {last}, [loss](const std::vector<torch::Tensor>& inputs) { return loss(inputs.at(0)); }, "loss");
  return graph;
}

std::vector<torch::Tensor> ModelGraph::parameters() const {
  std::vector<torch::Tensor> result;
  std::set<c10::TensorImpl*> seen;
  for (const ModelOp& op : ops_) {
    if (!op.module) continue;
    for (const torch::Tensor& p : op.module->parameters()) {
      if (seen.insert(p.unsafeGetTensorImpl()).second) result.push_back(p);
    }
  }
  return result;
}

std::vector<torch::Tensor> ModelGraph::buffers() const {
  std::vector<torch::Tensor> result;
  std::set<c10::TensorImpl*> seen;
  for (const ModelOp& op : ops_) {
    if (!op.module) continue;
    for (const torch::Tensor& b : op.module->buffers()) {
      if (b.defined() && seen.insert(b.unsafeGetTensorImpl()).second) result.push_back(b);
    }
  }
  return result;
}

torch::Tensor ModelGraph::forward(const torch::Tensor& batch) const {
  if (ops_.empty()) throw Error("model \"" + name_ + "\" has no ops (expected at least the loss)");
  std::vector<torch::Tensor> values{batch};
  for (const ModelOp& op : ops_) {
    std::vector<torch::Tensor> inputs;
    for (ValueId v : op.inputs) inputs.push_back(values[v]);
    values.push_back(op.fn(inputs));
  }
  return values.back();
}

void ensure_gradients(const std::vector<torch::Tensor>& parameters) {
  for (const torch::Tensor& p : parameters) {
    if (p.requires_grad() && !p.grad().defined()) {
      const_cast<torch::Tensor&>(p).mutable_grad() = torch::zeros_like(p);
    }
  }
}

// ---- the runtime shared by the profiler and the executor -------------------------------------

struct ModelExecutor::State {
  explicit State(const ModelGraph& graph) : model(graph) {
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
      const uint64_t hash = bitwise_hash(value[i + 1]);
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
