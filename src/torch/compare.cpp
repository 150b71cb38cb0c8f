// `gradrecomp compare`: strategies, the interleaved timed rounds, the gradient check and the
// batch search. What is measured and how: include/gradrecomp/torch/compare.h.
#include "gradrecomp/torch/compare.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <fstream>
#include <memory>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "gradrecomp/simulate.h"
#include "gradrecomp/solvers/units.h"
#include "gradrecomp/torch/memory_tracker.h"

namespace gradrecomp {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU time of the whole process (every thread), in seconds.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

double median(std::vector<double> values) {
  GRADRECOMP_ASSERT(!values.empty(), "median of no values");
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

void tell(const CompareOptions& options, double fraction, const std::string& what) {
  if (options.progress) options.progress(fraction, what);
}

// Names of model.parameters(), in the same order ("stem_conv.weight").
std::vector<std::string> parameter_names(const ModelGraph& model) {
  std::vector<std::string> names;
  std::set<c10::TensorImpl*> seen;
  for (const ModelOp& op : model.ops()) {
    if (!op.module) continue;
    for (const auto& item : op.module->named_parameters()) {
      if (seen.insert(item.value().unsafeGetTensorImpl()).second) names.push_back(op.name + "." + item.key());
    }
  }
  return names;
}

std::vector<std::string> buffer_names(const ModelGraph& model) {
  std::vector<std::string> names;
  std::set<c10::TensorImpl*> seen;
  for (const ModelOp& op : model.ops()) {
    if (!op.module) continue;
    for (const auto& item : op.module->named_buffers()) {
      if (item.value().defined() && seen.insert(item.value().unsafeGetTensorImpl()).second) {
        names.push_back(op.name + "." + item.key());
      }
    }
  }
  return names;
}

void zero_gradients(const std::vector<torch::Tensor>& parameters) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : parameters) {
    if (p.grad().defined()) p.mutable_grad().zero_();
  }
}

// Plain SGD (no momentum, no weight decay): p -= lr * grad, in place, allocating nothing.
void sgd_step(const std::vector<torch::Tensor>& parameters, double learning_rate) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : parameters) {
    if (p.grad().defined()) const_cast<torch::Tensor&>(p).add_(p.grad(), -learning_rate);
  }
}

std::vector<torch::Tensor> clone_all(const std::vector<torch::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  out.reserve(tensors.size());
  for (const torch::Tensor& t : tensors) out.push_back(t.clone());
  return out;
}

void copy_into(const std::vector<torch::Tensor>& targets, const std::vector<torch::Tensor>& sources) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < targets.size(); ++i) const_cast<torch::Tensor&>(targets[i]).copy_(sources[i]);
}

int32_t recomputed_nodes(const Graph& graph, const Schedule& schedule) {
  int32_t computes = 0;
  for (const Step& s : schedule.steps) computes += s.kind == StepKind::kCompute ? 1 : 0;
  return computes - graph.num_nodes();
}

void check_options(const CompareOptions& options) {
  if (options.steps < 1) throw Error(fmt::format("compare: steps = {} (expected >= 1)", options.steps));
  if (options.warmup_steps < 0) throw Error(fmt::format("compare: warmup_steps = {} (expected >= 0)", options.warmup_steps));
  if (options.throughput_steps < 1) {
    throw Error(fmt::format("compare: throughput_steps = {} (expected >= 1)", options.throughput_steps));
  }
  if (options.profile_repeats < 1) {
    throw Error(fmt::format("compare: profile_repeats = {} (expected >= 1)", options.profile_repeats));
  }
  if (options.max_batch < 1) throw Error(fmt::format("compare: max_batch = {} (expected >= 1)", options.max_batch));
  if (!(options.learning_rate >= 0) || !std::isfinite(options.learning_rate)) {
    throw Error(fmt::format("compare: learning rate {} (expected a finite number >= 0)", options.learning_rate));
  }
  if (!(options.optimal.max_overhead >= 0) || !std::isfinite(options.optimal.max_overhead)) {
    throw Error(fmt::format("compare: max overhead {} (expected a finite fraction >= 0)", options.optimal.max_overhead));
  }
  if (options.memory_cap_bytes && *options.memory_cap_bytes == 0) {
    throw Error("compare: memory cap 0 bytes (expected a positive size)");
  }
  if (options.memory_cap_full_multiple &&
      (!(*options.memory_cap_full_multiple > 0) || !std::isfinite(*options.memory_cap_full_multiple))) {
    throw Error(fmt::format("compare: memory cap {}x full caching's peak (expected a positive finite multiple)",
                            *options.memory_cap_full_multiple));
  }
  if (options.strategies.empty() || options.strategies.front() != Strategy::kFull) {
    throw Error("compare: the strategies must start with \"full\" (every ratio is relative to full caching)");
  }
}

