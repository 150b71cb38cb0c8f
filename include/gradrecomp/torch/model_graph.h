// Run the planner's schedules on real LibTorch models: a model as a DAG of ops, a profiler that
// measures one training step into a spec training graph, and an executor that runs any valid
// schedule of that graph with gradients bit-identical to plain autograd.
//
//   torch::nn::Sequential net(torch::nn::Conv2d(...), torch::nn::BatchNorm2d(8), torch::nn::ReLU(), ...);
//   gradrecomp::ModelGraph model = gradrecomp::ModelGraph::from_sequential(
//       net, [target](const torch::Tensor& y) { return torch::mse_loss(y, target); });
//   gradrecomp::ModelProfile profile = gradrecomp::profile_model(model, batch);   // model unchanged
//   gradrecomp::Schedule plan = solver->solve_budget(profile.graph, budget, {}).schedule;
//   gradrecomp::ModelExecutor executor(model, profile);
//   for (int step = 0; step < n; ++step) {
//     optimizer.zero_grad();
//     gradrecomp::StepReport r = executor.run(plan, make_batch());   // consumes the batch
//     optimizer.step();
//   }
//
// The training graph (spec section 1), per op i with output value a_i:
//   F<i>  inputs: the op's input values          outputs: a<i> (its output storage),
//                                                         s<i> (bytes op i's autograd graph keeps
//                                                               beyond its inputs and output)
//   B<i>  inputs: s<i>, the gradient(s) of a<i>, and each of a<i> and the op's inputs whose
//                 storage op i's autograd graph saved (detected by counting storage references)
//         outputs: d<i>.<k>, the gradient of input k (one per input that needs a gradient)
//   The last op is the loss: B<last> seeds its gradient with 1. Ops whose output needs no gradient
//   (nothing upstream has parameters) get no s, no B. Costs are measured seconds; bytes are
//   measured by the counting allocator (MemoryTracker), so storage shared between tensors is
//   counted once; workspace_bytes is each node's measured transient peak above what it keeps.
//   constant_bytes: parameters, their gradients and buffers.
//
// The executor: compute F<i> runs the op's forward under autograd on the input values (through a
// small gradient-capturing autograd node, so no leaf holds the inputs); compute B<i> runs
// torch::autograd::backward from op i's output with the incoming gradient (parameters accumulate
// into .grad, input gradients are captured); free drops the tensor. Freeing a value releases its
// bytes even where an autograd graph saved it (the storage is emptied; a recomputation puts the
// new bytes back into every storage that shares them), so measured memory follows the simulator.
// Recomputations replay the generator state of the op's first run (dropout masks are identical;
// only ops the profiler saw drawing from the CPU generator keep a copy of it, as a host object
// rather than a tensor) and restore the op module's buffers (batch-norm statistics are updated
// once per step). check_determinism(true) compares each recomputed output with the first one and
// names the op that differed. StepReport::loss is a 4-byte copy of the loss made during the step,
// so measured peaks can exceed the simulated ones by those 4 bytes.
//
// Limits (checked, with an Error naming the op): every op returns one tensor that owns new
// storage (no views or in-place results: wrap such ops together with a neighbour); the gradient
// of a value used by several ops is summed in consumer order (bit-identical to autograd for
// chains); bitwise equality needs deterministic kernels (true on CPU).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gradrecomp/graph.h"
#include "gradrecomp/schedule.h"

namespace gradrecomp {

using OpFn = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;
using ValueId = int32_t;

struct ModelOp {
  std::string name;                            // node ids are F<name>, B<name>
  std::string kind;                            // "Conv2d", "BatchNorm2d", "fn", ... (graph meta)
  std::vector<ValueId> inputs;                 // kBatch or outputs of earlier ops
  OpFn fn;
  std::shared_ptr<torch::nn::Module> module;   // optional: parameters and buffers of the op
  std::string unit;                            // the top-level block the op belongs to ("" if none):
                                               // checkpoint_sequential-style baselines segment by it
};

class ModelGraph {
 public:
  static constexpr ValueId kBatch = 0;

  explicit ModelGraph(std::string name = "model");

