// The two drawings of `gradrecomp compare --svg PREFIX`, as self-contained SVG text.
//
//   write_output(prefix + "-memory-overhead.svg", gradrecomp::cli::compare_memory_overhead_svg(report));
//   write_output(prefix + "-timeline.svg", gradrecomp::cli::compare_timeline_svg(report));
#pragma once

#include <string>

#include "gradrecomp/torch/compare.h"

namespace gradrecomp::cli {

// Peak memory (% of full caching's) on x, step-time overhead (% over full caching) on y: one
// filled dot per strategy where it was measured, a ring where the simulator put the same plan,
// joined by a thin line, and the `auto` solver's simulated frontier as a step line.
std::string compare_memory_overhead_svg(const CompareReport& report);

// Measured memory during one training step of each strategy against time since the step's
// start: a step line per strategy (the peak during each schedule step), its peak in the legend.
std::string compare_timeline_svg(const CompareReport& report);

}  // namespace gradrecomp::cli
