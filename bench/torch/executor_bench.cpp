// The schedule executor (include/gradrecomp/torch/model_graph.h) against plain autograd.
//
//   torch_executor_bench [--threads N] [--repeats R] [--budget F] [--keep-heap 0|1] [--batch N] [--executor-first 0|1]
//
// Model: 6 x (Conv2d 16->16 3x3 pad 1, BatchNorm2d, ReLU) on a [32, 16, 32, 32] batch, loss
// mean(y^2); every activation is 2 MiB (--batch N: N samples, 64 KiB each; a small batch shows
// the executor's fixed cost per node). Each repeat runs plain, store-all, budget in that order
// (--executor-first 1: store-all, plain, budget, to see what the order does to the comparison). Measured, as medians over --repeats interleaved runs:
//   plain:      model.forward(batch); loss.backward()
//   store-all:  the executor running the spec's store-all schedule (target: within 3% of plain)
//   budget:     the `auto` solver's schedule for F x the store-all peak (default 0.5)
// and for each schedule the simulated peak next to the peak the counting allocator measured.
//
// --keep-heap 1 (glibc only) serves every allocation up to 32 MiB from the heap and never returns
// freed heap memory to the system, for the whole process (plain runs included). With glibc's
// defaults, a freed top of heap beyond twice the last freed mmapped block is trimmed and the next
// growth faults its pages in again (~0.1 ms per 2 MiB); the executor frees values at the
// schedule's earliest point, so its heap top moves more often than plain autograd's and it pays
// more of those faults. The flag separates that allocator effect from the executor's own work.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sys/resource.h>

#include "gradrecomp/simulate.h"
#include "gradrecomp/solver.h"
#include "gradrecomp/torch/memory_tracker.h"
#include "gradrecomp/torch/model_graph.h"