// A model profiled at one batch with one strategy's plan, ready to run.
struct Prepared {
  std::unique_ptr<ModelProfile> profile;
  StrategyPlan plan;
};

}  // namespace

std::string_view strategy_name(Strategy strategy) {
  switch (strategy) {
    case Strategy::kFull: return "full";
    case Strategy::kSqrt: return "sqrt";
    case Strategy::kEvery2: return "every2";
    case Strategy::kOptimal: return "optimal";
  }
  return "?";
}

std::vector<Strategy> all_strategies() {
  return {Strategy::kFull, Strategy::kSqrt, Strategy::kEvery2, Strategy::kOptimal};
}

std::string OptimalTarget::describe() const {
  if (budget) return "cheapest plan within " + budget->describe();
  return fmt::format("least memory within {:.2f}% overhead", max_overhead * 100.0);
}

StrategyPlan plan_strategy(const Graph& graph, Strategy strategy, const OptimalTarget& target) {
  StrategyPlan plan;
  plan.strategy = strategy;
  switch (strategy) {
    case Strategy::kFull:
      plan.schedule = store_all_schedule(graph);
      plan.note = "store-all";
      break;
    case Strategy::kSqrt:
      plan.schedule = unit_sqrt_schedule(graph);
      plan.note = plan.schedule.solver;
      break;
    case Strategy::kEvery2:
      plan.schedule = unit_every_k_schedule(graph, 2);
      plan.note = plan.schedule.solver;
      break;
    case Strategy::kOptimal: {
      const Solver* solver = find_solver("auto");
      GRADRECOMP_ASSERT(solver != nullptr, "the auto solver is registered");
      SolveResult result;
      if (target.budget) {
        const uint64_t full_peak = store_all_peak_bytes(graph);
        const uint64_t budget = target.budget->resolve(full_peak);
        result = solver->solve_budget(graph, budget, SolveOptions().with_lower_bound(target.lower_bound));
        if (result.status != SolveStatus::kSolved) {
          const std::string budget_text =
              target.budget->bytes ? format_bytes_exact(budget)
                                   : fmt::format("{} = {}", target.budget->describe(), format_bytes_exact(budget));
          throw InfeasibleTarget(
              fmt::format("budget {} is below the smallest feasible peak {} of model graph \"{}\" (full "
                          "caching needs {})",
                          budget_text,
                          format_bytes_exact(result.min_feasible_peak_bytes), graph.name(), format_bytes_exact(full_peak)),
              result.min_feasible_peak_bytes);
        }
      } else {
        result = solver->solve_overhead(graph, target.max_overhead, SolveOptions().with_lower_bound(target.lower_bound));
        if (result.status != SolveStatus::kSolved) {
          throw InfeasibleTarget(fmt::format("no plan of model graph \"{}\" within {:.2f}% overhead ({})", graph.name(),
                                             target.max_overhead * 100.0, result.note),
                                 result.min_feasible_peak_bytes);
        }
      }
      plan.schedule = std::move(result.schedule);
      plan.note = result.note.empty() ? plan.schedule.solver : result.note;
      break;
    }
  }
  verify_schedule(graph, plan.schedule);
  plan.simulated_overhead = overhead_of(graph, plan.schedule.cost);
  plan.recomputed_nodes = recomputed_nodes(graph, plan.schedule);
  return plan;
}

