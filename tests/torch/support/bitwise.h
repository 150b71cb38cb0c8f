// Bit-for-bit tensor comparison shared by the LibTorch tests (header-only: the torch tests are
// separate executables with no support library of their own).
#pragma once

#include <torch/torch.h>

#include <cstring>

namespace gradrecomp::testing {

// Same definedness, shape, dtype and bytes (compared through contiguous copies).
inline bool bitwise_equal(const torch::Tensor& a, const torch::Tensor& b) {
  if (!a.defined() || !b.defined()) return a.defined() == b.defined();
  if (a.sizes() != b.sizes() || a.scalar_type() != b.scalar_type()) return false;
  torch::Tensor ca = a.detach().contiguous();
  torch::Tensor cb = b.detach().contiguous();
  return std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) == 0;
}

}  // namespace gradrecomp::testing
