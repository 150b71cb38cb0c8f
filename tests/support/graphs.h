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

}  // namespace gradrecomp::testing