std::vector<std::string> loaded_blas_libraries() {
  std::set<std::string> libraries;
  std::ifstream maps("/proc/self/maps");
  const std::regex pattern("blas|lapack|mkl|dnnl|gomp|iomp");
  std::string line;
  while (std::getline(maps, line)) {
    const size_t slash = line.rfind('/');
    if (slash == std::string::npos) continue;
    const size_t start = line.find('/');
    const std::string base = line.substr(slash + 1);
    if (std::regex_search(base, pattern)) libraries.insert(line.substr(start));
  }
  return {libraries.begin(), libraries.end()};
}

BatchSearch search_batch(ZooModel& model, Strategy strategy, int64_t base_batch, uint64_t cap_bytes,
                         const CompareOptions& options) {
  check_options(options);
  if (base_batch < 1) throw Error(fmt::format("batch search: base batch {} (expected >= 1)", base_batch));
  if (cap_bytes == 0) throw Error("batch search: memory cap 0 bytes (expected a positive size)");
  const std::vector<torch::Tensor> parameters = model.graph.parameters();
  ensure_gradients(parameters);
  const std::string name(strategy_name(strategy));
  // optimal: the cheapest plan that fits the cap.
  OptimalTarget at_cap;
  at_cap.budget = Budget{cap_bytes, std::nullopt};
  at_cap.lower_bound = false;  // many probes; the bound would add seconds to each

  BatchSearch search;
  search.cap_bytes = cap_bytes;
  Prepared best;
  auto probe = [&](int64_t batch) {
    tell(options, -1, fmt::format("{}: batch {} (largest fitting so far {})", name, batch, search.largest_batch));
    BatchProbe p;
    p.batch = batch;
    torch::Tensor input = model.make_batch(batch, options.batch_seed);
    Prepared prepared;
    prepared.profile = std::make_unique<ModelProfile>(profile_model(model.graph, input, 1));
    try {
      prepared.plan = plan_strategy(prepared.profile->graph, strategy, at_cap);
      p.planned = true;
      p.simulated_peak_bytes = prepared.plan.schedule.peak_bytes;
    } catch (const InfeasibleTarget& e) {
      p.planned = false;
      p.simulated_peak_bytes = e.min_feasible_peak_bytes();
    }
    if (p.planned) {
      ModelExecutor executor(model.graph, *prepared.profile);
      zero_gradients(parameters);
      StepReport r = executor.run(prepared.plan.schedule, std::move(input));
      zero_gradients(parameters);
      p.measured_peak_bytes = r.peak_bytes;
      p.fits = r.peak_bytes >= 0 && static_cast<uint64_t>(r.peak_bytes) <= cap_bytes;
    }
    search.probes.push_back(p);
    if (p.fits) {
      search.largest_batch = batch;
      search.measured_peak_bytes = p.measured_peak_bytes;
      best = std::move(prepared);
    } else if (!search.first_failing_batch || batch < *search.first_failing_batch) {
      search.first_failing_batch = batch;
    }
    return p.fits;
  };

  // Doubling from the base batch while it fits, then bisection between the largest fitting
  // batch (0: none yet) and the smallest failing one.
  int64_t lo = 0;
  std::optional<int64_t> hi;
  const int64_t start = std::min(base_batch, options.max_batch);
  if (probe(start)) {
    lo = start;
    while (true) {
      const int64_t next = std::min(lo * 2, options.max_batch);
      if (next == lo) {
        search.reached_max_batch = true;
        break;
      }
      if (probe(next)) {
        lo = next;
      } else {
        hi = next;
        break;
      }
    }
  } else {
    hi = start;
  }
  while (hi && *hi - lo > 1) {
    const int64_t mid = lo + (*hi - lo) / 2;
    if (probe(mid)) {
      lo = mid;
    } else {
      hi = mid;
    }
  }

  if (search.largest_batch > 0) {
    search.plan_note = best.plan.note;
    tell(options, -1, fmt::format("{}: throughput at batch {}", name, search.largest_batch));
    ModelExecutor executor(model.graph, *best.profile);
    const torch::Tensor input = model.make_batch(search.largest_batch, options.batch_seed);
    for (int32_t step = 0; step < options.throughput_steps; ++step) {
      torch::Tensor copy = input.clone();
      zero_gradients(parameters);
      const auto start_time = Clock::now();
      executor.run(best.plan.schedule, std::move(copy));
      sgd_step(parameters, options.learning_rate);
      search.throughput_step_seconds.push_back(seconds_since(start_time));
    }
    zero_gradients(parameters);
    search.samples_per_second =
        static_cast<double>(search.largest_batch) / median(search.throughput_step_seconds);
  }
  return search;
}

