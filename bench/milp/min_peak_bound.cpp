// min_peak_bound: a proven lower bound on the peak of every schedule within an overhead cap, from
// the loss-time relaxation (loss_time_min_peak_for_overhead, include/gradrecomp/solvers/milp.h),
// next to what the `auto` solver reaches at that cap. Used to show which memory targets are out
// of reach on a measured graph (docs/benchmarks/compare.md).
//
//   min_peak_bound GRAPH.json [--overhead 0.05] [--time-limit 2]
//   (graphs from `gradrecomp compare --save-graph FILE` or `gradrecomp generate`)
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include <fmt/format.h>

#include "gradrecomp/io.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solver.h"
#include "gradrecomp/solvers/milp.h"

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0) {
    std::cerr << "usage: min_peak_bound GRAPH.json [--overhead 0.05] [--time-limit 2]\n";
    return 2;
  }
  double overhead = 0.05, time_limit = 2;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--overhead") {
      overhead = std::atof(argv[i + 1]);
    } else if (flag == "--time-limit") {
      time_limit = std::atof(argv[i + 1]);
    } else {
      std::cerr << "min_peak_bound: unknown option " << flag << " (expected --overhead or --time-limit)\n";
      return 2;
    }
  }
  try {
    gradrecomp::register_milp_solver();
    const gradrecomp::Graph graph = gradrecomp::read_graph_file(argv[1]);
    const uint64_t full = gradrecomp::store_all_peak_bytes(graph);
    auto start = std::chrono::steady_clock::now();
    const uint64_t bound = gradrecomp::loss_time_min_peak_for_overhead(graph, overhead, time_limit);
    const double bound_seconds = seconds_since(start);
    start = std::chrono::steady_clock::now();
    gradrecomp::SolveResult r = gradrecomp::find_solver("auto")->solve_overhead(
        graph, overhead, gradrecomp::SolveOptions().with_lower_bound(false));
    const double solve_seconds = seconds_since(start);
    fmt::print("graph {} ({} nodes), store-all peak {} bytes, overhead cap {:.1f}%\n", graph.name(),
               graph.num_nodes(), full, overhead * 100);
    fmt::print("proven: every schedule within the cap peaks at >= {} bytes = {:.2f}% of store-all ({:.1f} s)\n",
               bound, 100.0 * static_cast<double>(bound) / static_cast<double>(full), bound_seconds);
    if (r.status == gradrecomp::SolveStatus::kSolved) {
      fmt::print("auto ({}): peak {} bytes = {:.2f}% of store-all at {:.2f}% overhead ({:.1f} s)\n",
                 r.schedule.solver, r.schedule.peak_bytes,
                 100.0 * static_cast<double>(r.schedule.peak_bytes) / static_cast<double>(full),
                 100.0 * gradrecomp::overhead_of(graph, r.schedule.cost), solve_seconds);
    } else {
      fmt::print("auto: no schedule within the cap ({})\n", r.note);
    }
  } catch (const std::exception& e) {
    std::cerr << "min_peak_bound: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
