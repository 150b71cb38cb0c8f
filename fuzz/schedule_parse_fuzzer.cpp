// libFuzzer target: parse_schedule + simulate on arbitrary bytes, against a fixed small graph
// (the spec's example, formats.md section 1). A gradrecomp::Error from parsing or from
// verify_schedule is an accepted answer; the simulator must never throw or crash, its verdict
// must be consistent (an invalid replay names a step inside the schedule or its end), and a
// parsed schedule written back must parse to the same steps.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gradrecomp/error.h"
#include "gradrecomp/graph.h"
#include "gradrecomp/io.h"
#include "gradrecomp/simulate.h"

namespace {

void require(bool condition) {
  if (!condition) __builtin_trap();
}

const gradrecomp::Graph& fixed_graph() {
  static const gradrecomp::Graph graph = [] {
    gradrecomp::GraphBuilder b("chain-3");
    b.constant_bytes(4096);
    b.input("x", 100);
    b.node("F1", 2.0, {"x"}, {{"a1", 100}});
    b.node("F2", 3.0, {"a1"}, {{"a2", 50}, {"s2", 20}});
    b.node("B2", 6.0, {"a2", "s2"}, {{"g1", 100}});
    b.node("B1", 4.0, {"x", "g1"}, {{"g0", 100}}, 8);
    return std::move(b).build();
  }();
  return graph;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const gradrecomp::Graph& graph = fixed_graph();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  gradrecomp::Schedule schedule;
  try {
    schedule = gradrecomp::parse_schedule(text, graph);
  } catch (const gradrecomp::Error&) {
    return 0;
  }
  gradrecomp::Simulation sim = gradrecomp::simulate(graph, schedule.steps);
  if (sim.valid) {
    require(sim.timeline_bytes.size() == schedule.steps.size());
    require(sim.peak_bytes <= graph.total_bytes_bound());
  } else {
    require(sim.error_step >= 0 && sim.error_step <= static_cast<int64_t>(schedule.steps.size()));
    require(!sim.error.empty());
  }
  try {
    gradrecomp::verify_schedule(graph, schedule);
    require(sim.valid);
  } catch (const gradrecomp::Error&) {
  }
  gradrecomp::Schedule again = gradrecomp::parse_schedule(gradrecomp::schedule_to_json(schedule, graph), graph);
  require(again.steps == schedule.steps);
  require(again.peak_bytes == schedule.peak_bytes);
  return 0;
}