CompareReport compare_strategies(ZooModel& model, int64_t batch, const CompareOptions& options) {
  check_options(options);
  if (batch < 1) throw Error(fmt::format("compare: batch {} (expected >= 1)", batch));
  const auto started = Clock::now();
  MemoryTracker::install();
  const std::vector<torch::Tensor> parameters = model.graph.parameters();
  const std::vector<torch::Tensor> buffers = model.graph.buffers();
  const std::vector<std::string> names = parameter_names(model.graph);
  const std::vector<std::string> buffer_ids = buffer_names(model.graph);
  ensure_gradients(parameters);

  CompareReport report;
  report.model = model.name;
  report.config = model.config;
  report.input_description = model.input_description;
  report.batch = batch;
  for (const torch::Tensor& p : parameters) report.parameters += p.numel();
  report.threads = at::get_num_threads();
  report.blas_libraries = loaded_blas_libraries();
  report.torch_version = TORCH_VERSION;
  report.optimal_target = options.optimal.describe();
  report.steps = options.steps;
  report.learning_rate = options.learning_rate;

  tell(options, 0, fmt::format("profiling {} at batch {}", model.name, batch));
  const torch::Tensor input = model.make_batch(batch, options.batch_seed);
  const ModelProfile profile = profile_model(model.graph, input, options.profile_repeats);
  const Graph& graph = profile.graph;
  report.graph = graph;
  report.graph_nodes = graph.num_nodes();
  report.units = graph_units(graph).counted();
  report.constant_bytes = graph.constant_bytes();
  report.batch_bytes = profile.batch_bytes;

  tell(options, 0, "planning");
  const size_t k = options.strategies.size();
  for (Strategy s : options.strategies) {
    StrategyResult result;
    result.plan = plan_strategy(graph, s, options.optimal);
    report.strategies.push_back(std::move(result));
  }
  for (const Schedule& s : find_solver("auto")->frontier(graph, SolveOptions())) {
    report.optimal_frontier.push_back({s.peak_bytes, overhead_of(graph, s.cost)});
  }

  std::vector<std::unique_ptr<ModelExecutor>> executors;
  for (size_t i = 0; i < k; ++i) executors.push_back(std::make_unique<ModelExecutor>(model.graph, profile));
  auto run_step = [&](size_t i) {
    torch::Tensor copy = input.clone();
    zero_gradients(parameters);
    return executors[i]->run(report.strategies[i].plan.schedule, std::move(copy));
  };

  // Warm-up: first calls initialise kernels and caches.
  for (int32_t w = 0; w < options.warmup_steps; ++w) {
    for (size_t i = 0; i < k; ++i) {
      tell(options, 0, fmt::format("warm-up: {}", strategy_name(options.strategies[i])));
      run_step(i);
    }
  }

  // Gradient check: same parameters, buffers, generator state and batch for every strategy.
  {
    tell(options, 0, "gradient check");
    const std::vector<torch::Tensor> start_parameters = clone_all(parameters);
    const std::vector<torch::Tensor> start_buffers = clone_all(buffers);
    std::vector<torch::Tensor> reference_grads, reference_buffers;
    for (size_t i = 0; i < k; ++i) {
      copy_into(parameters, start_parameters);
      copy_into(buffers, start_buffers);
      torch::manual_seed(options.rng_seed);
      StepReport r = run_step(i);
      StrategyResult& result = report.strategies[i];
      result.loss = r.loss.item<float>();
      std::vector<torch::Tensor> grads;
      for (const torch::Tensor& p : parameters) grads.push_back(p.grad().clone());
      std::vector<torch::Tensor> after = clone_all(buffers);
      if (i == 0) {
        reference_grads = std::move(grads);
        reference_buffers = std::move(after);
        continue;
      }
      for (size_t j = 0; j < grads.size(); ++j) {
        const bool equal = torch::equal(grads[j], reference_grads[j]);
        if (grads[j].is_floating_point()) {
          const double diff = (grads[j] - reference_grads[j]).abs().max().item<double>();
          result.max_abs_gradient_difference = std::max(result.max_abs_gradient_difference, diff);
        }
        if (!equal && result.gradients_equal) {
          result.gradients_equal = false;
          result.gradient_mismatch = fmt::format("parameter {} ({})", j, names[j]);
        }
      }
      for (size_t j = 0; j < after.size(); ++j) {
        if (!torch::equal(after[j], reference_buffers[j]) && result.gradients_equal) {
          result.gradients_equal = false;
          result.gradient_mismatch = fmt::format("buffer {} ({})", j, buffer_ids[j]);
        }
      }
    }
    copy_into(parameters, start_parameters);
    copy_into(buffers, start_buffers);
    zero_gradients(parameters);
  }

  // Timed rounds, interleaved, the order rotated by one each round.
  for (int32_t round = 0; round < options.steps; ++round) {
    tell(options, static_cast<double>(round) / options.steps,
         fmt::format("timing round {} of {}", round + 1, options.steps));
    for (size_t j = 0; j < k; ++j) {
      const size_t i = (j + static_cast<size_t>(round)) % k;
      StrategyResult& result = report.strategies[i];
      torch::Tensor copy = input.clone();
      zero_gradients(parameters);
      const double cpu_start = process_cpu_seconds();
      const auto start = Clock::now();
      StepReport r = executors[i]->run(result.plan.schedule, std::move(copy));
      sgd_step(parameters, options.learning_rate);
      result.step_seconds.push_back(seconds_since(start));
      result.step_cpu_seconds.push_back(process_cpu_seconds() - cpu_start);
      result.measured_peak_bytes = std::max(result.measured_peak_bytes, r.peak_bytes);
      if (round + 1 == options.steps) {
        double t = 0;
        for (double s : r.step_seconds) result.timeline_end_seconds.push_back(t += s);
        result.timeline_peak_bytes = r.step_peak_bytes;
        result.timeline_simulated_bytes = simulate(graph, result.plan.schedule.steps).timeline_bytes;
        for (const Step& step : result.plan.schedule.steps) {
          result.timeline_steps.push_back(step.kind == StepKind::kCompute ? graph.node(step.target).id
                                                                          : "free " + graph.tensor(step.target).id);
        }
      }
    }
  }
  zero_gradients(parameters);
  for (StrategyResult& result : report.strategies) {
    result.median_step_seconds = median(result.step_seconds);
    result.median_step_cpu_seconds = median(result.step_cpu_seconds);
  }
  for (StrategyResult& result : report.strategies) {
    result.overhead = result.median_step_seconds / report.strategies[0].median_step_seconds - 1.0;
    result.cpu_overhead = report.strategies[0].median_step_cpu_seconds > 0
                              ? result.median_step_cpu_seconds / report.strategies[0].median_step_cpu_seconds - 1.0
                              : 0.0;
  }

  std::optional<uint64_t> cap = options.memory_cap_bytes;
  if (!cap && options.memory_cap_full_multiple) {
    cap = static_cast<uint64_t>(std::llround(*options.memory_cap_full_multiple *
                                             static_cast<double>(report.strategies[0].measured_peak_bytes)));
  }
  report.memory_cap_bytes = cap;
  if (cap) {
    for (size_t i = 0; i < k; ++i) {
      CompareOptions search_options = options;
      const double base = static_cast<double>(i) / static_cast<double>(k);
      if (options.progress) {
        search_options.progress = [&options, base, k](double, std::string_view what) {
          options.progress(base, fmt::format("batch search ({} of {} strategies): {}", static_cast<size_t>(base * k) + 1,
                                             k, what));
        };
      }
      report.strategies[i].batch_search =
          search_batch(model, options.strategies[i], batch, *cap, search_options);
    }
  }
  report.seconds = seconds_since(started);
  return report;
}

}  // namespace gradrecomp
