// The abstract chain that the optimal chain dynamic program (solvers/chain_dp.h) works on.
//
// Stage i (1..n) maps activation a(i-1) to a(i) going forward and gradient d(i) to d(i-1) going
// backward. Each stage can run forward in two ways, following Beaumont, Eyraud-Dubois, Herrmann,
// Joly, Shilova, "Optimal checkpointing for heterogeneous chains" (arXiv 1911.13214):
//   - forward-discard ("F_ck"): produce a(i) and keep nothing else for the backward;
//   - forward-keep with option o ("F_all", or a partial variant): produce a(i) and keep some
//     internals (kept_bytes, which includes a(i)) so that backward(i, o) can run. Several options
//     per stage express partial recomputation: keeping less makes the backward recompute more.
// Both the spec chains (one option: keep everything) and blocks of general DAGs (a menu of
// options) are expressed in this form; an adapter turns the resulting ops back into node
// computations, and the simulator checks the schedule.
//
// All *_peak_bytes are LOCAL peaks: the largest number of bytes live during the op counting the
// op's input a(i-1), its outputs, anything it reads that the stage keeps, and its transients --
// but nothing else held by the caller. The DP adds what else is live at that point.
//   forward_peak_bytes:        during forward-discard, counting a(i-1) and a(i)
//   KeepOption.forward_peak_bytes:  during forward-keep, counting a(i-1) and the kept bytes
//   KeepOption.backward_peak_bytes: during backward, counting a(i-1), the kept bytes, d(i) and d(i-1)
// After forward-discard, a(i-1) and a(i) are live (the caller decides when a(i-1) goes). After
// forward-keep, a(i-1) and kept_bytes are live. After backward, a(i-1) and d(i-1) are live.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gradrecomp {

struct KeepOption {
  uint64_t kept_bytes = 0;           // held from forward-keep until backward (includes a(i))
  double forward_cost = 0;
  uint64_t forward_peak_bytes = 0;
  double backward_cost = 0;          // includes any recomputation of internals that were not kept
  uint64_t backward_peak_bytes = 0;
};

struct ChainModelStage {
  uint64_t activation_bytes = 0;     // a(i)
  uint64_t gradient_bytes = 0;       // d(i-1), produced by this stage's backward
  double forward_cost = 0;           // forward-discard
  uint64_t forward_peak_bytes = 0;
  std::vector<KeepOption> keep_options;  // at least one
};

struct ChainModel {
  uint64_t input_bytes = 0;          // a(0)
  uint64_t baseline_bytes = 0;       // held for the whole step (graph inputs the chain does not pass along)
  std::vector<ChainModelStage> stages;   // stages[0] is stage 1
  int32_t length() const { return static_cast<int32_t>(stages.size()); }
};

enum class ChainOpKind { kForwardDiscard, kForwardKeep, kBackward };

struct ChainOp {
  ChainOpKind kind;
  int32_t stage;       // 1-based
  int32_t option = 0;  // keep option, for kForwardKeep and kBackward
  bool operator==(const ChainOp&) const = default;
};

// A plan in the abstract model, with the peak and cost the model predicts for it.
struct ChainPlan {
  std::vector<ChainOp> ops;
  uint64_t peak_bytes = 0;
  double cost = 0;
};

}  // namespace gradrecomp
