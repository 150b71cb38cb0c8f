// Cost of gradrecomp::checkpoint() on CPU LibTorch.
//
//   torch_checkpoint_bench [--threads N] [--repeats R]
//
// 1. Per-checkpoint overhead: a chain of 100 tiny ops (relu of 16 floats), each wrapped in its own
//    checkpoint, against the same chain without checkpoints; forward only, and forward+backward.
//    overhead per checkpoint = (median time checkpointed - median time plain) / 100.
// 2. Step-time ratio: an MLP of 8 x (Linear 1024->1024, ReLU), batch 256, SGD step; every layer
//    checkpointed against plain autograd (expected about 1.3: one extra forward), with the peak
//    memory of both measured by the counting allocator.
// Prints a markdown table and one JSON line. Figures are medians over --repeats runs.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "gradrecomp/torch/checkpoint.h"
#include "gradrecomp/torch/memory_tracker.h"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

template <class F>
double median_seconds(int repeats, F&& body) {
  body();  // warm-up
  std::vector<double> times;
  for (int r = 0; r < repeats; ++r) {
    auto start = Clock::now();
    body();
    times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  return median(times);
}

// Shared libraries mapped into this process whose name mentions a BLAS.
std::string blas_libraries() {
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> found;
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    std::string lower = path;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower.find("blas") != std::string::npos || lower.find("mkl") != std::string::npos) found.insert(path);
  }
  std::string joined;
  for (const std::string& path : found) joined += (joined.empty() ? "" : ", ") + path;
  return joined.empty() ? "none found in /proc/self/maps" : joined;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  int repeats = 21;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--threads") == 0) threads = std::atoi(argv[i + 1]);
    else if (std::strcmp(argv[i], "--repeats") == 0) repeats = std::atoi(argv[i + 1]);
    else { std::cerr << "unknown flag " << argv[i] << " (expected --threads N or --repeats R)\n"; return 2; }
  }
  if (threads < 1 || repeats < 1) { std::cerr << "--threads and --repeats must be >= 1\n"; return 2; }
  at::set_num_threads(threads);
  gradrecomp::MemoryTracker::install();
  torch::manual_seed(0);

  // ---- 1. per-checkpoint overhead ------------------------------------------------------------
  constexpr int kTinyOps = 100;
  torch::Tensor tiny = torch::randn({16}).requires_grad_(true);
  auto tiny_chain = [&](bool checkpointed, bool backward) {
    torch::Tensor y = tiny;
    for (int i = 0; i < kTinyOps; ++i) {
      if (checkpointed) y = gradrecomp::checkpoint([](const torch::Tensor& in) { return in.relu(); }, y);
      else y = y.relu();
    }
    if (backward) y.sum().backward();
  };
  const double fwd_plain = median_seconds(repeats, [&] { tiny_chain(false, false); });
  const double fwd_ckpt = median_seconds(repeats, [&] { tiny_chain(true, false); });
  const double step_plain_tiny = median_seconds(repeats, [&] { tiny_chain(false, true); });
  const double step_ckpt_tiny = median_seconds(repeats, [&] { tiny_chain(true, true); });
  const double overhead_fwd_us = (fwd_ckpt - fwd_plain) / kTinyOps * 1e6;
  const double overhead_step_us = (step_ckpt_tiny - step_plain_tiny) / kTinyOps * 1e6;

  // ---- 2. step time, every layer checkpointed --------------------------------------------------
  constexpr int kLayers = 8;
  torch::nn::Sequential mlp;
  for (int i = 0; i < kLayers; ++i) {
    mlp->push_back(torch::nn::Linear(1024, 1024));
    mlp->push_back(torch::nn::ReLU());
  }
  torch::optim::SGD optimizer(mlp->parameters(), torch::optim::SGDOptions(1e-4));
  torch::Tensor batch = torch::randn({256, 1024});
  int64_t peak_bytes[2] = {0, 0};
  auto mlp_step = [&](bool checkpointed) {
    gradrecomp::MemoryScope scope;
    optimizer.zero_grad();
    torch::Tensor y = batch;
    for (int i = 0; i < kLayers; ++i) {
      auto layer = [&mlp, i](const torch::Tensor& in) {
        return (mlp->begin() + (2 * i + 1))->forward((mlp->begin() + 2 * i)->forward(in));
      };
      y = checkpointed ? gradrecomp::checkpoint(layer, y) : layer(y);
    }
    y.pow(2).mean().backward();
    optimizer.step();
    peak_bytes[checkpointed ? 1 : 0] = scope.peak_bytes();
  };
  const double step_plain = median_seconds(repeats, [&] { mlp_step(false); });
  const double step_ckpt = median_seconds(repeats, [&] { mlp_step(true); });

  const std::string blas = blas_libraries();
  std::cout << "## gradrecomp::checkpoint() on CPU\n\n"
            << "LibTorch " << TORCH_VERSION << ", intra-op threads " << at::get_num_threads()
            << ", repeats " << repeats << " (medians)\n\nBLAS: " << blas << "\n\n"
            << "| measurement | plain | checkpointed | difference |\n|---|---|---|---|\n";
  std::printf("| %d tiny ops, forward (us) | %.1f | %.1f | %.2f us per checkpoint |\n", kTinyOps, fwd_plain * 1e6,
              fwd_ckpt * 1e6, overhead_fwd_us);
  std::printf("| %d tiny ops, forward+backward (us) | %.1f | %.1f | %.2f us per checkpoint |\n", kTinyOps,
              step_plain_tiny * 1e6, step_ckpt_tiny * 1e6, overhead_step_us);
  std::printf("| MLP %dx1024, batch 256, train step (ms) | %.2f | %.2f | ratio %.3f |\n", kLayers, step_plain * 1e3,
              step_ckpt * 1e3, step_ckpt / step_plain);
  std::printf("| MLP train step peak (MiB, tracker) | %.2f | %.2f | ratio %.3f |\n", peak_bytes[0] / 1048576.0,
              peak_bytes[1] / 1048576.0, static_cast<double>(peak_bytes[1]) / peak_bytes[0]);
  std::cout << "\nParallel info:\n" << at::get_parallel_info() << "\n";
  std::printf(
      "{\"threads\": %d, \"repeats\": %d, \"overhead_forward_us\": %.3f, \"overhead_forward_backward_us\": %.3f, "
      "\"mlp_step_plain_ms\": %.3f, \"mlp_step_checkpointed_ms\": %.3f, \"mlp_step_ratio\": %.4f, "
      "\"mlp_peak_plain_bytes\": %lld, \"mlp_peak_checkpointed_bytes\": %lld}\n",
      at::get_num_threads(), repeats, overhead_fwd_us, overhead_step_us, step_plain * 1e3, step_ckpt * 1e3,
      step_ckpt / step_plain, static_cast<long long>(peak_bytes[0]), static_cast<long long>(peak_bytes[1]));
  return 0;
}
