// Recognising a chain in a training graph.
//
// A chain of n stages is a graph of 2n nodes listed as F1..Fn then Bn..B1 where
//   F1 reads graph inputs only; Fi (i > 1) reads outputs of F(i-1) and graph inputs;
//   Bi reads outputs of Fi, the activation Fi read from F(i-1) (or graph inputs for i = 1),
//      the outputs of B(i+1), and graph inputs;
//   outputs of B(i+1) are read by Bi only.
// This is the shape of Beaumont et al. (arXiv 1911.13214): a^i = activation, the saved
// internals are what only the backward reads, delta^i = gradient.
//
//   std::string why;
//   std::optional<gradrecomp::Chain> chain = gradrecomp::recognize_chain(graph, &why);
//   if (!chain) std::cerr << why << "\n";   // "not a chain: node \"add3\" (forward stage 4) reads ..."
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gradrecomp/graph.h"

namespace gradrecomp {

struct ChainStage {
  NodeId forward = kNoNode;
  NodeId backward = kNoNode;
  std::vector<TensorId> activation;       // outputs of forward read by the next forward (A_i)
  std::vector<TensorId> saved;            // other outputs of forward that the backward reads (S_i)
  std::vector<TensorId> forward_unread;   // outputs of forward that nobody reads
  std::vector<TensorId> gradient;         // outputs of backward read by the previous backward
  std::vector<TensorId> backward_unread;  // outputs of backward that nobody reads (weight grads)
};

struct Chain {
  std::vector<TensorId> input;         // A_0: graph inputs read by the first forward stage
  std::vector<TensorId> extra_inputs;  // graph inputs read by others only (held the whole step)
  std::vector<ChainStage> stages;      // stages[0] is stage 1
  int32_t length() const { return static_cast<int32_t>(stages.size()); }
};

// The chain structure of `graph`, or nullopt with the first reason it is not one in *why_not.
std::optional<Chain> recognize_chain(const Graph& graph, std::string* why_not = nullptr);
// The recognizer's message when `graph` is not a chain, nullopt when it is (what chain-only
// solvers return from Solver::unsupported_reason).
std::optional<std::string> chain_unsupported_reason(const Graph& graph);
// Same as recognize_chain, but throws gradrecomp::Error("solver X needs a chain: ...") when it is not one.
Chain require_chain(const Graph& graph, std::string_view solver_name);

// Sum of bytes of a list of tensors.
uint64_t bytes_of(const Graph& graph, const std::vector<TensorId>& tensors);

}  // namespace gradrecomp
