// End-to-end tests of the `gradrecomp` command-line tool: they run the built binary (it sits next
// to this test executable in the build directory) and check exit codes, the one-line error
// messages, the JSON outputs and that written schedules replay.
//
// Most cases use the spec's example graph (formats.md section 1):
//
//   x(100) -> F1 -> a1(100) -> F2 -> a2(50), s2(20)
//                                     |
//   g0(100) <- B1 <- g1(100) <- B2 <--+      B1 also reads x and has an 8-byte workspace
//
// Its store-all replay: x=100; F1 -> 200; F2 -> 270; free a1 -> 170; B2 -> 270; free a2, s2 -> 200;
// B1 -> 200 + 100 (g0) + 8 (workspace) = 308, the peak; cost 2 + 3 + 6 + 4 = 15. B1 needs x, g1, g0
// and its workspace at once (308 bytes), so no schedule peaks lower: every budget below 308 is infeasible.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gradrecomp/architectures.h"
#include "gradrecomp/chain.h"
#include "gradrecomp/generators.h"
#include "gradrecomp/io.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solver.h"
#include "gradrecomp/units.h"
#include "support/cli.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using RunResult = testing::CliRun;
using testing::slurp;

fs::path cli_path() { return testing::built_cli_path(); }
std::string quote(const std::string& text) { return testing::shell_quote(text); }

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(cli_path())) << "the gradrecomp binary is not built at " << cli_path()
                                        << " (build the 'gradrecomp' target)";
    std::string pattern = (fs::temp_directory_path() / "gradrecomp-cli-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    spec_graph_ = file("spec.json", graph_to_json(testing::spec_example_graph()));
  }
  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  std::string file(const std::string& name, const std::string& text) {
    fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Runs `gradrecomp <args>` (args already shell-quoted where needed) and captures everything.
  RunResult run(const std::string& args) { return testing::run_cli(cli_path(), args, dir_); }

  fs::path dir_;
  std::string spec_graph_;
};

