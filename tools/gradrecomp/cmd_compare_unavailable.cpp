// `gradrecomp compare` in a build without LibTorch: the subcommand exists (so --help lists it and
// scripts get a clear answer) but only says why it cannot run. With LibTorch, cmake/torch.cmake
// defines GRADRECOMP_HAVE_TORCH_CLI and links tools/gradrecomp/torch/cmd_compare.cpp instead.
#ifndef GRADRECOMP_HAVE_TORCH_CLI

#include "commands.h"

namespace gradrecomp::cli {

Command add_compare_command(CLI::App& parent) {
  CLI::App* app = parent.add_subcommand(
      "compare", "Train a model with full caching, sqrt and every-2 checkpointing and the optimal plan, and "
                 "measure memory, time, batch size and gradients (needs LibTorch; not in this build)");
  app->allow_extras();  // whatever the options, the answer is the same
  return {app, []() -> int {
            throw ExitError(kExitBadInput,
                            "compare: gradrecomp was built without LibTorch, so it cannot train models (install "
                            "libtorch-dev or point CMAKE_PREFIX_PATH at a LibTorch, then rebuild with "
                            "-DGRADRECOMP_WITH_TORCH=ON)");
          }};
}

}  // namespace gradrecomp::cli

#endif  // GRADRECOMP_HAVE_TORCH_CLI