namespace {

using Clock = std::chrono::steady_clock;

// Minor page faults of the process so far (first touches of memory the allocator got from the system).
long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  int repeats = 11;
  double budget_fraction = 0.5;
  bool keep_heap = false;
  int batch_size = 32;
  bool executor_first = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--repeats") == 0) repeats = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--budget") == 0) budget_fraction = std::atof(argv[i + 1]);
    else if (std::strcmp(argv[i], "--keep-heap") == 0) keep_heap = std::atoi(argv[i + 1]) != 0;
    else if (std::strcmp(argv[i], "--batch") == 0) batch_size = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--executor-first") == 0) executor_first = std::atoi(argv[i + 1]) != 0;
    else {
      std::cerr << "unknown flag " << argv[i] << " (expected --threads, --repeats, --budget, --keep-heap, --batch or --executor-first)\n";
      return 2;
    }
  }
  if (threads < 1 || repeats < 1 || batch_size < 1 || !(budget_fraction > 0)) {
    std::cerr << "--threads, --repeats and --batch must be >= 1 and --budget > 0\n";
    return 2;
  }
  if (keep_heap) {
#if defined(__GLIBC__)
    // Fixed thresholds (setting either disables glibc's dynamic adjustment): 32 MiB is the largest
    // mmap threshold glibc accepts on 64-bit systems.
    if (mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1 || mallopt(M_TRIM_THRESHOLD, 1 << 30) != 1) {
      std::cerr << "--keep-heap: mallopt refused the thresholds\n";
      return 2;
    }
#else
    std::cerr << "--keep-heap needs glibc (expected a glibc build)\n";
    return 2;
#endif
  }
  at::set_num_threads(threads);
  gradrecomp::MemoryTracker::install();

  torch::manual_seed(0);
  torch::nn::Sequential net;
  for (int i = 0; i < 6; ++i) {
    net->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(16, 16, 3).padding(1)));
    net->push_back(torch::nn::BatchNorm2d(16));
    net->push_back(torch::nn::ReLU());
  }
  gradrecomp::ModelGraph model = gradrecomp::ModelGraph::from_sequential(
      net, [](const torch::Tensor& y) { return y.pow(2).mean(); }, "conv6");
  const torch::Tensor batch = torch::randn({batch_size, 16, 32, 32});
  gradrecomp::ensure_gradients(model.parameters());

  gradrecomp::ModelProfile profile = gradrecomp::profile_model(model, batch, 3);
  const gradrecomp::Graph& graph = profile.graph;
  gradrecomp::Schedule store_all = gradrecomp::store_all_schedule(graph);
  const gradrecomp::Solver* solver = gradrecomp::find_solver("auto");
  const uint64_t budget = static_cast<uint64_t>(budget_fraction * static_cast<double>(store_all.peak_bytes));
  gradrecomp::SolveResult solved = solver->solve_budget(graph, budget, gradrecomp::SolveOptions());
  if (solved.status != gradrecomp::SolveStatus::kSolved) {
    std::cerr << "auto found no schedule within " << budget << " bytes (smallest peak "
              << solved.min_feasible_peak_bytes << "); try a larger --budget\n";
    return 1;
  }
  gradrecomp::Schedule budgeted = solved.schedule;
  gradrecomp::ModelExecutor executor(model, profile);

  std::vector<double> plain_times, store_times, budget_times;
  std::vector<double> plain_forward, plain_backward, store_forward, store_backward, store_frees;
  int64_t plain_peak = 0, store_peak = 0, budget_peak = 0;
  int64_t plain_allocations = 0, store_allocations = 0;  // tensor allocations in one step (last repeat)
  std::vector<double> plain_faults, store_faults;          // minor page faults per step
  for (int r = -1; r < repeats; ++r) {  // r = -1 warms up
    gradrecomp::StepReport a;
    gradrecomp::MemoryTracker& tracker = gradrecomp::MemoryTracker::global();
    auto run_store_all = [&] {
      torch::Tensor input = batch.clone();
      const int64_t before = tracker.allocation_count();
      const long faults_before = minor_faults();
      a = executor.run(store_all, std::move(input));
      store_allocations = tracker.allocation_count() - before;
      if (r >= 0) store_faults.push_back(static_cast<double>(minor_faults() - faults_before));
    };
    if (executor_first) run_store_all();
    {
      gradrecomp::MemoryScope scope;
      const int64_t allocations_before = tracker.allocation_count();
      const long faults_before = minor_faults();
      auto start = Clock::now();
      torch::Tensor loss = model.forward(batch);
      auto middle = Clock::now();
      loss.backward();
      loss.reset();
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      if (r >= 0) {
        plain_forward.push_back(std::chrono::duration<double>(middle - start).count());
        plain_backward.push_back(seconds - plain_forward.back());
      }
      plain_peak = scope.peak_bytes() + static_cast<int64_t>(profile.batch_bytes);
      plain_allocations = tracker.allocation_count() - allocations_before;
      if (r >= 0) plain_faults.push_back(static_cast<double>(minor_faults() - faults_before));
      if (r >= 0) plain_times.push_back(seconds);
    }
    if (!executor_first) run_store_all();
    gradrecomp::StepReport b = executor.run(budgeted, batch.clone());
    store_peak = a.peak_bytes;
    budget_peak = b.peak_bytes;
    if (r >= 0) {
      double forward = 0, backward = 0, frees = 0;
      for (size_t k = 0; k < store_all.steps.size(); ++k) {
        const gradrecomp::Step& step = store_all.steps[k];
        const bool is_backward = step.kind == gradrecomp::StepKind::kCompute && graph.node(step.target).id[0] == 'B';
        if (step.kind == gradrecomp::StepKind::kFree) frees += a.step_seconds[k];
        else if (is_backward) backward += a.step_seconds[k];
        else forward += a.step_seconds[k];
      }
      store_forward.push_back(forward);
      store_backward.push_back(backward);
      store_frees.push_back(frees);
      store_times.push_back(a.seconds);
      budget_times.push_back(b.seconds);
    }
  }
  const double plain = median(plain_times), store = median(store_times), budget_s = median(budget_times);
  std::printf("## Executor vs plain autograd: %s, %d nodes, batch %d, LibTorch %s, %d thread(s), %d repeats (medians)%s%s\n\n",
              graph.name().c_str(), graph.num_nodes(), batch_size, TORCH_VERSION, at::get_num_threads(), repeats,
              keep_heap ? ", --keep-heap 1" : "", executor_first ? ", executor first" : "");
  std::printf("| run | step (ms) | vs plain | simulated overhead | simulated peak (B) | measured peak (B) | peak error |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  std::printf("| plain loss.backward() | %.2f | 1.000 | - | - | %lld | - |\n", plain * 1e3,
              static_cast<long long>(plain_peak));
  auto row = [&](const char* name, double seconds, const gradrecomp::Schedule& s, int64_t measured) {
    std::printf("| %s | %.2f | %.3f | %.3f | %llu | %lld | %+.3f%% |\n", name, seconds * 1e3, seconds / plain,
                gradrecomp::overhead_of(graph, s.cost), static_cast<unsigned long long>(s.peak_bytes),
                static_cast<long long>(measured),
                100.0 * (static_cast<double>(measured) - static_cast<double>(s.peak_bytes)) / static_cast<double>(s.peak_bytes));
  };
  row("executor, store-all", store, store_all, store_peak);
  row(("executor, " + budgeted.solver + " at " + std::to_string(budget_fraction) + " x store-all").c_str(), budget_s,
      budgeted, budget_peak);
  std::printf("\nStore-all breakdown (ms, medians): plain forward %.2f, backward %.2f; executor forward nodes %.2f, "
              "backward nodes %.2f, frees %.2f, rest of run() %.2f\n",
              median(plain_forward) * 1e3, median(plain_backward) * 1e3, median(store_forward) * 1e3,
              median(store_backward) * 1e3, median(store_frees) * 1e3,
              (store - median(store_forward) - median(store_backward) - median(store_frees)) * 1e3);
  std::printf("Per step: tensor allocations plain %lld, executor store-all %lld (the executor's include its 4-byte "
              "loss copy); minor page faults (medians) plain %.0f, executor store-all %.0f\n\n",
              static_cast<long long>(plain_allocations), static_cast<long long>(store_allocations),
              median(plain_faults), median(store_faults));
  std::printf(
      "{\"plain_ms\": %.3f, \"store_all_ms\": %.3f, \"store_all_ratio\": %.4f, \"budget_ms\": %.3f, "
      "\"budget_ratio\": %.4f, \"store_all_sim_peak\": %llu, \"store_all_measured_peak\": %lld, "
      "\"budget_sim_peak\": %llu, \"budget_measured_peak\": %lld, \"plain_measured_peak\": %lld}\n",
      plain * 1e3, store * 1e3, store / plain, budget_s * 1e3, budget_s / plain,
      static_cast<unsigned long long>(store_all.peak_bytes), static_cast<long long>(store_peak),
      static_cast<unsigned long long>(budgeted.peak_bytes), static_cast<long long>(budget_peak),
      static_cast<long long>(plain_peak));
  return 0;
}
