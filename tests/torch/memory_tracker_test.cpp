// Exact byte counts of the counting CPU allocator (include/gradrecomp/torch/memory_tracker.h).
// Every figure below is the storage size torch asks for: elements x element size.
#include "gradrecomp/torch/memory_tracker.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <thread>
#include <vector>

namespace gradrecomp {
namespace {

TEST(MemoryTracker, CountsExactStorageBytesAndReleases) {
  MemoryTracker& tracker = MemoryTracker::install();
  ASSERT_TRUE(MemoryTracker::installed());
  const int64_t live_before = tracker.live_bytes();
  const int64_t count_before = tracker.allocation_count();
  {
    torch::Tensor floats = torch::empty({1000});                   // 1000 x 4 bytes
    EXPECT_EQ(tracker.live_bytes() - live_before, 4000);
    torch::Tensor doubles = torch::empty({10, 25}, torch::kDouble);  // 250 x 8 bytes
    EXPECT_EQ(tracker.live_bytes() - live_before, 6000);
    EXPECT_EQ(tracker.allocation_count() - count_before, 2);
  }
  EXPECT_EQ(tracker.live_bytes(), live_before);
}

TEST(MemoryTracker, ViewsShareTheirStorageAndAreNotCountedAgain) {
  MemoryTracker& tracker = MemoryTracker::install();
  torch::Tensor base = torch::zeros({64, 64});  // 16384 bytes
  const int64_t live = tracker.live_bytes();
  torch::Tensor row = base[3];
  torch::Tensor reshaped = base.view({4096});
  torch::Tensor transposed = base.t();
  base.add_(1.0);  // in place: no new storage
  EXPECT_EQ(tracker.live_bytes(), live);
  torch::Tensor copy = transposed.contiguous();  // a real copy: 16384 more
  EXPECT_EQ(tracker.live_bytes() - live, 16384);
}

// Scope timeline (bytes above the start):
//   a = 4000 -> 4000;  b = 4000 -> 8000 (peak);  free a -> 4000;  c = 400 -> 4400
TEST(MemoryScope, ReportsPeakAboveItsStartAndLiveDelta) {
  MemoryScope scope;
  torch::Tensor a = torch::empty({1000});
  torch::Tensor b = torch::empty({500}, torch::kDouble);
  a.reset();
  torch::Tensor c = torch::empty({100});
  EXPECT_EQ(scope.peak_bytes(), 8000);
  EXPECT_EQ(scope.live_delta_bytes(), 4400);
}

// outer: x = 1000 bytes; inner: y = 3000 bytes, released before the inner scope ends.
// Inner peak 3000; outer peak 1000 + 3000 = 4000 once the inner scope is closed.
TEST(MemoryScope, NestedScopesKeepTheEnclosingPeak) {
  MemoryScope outer;
  torch::Tensor x = torch::empty({250});
  {
    MemoryScope inner;
    torch::Tensor y = torch::empty({750});
    y.reset();
    EXPECT_EQ(inner.peak_bytes(), 3000);
    EXPECT_EQ(inner.live_delta_bytes(), 0);
  }
  EXPECT_EQ(outer.peak_bytes(), 4000);
  EXPECT_EQ(outer.live_delta_bytes(), 1000);
}

// 4 threads x 500 allocations of 1 KiB each, every one freed: the live count returns exactly to
// its start, exactly 2000 allocations are seen, and the peak is between 1 KiB (one tensor) and
// 4 KiB (one per thread at once).
TEST(MemoryTracker, IsExactUnderConcurrentAllocation) {
  MemoryTracker& tracker = MemoryTracker::install();
  MemoryScope scope;
  const int64_t count_before = tracker.allocation_count();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < 500; ++i) {
        torch::Tensor block = torch::empty({256});
        block.fill_(1.0f);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(scope.live_delta_bytes(), 0);
  EXPECT_EQ(tracker.allocation_count() - count_before, 2000);
  EXPECT_GE(scope.peak_bytes(), 1024);
  EXPECT_LE(scope.peak_bytes(), 4 * 1024);
}

TEST(MemoryTracker, AutogradActivationsAreVisible) {
  // y = relu(W x): relu keeps its 32 x 64 float result (8192 bytes) for backward, so after the
  // forward pass at least that much stays live; backward then frees it.
  torch::manual_seed(0);
  torch::nn::Linear linear(64, 64);
  torch::Tensor x = torch::randn({32, 64});
  MemoryScope scope;
  torch::Tensor loss;
  {
    torch::Tensor y = torch::relu(linear->forward(x));
    loss = y.sum();
  }
  EXPECT_GE(scope.live_delta_bytes(), 32 * 64 * 4);
  loss.backward();
  loss.reset();
  // Left: the two gradients (64x64 + 64 floats) and nothing else.
  EXPECT_EQ(scope.live_delta_bytes(), (64 * 64 + 64) * 4);
}

TEST(MemoryTracker, UninstallStopsCountingButFreesStillBalance) {
  MemoryTracker& tracker = MemoryTracker::install();
  const int64_t live_before = tracker.live_bytes();
  torch::Tensor counted = torch::empty({100});  // 400 bytes, allocated while installed
  MemoryTracker::uninstall();
  EXPECT_FALSE(MemoryTracker::installed());
  torch::Tensor uncounted = torch::empty({1000});
  EXPECT_EQ(tracker.live_bytes() - live_before, 400);
  counted.reset();  // its deleter still reports the free
  EXPECT_EQ(tracker.live_bytes(), live_before);
  MemoryTracker::install();
  EXPECT_TRUE(MemoryTracker::installed());
  torch::Tensor again = torch::empty({10});
  EXPECT_EQ(tracker.live_bytes() - live_before, 40);
}

TEST(CudaMemory, StatisticsOnlyWhereCudaIsAvailable) {
  if (!cuda_memory_available()) {
    EXPECT_FALSE(cuda_memory(0).has_value());
    GTEST_SKIP() << "no CUDA device or LibTorch built without CUDA";
  }
  reset_cuda_peak(0);
  const CudaMemory before = *cuda_memory(0);
  torch::Tensor t = torch::empty({1 << 20}, torch::TensorOptions().device(torch::kCUDA));
  const CudaMemory during = *cuda_memory(0);
  // The caching allocator rounds up to its block size, so at least 4 MiB more.
  EXPECT_GE(during.allocated_bytes - before.allocated_bytes, 4 << 20);
  EXPECT_GE(during.peak_allocated_bytes, during.allocated_bytes);
}

}  // namespace
}  // namespace gradrecomp
