// Parsing and writing the spec's documents: round trips and one test per kind of bad input,
// each checking that the message names the offending id or value and what was expected.
#include <gtest/gtest.h>

#include "gradrecomp/error.h"
#include "gradrecomp/io.h"
#include "gradrecomp/simulate.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

const char* kSpecGraph = R"({
  "format": "gradrecomp.tgraph/1",
  "name": "chain-3",
  "constant_bytes": 4096,
  "inputs":  [ {"id": "x", "bytes": 100} ],
  "nodes": [
    {"id": "F1", "cost": 2.0, "inputs": ["x"],        "outputs": [{"id": "a1", "bytes": 100}]},
    {"id": "F2", "cost": 3.0, "inputs": ["a1"],       "outputs": [{"id": "a2", "bytes": 50}, {"id": "s2", "bytes": 20}]},
    {"id": "B2", "cost": 6.0, "inputs": ["a2", "s2"], "outputs": [{"id": "g1", "bytes": 100}]},
    {"id": "B1", "cost": 4.0, "inputs": ["x", "g1"],  "outputs": [{"id": "g0", "bytes": 100}], "workspace_bytes": 8}
  ]
})";

const char* kSpecSchedule = R"({
  "format": "gradrecomp.schedule/1",
  "graph": "chain-3",
  "solver": "chain-dp",
  "budget_bytes": 320,
  "peak_bytes": 308,
  "cost": 15.0,
  "steps": [["compute", "F1"], ["compute", "F2"], ["free", "a1"], ["compute", "B2"], ["free", "a2"],
            ["free", "s2"], ["compute", "B1"], ["free", "x"], ["free", "g1"], ["free", "g0"]]
})";

// Expects parse_graph(text) to throw an Error whose message contains every fragment.
void expect_graph_error(const std::string& text, std::initializer_list<std::string> fragments) {
  try {
    parse_graph(text);
    ADD_FAILURE() << "expected an error for: " << text;
  } catch (const Error& e) {
    for (const std::string& fragment : fragments) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
          << "message \"" << e.what() << "\" lacks \"" << fragment << "\"";
    }
  }
}

// A spec-example graph with one substring replaced.
std::string spec_graph_with(const std::string& from, const std::string& to) {
  std::string text = kSpecGraph;
  size_t pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return text.replace(pos, from.size(), to);
}

TEST(ParseGraph, SpecExample) {
  Graph g = parse_graph(kSpecGraph);
  EXPECT_EQ(g.name(), "chain-3");
  EXPECT_EQ(g.constant_bytes(), 4096u);
  EXPECT_EQ(g.num_nodes(), 4);
  EXPECT_EQ(g.num_tensors(), 6);
  EXPECT_EQ(g.node(3).workspace_bytes, 8u);
  EXPECT_EQ(g.tensor(g.find_tensor("s2")).producer, g.find_node("F2"));
  EXPECT_EQ(g.tensor(g.find_tensor("x")).readers, (std::vector<NodeId>{0, 3}));
  EXPECT_DOUBLE_EQ(g.total_cost(), 15.0);
}

TEST(ParseGraph, RoundTripIsIdentical) {
  Graph g = parse_graph(kSpecGraph);
  std::string once = graph_to_json(g);
  EXPECT_EQ(graph_to_json(parse_graph(once)), once);
}

TEST(ParseGraph, MetaIsKeptAndIgnored) {
  Graph g = parse_graph(spec_graph_with(R"("id": "F1", "cost": 2.0,)", R"("id": "F1", "meta": {"op": "conv"}, "cost": 2.0,)"));
  EXPECT_EQ(g.node(0).meta_json, R"({"op":"conv"})");
}

TEST(ParseGraph, MalformedJsonNamesLineAndColumn) {
  expect_graph_error("{\n  \"format\": \"gradrecomp.tgraph/1\",\n  \"inputs\": [}\n", {"malformed JSON", "line 3"});
}

TEST(ParseGraph, UnknownFormat) {
  expect_graph_error(spec_graph_with("gradrecomp.tgraph/1", "gradrecomp.tgraph/2"),
                     {"unknown format \"gradrecomp.tgraph/2\"", "expected \"gradrecomp.tgraph/1\""});
}

TEST(ParseGraph, MissingField) {
  expect_graph_error(spec_graph_with(R"("cost": 3.0, )", ""), {"node \"F2\"", "missing field \"cost\""});
}

TEST(ParseGraph, WrongType) {
  expect_graph_error(spec_graph_with(R"("cost": 3.0)", R"("cost": "3")"), {"node \"F2\" \"cost\"", "expected a number", "string"});
}

TEST(ParseGraph, UnknownFieldIsReportedWithTheExpectedOnes) {
  expect_graph_error(spec_graph_with(R"("workspace_bytes": 8)", R"("worksapce_bytes": 8)"),
                     {"unknown field \"worksapce_bytes\"", "workspace_bytes"});
}

TEST(ParseGraph, DuplicateTensorId) {
  expect_graph_error(spec_graph_with(R"({"id": "s2", "bytes": 20})", R"({"id": "a1", "bytes": 20})"),
                     {"duplicate tensor id \"a1\""});
}

TEST(ParseGraph, DuplicateNodeId) {
  expect_graph_error(spec_graph_with(R"("id": "B1")", R"("id": "F1")"), {"duplicate node id \"F1\""});
}

TEST(ParseGraph, ReadBeforeProduced) {
  expect_graph_error(spec_graph_with(R"("inputs": ["a1"])", R"("inputs": ["g1"])"),
                     {"node \"F2\" reads tensor \"g1\" before it is produced", "topological order"});
}

