// `gradrecomp compare`: train a real model with four recomputation strategies and measure what
// each one costs and buys (issue 5).
//
//   gradrecomp::ZooModel model = gradrecomp::compare_default_model(false);
//   gradrecomp::CompareReport r = gradrecomp::compare_strategies(
//       model, /*batch=*/8, gradrecomp::CompareOptions().with_steps(5).with_memory_cap_bytes(64 << 20));
//   std::cout << gradrecomp::compare_report_json(r).dump(2);
//
// Strategies, all run by ModelExecutor on the profiled training graph (every schedule replayed
// by the simulator first):
//   full     store_all_schedule: every activation cached (plain autograd's memory).
//   sqrt     checkpoint_sequential over the model's top-level units, round(sqrt(N)) segments
//            (unit_sqrt_schedule, include/gradrecomp/solvers/units.h).
//   every2   the same with segments of 2 units (unit_every_k_schedule(graph, 2)).
//   optimal  the `auto` solver: the least memory within a simulated overhead (default 5%), or the
//            cheapest plan within a budget (OptimalTarget).
//
// Measured, never estimated:
//   memory    StepReport::peak_bytes, the counting allocator's peak of one step (batch +
//             activations, gradients of activations, workspaces; parameters, their gradients and
//             buffers are allocated before the step and not counted), the maximum over the timed
//             steps; next to it the simulator's peak of the same schedule.
//   time      one warm-up step per strategy, then `steps` rounds that run every strategy once, the
//             order rotated by one each round (A B C D, B C D A, ...), so slow phases of a shared
//             machine hit all strategies alike; each step is executor.run + an SGD step (the
//             batch is cloned and gradients zeroed outside the timed region); median per
//             strategy; overhead = median / median(full) - 1. The same in process CPU time
//             (clock_gettime CLOCK_PROCESS_CPUTIME_ID), which other load on a shared machine
//             disturbs less; both are reported.
//   gradients before the timed rounds, from the same parameters, buffers and CPU generator state
//             and the same batch, one step per strategy; every parameter gradient and buffer
//             (batch-norm statistics) is compared with full's bit for bit (torch::equal).
//   batch     with a memory cap: per strategy, the largest batch whose measured peak is <= cap,
//             by doubling from the base batch and then bisection (exact to one sample; a base
//             batch that does not fit bisects below it). Every probe profiles the model at that
//             batch, plans (optimal: solve_budget at the cap, the cheapest plan that fits, not the
//             overhead-capped one) and measures one step. Then the throughput at that batch:
//             batch / median step seconds over `throughput_steps` steps with SGD.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gradrecomp/error.h"
#include "gradrecomp/graph.h"
#include "gradrecomp/schedule.h"
#include "gradrecomp/solver.h"
#include "gradrecomp/torch/model_graph.h"
#include "gradrecomp/torch/models.h"
#include "gradrecomp/units.h"

namespace gradrecomp {

enum class Strategy { kFull, kSqrt, kEvery2, kOptimal };

// "full", "sqrt", "every2", "optimal".
std::string_view strategy_name(Strategy strategy);
// The four strategies in report order (full first: the reference of every ratio).
std::vector<Strategy> all_strategies();

// What `optimal` plans for: the cheapest plan within `budget` when set (a fraction resolves
// against full caching's simulated peak), else the least memory within `max_overhead`.
struct OptimalTarget {
  std::optional<Budget> budget;
  double max_overhead = 0.05;
  bool lower_bound = true;   // ask `auto` for a lower bound and gap (costs up to a few seconds)
  std::string describe() const;   // "least memory within 5.00% overhead", "cheapest within 40%"
};

// `optimal` cannot meet its target: no plan within the budget (or overhead).
class InfeasibleTarget : public Error {
 public:
  InfeasibleTarget(const std::string& message, uint64_t min_feasible_peak_bytes)
      : Error(message), min_feasible_peak_bytes_(min_feasible_peak_bytes) {}
  uint64_t min_feasible_peak_bytes() const { return min_feasible_peak_bytes_; }

