// checkpoint_sequential on units (include/gradrecomp/solvers/units.h): compute orders and replayed
// peaks on a hand-built graph, checked against numbers worked out by hand below.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gradrecomp/error.h"
#include "gradrecomp/graph.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solvers/units.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

std::string meta(const std::string& unit, const char* phase) {
  return "{\"op\": \"fn\", \"phase\": \"" + std::string(phase) + "\", \"unit\": \"" + unit + "\"}";
}

// Six ops and a loss, shaped like profile_model's graphs; five counted units:
//
//   unit:     0           1      2      3      4      loss
//   x(10) -> F.o1 -> F.o2 -> F.o3 -> F.o4 -> F.o5 -> F.o6 -> F.L -> l(1)
//            each F.oi: a(i-1) -> a_i (10 B), s_i (100 B, what its backward keeps), cost 1
//            each B.oi: s_i, g_i -> g(i-1) (10 B), cost 2;  F.L cost 1;  B.L: a6 -> g6, cost 2
//
// Store-all: 7 forwards + 7 backwards cost 21. The saved s_i dominate: a segment whose forward is
// recomputed holds the s of all its ops at once just before its backward.
Graph units_graph() {
  GraphBuilder b("units");
  b.input("x", 10);
  const std::vector<std::string> unit = {"0", "0", "1", "2", "3", "4"};
  std::string previous = "x";
  for (int i = 1; i <= 6; ++i) {
    const std::string a = "a" + std::to_string(i);
    b.node("F.o" + std::to_string(i), 1, {previous}, {{a, 10}, {"s" + std::to_string(i), 100}}, 0,
           meta(unit[i - 1], "forward"));
    previous = a;
  }
  b.node("F.L", 1, {"a6"}, {{"l", 1}}, 0, meta("loss", "forward"));
  b.node("B.L", 2, {"a6"}, {{"g6", 10}}, 0, meta("loss", "backward"));
  for (int i = 6; i >= 1; --i) {
    b.node("B.o" + std::to_string(i), 2, {"s" + std::to_string(i), "g" + std::to_string(i)},
           {{"g" + std::to_string(i - 1), 10}}, 0, meta(unit[i - 1], "backward"));
  }
  return std::move(b).build();
}

std::vector<std::string> ids(const Graph& graph, const std::vector<NodeId>& nodes) {
  std::vector<std::string> out;
  for (NodeId n : nodes) out.push_back(graph.node(n).id);
  return out;
}

TEST(UnitSegments, ReadsUnitsFromMeta) {
  Graph graph = units_graph();
  GraphUnits units = graph_units(graph);
  ASSERT_EQ(units.units.size(), 6u);
  EXPECT_TRUE(units.has_loss_unit);
  EXPECT_EQ(units.counted(), 5);
  EXPECT_EQ(units.units[0].name, "0");
  EXPECT_EQ(ids(graph, units.units[0].forward), (std::vector<std::string>{"F.o1", "F.o2"}));
  EXPECT_EQ(ids(graph, units.units[0].backward), (std::vector<std::string>{"B.o2", "B.o1"}));
  EXPECT_EQ(ids(graph, units.units[5].forward), (std::vector<std::string>{"F.L"}));
}

// sqrt: K = round(sqrt(5)) = 2 segments {units 0-2} {units 3, 4, loss}; the first is recomputed.
// Hand replay (live bytes after each step, "during" in brackets where it is the high point):
//   forward of segment 1 keeps only x and the current activation: F.o1..F.o4 peak at [130] each
//   (20 live + a_i + s_i), leaving x, a4 = 20; F.o5 [130] -> x, a5, s5 = 120; F.o6 [230] -> 220;
//   F.L [221]; B.L [230]; B.o6 [230] -> x, s5, g5 = 120; B.o5 [130] -> x, g4 = 20;
//   recompute F.o1 [130] -> g4, a1, s1 = 120 (x dies); F.o2 [230]; F.o3 [330];
//   F.o4 [430] -> g4, s1..s4 = 410: the peak, 430; then the backwards release it.
// Cost: 21 + 4 recomputed forwards = 25.
TEST(UnitSegments, SqrtOrderAndPeakByHand) {
  Graph graph = units_graph();
  Schedule s = unit_sqrt_schedule(graph);
  testing::expect_replays(graph, s);
  EXPECT_EQ(s.solver, "sqrt-units(K=2)");
  EXPECT_EQ(ids(graph, compute_sequence(s)),
            (std::vector<std::string>{"F.o1", "F.o2", "F.o3", "F.o4", "F.o5", "F.o6", "F.L", "B.L", "B.o6", "B.o5",
                                      "F.o1", "F.o2", "F.o3", "F.o4", "B.o4", "B.o3", "B.o2", "B.o1"}));
  EXPECT_EQ(s.peak_bytes, 430u);
  EXPECT_DOUBLE_EQ(s.cost, 25.0);
}

