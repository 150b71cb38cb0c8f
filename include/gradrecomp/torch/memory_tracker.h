// Exact CPU memory accounting for LibTorch: a counting allocator installed through c10.
//
//   gradrecomp::MemoryTracker& tracker = gradrecomp::MemoryTracker::install();
//   {
//     gradrecomp::MemoryScope scope;
//     torch::Tensor t = torch::empty({1000});          // 4000 bytes
//     loss.backward();
//     std::cout << scope.peak_bytes() << "\n";          // peak above the scope's start
//   }
//   std::cout << tracker.live_bytes() << "\n";
//
// How it counts: install() replaces c10's CPU allocator (c10::SetAllocator(DeviceType::CPU)) by a
// wrapper around the allocator that was there before. Each allocation of n bytes is a block of
// 64 + n bytes from the previous allocator; the 64-byte header remembers n and the block's
// DataPtr, and the DataPtr handed out has context == data (as c10's raw_allocate() requires), so
// the deleter finds the header and subtracts exactly n when the storage dies. Counted are the bytes torch
// asks for (Storage nbytes), not malloc's rounding: a float tensor of 1000 elements is 4000 bytes,
// and storage shared by views is counted once because it is allocated once. Storages allocated
// before install() are not counted, and neither are their frees.
//
// Thread safety: the counters are atomics; intra-op worker threads may allocate concurrently.
// The peak is a global high-water mark. MemoryScope resets it to the live bytes at its start and,
// when it ends, restores the enclosing high-water mark (the max of both), so scopes nest; read an
// outer scope's peak only while no inner scope is open.
//
// CUDA: where LibTorch was built with CUDA (GRADRECOMP_TORCH_CUDA, set by cmake/torch.cmake) the
// CUDA caching allocator's own statistics are read (allocated bytes: current and peak); otherwise
// cuda_memory() returns nullopt.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

namespace gradrecomp {

class MemoryTracker {
 public:
  // Installs the counting allocator (once; later calls return the same tracker).
  static MemoryTracker& install();
  // Puts the previous CPU allocator back. Storages allocated while installed still report their
  // frees. install() may be called again afterwards.
  static void uninstall();
  static bool installed();
  // The process-wide tracker, installed or not (its counters stay at their last values).
  static MemoryTracker& global();

  // Bytes of live storages allocated through the tracker.
  int64_t live_bytes() const { return live_bytes_.load(std::memory_order_relaxed); }
  // Highest live_bytes() since install() or the last reset_peak().
  int64_t peak_bytes() const { return peak_bytes_.load(std::memory_order_relaxed); }
  // Number of allocations (non-empty) since install().
  int64_t allocation_count() const { return allocation_count_.load(std::memory_order_relaxed); }
  // Sets the peak to the current live bytes.
  void reset_peak();

  // Called by the allocator; public so the deleter (a plain function) can reach them.
  void on_allocate(int64_t bytes);
  void on_free(int64_t bytes);
  // Raises the high-water mark to at least `bytes` (used by MemoryScope to restore it).
  void raise_peak(int64_t bytes);

 private:
  MemoryTracker() = default;
  std::atomic<int64_t> live_bytes_{0};
  std::atomic<int64_t> peak_bytes_{0};
  std::atomic<int64_t> allocation_count_{0};
};

// Measures one region: the peak of live CPU bytes above the live bytes at construction.
// Installs the tracker if needed.
class MemoryScope {
 public:
  MemoryScope();
  ~MemoryScope();
  MemoryScope(const MemoryScope&) = delete;
  MemoryScope& operator=(const MemoryScope&) = delete;

  int64_t start_bytes() const { return start_bytes_; }
  // Highest live bytes since construction, minus start_bytes() (>= 0).
  int64_t peak_bytes() const;
  // Live bytes now, minus start_bytes() (negative when the region freed more than it kept).
  int64_t live_delta_bytes() const;

 private:
  MemoryTracker& tracker_;
  int64_t start_bytes_ = 0;
  int64_t enclosing_peak_bytes_ = 0;
};

// The CUDA caching allocator's statistics for one device (allocated blocks, in bytes).
struct CudaMemory {
  int64_t allocated_bytes = 0;       // currently allocated by tensors
  int64_t peak_allocated_bytes = 0;  // since the last reset_cuda_peak()
  int64_t reserved_bytes = 0;        // held by the caching allocator
};

// True where LibTorch was built with CUDA and a device is present.
bool cuda_memory_available();
// Statistics of `device`, or nullopt where CUDA is not available.
std::optional<CudaMemory> cuda_memory(int device = 0);
// Resets the peak statistics of `device` (no-op without CUDA).
void reset_cuda_peak(int device = 0);

}  // namespace gradrecomp
