// Benchmark of the `dag` solver (include/gradrecomp/solvers/dag.h): quality and solve time.
//
//   dag_bench                 # markdown tables on stdout
//   dag_bench --quick         # fewer graphs (smoke run)
//
// Part 1, random DAGs of 20 to 100 nodes (random_dag with 10..50 forward nodes): dag's cost at
// budgets of 70/50% of the store-all peak against the exact `milp` solver when this program
// is built with GRADRECOMP_HAVE_MILP (and linked with gradrecomp_milp; see docs/benchmarks/dag.md
// for the command), and against the trivial lower bound (every node once) always.
// Part 2, architecture graphs (resnet, transformer, unet, residual_net up to ~2,800 nodes):
// time of one solve_budget at 50% and 30% of the store-all peak, overhead and memory ratio.
// Every schedule is replayed by verify_schedule() before a figure is printed.
#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gradrecomp/architectures.h"
#include "gradrecomp/generators.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solver.h"
#ifdef GRADRECOMP_HAVE_MILP
#include "gradrecomp/solvers/milp.h"
#endif

using namespace gradrecomp;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Timed {
  SolveResult result;
  double seconds = 0;      // wall clock
  double cpu_seconds = 0;  // this process's CPU time (the solvers are single-threaded; on a busy
                           // machine it is the better measure of the solver's own work)
};

Timed timed_solve(const Solver& solver, const Graph& graph, uint64_t budget, const SolveOptions& options) {
  Clock::time_point start = Clock::now();
  const std::clock_t cpu_start = std::clock();
  Timed t{solver.solve_budget(graph, budget, options), 0, 0};
  t.seconds = seconds_since(start);
  t.cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  if (t.result.status == SolveStatus::kSolved) verify_schedule(graph, t.result.schedule);
  return t;
}

void random_dags(bool quick) {
  const Solver& dag = *find_solver("dag");
  const Solver* milp = find_solver("milp");
  fmt::print("## Random DAGs (random_dag, default options)\n\n");
  fmt::print("Reference: {}\n\n", milp ? "`milp` (CBC, 30 s per solve, warm-started from the fast solvers); ratio = dag cost / milp cost; "
                                         "`proven` = CBC closed the gap"
                                       : "none (built without the milp target): only dag's own figures");
  fmt::print("| graph | nodes | budget | dag overhead | dag s | milp overhead | milp s | proven | milp bound | ratio |\n");
  fmt::print("|---|---:|---:|---:|---:|---:|---:|:---:|---:|---:|\n");
  double worst = 1, sum_ratio = 0;
  int compared = 0, within = 0;
  std::vector<int32_t> sizes = quick ? std::vector<int32_t>{10, 25} : std::vector<int32_t>{10, 20, 30, 50};
  for (int32_t forward : sizes) {
    for (uint64_t seed = 1; seed <= (quick ? 1u : 2u); ++seed) {
      Graph g = random_dag(forward, seed);
      const uint64_t store_all = store_all_peak_bytes(g);
      for (double fraction : {0.7, 0.5}) {
        const uint64_t budget = static_cast<uint64_t>(fraction * static_cast<double>(store_all));
        Timed mine = timed_solve(dag, g, budget, {});
        std::string mine_text = mine.result.status == SolveStatus::kSolved
                                    ? fmt::format("{:.2f}%", 100 * overhead_of(g, mine.result.schedule.cost))
                                    : "infeasible";
        std::string milp_text = "-", milp_time = "-", proven = "-", ratio_text = "-", bound = "-";
        if (milp) {
          Timed exact = timed_solve(*milp, g, budget, SolveOptions().with_time_limit_seconds(30));
          milp_time = fmt::format("{:.2f}", exact.seconds);
          if (exact.result.status == SolveStatus::kSolved) {
            milp_text = fmt::format("{:.2f}%", 100 * overhead_of(g, exact.result.schedule.cost));
            proven = exact.result.proven_optimal ? "yes" : "no";
            if (exact.result.lower_bound_cost) bound = fmt::format("{:.2f}%", 100 * overhead_of(g, *exact.result.lower_bound_cost));
            if (mine.result.status == SolveStatus::kSolved) {
              double ratio = mine.result.schedule.cost / exact.result.schedule.cost;
              ratio_text = fmt::format("{:.4f}", ratio);
              worst = std::max(worst, ratio);
              sum_ratio += ratio;
              ++compared;
              within += ratio <= 1.01;
            } else {
              ratio_text = "dag infeasible";
            }
          } else {
            milp_text = "infeasible";
          }
        }
        fmt::print("| {} | {} | {:.0f}% | {} | {:.3f} | {} | {} | {} | {} | {} |\n", g.name(), g.num_nodes(),
                   100 * fraction, mine_text, mine.seconds, milp_text, milp_time, proven, bound, ratio_text);
        std::fflush(stdout);
      }
    }
  }
  if (compared > 0) {
    fmt::print("\nCompared points: {}; within 1% of milp: {}; mean ratio {:.4f}; worst ratio {:.4f}\n\n", compared,
               within, sum_ratio / compared, worst);
  } else {
    fmt::print("\n");
  }
}

