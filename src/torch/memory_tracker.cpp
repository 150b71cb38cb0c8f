#include "gradrecomp/torch/memory_tracker.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <torch/cuda.h>

#include <cstring>
#include <mutex>
#include <new>

#include "gradrecomp/error.h"

#if defined(GRADRECOMP_TORCH_CUDA) && __has_include(<c10/cuda/CUDACachingAllocator.h>)
#include <c10/cuda/CUDACachingAllocator.h>
#define GRADRECOMP_HAVE_CUDA_STATS 1
#endif

namespace gradrecomp {
namespace {

// Every counted allocation is the previous allocator's block of kHeaderBytes + n bytes; the
// header (64 bytes, so the data keeps 64-byte alignment) holds the block's DataPtr and n. The
// DataPtr handed to torch has context == data, as c10's raw_allocate() requires, so the deleter
// finds the header from the data pointer alone.
struct CountedHeader {
  c10::DataPtr block;  // the previous allocator's DataPtr; destroying it frees the block
  int64_t bytes = 0;
};
constexpr size_t kHeaderBytes = 64;
static_assert(sizeof(CountedHeader) <= kHeaderBytes, "the header must fit before the data");

MemoryTracker& tracker_instance() { return MemoryTracker::global(); }

void delete_counted(void* data) {
  if (data == nullptr) return;
  auto* header = reinterpret_cast<CountedHeader*>(static_cast<char*>(data) - kHeaderBytes);
  tracker_instance().on_free(header->bytes);
  c10::DataPtr block = std::move(header->block);
  header->~CountedHeader();
  block.clear();
}

// The allocator installed through c10. `allocate` is declared both const (LibTorch <= 2.2) and
// non-const (LibTorch >= 2.3 made the virtual non-const); whichever the base declares overrides.
class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* previous) : previous_(previous) {}

  c10::DataPtr allocate(size_t n) const { return allocate_counted(n); }
  c10::DataPtr allocate(size_t n) { return allocate_counted(n); }
  // Pure virtual from LibTorch 2.3 on; a plain member before.
  void copy_data(void* dest, const void* src, std::size_t count) const {
    if (count > 0) std::memcpy(dest, src, count);
  }

  c10::Allocator* previous() const { return previous_; }
  c10::DeleterFnPtr raw_deleter() const override { return &delete_counted; }

 private:
  c10::DataPtr allocate_counted(size_t n) const {
    if (n == 0) return previous_->allocate(0);
    c10::DataPtr block = previous_->allocate(n + kHeaderBytes);
    c10::Device device = block.device();
    char* base = static_cast<char*>(block.get());
    void* data = base + kHeaderBytes;
    new (base) CountedHeader{std::move(block), static_cast<int64_t>(n)};
    tracker_instance().on_allocate(static_cast<int64_t>(n));
    return c10::DataPtr(data, data, &delete_counted, device);
  }

  c10::Allocator* previous_;
};

// The installed allocator (leaked on purpose, see tracker_instance) and its priority: the
// highest, so a later registration of a default allocator does not replace it silently.
constexpr uint8_t kAllocatorPriority = 255;
std::mutex g_install_mutex;
CountingAllocator* g_installed = nullptr;

}  // namespace

MemoryTracker& MemoryTracker::global() {
  // Never destroyed: storages may die after main() returns and still call the deleter.
  static MemoryTracker* tracker = new MemoryTracker();
  return *tracker;
}

MemoryTracker& MemoryTracker::install() {
  std::lock_guard<std::mutex> lock(g_install_mutex);
  MemoryTracker& tracker = tracker_instance();
  if (g_installed != nullptr) return tracker;
  c10::Allocator* previous = c10::GetAllocator(c10::DeviceType::CPU);
  GRADRECOMP_ASSERT(previous != nullptr, "c10 has no CPU allocator to wrap");
  auto* counting = new CountingAllocator(previous);
  c10::SetAllocator(c10::DeviceType::CPU, counting, kAllocatorPriority);
  if (c10::GetAllocator(c10::DeviceType::CPU) != counting) {
    delete counting;
    throw Error("MemoryTracker::install: c10 kept its CPU allocator (a higher-priority allocator is "
                "registered); expected the counting allocator to be installed");
  }
  g_installed = counting;
  tracker.reset_peak();
  return tracker;
}

void MemoryTracker::uninstall() {
  std::lock_guard<std::mutex> lock(g_install_mutex);
  if (g_installed == nullptr) return;
  c10::SetAllocator(c10::DeviceType::CPU, g_installed->previous(), kAllocatorPriority);
  // The CountingAllocator object is leaked: DataPtrs it produced only need delete_counted.
  g_installed = nullptr;
}

bool MemoryTracker::installed() {
  std::lock_guard<std::mutex> lock(g_install_mutex);
  return g_installed != nullptr;
}

void MemoryTracker::on_allocate(int64_t bytes) {
  allocation_count_.fetch_add(1, std::memory_order_relaxed);
  int64_t live = live_bytes_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  raise_peak(live);
}

void MemoryTracker::on_free(int64_t bytes) { live_bytes_.fetch_sub(bytes, std::memory_order_relaxed); }

void MemoryTracker::raise_peak(int64_t bytes) {
  int64_t peak = peak_bytes_.load(std::memory_order_relaxed);
  while (bytes > peak && !peak_bytes_.compare_exchange_weak(peak, bytes, std::memory_order_relaxed)) {
  }
}

void MemoryTracker::reset_peak() { peak_bytes_.store(live_bytes(), std::memory_order_relaxed); }

MemoryScope::MemoryScope() : tracker_(MemoryTracker::install()) {
  start_bytes_ = tracker_.live_bytes();
  enclosing_peak_bytes_ = tracker_.peak_bytes();
  tracker_.reset_peak();
}

MemoryScope::~MemoryScope() { tracker_.raise_peak(enclosing_peak_bytes_); }

int64_t MemoryScope::peak_bytes() const {
  int64_t above = tracker_.peak_bytes() - start_bytes_;
  return above > 0 ? above : 0;
}

int64_t MemoryScope::live_delta_bytes() const { return tracker_.live_bytes() - start_bytes_; }

bool cuda_memory_available() {
#ifdef GRADRECOMP_HAVE_CUDA_STATS
  return torch::cuda::is_available();
#else
  return false;
#endif
}

std::optional<CudaMemory> cuda_memory(int device) {
#ifdef GRADRECOMP_HAVE_CUDA_STATS
  if (!torch::cuda::is_available()) return std::nullopt;
  if (device < 0 || device >= static_cast<int>(torch::cuda::device_count())) {
    throw Error("cuda_memory: device " + std::to_string(device) + " does not exist (expected 0.." +
                std::to_string(static_cast<int>(torch::cuda::device_count()) - 1) + ")");
  }
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(device));
  // Index 0 is StatType::AGGREGATE in every LibTorch version (the enum moved between namespaces).
  CudaMemory memory;
  memory.allocated_bytes = stats.allocated_bytes[0].current;
  memory.peak_allocated_bytes = stats.allocated_bytes[0].peak;
  memory.reserved_bytes = stats.reserved_bytes[0].current;
  return memory;
#else
  (void)device;
  return std::nullopt;
#endif
}

void reset_cuda_peak(int device) {
#ifdef GRADRECOMP_HAVE_CUDA_STATS
  if (torch::cuda::is_available()) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(device));
  }
#else
  (void)device;
#endif
}

}  // namespace gradrecomp
