// `gradrecomp generate KIND --stages N [--seed S] [--batch B] [--out FILE]`: write a training graph
// from the generators of include/gradrecomp/generators.h (synthetic chains and DAGs) or
// include/gradrecomp/architectures.h (op-level ResNet, residual net, transformer, U-Net).
#include <memory>

#include <fmt/format.h>

#include "commands.h"
#include "gradrecomp/architectures.h"
#include "gradrecomp/error.h"
#include "gradrecomp/generators.h"
#include "gradrecomp/io.h"

namespace gradrecomp::cli {
namespace {

// Generators allocate per stage; this keeps a typo from asking for terabytes.
constexpr int32_t kMaxStages = 1000000;
constexpr const char* kKinds = "chain, random-chain, random-dag, resnet, residual-net, transformer or unet";

struct GenerateArgs {
  std::string kind;
  int32_t stages = 0;
  uint64_t seed = 1;
  int32_t batch = 0;  // 0: the architecture's default batch size
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
    if (args.kind == "resnet") {
      ResidualNetOptions options;
      if (args.batch > 0) options.batch_size = args.batch;
      return resnet(args.stages, options);
    }
    if (args.kind == "residual-net") {
      ResidualNetOptions options;
      if (args.batch > 0) options.batch_size = args.batch;
      return residual_net(args.stages, options);
    }
    if (args.kind == "transformer") {
      TransformerOptions options;
      if (args.batch > 0) options.batch_size = args.batch;
      return transformer(args.stages, options);
    }
    if (args.kind == "unet") {
      UNetOptions options;
      if (args.batch > 0) options.batch_size = args.batch;
      return unet(args.stages, options);
    }
    throw Error(fmt::format("unknown graph kind \"{}\" (expected {})", args.kind, kKinds));
  }();
  write_output(args.out, graph_to_json(graph));
  return kExitOk;
}

}  // namespace

Command add_generate_command(CLI::App& parent) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* app = parent.add_subcommand(
      "generate", "Write a training graph: chain (uniform, 1 MiB activations, forward cost 1, backward 2), "
                  "random-chain (heterogeneous sizes and costs), random-dag (a general DAG with its backward pass), "
                  "or an op-level architecture with sizes from shapes and FLOP costs: resnet (torchvision's "
                  "ResNet-N, N = 18, 34, 50, 101, 152), residual-net (N basic blocks), transformer (N GPT-2 "
                  "layers), unet (depth N)");
  app->add_option("kind", args->kind, kKinds)->required()->type_name("KIND");
  app->add_option("--stages", args->stages,
                  "chain stages; forward nodes (random-dag); depth (resnet, unet); blocks (residual-net); "
                  "layers (transformer)")
      ->required()
      ->type_name("N");
  app->add_option("--batch", args->batch,
                  "batch size of an architecture (0: its default: 32 for resnet/residual-net, 8 for "
                  "transformer/unet)")
      ->type_name("B")
      ->capture_default_str();
  app->add_option("--seed", args->seed, "random seed (random-chain, random-dag; the same seed gives the same graph)")
      ->type_name("S")
      ->capture_default_str();
  app->add_option("--out", args->out, "output file; - for stdout")->type_name("FILE")->capture_default_str();
  return {app, [args] { return run_generate(*args); }};
}

}  // namespace gradrecomp::cli