 private:
  uint64_t min_feasible_peak_bytes_;
};

struct StrategyPlan {
  Strategy strategy = Strategy::kFull;
  Schedule schedule;                 // peak_bytes and cost: the simulator's replay
  double simulated_overhead = 0;     // overhead_of(graph, schedule.cost)
  int32_t recomputed_nodes = 0;      // computes beyond the first of each node
  std::string note;                  // "sqrt-units(K=3)"; for optimal the solver `auto` chose
};

// Plans one strategy on a profiled graph. Throws InfeasibleTarget for an unreachable optimal
// target, gradrecomp::Error when the graph has no unit meta (sqrt, every2).
StrategyPlan plan_strategy(const Graph& graph, Strategy strategy, const OptimalTarget& target);

struct CompareOptions {
  int32_t steps = 5;                      // timed rounds
  int32_t warmup_steps = 1;               // per strategy, before the gradient check
  double learning_rate = 1e-4;            // SGD, as bench/pytorch/compare_checkpoint.py
  int32_t profile_repeats = 3;            // profile_model's timing repeats at the base batch (median)
  OptimalTarget optimal;
  std::optional<uint64_t> memory_cap_bytes;  // batch search when set
  // Or a cap relative to full caching: this multiple of full's measured peak at the base batch.
  std::optional<double> memory_cap_full_multiple;
  int64_t max_batch = 4096;               // the batch search stops here
  int32_t throughput_steps = 3;
  uint64_t batch_seed = 1;                // make_batch's seed
  uint64_t rng_seed = 4321;               // torch::manual_seed before each gradient-check step
  std::vector<Strategy> strategies = all_strategies();  // must start with kFull
  // Called with a short line of what is being done ("timing round 3 of 5", "sqrt: batch 64 ...").
  std::function<void(double fraction, std::string_view what)> progress;