void architectures(bool quick) {
  const Solver& dag = *find_solver("dag");
  fmt::print("## Architecture graphs (one solve_budget each)\n\n");
  fmt::print("| graph | nodes | budget | wall s | cpu s | overhead | memory ratio | decompositions |\n");
  fmt::print("|---|---:|---:|---:|---:|---:|---:|---|\n");
  std::vector<std::function<Graph()>> makers = {
      [] { return resnet(50); }, [] { return resnet(152); }, [] { return transformer(12); },
      [] { return unet(4); }};
  if (!quick) {
    makers.push_back([] { return residual_net(35); });
    makers.push_back([] { return residual_net(200); });  // residual_net(350) crashed in its generator (see docs)
    makers.push_back([] { return transformer(48); });
  }
  for (const auto& make : makers) {
    Graph g = make();
    const uint64_t store_all = store_all_peak_bytes(g);
    for (double fraction : {0.5, 0.3}) {
      const uint64_t budget = static_cast<uint64_t>(fraction * static_cast<double>(store_all));
      Timed t = timed_solve(dag, g, budget, {});
      std::string decompositions = t.result.note.substr(0, t.result.note.find(';'));
      if (t.result.status == SolveStatus::kSolved) {
        fmt::print("| {} | {} | {:.0f}% | {:.3f} | {:.3f} | {:.2f}% | {:.3f} | {} |\n", g.name(), g.num_nodes(),
                   100 * fraction, t.seconds, t.cpu_seconds, 100 * overhead_of(g, t.result.schedule.cost),
                   memory_ratio_of(t.result.schedule.peak_bytes, store_all), decompositions);
      } else {
        fmt::print("| {} | {} | {:.0f}% | {:.3f} | {:.3f} | infeasible (min {:.3f}) | - | {} |\n", g.name(),
                   g.num_nodes(), 100 * fraction, t.seconds, t.cpu_seconds, memory_ratio_of(t.result.min_feasible_peak_bytes, store_all),
                   decompositions);
      }
      std::fflush(stdout);
    }
  }
  fmt::print("\n");
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, skip_random = false, skip_arch = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (std::strcmp(argv[i], "--architectures-only") == 0) skip_random = true;
    else if (std::strcmp(argv[i], "--random-only") == 0) skip_arch = true;
    else {
      fmt::print(stderr, "usage: dag_bench [--quick] [--architectures-only | --random-only]\n");
      return 2;
    }
  }
#ifdef GRADRECOMP_HAVE_MILP
  register_milp_solver();
#endif
  fmt::print("# dag solver benchmark\n\n");
  if (!skip_random) random_dags(quick);
  if (!skip_arch) architectures(quick);
  return 0;
}
