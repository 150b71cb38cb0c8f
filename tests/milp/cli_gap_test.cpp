// `gradrecomp solve` prints the lower bound and the gap of `auto`'s answer (human and --json). Runs
// the built CLI next to this test executable (with the milp target, so the stage relaxation is
// installed as auto's bound).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gradrecomp/architectures.h"
#include "gradrecomp/io.h"
#include "support/cli.h"
#include "support/graphs.h"

namespace gradrecomp {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class CliGap : public ::testing::Test {
 protected:
  void SetUp() override {
    cli_ = testing::built_cli_path();
    ASSERT_TRUE(fs::exists(cli_)) << "the gradrecomp binary is not built at " << cli_;
    std::string pattern = (fs::temp_directory_path() / "gradrecomp-gap-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }
  std::string write(const std::string& name, const Graph& graph) {
    fs::path path = dir_ / name;
    std::ofstream(path) << graph_to_json(graph);
    return path.string();
  }
  // stdout of `gradrecomp <args>`; the exit code must be 0.
  std::string run(const std::string& args) {
    fs::path out = dir_ / "out.txt";
    std::string command = cli_.string() + " " + args + " >" + out.string() + " 2>&1 </dev/null";
    int status = std::system(command.c_str());
    const std::string text = testing::slurp(out);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command << "\n" << text;
    return text;
  }

  fs::path cli_, dir_;
};

// recompute_example at 219 bytes (tests/support/graphs.h, lower_bound_test.cpp): the optimum
// recomputes F1 once, cost 7; the stage relaxation proves 7, so the gap is 0 and auto's answer is
// proven optimal.
TEST_F(CliGap, ZeroGapWhenTheRelaxationProvesTheAnswer) {
  std::string g = write("recompute.json", testing::recompute_example());
  json doc = json::parse(run("solve " + g + " --budget 219 --json"));
  EXPECT_EQ(doc["cost"].get<double>(), 7.0);
  EXPECT_NEAR(doc["lower_bound_cost"].get<double>(), 7.0, 1e-5);
  EXPECT_LT(doc["gap"].get<double>(), 1e-6);
  EXPECT_TRUE(doc["proven_optimal"].get<bool>());
  EXPECT_NE(doc["note"].get<std::string>().find("gap 0.00% (stage relaxation"), std::string::npos) << doc["note"];
  std::string text = run("solve " + g + " --budget 219");
  EXPECT_NE(text.find("lower bound  7"), std::string::npos) << text;
  EXPECT_NE(text.find(", gap 0.00% (cost - bound) / cost"), std::string::npos) << text;
}

// A small residual net has parallel branches (the projection shortcut): only 16 of its 46 nodes
// are pivots (comparable with every node), so the relaxation has 16 stages and is weaker; the
// gap printed is (cost - bound) / cost with that bound, and the note says how coarse it was.
TEST_F(CliGap, CoarserBoundWhenTheOrderIsNotUnique) {
  ResidualNetOptions small{.batch_size = 2, .image_size = 32, .base_channels = 8, .num_classes = 10};
  small.blocks_per_stage = {1, 1};
  std::string g = write("residual.json", residual_net(2, small));
  json doc = json::parse(run("solve " + g + " --budget 80% --json"));
  const double cost = doc["cost"].get<double>(), total = doc["total_cost"].get<double>();
  const double bound = doc["lower_bound_cost"].get<double>();
  ASSERT_GT(cost, total);  // 80% needs recomputation
  EXPECT_GE(bound, total);
  EXPECT_LE(bound, cost);
  EXPECT_NEAR(doc["gap"].get<double>(), (cost - bound) / cost, 1e-12);
  EXPECT_NE(doc["note"].get<std::string>().find("(stage relaxation (16 stages for 46 nodes, "), std::string::npos)
      << doc["note"];
  std::string text = run("solve " + g + " --budget 80%");
  EXPECT_NE(text.find("lower bound  "), std::string::npos) << text;
}

}  // namespace
}  // namespace gradrecomp
