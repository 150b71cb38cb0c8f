// Graph generators for tests and benchmarks. All are deterministic for a given seed.
//
//   Graph g = gradrecomp::uniform_chain(100);                  // revolve's setting
//   Graph h = gradrecomp::random_chain(50, /*seed=*/7);        // heterogeneous, rotor shape
//   Graph d = gradrecomp::random_dag(30, /*seed=*/3);          // small general DAG
//
// Chains have the rotor shape (Beaumont et al., arXiv 1911.13214): stage i has a forward node
// Fi reading a(i-1) and producing its activation a(i) and saved internals s(i), and a backward
// node Bi reading a(i-1), a(i), s(i) and the incoming gradient g(i), producing g(i-1). The last
// forward stage is the loss (a tiny output). The graph input is x = a(0).
#pragma once

#include <cstdint>

#include "gradrecomp/graph.h"

namespace gradrecomp {

struct UniformChainOptions {
  uint64_t activation_bytes = 1 << 20;
  uint64_t saved_bytes = 0;        // 0: the backward needs only the activations
  double forward_cost = 1.0;
  double backward_cost = 2.0;
};
Graph uniform_chain(int32_t stages, const UniformChainOptions& options = {});

struct RandomChainOptions {
  uint64_t min_bytes = 1 << 10;
  uint64_t max_bytes = 64 << 10;
  double min_cost = 1.0;
  double max_cost = 10.0;
  bool with_workspace = false;
};
Graph random_chain(int32_t stages, uint64_t seed, const RandomChainOptions& options = {});

struct RandomDagOptions {
  int32_t max_fan_in = 3;
  double long_edge_probability = 0.2;  // chance a node also reads a tensor far back
  uint64_t min_bytes = 1 << 10;
  uint64_t max_bytes = 64 << 10;
};
// A forward DAG of `forward_nodes` nodes plus its mirrored backward pass (each forward node
// gets a backward node reading its inputs, its outputs and the gradients of its consumers).
Graph random_dag(int32_t forward_nodes, uint64_t seed, const RandomDagOptions& options = {});

}  // namespace gradrecomp