  CompareOptions& with_steps(int32_t v) { steps = v; return *this; }
  CompareOptions& with_learning_rate(double v) { learning_rate = v; return *this; }
  CompareOptions& with_optimal(OptimalTarget v) { optimal = std::move(v); return *this; }
  CompareOptions& with_memory_cap_bytes(std::optional<uint64_t> v) { memory_cap_bytes = v; return *this; }
  CompareOptions& with_memory_cap_full_multiple(std::optional<double> v) { memory_cap_full_multiple = v; return *this; }
  CompareOptions& with_max_batch(int64_t v) { max_batch = v; return *this; }
  CompareOptions& with_throughput_steps(int32_t v) { throughput_steps = v; return *this; }
  CompareOptions& with_strategies(std::vector<Strategy> v) { strategies = std::move(v); return *this; }
  CompareOptions& with_progress(std::function<void(double, std::string_view)> fn) { progress = std::move(fn); return *this; }
};

// One step of one batch-search probe.
struct BatchProbe {
  int64_t batch = 0;
  bool planned = false;            // false: optimal found no plan within the cap (not run)
  uint64_t simulated_peak_bytes = 0;  // planned: the plan's; else the smallest feasible peak
  int64_t measured_peak_bytes = 0;    // 0 when not run
  bool fits = false;
};

struct BatchSearch {
  uint64_t cap_bytes = 0;
  int64_t largest_batch = 0;           // 0: not even batch 1 fits under the cap
  int64_t measured_peak_bytes = 0;     // of largest_batch's probe
  std::optional<int64_t> first_failing_batch;  // the smallest batch seen not to fit (largest + 1 after bisection)
  bool reached_max_batch = false;      // stopped at max_batch while still fitting
  std::vector<BatchProbe> probes;      // in the order they ran
  double samples_per_second = 0;       // at largest_batch; 0 when none fits
  std::vector<double> throughput_step_seconds;
  std::string plan_note;               // the plan used at largest_batch
};

struct StrategyResult {
  StrategyPlan plan;
  int64_t measured_peak_bytes = 0;         // max over the timed steps
  std::vector<double> step_seconds;        // timed rounds, in order
  double median_step_seconds = 0;
  double overhead = 0;                     // median / full's median - 1 (0 for full)
  // The same steps in CPU time of the whole process (all threads): another process's load on a
  // shared machine disturbs it less than wall time (preemption is not counted).
  std::vector<double> step_cpu_seconds;
  double median_step_cpu_seconds = 0;
  double cpu_overhead = 0;
  // Gradient check against full (full itself: equal by definition, not reported).
  bool gradients_equal = true;
  std::string gradient_mismatch;           // "" or what differed first: "parameter 3 (F.conv1 weight)"
  double max_abs_gradient_difference = 0;
  float loss = 0;                          // the gradient-check step's loss
  // The measured memory of one timed step (the last round), per schedule step.
  std::vector<double> timeline_end_seconds;     // time since the step's start at each step's end
  std::vector<int64_t> timeline_peak_bytes;     // StepReport::step_peak_bytes
  std::vector<uint64_t> timeline_simulated_bytes;  // the simulator's timeline_bytes
  std::vector<std::string> timeline_steps;       // "F.conv1" (a compute) or "free a.conv1"
  std::optional<BatchSearch> batch_search;
};

struct FrontierPoint {
  uint64_t peak_bytes = 0;
  double overhead = 0;
};

struct CompareReport {
  std::string model;
  std::string config;
  std::string input_description;
  int64_t batch = 0;
  int64_t parameters = 0;
  int32_t graph_nodes = 0;
  int32_t units = 0;                        // counted units (the loss unit excluded)
  uint64_t constant_bytes = 0;              // parameters, gradients, buffers
  uint64_t batch_bytes = 0;
  int32_t threads = 0;
  std::vector<std::string> blas_libraries;  // from /proc/self/maps
  std::string torch_version;
  std::string optimal_target;
  std::optional<uint64_t> memory_cap_bytes;  // the batch search's cap (resolved), when it ran
  int32_t steps = 0;
  double learning_rate = 0;
  Graph graph;                              // the training graph profiled at the base batch
  std::vector<StrategyResult> strategies;   // full first
  std::vector<FrontierPoint> optimal_frontier;  // `auto`'s simulated frontier at the base batch
  double seconds = 0;                       // wall time of the whole comparison
};

// Profiles `model` at `batch`, plans, checks gradients, times the interleaved rounds and (with a
// cap) searches the batch. Leaves the parameters trained by the timed steps. Throws
// InfeasibleTarget, or gradrecomp::Error for bad options (naming the option and value).
CompareReport compare_strategies(ZooModel& model, int64_t batch, const CompareOptions& options);

// The batch search of one strategy alone (see above); `base_batch` >= 1.
BatchSearch search_batch(ZooModel& model, Strategy strategy, int64_t base_batch, uint64_t cap_bytes,
                         const CompareOptions& options);

// Everything in the report, for --json (sizes in bytes, times in seconds, ratios as fractions).
nlohmann::json compare_report_json(const CompareReport& report);

// Shared libraries of the process whose name says BLAS/LAPACK/OpenMP (libopenblas, libgomp, ...).
std::vector<std::string> loaded_blas_libraries();

// The built-in model of `gradrecomp compare` without --model: a small ResNet-style network on
// 3x32x32 images (stem, `blocks` residual blocks of conv-bn-relu-conv-bn-add-relu with
// `channels` channels, a pooled linear head to 10 classes, cross-entropy on synthetic labels);
// each block, the stem and the head is a unit, the loss its own "loss" unit. tiny = true: 4
// blocks of 8 channels on 3x16x16 images, for tests.
ZooModel compare_default_model(bool tiny);

}  // namespace gradrecomp
