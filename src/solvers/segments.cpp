// The `segments`, `sqrt` and `every-k` solvers, and the segment compute order they share with
// `chen-greedy`. Problem, algorithm, complexity and memory model: include/gradrecomp/solvers/segments.h.
#include "gradrecomp/solvers/segments.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/schedule.h"
#include "gradrecomp/solver.h"
#include "solvers/builtin.h"

namespace gradrecomp {

std::vector<int32_t> equal_segment_ends(int32_t stages, int32_t segments) {
  if (stages < 1) throw Error(fmt::format("segment checkpointing needs at least 1 stage, got {}", stages));
  if (segments < 0 || segments > stages) {
    throw Error(fmt::format("segments = {} is out of range for a chain of {} stages (expected 0..{}; 0 means "
                            "round(sqrt(n)))", segments, stages, stages));
  }
  if (segments == 0) {
    segments = static_cast<int32_t>(std::lround(std::sqrt(static_cast<double>(stages))));
    segments = std::max(segments, 1);
  }
  // The first (stages mod segments) segments are one stage longer: the last segment, which holds
  // all of its activations at the start of the backward pass, is then among the shortest.
  const int32_t base = stages / segments;
  const int32_t longer = stages % segments;
  std::vector<int32_t> ends;
  ends.reserve(segments);
  int32_t end = 0;
  for (int32_t k = 0; k < segments; ++k) {
    end += base + (k < longer ? 1 : 0);
    ends.push_back(end);
  }
  return ends;
}

std::vector<int32_t> every_k_segment_ends(int32_t stages, int32_t k) {
  if (stages < 1) throw Error(fmt::format("segment checkpointing needs at least 1 stage, got {}", stages));
  if (k < 1) throw Error(fmt::format("every_k = {} is invalid (expected a segment length >= 1)", k));
  std::vector<int32_t> ends;
  for (int32_t end = k; end < stages; end += k) ends.push_back(end);
  ends.push_back(stages);
  return ends;
}

std::vector<NodeId> segment_compute_order(const Chain& chain, const std::vector<int32_t>& ends) {
  const int32_t n = chain.length();
  if (ends.empty() || ends.back() != n) {
    throw Error(fmt::format("segment ends must finish with the last stage {} (got {})", n,
                            ends.empty() ? std::string("none") : std::to_string(ends.back())));
  }
  for (size_t k = 0; k < ends.size(); ++k) {
    int32_t previous = k == 0 ? 0 : ends[k - 1];
    if (ends[k] <= previous) {
      throw Error(fmt::format("segment end {} at position {} does not follow {} (expected increasing stages in 1..{})",
                              ends[k], k, previous, n));
    }
  }
  auto forward = [&](int32_t i) { return chain.stages[i - 1].forward; };
  auto backward = [&](int32_t i) { return chain.stages[i - 1].backward; };

  std::vector<NodeId> order;
  order.reserve(4 * static_cast<size_t>(n));
  for (int32_t i = 1; i <= n; ++i) order.push_back(forward(i));
  const int32_t last = static_cast<int32_t>(ends.size()) - 1;
  for (int32_t k = last; k >= 0; --k) {
    const int32_t lo = k == 0 ? 1 : ends[k - 1] + 1;
    const int32_t hi = ends[k];
    if (k != last) {
      for (int32_t i = lo; i < hi; ++i) order.push_back(forward(i));
      // a(hi) is the next segment's input and still live; only saved internals need F(hi).
      if (!chain.stages[hi - 1].saved.empty()) order.push_back(forward(hi));
    }
    for (int32_t i = hi; i >= lo; --i) order.push_back(backward(i));
  }
  return order;
}

namespace {

Schedule segment_schedule(const Graph& graph, const Chain& chain, const std::vector<int32_t>& ends,
                          const std::string& label) {
  return schedule_from_computes(graph, segment_compute_order(chain, ends), label);
}

// Result for a pinned parameter: the single schedule if it fits, else kInfeasible with its peak.
SolveResult pinned_budget(const Graph& graph, Schedule schedule, uint64_t budget_bytes, const std::string& pin) {
  SolveResult result = pick_for_budget(graph, {std::move(schedule)}, budget_bytes);
  if (result.status == SolveStatus::kInfeasible) result.note += fmt::format(" with {}", pin);
  return result;
}

SolveResult pinned_overhead(const Graph& graph, Schedule schedule, double max_overhead, const std::string& pin) {
  SolveResult result = pick_for_overhead(graph, {std::move(schedule)}, max_overhead);
  if (result.status == SolveStatus::kInfeasible) result.note += fmt::format(" with {}", pin);
  return result;
}

class SegmentsSolver final : public Solver {
 public:
  std::string_view name() const override { return "segments"; }
  std::string_view summary() const override {
    return "chains: K near-equal segments, keep only segment inputs, recompute each segment before its "
           "backward (frontier: K = 1..n; --segments pins K)";
  }
  std::optional<std::string> unsupported_reason(const Graph& graph) const override {
    return chain_unsupported_reason(graph);
  }
  std::vector<Schedule> frontier(const Graph& graph, const SolveOptions& options) const override {
    Chain chain = require_chain(graph, name());
    const int32_t n = chain.length();
    return sweep_frontier(n, options, "segments: K", [&](int32_t k) {
      return segment_schedule(graph, chain, equal_segment_ends(n, k), label(k));
    });
  }
  SolveResult solve_budget(const Graph& graph, uint64_t budget_bytes, const SolveOptions& options) const override {
    if (options.segments == 0) return Solver::solve_budget(graph, budget_bytes, options);
    return pinned_budget(graph, pinned(graph, options), budget_bytes, fmt::format("K = {} segments", options.segments));
  }
  SolveResult solve_overhead(const Graph& graph, double max_overhead, const SolveOptions& options) const override {
    if (options.segments == 0) return Solver::solve_overhead(graph, max_overhead, options);
    return pinned_overhead(graph, pinned(graph, options), max_overhead, fmt::format("K = {} segments", options.segments));
  }