TEST(ParseGraph, InputListedTwice) {
  expect_graph_error(spec_graph_with(R"(["a2", "s2"])", R"(["a2", "a2"])"), {"node \"B2\"", "input \"a2\" twice"});
}

TEST(ParseGraph, NegativeBytes) {
  expect_graph_error(spec_graph_with(R"({"id": "a2", "bytes": 50})", R"({"id": "a2", "bytes": -50})"),
                     {"output \"a2\"", "-50 is negative"});
}

TEST(ParseGraph, FractionalBytes) {
  expect_graph_error(spec_graph_with(R"({"id": "a2", "bytes": 50})", R"({"id": "a2", "bytes": 50.5})"),
                     {"50.5 is not an integer"});
}

TEST(ParseGraph, NegativeCost) {
  expect_graph_error(spec_graph_with(R"("cost": 3.0)", R"("cost": -3.0)"), {"node \"F2\" \"cost\"", "-3.0 is negative"});
}

TEST(ParseGraph, NonFiniteCostFromOverflowingLiteral) {
  // JSON has no NaN or Infinity literals; 1e999 is the way an infinite number sneaks in.
  try {
    parse_graph(spec_graph_with(R"("cost": 3.0)", R"("cost": 1e999)"));
    FAIL();
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("not finite"), std::string::npos) << what;
    EXPECT_NE(what.find("1e999"), std::string::npos) << what;
  }
}

TEST(ParseGraph, NanLiteralIsMalformed) {
  expect_graph_error(spec_graph_with(R"("cost": 3.0)", R"("cost": NaN)"), {"malformed JSON"});
}

TEST(ParseGraph, BytesBeyond64Bits) {
  expect_graph_error(spec_graph_with(R"({"id": "a2", "bytes": 50})", R"({"id": "a2", "bytes": 18446744073709551616})"),
                     {"overflows 64 bits"});
}

TEST(ParseGraph, BytesWhoseSumOverflows) {
  std::string text = spec_graph_with(R"({"id": "a2", "bytes": 50})", R"({"id": "a2", "bytes": 18446744073709551615})");
  expect_graph_error(text, {"overflows 64 bits"});
}

TEST(ParseGraph, TopLevelNotAnObject) { expect_graph_error("[1, 2]", {"expected a JSON object", "array"}); }

TEST(ParseGraph, EmptyId) {
  expect_graph_error(spec_graph_with(R"("id": "B1")", R"("id": "")"), {"id is empty"});
}

TEST(ParseSchedule, SpecExampleReplays) {
  Graph g = parse_graph(kSpecGraph);
  Schedule s = parse_schedule(kSpecSchedule, g);
  EXPECT_EQ(s.solver, "chain-dp");
  EXPECT_EQ(s.budget_bytes, std::optional<uint64_t>(320));
  testing::expect_replays(g, s);
  EXPECT_EQ(s.steps.size(), 10u);
}

TEST(ParseSchedule, RoundTripIsIdentical) {
  Graph g = parse_graph(kSpecGraph);
  std::string once = schedule_to_json(parse_schedule(kSpecSchedule, g), g);
  EXPECT_EQ(schedule_to_json(parse_schedule(once, g), g), once);
}

void expect_schedule_error(const std::string& text, std::initializer_list<std::string> fragments) {
  Graph g = parse_graph(kSpecGraph);
  try {
    parse_schedule(text, g);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    for (const std::string& fragment : fragments) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what() << " lacks " << fragment;
    }
  }
}

std::string spec_schedule_with(const std::string& from, const std::string& to) {
  std::string text = kSpecSchedule;
  size_t pos = text.find(from);
  EXPECT_NE(pos, std::string::npos) << from;
  return text.replace(pos, from.size(), to);
}

TEST(ParseSchedule, UnknownNode) {
  expect_schedule_error(spec_schedule_with(R"(["compute", "B2"])", R"(["compute", "B9"])"),
                        {"step 3", "unknown node \"B9\""});
}

TEST(ParseSchedule, UnknownTensor) {
  expect_schedule_error(spec_schedule_with(R"(["free", "a1"])", R"(["free", "zz"])"), {"step 2", "unknown tensor \"zz\""});
}

TEST(ParseSchedule, UnknownStepKind) {
  expect_schedule_error(spec_schedule_with(R"(["free", "a1"])", R"(["drop", "a1"])"), {"unknown step kind \"drop\""});
}

TEST(ParseSchedule, MalformedStep) {
  expect_schedule_error(spec_schedule_with(R"(["free", "a1"])", R"(["free"])"), {"step 2", "is not a step"});
}

TEST(ParseSchedule, WrongGraph) {
  expect_schedule_error(spec_schedule_with(R"("graph": "chain-3")", R"("graph": "other")"),
                        {"for graph \"other\"", "named \"chain-3\""});
}

TEST(ParseSchedule, UnknownFormat) {
  expect_schedule_error(spec_schedule_with("gradrecomp.schedule/1", "gradrecomp.tgraph/1"),
                        {"unknown format \"gradrecomp.tgraph/1\"", "expected \"gradrecomp.schedule/1\""});
}

TEST(ParseSchedule, NegativePeak) {
  expect_schedule_error(spec_schedule_with(R"("peak_bytes": 308)", R"("peak_bytes": -1)"), {"peak_bytes", "negative"});
}

TEST(ReadFile, MissingFileIsNamed) {
  try {
    read_graph_file("/nonexistent/graph.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "cannot open \"/nonexistent/graph.json\" for reading");
  }
}

}  // namespace
}  // namespace gradrecomp
