// `gradrecomp compare` end to end: runs the built binary. With LibTorch it trains the tiny built-in
// model (--small, a few seconds) and checks the table, the JSON and the two SVGs; without LibTorch
// the subcommand must say so with exit code 2. Either way the test checks what this build does.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/cli.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using RunResult = gradrecomp::testing::CliRun;
using gradrecomp::testing::slurp;

class CliCompare : public ::testing::Test {
 protected:
  void SetUp() override {
    cli_ = gradrecomp::testing::built_cli_path();
    ASSERT_TRUE(fs::exists(cli_)) << "the gradrecomp binary is not built at " << cli_;
    std::string pattern = (fs::temp_directory_path() / "gradrecomp-compare-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }
  RunResult run(const std::string& args) { return gradrecomp::testing::run_cli(cli_, "compare " + args, dir_); }
  static bool without_torch(const RunResult& r) { return r.err.find("built without LibTorch") != std::string::npos; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path cli_;
  fs::path dir_;
};

TEST_F(CliCompare, TinyRunWritesTableJsonAndSvgs) {
  RunResult r = run("--small --batch 4 --steps 2 --memory-cap 2x --max-batch 16 --json '" + path("r.json") +
                    "' --svg '" + path("plot") + "'");
  if (without_torch(r)) {
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.err.rfind("gradrecomp: error: compare: gradrecomp was built without LibTorch", 0), 0u) << r.err;
    return;
  }
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* row : {"full ", "sqrt ", "every2 ", "optimal "}) {
    EXPECT_NE(r.out.find(row), std::string::npos) << row << "\n" << r.out;
  }
  EXPECT_NE(r.out.find("grads bitwise"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("NO ("), std::string::npos) << r.out;  // every gradient bitwise equal
  json j = json::parse(slurp(path("r.json")));
  ASSERT_EQ(j["strategies"].size(), 4u);
  const int64_t full_peak = j["strategies"][0]["measured"]["peak_bytes"];
  EXPECT_EQ(j["settings"]["memory_cap_bytes"], 2 * full_peak);
  for (const auto& s : j["strategies"]) {
    EXPECT_TRUE(s["gradients"]["bitwise_equal_to_full"].get<bool>()) << s["name"];
    const auto& b = s["batch_search"];
    const int64_t largest = b["largest_batch"];
    EXPECT_GE(largest, 4) << s["name"];  // 2x full's peak at batch 4 fits batch 4 at least
    EXPECT_LE(b["measured_peak_bytes"].get<int64_t>(), b["cap_bytes"].get<int64_t>());
  }
  EXPECT_LT(j["strategies"][1]["measured"]["peak_bytes"].get<int64_t>(), full_peak);  // sqrt saves memory
  for (const char* svg : {"plot-memory-overhead.svg", "plot-timeline.svg"}) {
    const std::string text = slurp(path(svg));
    EXPECT_EQ(text.rfind("<svg", 0), 0u) << svg;
    EXPECT_NE(text.find("every2"), std::string::npos) << svg;
    EXPECT_NE(text.find("</svg>"), std::string::npos) << svg;
  }
}

TEST_F(CliCompare, InfeasibleBudgetExitsThree) {
  RunResult r = run("--small --steps 1 --memory-cap none --budget 1KiB");
  if (without_torch(r)) {
    EXPECT_EQ(r.exit_code, 2);
    return;
  }
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.err.rfind("gradrecomp: error: optimal: budget 1.00 KiB (1024 bytes) is below the smallest feasible peak", 0),
            0u)
      << r.err;
}

TEST_F(CliCompare, BadInputExitsTwo) {
  RunResult unknown = run("--model no-such-model --steps 1");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.err;
  if (without_torch(unknown)) return;
  EXPECT_NE(unknown.err.find("unknown model \"no-such-model\" (expected one of: resnet-demo"), std::string::npos)
      << unknown.err;

  RunResult shape = run("--torchscript model.pt --input-shape 3,x,32");
  EXPECT_EQ(shape.exit_code, 2);
  EXPECT_NE(shape.err.find("--input-shape \"3,x,32\": \"x\" is not a positive integer"), std::string::npos) << shape.err;

  RunResult missing = run("--torchscript model.pt");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("--torchscript needs --input-shape"), std::string::npos) << missing.err;

  RunResult cap = run("--small --memory-cap 3y");
  EXPECT_EQ(cap.exit_code, 2);
  EXPECT_NE(cap.err.find("--memory-cap"), std::string::npos) << cap.err;
}

}  // namespace