  // Adds an op; returns the value id of its output (op k's output is value k + 1).
  ValueId add(std::string name, std::vector<ValueId> inputs, OpFn fn, std::string kind = "fn",
              std::shared_ptr<torch::nn::Module> module = nullptr);
  ValueId add_module(std::string name, torch::nn::AnyModule module, ValueId input);
  // Ops added from now on belong to top-level unit `name` (a Sequential's child, a ResNet block,
  // a transformer layer). Units are written to the training graph as node meta "unit".
  void begin_unit(std::string name);

  // One op per leaf module of `model` (nested Sequentials are flattened; each top-level child is
  // a unit named by its index), then a "loss" op (unit "loss").
  static ModelGraph from_sequential(torch::nn::Sequential model,
                                    std::function<torch::Tensor(const torch::Tensor&)> loss,
                                    std::string name = "sequential");

  const std::string& name() const { return name_; }
  const std::vector<ModelOp>& ops() const { return ops_; }
  // Parameters of every op's module, each once.
  std::vector<torch::Tensor> parameters() const;
  // Buffers of every op's module, each once.
  std::vector<torch::Tensor> buffers() const;

  // Plain autograd reference: runs every op in order and returns the loss (the last op's output).
  torch::Tensor forward(const torch::Tensor& batch) const;

 private:
  std::string name_;
  std::vector<ModelOp> ops_;
  std::string unit_;
};

// Gives every parameter without a gradient a zero one, so that gradient memory exists before a
// step (it belongs to constant_bytes) and accumulation is the same in every run.
void ensure_gradients(const std::vector<torch::Tensor>& parameters);

// What the profiler measured for one op.
struct OpMeasurement {
  double forward_seconds = 0;
  double backward_seconds = 0;
  uint64_t output_bytes = 0;
  uint64_t saved_bytes = 0;             // kept by the autograd graph beyond inputs and output
  uint64_t forward_workspace_bytes = 0;
  uint64_t backward_workspace_bytes = 0;
  bool has_backward = false;
  bool saves_output = false;
  bool uses_rng = false;                // the op draws from the CPU generator (dropout...)
  std::vector<bool> saves_input;        // per op input
};

struct ModelProfile {
  Graph graph;
  std::vector<OpMeasurement> ops;
  uint64_t batch_bytes = 0;
  // Index tables between the graph and the model (kNoNode / -1 where absent).
  std::vector<NodeId> forward_node;     // per op
  std::vector<NodeId> backward_node;    // per op
  std::vector<TensorId> value_tensor;   // per value (0 = batch)
  std::vector<TensorId> saved_tensor;   // per op
};

// Runs one instrumented training step (store-all order) and builds the training graph. The model
// is left as it was: parameters, their gradients, buffers and the CPU generator are restored.
ModelProfile profile_model(const ModelGraph& model, const torch::Tensor& batch, int repeats = 1);

struct StepReport {
  torch::Tensor loss;
  int64_t peak_bytes = 0;     // measured: batch + peak of live CPU bytes above the step's start
  double seconds = 0;
  std::vector<double> step_seconds;  // per schedule step (computes and frees)
  // Measured memory per schedule step, counted like peak_bytes (batch + bytes above the step's
  // start): the peak during the step, and what is live after it. Compare with the simulator's
  // timeline_bytes (during a compute, after a free).
  std::vector<int64_t> step_peak_bytes;
  std::vector<int64_t> step_live_bytes;
};

class ModelExecutor {
 public:
  ModelExecutor(const ModelGraph& model, const ModelProfile& profile);
  ~ModelExecutor();
  ModelExecutor(const ModelExecutor&) = delete;
  ModelExecutor& operator=(const ModelExecutor&) = delete;

  // Runs one training step as `schedule` says; parameter gradients accumulate into .grad.
  // Throws gradrecomp::Error (the simulator's message) if the schedule is invalid for the graph.
  // The batch's storage is consumed: its bytes are released when the schedule frees it.
  StepReport run(const Schedule& schedule, torch::Tensor batch);

  // Hash every op output at its first computation in a step and compare each recomputation with
  // it; a difference throws gradrecomp::Error naming the op. Off by default (hashing copies
  // non-contiguous outputs, which the measured peak then includes).
  ModelExecutor& check_determinism(bool value);

  // The profiler runs the same runtime in store-all order.
  struct State;
  friend ModelProfile profile_model(const ModelGraph& model, const torch::Tensor& batch, int repeats);

 private:
  const ModelGraph& model_;
  const ModelProfile& profile_;
  std::unique_ptr<State> state_;
};

}  // namespace gradrecomp
