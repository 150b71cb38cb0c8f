// The simulator: the single source of truth for what a schedule costs and how much memory it
// needs. It replays steps exactly as the spec says (../shared/spec/formats.md section 2):
//
//   live = {graph inputs}, peak = bytes(live), cost = 0
//   compute N: inputs of N must be live;
//              during = bytes(live) + bytes(outputs of N not live) + workspace(N)
//              peak = max(peak, during); outputs of N become live; cost += cost(N)
//   free T:    T must be live; T stops being live
//   end:       every node computed at least once
//
//   gradrecomp::Simulation sim = gradrecomp::simulate(graph, schedule.steps);
//   if (!sim.valid) std::cerr << sim.error << " (step " << sim.error_step << ")\n";
//
// Every solver's schedule is checked by replaying it here; no solver keeps a private model.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gradrecomp/graph.h"
#include "gradrecomp/schedule.h"

namespace gradrecomp {

struct Simulation {
  bool valid = false;
  std::string error;             // why the schedule is invalid (names the step and ids)
  int64_t error_step = -1;       // index of the first offending step; steps.size() for "end" errors
  uint64_t peak_bytes = 0;       // excludes constant_bytes
  int64_t peak_step = -1;        // step at which the peak is first reached (-1: at the start)
  double cost = 0.0;
  std::vector<uint64_t> timeline_bytes;  // memory during each step (for a free: after it)
};

// Replays `steps`. Never throws on a bad schedule: the result says what is wrong.
Simulation simulate(const Graph& graph, const std::vector<Step>& steps);

// The spec's store-all reference schedule (section 2, "store-all schedule").
Schedule store_all_schedule(const Graph& graph);
uint64_t store_all_peak_bytes(const Graph& graph);

// overhead = cost / total cost of all nodes - 1; 0 when every node costs 0.
double overhead_of(const Graph& graph, double cost);
// memory ratio = peak / store-all peak (1 when the store-all peak is 0).
double memory_ratio_of(uint64_t peak_bytes, uint64_t store_all_peak);

// Replays a schedule and checks that it is valid and that its recorded peak_bytes, cost and
// budget agree with the replay (cost to a relative 1e-9). Throws gradrecomp::Error otherwise.
Simulation verify_schedule(const Graph& graph, const Schedule& schedule);

}  // namespace gradrecomp
