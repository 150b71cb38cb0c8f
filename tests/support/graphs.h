// Vocabulary for building small test graphs and checking schedules.
#pragma once

#include <gtest/gtest.h>

#include "gradrecomp/graph.h"
#include "gradrecomp/schedule.h"
#include "gradrecomp/simulate.h"

namespace gradrecomp::testing {

// Replays the schedule and fails the test (with the simulator's message) unless it is valid and
// its recorded peak and cost equal the replay. Every schedule in every test goes through here.
Simulation expect_replays(const Graph& graph, const Schedule& schedule);

// The spec's own example (formats.md section 1).
Graph spec_example_graph();

// A 3-stage chain whose saved internals (100 B each) dwarf its activations (10 B):
//   F1: x -> a1, s1;  F2: a1 -> a2, s2;  F3: a2 -> a3, s3;  Bi reads a(i-1), a(i), s(i), g(i).
// Store-all peaks at 341 (cost 9); the frontiers are worked out in chain_dp_test / exhaustive_test.
Graph saved_heavy_chain();

// A 3-stage chain with a large first activation (a, 100 B) that B2 needs again:
//   F1: x -> a;  F2: a -> b;  F3: b -> c;  B3: c -> gb;  B2: a, gb -> ga;  B1: x, ga -> gx.
// Store-all peaks at 220 (cost 6); recomputing F1 before B2 reaches 130 (cost 7).
Graph recompute_example();

}  // namespace gradrecomp::testing
