#include "support/graphs.h"

#include "gradrecomp/error.h"

namespace gradrecomp::testing {

Simulation expect_replays(const Graph& graph, const Schedule& schedule) {
  Simulation sim = simulate(graph, schedule.steps);
  EXPECT_TRUE(sim.valid) << "schedule from " << schedule.solver << " is invalid: " << sim.error;
  EXPECT_EQ(sim.peak_bytes, schedule.peak_bytes) << "recorded peak differs from replay (" << schedule.solver << ")";
  EXPECT_NEAR(sim.cost, schedule.cost, 1e-9 * std::max(1.0, sim.cost)) << schedule.solver;
  if (schedule.budget_bytes) EXPECT_LE(sim.peak_bytes, *schedule.budget_bytes) << schedule.solver;
  return sim;
}

Graph spec_example_graph() {
  GraphBuilder b("chain-3");
  b.constant_bytes(4096);
  b.input("x", 100);
  b.node("F1", 2.0, {"x"}, {{"a1", 100}});
  b.node("F2", 3.0, {"a1"}, {{"a2", 50}, {"s2", 20}});
  b.node("B2", 6.0, {"a2", "s2"}, {{"g1", 100}});
  b.node("B1", 4.0, {"x", "g1"}, {{"g0", 100}}, 8);
  return std::move(b).build();
}

Graph saved_heavy_chain() {
  GraphBuilder b("saved-heavy-3");
  b.input("x", 10);
  b.node("F1", 1, {"x"}, {{"a1", 10}, {"s1", 100}});
  b.node("F2", 1, {"a1"}, {{"a2", 10}, {"s2", 100}});
  b.node("F3", 1, {"a2"}, {{"a3", 1}, {"s3", 100}});
  b.node("B3", 2, {"a2", "a3", "s3"}, {{"g2", 10}});
  b.node("B2", 2, {"a1", "a2", "s2", "g2"}, {{"g1", 10}});
  b.node("B1", 2, {"x", "a1", "s1", "g1"}, {{"g0", 10}});
  return std::move(b).build();
}

Graph recompute_example() {
  GraphBuilder b("recompute-example");
  b.input("x", 10);
  b.node("F1", 1, {"x"}, {{"a", 100}});
  b.node("F2", 1, {"a"}, {{"b", 10}});
  b.node("F3", 1, {"b"}, {{"c", 100}});
  b.node("B3", 1, {"c"}, {{"gb", 10}});
  b.node("B2", 1, {"a", "gb"}, {{"ga", 10}});
  b.node("B1", 1, {"x", "ga"}, {{"gx", 10}});
  return std::move(b).build();
}

}  // namespace gradrecomp::testing
