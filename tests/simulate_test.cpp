#include <gtest/gtest.h>

#include "gradrecomp/error.h"
#include "gradrecomp/io.h"
#include "gradrecomp/simulate.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

using testing::spec_example_graph;

std::vector<Step> steps_of(const Graph& g, std::vector<std::pair<std::string, std::string>> raw) {
  std::vector<Step> steps;
  for (auto& [kind, id] : raw) {
    steps.push_back(kind == "compute" ? Step::compute(g.find_node(id)) : Step::free(g.find_tensor(id)));
  }
  return steps;
}

// The spec's example schedule: x=100 live; F1 -> 200; F2 -> 270; free a1 -> 170; B2 -> 270;
// free a2, s2 -> 200; B1 -> 200 + 100 (g0) + 8 (workspace) = 308 is the peak; cost 2+3+6+4 = 15.
TEST(Simulate, SpecExampleReplaysToDocumentedFigures) {
  Graph g = spec_example_graph();
  auto steps = steps_of(g, {{"compute", "F1"}, {"compute", "F2"}, {"free", "a1"}, {"compute", "B2"}, {"free", "a2"},
                            {"free", "s2"}, {"compute", "B1"}, {"free", "x"}, {"free", "g1"}, {"free", "g0"}});
  Simulation sim = simulate(g, steps);
  ASSERT_TRUE(sim.valid) << sim.error;
  EXPECT_EQ(sim.peak_bytes, 308u);
  EXPECT_EQ(sim.peak_step, 6);
  EXPECT_DOUBLE_EQ(sim.cost, 15.0);
  EXPECT_EQ(sim.timeline_bytes.size(), steps.size());
  EXPECT_EQ(sim.timeline_bytes[1], 270u);
}

TEST(Simulate, ReadingATensorThatIsNotLiveIsInvalidAndNamed) {
  Graph g = spec_example_graph();
  auto steps = steps_of(g, {{"compute", "F1"}, {"free", "a1"}, {"compute", "F2"}});
  Simulation sim = simulate(g, steps);
  EXPECT_FALSE(sim.valid);
  EXPECT_EQ(sim.error_step, 2);
  EXPECT_NE(sim.error.find("\"F2\" needs tensor \"a1\""), std::string::npos) << sim.error;
}

TEST(Simulate, FreeingATensorTwiceIsInvalid) {
  Graph g = spec_example_graph();
  Simulation sim = simulate(g, steps_of(g, {{"free", "x"}, {"free", "x"}}));
  EXPECT_FALSE(sim.valid);
  EXPECT_EQ(sim.error_step, 1);
  EXPECT_NE(sim.error.find("free \"x\", which is not live"), std::string::npos) << sim.error;
}

TEST(Simulate, EveryNodeMustBeComputed) {
  Graph g = spec_example_graph();
  Simulation sim = simulate(g, steps_of(g, {{"compute", "F1"}, {"compute", "F2"}, {"compute", "B2"}}));
  EXPECT_FALSE(sim.valid);
  EXPECT_EQ(sim.error_step, 3);
  EXPECT_NE(sim.error.find("\"B1\" is never computed"), std::string::npos) << sim.error;
}

// Recomputing F1 while a1 is still live must not count a1 twice: 200 stays 200.
TEST(Simulate, RecomputeWithLiveOutputsCountsThemOnce) {
  Graph g = spec_example_graph();
  Simulation sim = simulate(g, steps_of(g, {{"compute", "F1"}, {"compute", "F1"}}));
  EXPECT_EQ(sim.timeline_bytes[1], 200u);
  EXPECT_DOUBLE_EQ(sim.cost, 4.0);
}

// Store-all on the spec example: F1 (200), F2 (270, then a1 freed: its last reader), B2 (270,
// then a2, s2 freed), B1 (200 + 100 + 8 = 308, then x, g1 and the unread g0 freed).
TEST(StoreAll, FollowsTheSpecRule) {
  Graph g = spec_example_graph();
  Schedule s = store_all_schedule(g);
  testing::expect_replays(g, s);
  EXPECT_EQ(s.peak_bytes, 308u);
  EXPECT_DOUBLE_EQ(s.cost, 15.0);
  EXPECT_DOUBLE_EQ(overhead_of(g, s.cost), 0.0);
  std::vector<Step> expected = steps_of(g, {{"compute", "F1"}, {"compute", "F2"}, {"free", "a1"}, {"compute", "B2"},
                                            {"free", "a2"}, {"free", "s2"}, {"compute", "B1"}, {"free", "x"},
                                            {"free", "g1"}, {"free", "g0"}});
  EXPECT_EQ(s.steps, expected);
}

TEST(StoreAll, FreesUnreadGraphInputsFirst) {
  GraphBuilder b("unread");
  b.input("x", 10).input("unused", 1000);
  b.node("F", 1.0, {"x"}, {{"y", 5}});
  Graph g = std::move(b).build();
  Schedule s = store_all_schedule(g);
  EXPECT_EQ(s.steps.front(), Step::free(g.find_tensor("unused")));
  EXPECT_EQ(s.peak_bytes, 1010u);  // the start state counts: both inputs are live before any step
}

TEST(ScheduleFromComputes, EarliestFreesMatchStoreAllForOnePass) {
  Graph g = spec_example_graph();
  Schedule s = schedule_from_computes(g, {0, 1, 2, 3}, "test");
  testing::expect_replays(g, s);
  EXPECT_EQ(s.steps, store_all_schedule(g).steps);
}

// Recomputation: F1, F2, free everything forward but x, then F1 again before B1 needs... the
// order F1 F2 B2 F1 B1 frees a1 after F2 (next event of a1 is its re-production).
TEST(ScheduleFromComputes, FreesBeforeReproduction) {
  Graph g = spec_example_graph();
  Schedule s = schedule_from_computes(g, {0, 1, 2, 0, 3}, "test");
  testing::expect_replays(g, s);
  EXPECT_DOUBLE_EQ(s.cost, 17.0);
  auto first_free_a1 = std::find(s.steps.begin(), s.steps.end(), Step::free(g.find_tensor("a1")));
  EXPECT_EQ(first_free_a1 - s.steps.begin(), 2);
}

TEST(ScheduleFromComputes, RejectsAnOrderThatReadsDeadTensors) {
  Graph g = spec_example_graph();
  try {
    schedule_from_computes(g, {1}, "broken");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("needs tensor \"a1\""), std::string::npos) << e.what();
  }
}

TEST(VerifySchedule, RejectsAWrongRecordedPeak) {
  Graph g = spec_example_graph();
  Schedule s = store_all_schedule(g);
  s.peak_bytes = 300;
  try {
    verify_schedule(g, s);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("records peak_bytes 300 but replays to 308"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gradrecomp