// An error is exactly one line on stderr with the documented prefix.
void expect_one_error_line(const RunResult& r, const std::string& must_contain) {
  EXPECT_EQ(r.err.rfind("gradrecomp: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(must_contain), std::string::npos) << "stderr: " << r.err;
}

TEST_F(Cli, HelpExitsZeroAndListsEveryRegisteredSolver) {
  RunResult top = run("--help");
  EXPECT_EQ(top.exit_code, 0) << top.err;
  for (const char* sub : {"info", "solve", "simulate", "frontier", "generate"}) {
    EXPECT_NE(top.out.find(sub), std::string::npos) << "top-level help does not mention " << sub;
    RunResult r = run(std::string(sub) + " --help");
    EXPECT_EQ(r.exit_code, 0) << sub << ": " << r.err;
    EXPECT_NE(r.out.find("Usage: gradrecomp " + std::string(sub)), std::string::npos) << r.out;
  }
  RunResult solve = run("solve --help");
  // The binary may register more (the optional MILP solver); everything in the core registry
  // must be listed, with its summary.
  for (const Solver* s : all_solvers()) {
    EXPECT_NE(solve.out.find(std::string(s->name())), std::string::npos) << "solve --help misses " << s->name();
    EXPECT_NE(solve.out.find(std::string(s->summary())), std::string::npos) << s->name();
  }
  EXPECT_NE(solve.out.find("--solver NAME=auto"), std::string::npos) << "default solver not shown:\n" << solve.out;
}

TEST_F(Cli, UsageErrorsExitTwoWithOneLine) {
  RunResult none = run("");
  EXPECT_EQ(none.exit_code, 2);
  expect_one_error_line(none, "subcommand");
  RunResult bogus = run("optimise x.json");
  EXPECT_EQ(bogus.exit_code, 2);
  expect_one_error_line(bogus, "unknown subcommand \"optimise\" (expected one of: info, solve");
  RunResult both = run("solve " + quote(spec_graph_) + " --budget 300 --max-overhead 5%");
  EXPECT_EQ(both.exit_code, 2);
  expect_one_error_line(both, "--budget excludes --max-overhead");
  RunResult neither = run("solve " + quote(spec_graph_));
  EXPECT_EQ(neither.exit_code, 2);
  expect_one_error_line(neither, "exactly one of --budget B or --max-overhead X (neither was given)");
}

TEST_F(Cli, MalformedJsonIsReportedWithLineAndColumn) {
  // Line 3 starts with "]" where a value is expected after "format":.
  std::string bad = file("bad.json", "{\n  \"format\": \n]\n");
  RunResult r = run("info " + quote(bad));
  EXPECT_EQ(r.exit_code, 2);
  expect_one_error_line(r, "malformed JSON");
  EXPECT_NE(r.err.find("line 3, column 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(bad), std::string::npos) << "message should name the file: " << r.err;
}

TEST_F(Cli, MissingFileAndBadGraphAreBadInput) {
  RunResult missing = run("info " + quote(path("nope.json")));
  EXPECT_EQ(missing.exit_code, 2);
  expect_one_error_line(missing, "cannot open \"" + path("nope.json") + "\" for reading");
  // B1 reads g1 before any node produced it: the spec's topological-order rule.
  json doc = json::parse(graph_to_json(testing::spec_example_graph()));
  std::swap(doc["nodes"][2], doc["nodes"][3]);  // B1 before B2
  RunResult order = run("info " + quote(file("order.json", doc.dump())));
  EXPECT_EQ(order.exit_code, 2);
  expect_one_error_line(order, "g1");
}

TEST_F(Cli, UnknownSolverNamesItAndTheKnownOnes) {
  RunResult r = run("solve " + quote(spec_graph_) + " --solver chain-magic --budget 400");
  EXPECT_EQ(r.exit_code, 2);
  expect_one_error_line(r, "unknown solver \"chain-magic\" (expected one of: ");
  EXPECT_NE(r.err.find("store-all"), std::string::npos) << r.err;
}

TEST_F(Cli, BadBudgetTextNamesTheValue) {
  RunResult r = run("solve " + quote(spec_graph_) + " --solver store-all --budget 12parsecs");
  EXPECT_EQ(r.exit_code, 2);
  expect_one_error_line(r, "--budget: size \"12parsecs\" has unknown unit \"parsecs\"");
  RunResult o = run("solve " + quote(spec_graph_) + " --solver store-all --max-overhead lots");
  EXPECT_EQ(o.exit_code, 2);
  expect_one_error_line(o, "--max-overhead: \"lots\" is not a fraction");
}

TEST_F(Cli, InfeasibleBudgetExitsThreeWithSmallestFeasiblePeak) {
  // store-all never recomputes, so its only schedule peaks at 308 bytes (see the top comment).
  RunResult r = run("solve " + quote(spec_graph_) + " --solver store-all --budget 300");
  EXPECT_EQ(r.exit_code, 3);
  expect_one_error_line(r, "budget 300 B is below the smallest feasible peak 308 B");

  // Same with sizes large enough for the human and exact forms: a 4-stage uniform chain of 1 MiB
  // activations; the budget of 1 MiB is below any schedule's peak.
  Graph chain = uniform_chain(4);
  uint64_t peak = store_all_peak_bytes(chain);
  std::string g = file("chain.json", graph_to_json(chain));
  RunResult big = run("solve " + quote(g) + " --solver store-all --budget 1MiB");
  EXPECT_EQ(big.exit_code, 3);
  expect_one_error_line(big, "budget 1.00 MiB (1048576 bytes) is below the smallest feasible peak " +
                                 format_bytes_exact(peak));
  // A percentage budget says what it resolved to.
  RunResult pct = run("solve " + quote(spec_graph_) + " --solver store-all --budget 50%");
  EXPECT_EQ(pct.exit_code, 3);
  expect_one_error_line(pct, "budget 50% of the store-all peak = 154 B is below the smallest feasible peak 308 B");
}

TEST_F(Cli, SolveJsonParsesAndOutWritesAScheduleSimulateAccepts) {
  std::string out = path("schedule.json");
  RunResult r = run("solve " + quote(spec_graph_) + " --solver store-all --budget 320 --json --out " + quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = json::parse(r.out);
  EXPECT_EQ(doc["status"], "solved");
  EXPECT_EQ(doc["solver"], "store-all");
  EXPECT_EQ(doc["budget_bytes"], 320);
  EXPECT_EQ(doc["peak_bytes"], 308);
  EXPECT_EQ(doc["store_all_peak_bytes"], 308);
  EXPECT_DOUBLE_EQ(doc["cost"].get<double>(), 15.0);
  EXPECT_DOUBLE_EQ(doc["overhead"].get<double>(), 0.0);
  EXPECT_EQ(doc["computes"], 4);
  EXPECT_EQ(doc["recomputations"], 0);

  Graph g = testing::spec_example_graph();
  Schedule written = read_schedule_file(out, g);
  testing::expect_replays(g, written);
  EXPECT_EQ(written.budget_bytes, 320u);

  RunResult sim = run("simulate " + quote(spec_graph_) + " " + quote(out) + " --json");
  ASSERT_EQ(sim.exit_code, 0) << sim.err;
  json s = json::parse(sim.out);
  EXPECT_EQ(s["valid"], true);
  EXPECT_EQ(s["agrees"], true);
  EXPECT_EQ(s["peak_bytes"], 308);
  EXPECT_EQ(s["peak_step"], 6);  // compute B1
}

TEST_F(Cli, AutoOnAChainSaysWhichSolverItUsedAndMeetsTheOverheadCap) {
  if (!find_solver("chain-dp")) GTEST_SKIP() << "chain-dp is not registered in this build";
  Graph chain = random_chain(10, 7);
  std::string g = file("rc.json", graph_to_json(chain));
  std::string out = path("auto.json");
  RunResult r = run("solve " + quote(g) + " --max-overhead 5% --json --out " + quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = json::parse(r.out);
  EXPECT_EQ(doc["solver"], "auto(chain-dp)");
  EXPECT_LE(doc["overhead"].get<double>(), 0.05 + 1e-9);
  Schedule s = read_schedule_file(out, chain);
  EXPECT_EQ(s.solver, "auto(chain-dp)");
  Simulation sim = testing::expect_replays(chain, s);
  EXPECT_LE(overhead_of(chain, sim.cost), 0.05 + 1e-9);
  EXPECT_LE(sim.peak_bytes, store_all_peak_bytes(chain));
}

TEST_F(Cli, AutoOnAGeneralDagUsesTheDagSolver) {
  if (!find_solver("dag")) GTEST_SKIP() << "dag is not registered in this build";
  // A diamond, which is not a chain (F3 reads a1, an output of F1, not of F2):
  //
  //   x(100) -> F1 -> a1(100) --+
  //     \                        +--> F3 -> l(10) -> B3 -> d1(100), d2(100)
  //      `--> F2 -> a2(100) ----+         B2 reads x, a2, d2;  B1 reads x, a1, d1
  GraphBuilder b("diamond");
  b.input("x", 100);
  b.node("F1", 1, {"x"}, {{"a1", 100}});
  b.node("F2", 1, {"x"}, {{"a2", 100}});
  b.node("F3", 1, {"a1", "a2"}, {{"l", 10}});
  b.node("B3", 2, {"l", "a1", "a2"}, {{"d1", 100}, {"d2", 100}});
  b.node("B2", 2, {"x", "a2", "d2"}, {{"gx2", 100}});
  b.node("B1", 2, {"x", "a1", "d1"}, {{"gx1", 100}});
  Graph dag = std::move(b).build();
  ASSERT_FALSE(recognize_chain(dag));
  std::string g = file("dag.json", graph_to_json(dag));
  std::string out = path("dag-schedule.json");
  RunResult r = run("solve " + quote(g) + " --max-overhead 0 --json --out " + quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = json::parse(r.out);
  EXPECT_EQ(doc["solver"], "auto(dag)");
  EXPECT_EQ(doc["note"].get<std::string>().rfind("auto used \"dag\"", 0), 0u) << doc["note"];
  EXPECT_DOUBLE_EQ(doc["overhead"].get<double>(), 0.0);
  Schedule s = read_schedule_file(out, dag);
  EXPECT_EQ(s.solver, "auto(dag)");
  testing::expect_replays(dag, s);
}

TEST_F(Cli, DumpMarksEveryRecomputation) {
  // Find a solver that recomputes on an 8-stage uniform chain within 60% of the store-all peak;
  // the dump must mark exactly as many lines "recompute" as the JSON counts.
  Graph chain = uniform_chain(8);
  std::string g = file("u8.json", graph_to_json(chain));
  for (const Solver* s : all_solvers()) {
    if (s->unsupported_reason(chain)) continue;
    std::string solver(s->name());
    RunResult j = run("solve " + quote(g) + " --solver " + solver + " --budget 60% --json");
    if (j.exit_code != 0) continue;
    int recomputes = json::parse(j.out)["recomputations"];
    if (recomputes == 0) continue;
    RunResult d = run("solve " + quote(g) + " --solver " + solver + " --budget 60% --dump");
    ASSERT_EQ(d.exit_code, 0) << d.err;
    int marked = 0;
    for (size_t pos = d.out.find("  recompute"); pos != std::string::npos; pos = d.out.find("  recompute", pos + 1)) {
      ++marked;
    }
    EXPECT_EQ(marked, recomputes) << solver << " dump:\n" << d.out;
    EXPECT_NE(d.out.find("<- peak"), std::string::npos) << d.out;
    return;
  }
  GTEST_SKIP() << "no registered solver recomputes on this chain";
}

TEST_F(Cli, ProgressStaysQuietForWorkUnderOneSecond) {
  // --progress forces the progress line even though stderr is a file here, but a store-all solve of
  // four nodes ends long before the one-second quiet period: stderr must stay empty.
  RunResult r = run("solve " + quote(spec_graph_) + " --solver store-all --budget 400 --progress");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("peak        308 B, 100.00% of store-all 308 B"), std::string::npos) << r.out;
}

TEST_F(Cli, SimulateRejectsAnInvalidScheduleWithTheFirstOffendingStep) {
  // a1 is freed before F2 reads it: step 2 is the first offending step.
  std::string bad = file("bad-schedule.json", R"({"format": "gradrecomp.schedule/1", "graph": "chain-3",
      "peak_bytes": 308, "cost": 15,
      "steps": [["compute", "F1"], ["free", "a1"], ["compute", "F2"], ["compute", "B2"], ["compute", "B1"]]})");
  RunResult r = run("simulate " + quote(spec_graph_) + " " + quote(bad));
  EXPECT_EQ(r.exit_code, 1);
  expect_one_error_line(r, "step 2 [compute F2]");
  EXPECT_NE(r.err.find("\"F2\" needs tensor \"a1\""), std::string::npos) << r.err;
}

TEST_F(Cli, SimulateReportsDisagreeingRecordedFigures) {
  // The schedule is the valid store-all one, but it claims a 300-byte peak and a cost of 14.
  std::string lying = file("lying.json", R"({"format": "gradrecomp.schedule/1", "graph": "chain-3",
      "peak_bytes": 300, "cost": 14,
      "steps": [["compute", "F1"], ["compute", "F2"], ["free", "a1"], ["compute", "B2"], ["free", "a2"],
                ["free", "s2"], ["compute", "B1"]]})");
  RunResult r = run("simulate " + quote(spec_graph_) + " " + quote(lying) + " --json");
  EXPECT_EQ(r.exit_code, 1);
  expect_one_error_line(r, "recorded peak_bytes 300 B but the replay peaks at 308 B");
  EXPECT_NE(r.err.find("recorded cost 14 but the replay costs 15"), std::string::npos) << r.err;
  json doc = json::parse(r.out);
  EXPECT_EQ(doc["valid"], true);
  EXPECT_EQ(doc["agrees"], false);
  EXPECT_EQ(doc["disagreements"].size(), 2u);
}

TEST_F(Cli, TimelineCsvHoldsTheReplayedBytesOfEveryStep) {
  std::string schedule = path("s.json");
  ASSERT_EQ(run("solve " + quote(spec_graph_) + " --solver store-all --budget 308 --out " + quote(schedule)).exit_code, 0);
  std::string csv = path("timeline.csv");
  RunResult r = run("simulate " + quote(spec_graph_) + " " + quote(schedule) + " --timeline " + quote(csv));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Header + 10 steps; step 1 (F2) holds 270 bytes and step 6 (B1) is the 308-byte peak.
  std::string text = slurp(csv);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 11) << text;
  EXPECT_NE(text.find("1,compute,F2,270,0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("6,compute,B1,308,0\n"), std::string::npos) << text;
  RunResult svg = run("simulate " + quote(spec_graph_) + " " + quote(schedule) + " --timeline " + quote(path("t.svg")));
  ASSERT_EQ(svg.exit_code, 0) << svg.err;
  EXPECT_NE(slurp(path("t.svg")).find("peak 308 B"), std::string::npos);
  RunResult bad = run("simulate " + quote(spec_graph_) + " " + quote(schedule) + " --timeline " + quote(path("t.png")));
  EXPECT_EQ(bad.exit_code, 2);
  expect_one_error_line(bad, "unknown extension");
}

TEST_F(Cli, InfoAndFrontierJsonParse) {
  RunResult info = run("info " + quote(spec_graph_) + " --json");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  json i = json::parse(info.out);
  EXPECT_EQ(i["graph"], "chain-3");
  EXPECT_EQ(i["nodes"], 4);
  EXPECT_EQ(i["tensors"], 6);  // x, a1, a2, s2, g1, g0
  EXPECT_EQ(i["constant_bytes"], 4096);
  EXPECT_EQ(i["store_all_peak_bytes"], 308);
  EXPECT_DOUBLE_EQ(i["total_cost"].get<double>(), 15.0);
  EXPECT_EQ(i["chain"]["is_chain"], true);
  EXPECT_EQ(i["chain"]["stages"], 2);
  // One entry per registered solver (the binary may add the optional MILP solver); store-all applies.
  EXPECT_GE(i["solvers"].size(), all_solvers().size());
  bool store_all_applies = false;
  for (const json& s : i["solvers"]) store_all_applies = store_all_applies || (s["name"] == "store-all" && s["applies"] == true);
  EXPECT_TRUE(store_all_applies) << info.out;

  std::string csv = path("f.csv"), svg = path("f.svg");
  RunResult f = run("frontier " + quote(spec_graph_) + " --solvers store-all --json --csv " + quote(csv) + " --svg " +
                    quote(svg));
  ASSERT_EQ(f.exit_code, 0) << f.err;
  json doc = json::parse(f.out);
  ASSERT_EQ(doc["solvers"].size(), 1u);
  EXPECT_EQ(doc["solvers"][0]["name"], "store-all");
  ASSERT_EQ(doc["solvers"][0]["points"].size(), 1u);
  EXPECT_EQ(doc["solvers"][0]["points"][0]["peak_bytes"], 308);
  EXPECT_EQ(slurp(csv), "solver,peak_bytes,memory_ratio,cost,overhead\nstore-all,308,1.000000,15,0.000000\n");
  std::string drawing = slurp(svg);
  EXPECT_EQ(drawing.rfind("<svg", 0), 0u);
  EXPECT_NE(drawing.find("store-all (1 pt)"), std::string::npos) << "legend missing";
  EXPECT_NE(drawing.find("</svg>"), std::string::npos);
}

TEST_F(Cli, FrontierDefaultRunsEveryApplicableSolverExceptAuto) {
  // The spec graph has 4 nodes, under the 16-node limit for the exact solvers, so every registered
  // solver either runs or is listed as skipped with its reason; only auto is skipped for being a
  // repeat. B1 alone needs x, g1, its output g0 and its workspace: 100 + 100 + 100 + 8 = 308 bytes,
  // so no schedule peaks lower and every frontier starts at 308.
  RunResult r = run("frontier " + quote(spec_graph_) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json doc = json::parse(r.out);
  std::map<std::string, std::string> where;
  for (const json& s : doc["solvers"]) {
    where[s["name"]] = "ran";
    ASSERT_FALSE(s["points"].empty()) << s["name"];
    EXPECT_EQ(s["points"][0]["peak_bytes"], 308) << s["name"];
  }
  for (const json& s : doc["skipped"]) {
    EXPECT_EQ(where.count(s["name"]), 0u) << s["name"] << " both ran and was skipped";
    where[s["name"]] = s["reason"];
  }
  for (const Solver* s : all_solvers()) {
    std::string name(s->name());
    ASSERT_EQ(where.count(name), 1u) << name << " neither ran nor was reported as skipped";
    if (name == "auto") EXPECT_NE(where[name].find("repeats the frontier"), std::string::npos) << where[name];
    else if (!s->unsupported_reason(testing::spec_example_graph())) EXPECT_EQ(where[name], "ran") << name;
  }
}

TEST_F(Cli, GenerateIsDeterministicAndInfoRecognisesTheChain) {
  ASSERT_EQ(run("generate random-chain --stages 5 --seed 11 --out " + quote(path("a.json"))).exit_code, 0);
  ASSERT_EQ(run("generate random-chain --stages 5 --seed 11 --out " + quote(path("b.json"))).exit_code, 0);
  ASSERT_EQ(run("generate random-chain --stages 5 --seed 12 --out " + quote(path("c.json"))).exit_code, 0);
  EXPECT_EQ(slurp(path("a.json")), slurp(path("b.json")));
  EXPECT_NE(slurp(path("a.json")), slurp(path("c.json")));
  EXPECT_EQ(slurp(path("a.json")), graph_to_json(random_chain(5, 11)));
  RunResult info = run("info " + quote(path("a.json")));
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("yes, 5 stages"), std::string::npos) << info.out;

  RunResult zero = run("generate chain --stages 0");
  EXPECT_EQ(zero.exit_code, 2);
  expect_one_error_line(zero, "--stages 0 is out of range (expected 1 to ");
  RunResult kind = run("generate tree --stages 3");
  EXPECT_EQ(kind.exit_code, 2);
  expect_one_error_line(kind, "unknown graph kind \"tree\"");
}

// The architecture generators are reachable from the CLI, equal the library's graphs, and the
// default solver plans them (a ResNet-18 at batch 2 is not a chain, so `auto` must use `dag`).
TEST_F(Cli, GenerateArchitecturesAndSolveThem) {
  ASSERT_EQ(run("generate resnet --stages 18 --batch 2 --out " + quote(path("r18.json"))).exit_code, 0);
  ResidualNetOptions options;
  options.batch_size = 2;
  EXPECT_EQ(slurp(path("r18.json")), graph_to_json(resnet(18, options)));
  RunResult solved = run("solve " + quote(path("r18.json")) + " --budget 50% --json");
  ASSERT_EQ(solved.exit_code, 0) << solved.err;
  json result = json::parse(solved.out);
  EXPECT_EQ(result["solver"], "auto(dag)");
  EXPECT_LE(result["memory_ratio"].get<double>(), 0.5);

  for (const char* kind : {"transformer --stages 1 --batch 1", "unet --stages 2 --batch 1", "residual-net --stages 3"}) {
    RunResult r = run(std::string("generate ") + kind);
    EXPECT_EQ(r.exit_code, 0) << kind << ": " << r.err;
    EXPECT_NO_THROW(parse_graph(r.out)) << kind;
  }
  RunResult depth = run("generate resnet --stages 19");
  EXPECT_EQ(depth.exit_code, 2);
  EXPECT_NE(depth.err.find("19"), std::string::npos) << depth.err;
}

}  // namespace
}  // namespace gradrecomp