// every2: segments {0, 1} {2, 3} {4, loss}; ends {2, 4, 5}.
//   F.o1..F.o3 [130] -> x, a3 = 20 (a3 stays: segment {2, 3} reads it again); F.o4 [130] -> 30;
//   F.o5 [140] -> x, a3, a5 = 30; F.o6 [140] -> x, a3, a6, s6 = 130; F.L [131]; B.L [140];
//   B.o6 [140] -> x, a3, g5 = 30; recompute F.o4 [140] -> x, g5, a4, s4 = 130 (a3 dies);
//   F.o5 [240] -> x, g5, s4, s5 = 220; B.o5 [230] -> 120; B.o4 [130] -> x, g3 = 20;
//   recompute F.o1 [130]; F.o2 [230]; F.o3 [330] -> g3, s1, s2, s3 = 310; backwards release.
// Peak 330 (smaller segments than sqrt's), cost 21 + 5 = 26.
TEST(UnitSegments, EveryTwoOrderAndPeakByHand) {
  Graph graph = units_graph();
  Schedule s = unit_every_k_schedule(graph, 2);
  testing::expect_replays(graph, s);
  EXPECT_EQ(s.solver, "every-k-units(k=2)");
  EXPECT_EQ(ids(graph, compute_sequence(s)),
            (std::vector<std::string>{"F.o1", "F.o2", "F.o3", "F.o4", "F.o5", "F.o6", "F.L", "B.L", "B.o6", "F.o4",
                                      "F.o5", "B.o5", "B.o4", "F.o1", "F.o2", "F.o3", "B.o3", "B.o2", "B.o1"}));
  EXPECT_EQ(s.peak_bytes, 330u);
  EXPECT_DOUBLE_EQ(s.cost, 26.0);
}

// One segment is the store-all order: nothing recomputed, cost 21, same peak as store-all.
TEST(UnitSegments, OneSegmentIsStoreAll) {
  Graph graph = units_graph();
  Schedule s = unit_segment_schedule(graph, {5}, "one");
  testing::expect_replays(graph, s);
  EXPECT_DOUBLE_EQ(s.cost, 21.0);
  EXPECT_EQ(s.peak_bytes, store_all_peak_bytes(graph));
  // Store-all holds all six s_i (600) + a6 + g6 around B.L: [620].
  EXPECT_EQ(s.peak_bytes, 620u);
}

TEST(UnitSegments, BadEnds) {
  Graph graph = units_graph();
  GraphUnits units = graph_units(graph);
  try {
    unit_segment_compute_order(units, {2, 4});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "unit segment ends must finish with the last unit 5 (got 4)");
  }
  try {
    unit_segment_compute_order(units, {3, 3, 5});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "unit segment end 3 at position 1 does not follow 3 (expected increasing units in 1..5)");
  }
}

TEST(UnitSegments, GraphWithoutUnitsIsAnError) {
  Graph graph = testing::spec_example_graph();
  try {
    unit_sqrt_schedule(graph);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has no unit meta on its nodes"), std::string::npos) << e.what();
  }
}

TEST(UnitSegments, NodeWithoutUnitOrPhase) {
  GraphBuilder b("partial");
  b.input("x", 10);
  b.node("F1", 1, {"x"}, {{"a1", 10}}, 0, meta("0", "forward"));
  b.node("F2", 1, {"a1"}, {{"a2", 10}});
  Graph missing_unit = std::move(b).build();
  try {
    graph_units(missing_unit);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("node \"F2\" of graph \"partial\" has no unit meta"), std::string::npos)
        << e.what();
  }
  GraphBuilder c("phase");
  c.input("x", 10);
  c.node("F1", 1, {"x"}, {{"a1", 10}}, 0, "{\"unit\": \"0\"}");
  Graph missing_phase = std::move(c).build();
  try {
    graph_units(missing_phase);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "node \"F1\" of graph \"phase\" has phase \"\" (expected meta \"phase\": \"forward\" or \"backward\")");
  }
}

TEST(UnitSegments, UnitsMustBeContiguous) {
  GraphBuilder b("split");
  b.input("x", 10);
  b.node("F1", 1, {"x"}, {{"a1", 10}}, 0, meta("0", "forward"));
  b.node("F2", 1, {"a1"}, {{"a2", 10}}, 0, meta("1", "forward"));
  b.node("F3", 1, {"a2"}, {{"a3", 10}}, 0, meta("0", "forward"));
  Graph graph = std::move(b).build();
  try {
    graph_units(graph);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "forward node \"F3\" of graph \"split\" belongs to unit \"0\", but unit \"1\" started after it "
              "(expected each unit's forward nodes to be contiguous)");
  }
}

TEST(UnitSegments, OnlyTheLossUnit) {
  GraphBuilder b("loss-only");
  b.input("x", 10);
  b.node("F.L", 1, {"x"}, {{"l", 1}}, 0, meta("loss", "forward"));
  Graph graph = std::move(b).build();
  try {
    graph_units(graph);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "graph \"loss-only\" has only the \"loss\" unit (expected at least one model unit to segment)");
  }
}

}  // namespace
}  // namespace gradrecomp
