// The FNV-1a hash of a tensor's bytes, shared by the determinism checks of checkpoint() (checkpoint.cpp)
// and of the model executor (model_runtime.h). Private to gradrecomp_torch.
#pragma once

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>

namespace gradrecomp::torch_detail {

// FNV-1a (64-bit) over a defined tensor's bytes in row-major order (through a contiguous CPU
// copy): equal for bitwise-equal tensors of the same shape and dtype.
inline uint64_t bitwise_hash(const torch::Tensor& tensor) {
  torch::Tensor contiguous = tensor.detach().to(torch::kCPU).contiguous();
  const auto* bytes = static_cast<const unsigned char*>(contiguous.data_ptr());
  uint64_t hash = 1469598103934665603ull;
  for (size_t i = 0; i < contiguous.nbytes(); ++i) {
    hash ^= bytes[i];
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace gradrecomp::torch_detail
