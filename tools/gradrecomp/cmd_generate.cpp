// `gradrecomp generate chain|random-chain|random-dag --stages N [--seed S] [--out FILE]`: write a
// training graph from the generators of include/gradrecomp/generators.h.
#include <memory>

#include <fmt/format.h>

#include "commands.h"
#include "gradrecomp/error.h"
#include "gradrecomp/generators.h"
#include "gradrecomp/io.h"

namespace gradrecomp::cli {
namespace {

// Generators allocate per stage; this keeps a typo from asking for terabytes.
constexpr int32_t kMaxStages = 1000000;

struct GenerateArgs {
  std::string kind;
  int32_t stages = 0;
  uint64_t seed = 1;
  std::string out = "-";
};

int run_generate(const GenerateArgs& args) {
  if (args.stages < 1 || args.stages > kMaxStages) {
    throw Error(fmt::format("--stages {} is out of range (expected 1 to {})", args.stages, kMaxStages));
  }
  Graph graph = [&] {
    if (args.kind == "chain") return uniform_chain(args.stages);
    if (args.kind == "random-chain") return random_chain(args.stages, args.seed);
    if (args.kind == "random-dag") return random_dag(args.stages, args.seed);
    throw Error(fmt::format("unknown graph kind \"{}\" (expected chain, random-chain or random-dag)", args.kind));
  }();
  write_output(args.out, graph_to_json(graph));
  return kExitOk;
}

}  // namespace

Command add_generate_command(CLI::App& parent) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* app = parent.add_subcommand(
      "generate", "Write a synthetic training graph: chain (uniform, 1 MiB activations, forward cost 1, backward 2), "
                  "random-chain (heterogeneous sizes and costs) or random-dag (a general DAG with its backward pass)");
  app->add_option("kind", args->kind, "chain, random-chain or random-dag")->required()->type_name("KIND");
  app->add_option("--stages", args->stages, "chain stages, or forward nodes for random-dag")->required()->type_name("N");
  app->add_option("--seed", args->seed, "random seed (random-chain, random-dag; the same seed gives the same graph)")
      ->type_name("S")
      ->capture_default_str();
  app->add_option("--out", args->out, "output file; - for stdout")->type_name("FILE")->capture_default_str();
  return {app, [args] { return run_generate(*args); }};
}

}  // namespace gradrecomp::cli