 private:
  static std::string label(int32_t k) { return fmt::format("segments(K={})", k); }
  Schedule pinned(const Graph& graph, const SolveOptions& options) const {
    Chain chain = require_chain(graph, name());
    if (options.segments < 0 || options.segments > chain.length()) {
      throw Error(fmt::format("solver \"segments\": segments = {} is out of range for the {}-stage chain \"{}\" "
                              "(expected 1..{}, or 0 to search every K)",
                              options.segments, chain.length(), graph.name(), chain.length()));
    }
    return segment_schedule(graph, chain, equal_segment_ends(chain.length(), options.segments), label(options.segments));
  }
};

class SqrtSolver final : public Solver {
 public:
  std::string_view name() const override { return "sqrt"; }
  std::string_view summary() const override {
    return "chains: Chen et al. 2016 sqrt(n) checkpointing, K = round(sqrt(n)) segments (one schedule)";
  }
  std::optional<std::string> unsupported_reason(const Graph& graph) const override {
    return chain_unsupported_reason(graph);
  }
  std::vector<Schedule> frontier(const Graph& graph, const SolveOptions&) const override {
    Chain chain = require_chain(graph, name());
    std::vector<int32_t> ends = equal_segment_ends(chain.length(), 0);
    return {segment_schedule(graph, chain, ends, fmt::format("sqrt(K={})", ends.size()))};
  }
};

class EveryKSolver final : public Solver {
 public:
  std::string_view name() const override { return "every-k"; }
  std::string_view summary() const override {
    return "chains: keep the input of every k-th stage (segments of k stages; --every-k, default 2 = Chen et "
           "al.'s Checkpoint-2; frontier: k = 1..n)";
  }
  std::optional<std::string> unsupported_reason(const Graph& graph) const override {
    return chain_unsupported_reason(graph);
  }
  std::vector<Schedule> frontier(const Graph& graph, const SolveOptions& options) const override {
    Chain chain = require_chain(graph, name());
    const int32_t n = chain.length();
    return sweep_frontier(n, options, "every-k: k", [&](int32_t k) {
      return segment_schedule(graph, chain, every_k_segment_ends(n, k), label(k));
    });
  }
  SolveResult solve_budget(const Graph& graph, uint64_t budget_bytes, const SolveOptions& options) const override {
    return pinned_budget(graph, pinned(graph, options), budget_bytes, fmt::format("k = {}", options.every_k));
  }
  SolveResult solve_overhead(const Graph& graph, double max_overhead, const SolveOptions& options) const override {
    return pinned_overhead(graph, pinned(graph, options), max_overhead, fmt::format("k = {}", options.every_k));
  }

 private:
  static std::string label(int32_t k) { return fmt::format("every-k(k={})", k); }
  Schedule pinned(const Graph& graph, const SolveOptions& options) const {
    Chain chain = require_chain(graph, name());
    if (options.every_k < 1) {
      throw Error(fmt::format("solver \"every-k\": every_k = {} is invalid (expected a segment length >= 1)",
                              options.every_k));
    }
    return segment_schedule(graph, chain, every_k_segment_ends(chain.length(), options.every_k), label(options.every_k));
  }
};

}  // namespace

std::unique_ptr<Solver> make_segments_solver() { return std::make_unique<SegmentsSolver>(); }
std::unique_ptr<Solver> make_sqrt_solver() { return std::make_unique<SqrtSolver>(); }
std::unique_ptr<Solver> make_every_k_solver() { return std::make_unique<EveryKSolver>(); }

}  // namespace gradrecomp
