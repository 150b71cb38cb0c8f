// Gradient checkpointing for the LibTorch C++ API: run a function without keeping its
// intermediates, recompute them during backward.
//
//   torch::nn::Sequential block(torch::nn::Linear(64, 64), torch::nn::ReLU(), torch::nn::Dropout(0.1));
//   torch::Tensor y = gradrecomp::checkpoint([&](const torch::Tensor& x) { return block->forward(x); }, x);
//
//   // several tensors in and out, non-tensor arguments, options:
//   auto [a, b] = gradrecomp::checkpoint(
//       gradrecomp::CheckpointOptions().restore_buffers_of(model.ptr()).check_determinism(true),
//       [&](const torch::Tensor& x, const torch::Tensor& h, double scale) {
//         return std::make_tuple(conv->forward(x) * scale, h.relu());
//       },
//       x, h, 0.5);
//
// Semantics (a custom autograd Function, torch::autograd::Function<CheckpointFunction>):
// - forward: saves the CPU generator state (and the CUDA generator of each CUDA input's device),
//   runs fn under NoGradGuard, saves the tensor inputs (not the outputs, not fn's intermediates)
//   and the non-tensor arguments by value.
// - backward: restores the saved generator states (forking: the caller's states are put back
//   afterwards), runs fn again with grad enabled on detached copies of the inputs, and calls
//   torch::autograd::backward on the recomputed outputs with the incoming gradients. Gradients
//   reach the inputs (returned to autograd) and every leaf fn uses, parameters included (they are
//   accumulated into .grad exactly as plain autograd would).
// - Parameters get gradients even when no input requires grad (PyTorch's reentrant checkpoint
//   silently drops them): the Function then takes an extra "anchor" input that requires grad, so
//   autograd always calls its backward.
// - Running statistics (BatchNorm) and other buffers: fn is opaque, so the caller names the
//   modules whose buffers fn updates with restore_buffers_of(); their buffers are copied before the
//   recomputation and copied back after the recomputed graph's backward (batch norm saves its
//   running statistics for backward, so an earlier copy would trip autograd's version check).
//   They are thus updated exactly once per step, by the forward pass. Your own modules can also
//   test gradrecomp::is_recomputing().
// - Nesting works (a checkpoint inside fn runs directly during the outer forward and becomes a real
//   checkpoint during the outer recomputation).
// - With check_determinism(true) each output's bits are hashed in forward and compared after
//   recomputation; a mismatch throws gradrecomp::Error naming the checkpoint and the output.
// - When grad mode is off, fn is simply called.
//
// Rules for fn: every tensor it reads that needs a gradient must be an argument or a leaf
// (parameter); tensor arguments are passed individually (not as std::vector); non-tensor arguments
// are copied and passed as const lvalues; fn returns torch::Tensor, std::vector<torch::Tensor> or
// std::tuple<torch::Tensor...>, with the same count on every call.
#pragma once

#include <torch/torch.h>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace gradrecomp {

class CheckpointOptions {
 public:
  // Replay the random generators during recomputation (dropout masks recompute bitwise). Default on.
  CheckpointOptions& preserve_rng_state(bool value) { preserve_rng_state_ = value; return *this; }
  bool preserve_rng_state() const { return preserve_rng_state_; }

  // Hash every output in forward and compare after recomputation (throws on mismatch). Default off.
  CheckpointOptions& check_determinism(bool value) { check_determinism_ = value; return *this; }
  bool check_determinism() const { return check_determinism_; }

  // Name used in error messages. Default "checkpoint".
  CheckpointOptions& name(std::string value) { name_ = std::move(value); return *this; }
  const std::string& name() const { return name_; }

  // Buffers (running statistics...) of `module` and its submodules are restored after each
  // recomputation. May be called several times.
  CheckpointOptions& restore_buffers_of(std::shared_ptr<torch::nn::Module> module) {
    buffer_modules_.push_back(std::move(module));
    return *this;
  }
  template <class M>
  CheckpointOptions& restore_buffers_of(const torch::nn::ModuleHolder<M>& module) {
    return restore_buffers_of(std::static_pointer_cast<torch::nn::Module>(module.ptr()));
  }
  const std::vector<std::shared_ptr<torch::nn::Module>>& buffer_modules() const { return buffer_modules_; }

 private:
  bool preserve_rng_state_ = true;
  bool check_determinism_ = false;
  std::string name_ = "checkpoint";
  std::vector<std::shared_ptr<torch::nn::Module>> buffer_modules_;
};

// True while checkpoint() recomputes on this thread.
bool is_recomputing();

// The type-erased core: fn maps the tensor inputs to the outputs.
using CheckpointFn = std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>&)>;
std::vector<torch::Tensor> checkpoint_tensors(CheckpointFn fn, const std::vector<torch::Tensor>& inputs,
                                              const CheckpointOptions& options = CheckpointOptions());

namespace detail {

template <class T>
inline constexpr bool kIsTensor = std::is_same_v<std::decay_t<T>, torch::Tensor>;
template <class T>
inline constexpr bool kIsTensorVector = std::is_same_v<std::decay_t<T>, std::vector<torch::Tensor>>;

// A non-tensor argument is stored by value; a tensor argument's slot stays empty (the tensor
// travels through autograd instead, so the closure keeps no reference to it).
template <class T>
using Stored = std::conditional_t<kIsTensor<T>, std::monostate, std::decay_t<T>>;

template <class T>
Stored<T> store(T&& value) {
  if constexpr (kIsTensor<T>) {
    return std::monostate{};
  } else {
    return std::forward<T>(value);
  }
}

// slots[i] = index of argument i among the tensor arguments, or -1.
template <class... Args>
constexpr std::array<int, sizeof...(Args)> tensor_slots() {
  std::array<int, sizeof...(Args)> slots{};
  int next_tensor = 0;
  size_t position = 0;
  ((slots[position++] = kIsTensor<Args> ? next_tensor++ : -1), ...);
  return slots;
}

template <int Slot, size_t I, class Tuple>
decltype(auto) argument(const Tuple& stored, const std::vector<torch::Tensor>& tensors) {
  if constexpr (Slot >= 0) {
    return (tensors[Slot]);
  } else {
    return (std::get<I>(stored));
  }
}

template <class... Args>
struct TypeList {};

template <class F, class Tuple, class... Args, size_t... I>
decltype(auto) call(F& fn, const Tuple& stored, const std::vector<torch::Tensor>& tensors, TypeList<Args...>,
                    std::index_sequence<I...>) {
  constexpr std::array<int, sizeof...(Args)> slots = tensor_slots<Args...>();
  return fn(argument<slots[I], I>(stored, tensors)...);
}

template <class R>
std::vector<torch::Tensor> to_tensor_list(R&& result) {
  using T = std::decay_t<R>;
  if constexpr (std::is_same_v<T, torch::Tensor>) {
    return {std::forward<R>(result)};
  } else if constexpr (std::is_same_v<T, std::vector<torch::Tensor>>) {
    return std::forward<R>(result);
  } else {
    return std::apply([](auto&&... tensors) { return std::vector<torch::Tensor>{tensors...}; },
                      std::forward<R>(result));
  }
}

template <class R>
struct FromTensorList;
template <>
struct FromTensorList<torch::Tensor> {
  static torch::Tensor convert(std::vector<torch::Tensor>&& tensors) { return std::move(tensors.at(0)); }
};
template <>
struct FromTensorList<std::vector<torch::Tensor>> {
  static std::vector<torch::Tensor> convert(std::vector<torch::Tensor>&& tensors) { return std::move(tensors); }
};
template <class... Ts>
struct FromTensorList<std::tuple<Ts...>> {
  static_assert((std::is_same_v<Ts, torch::Tensor> && ...),
                "checkpoint(): a tuple result must hold only torch::Tensor");
  static std::tuple<Ts...> convert(std::vector<torch::Tensor>&& tensors) {
    return convert(std::move(tensors), std::index_sequence_for<Ts...>{});
  }
  template <size_t... I>
  static std::tuple<Ts...> convert(std::vector<torch::Tensor>&& tensors, std::index_sequence<I...>) {
    return std::tuple<Ts...>(std::move(tensors.at(I))...);
  }
};

template <class T>
using ArgumentRef = std::conditional_t<kIsTensor<T>, const torch::Tensor&, const std::decay_t<T>&>;

}  // namespace detail

// Runs fn(args...) as a checkpointed region (see the top of this file).
template <class Fn, class... Args>
auto checkpoint(const CheckpointOptions& options, Fn&& fn, Args&&... args) {
  static_assert(!(detail::kIsTensorVector<Args> || ...),
                "checkpoint(): pass tensors individually, not as std::vector<torch::Tensor>");
  using Result = std::decay_t<std::invoke_result_t<std::decay_t<Fn>&, detail::ArgumentRef<Args>...>>;

  std::vector<torch::Tensor> tensors;
  tensors.reserve(sizeof...(Args));
  auto collect = [&tensors](const auto& argument) {
    if constexpr (detail::kIsTensor<decltype(argument)>) tensors.push_back(argument);
  };
  (collect(args), ...);

  auto stored = std::make_shared<std::tuple<detail::Stored<Args>...>>(detail::store(std::forward<Args>(args))...);
  auto callable = std::make_shared<std::decay_t<Fn>>(std::forward<Fn>(fn));
  CheckpointFn run = [callable, stored](const std::vector<torch::Tensor>& inputs) {
    return detail::to_tensor_list(detail::call(*callable, *stored, inputs, detail::TypeList<Args...>{},
                                               std::index_sequence_for<Args...>{}));
  };
  return detail::FromTensorList<Result>::convert(checkpoint_tensors(std::move(run), tensors, options));
}

template <class Fn, class... Args>
  requires(!std::is_same_v<std::decay_t<Fn>, CheckpointOptions>)
auto checkpoint(Fn&& fn, Args&&... args) {
  return checkpoint(CheckpointOptions(), std::forward<Fn>(fn), std::forward<Args>(args)...);
}

}  // namespace gradrecomp
