// milp_bench: solve time, proven gap and formulation size of the `milp` solver on random DAGs,
// against the LP relaxation bound and the fast solvers at the same budget. Prints markdown.
//
//   milp_bench [--time-limit S] [--sizes 20,30,...] [--fractions 0.8,0.6] [--seeds N] [--compare-max N]
//   milp_bench --architectures 1     (only: `dtr` on the architecture generators, no CBC)
//   milp_bench --lazy 1 [--sizes 5,10,...] [--bound-limit S] [--checkmate-max NODES] [--residual 0]
//                                    (Checkmate vs lazy stages, and the stage-relaxation lower bound,
//                                    on random DAGs and small residual nets)
//
// Budgets are fractions of the store-all peak. Times: wall clock and process CPU time of
// milp_solve_budget (heuristic warm start + CBC; CBC's limit is on wall-clock time). "overhead" = cost / sum of node costs - 1.
// "gap" = (cost - CBC's best bound) / cost at the end of the run (0 when proven optimal).
// Rows up to --compare-max forward nodes also solve Checkmate as published (S and FREE binary, no
// pruning, no warm start) for comparison.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gradrecomp/architectures.h"
#include "gradrecomp/error.h"
#include "gradrecomp/generators.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/solver.h"
#include "gradrecomp/solvers/milp.h"

using namespace gradrecomp;

namespace {

template <typename T>
std::vector<T> parse_list(const std::string& text) {
  std::vector<T> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(static_cast<T>(std::stod(item)));
  return out;
}

std::string overhead_text(const Graph& g, const SolveResult& r) {
  if (r.status != SolveStatus::kSolved) return "infeasible";
  return fmt::format("{:.2f}", overhead_of(g, r.schedule.cost) * 100);
}

// `dtr` (the comparison heuristic) on op-level architecture graphs: overhead and time.
void architectures_table() {
  struct Named {
    std::string name;
    Graph graph;
  };
  std::vector<Named> graphs;
  graphs.push_back({"resnet(50), batch 32, 224x224", resnet(50)});
  graphs.push_back({"resnet(152)", resnet(152)});
  graphs.push_back({"transformer(12), GPT-2 small", transformer(12)});
  graphs.push_back({"unet(4), 6 convs per level", unet(4, UNetOptions{.convs_per_level = 6})});
  graphs.push_back({"residual_net(350), batch 8", residual_net(350, ResidualNetOptions{.batch_size = 8})});
  const Solver* dtr = find_solver("dtr");
  std::printf("| graph | nodes | budget | dtr overhead %% | wall s |\n|---|---|---|---|---|\n");
  for (const Named& g : graphs) {
    const uint64_t full = store_all_peak_bytes(g.graph);
    for (double f : {0.7, 0.5}) {
      auto begin = std::chrono::steady_clock::now();
      SolveResult r = dtr->solve_budget(g.graph, static_cast<uint64_t>(static_cast<double>(full) * f), SolveOptions());
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
      std::printf("| %s | %d | %.0f%% | %s | %.2f |\n", g.name.c_str(), g.graph.num_nodes(), f * 100,
                  overhead_text(g.graph, r).c_str(), seconds);
    }
  }
}

std::string status_of(const MilpSolveResult& r) {
  if (r.result.status != SolveStatus::kSolved) {
    return r.result.note.find("proven") != std::string::npos ? "infeasible" : "none found";
  }
  return r.result.proven_optimal ? "optimal" : "time limit";
}

double cpu_seconds_since(std::clock_t begin) { return static_cast<double>(std::clock() - begin) / CLOCKS_PER_SEC; }

// Checkmate (the default formulation) vs lazy stages, and the stage-relaxation bound, on
// random_dag(n) for n in `sizes` and a small residual net. Markdown.
void lazy_table(const std::vector<int32_t>& sizes, const std::vector<double>& fractions, double time_limit,
                double bound_limit, int32_t checkmate_max, bool residual) {
  struct Named {
    std::string name;
    Graph graph;
  };
  std::vector<Named> graphs;
  for (int32_t n : sizes) graphs.push_back({fmt::format("random_dag({}, 1)", n), random_dag(n, 1)});
  ResidualNetOptions small{.batch_size = 2, .image_size = 32, .base_channels = 8, .num_classes = 10};
  if (residual) {
    small.blocks_per_stage = {2};
    graphs.push_back({"residual_net(2 blocks, 1 stage, 32x32)", residual_net(2, small)});
    small.blocks_per_stage = {1, 1};
    graphs.push_back({"residual_net(2 blocks, 2 stages, 32x32)", residual_net(2, small)});
  }
  MilpOptions checkmate = MilpOptions().with_time_limit_seconds(time_limit).with_lazy_stages(false);
  MilpOptions lazy = MilpOptions().with_time_limit_seconds(time_limit).with_lazy_stages(true);
  std::printf("time limit %.0f s per solve (all rounds of lazy together); CPU seconds of milp_solve_budget; "
              "stage-relaxation bound: CBC, %.0f s limit\n\n", time_limit, bound_limit);
  std::printf("| graph | nodes | budget | checkmate: binaries / columns / rows | status | cpu s | overhead %% "
              "| lazy: binaries / columns / rows (last round) | rounds | detailed stages | status | cpu s | overhead %% "
              "| bound: columns / rows | bound overhead %% | bound cpu s | Checkmate LP overhead %% |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Named& g : graphs) {
    const uint64_t full = store_all_peak_bytes(g.graph);
    for (double f : fractions) {
      const uint64_t budget = static_cast<uint64_t>(static_cast<double>(full) * f);
      std::clock_t c0 = std::clock();
      const bool run_checkmate = g.graph.num_nodes() <= checkmate_max;
      MilpSolveResult a;
      if (run_checkmate) a = milp_solve_budget(g.graph, budget, checkmate);
      double a_cpu = cpu_seconds_since(c0);
      c0 = std::clock();
      MilpSolveResult b = milp_solve_budget(g.graph, budget, lazy);
      double b_cpu = cpu_seconds_since(c0);
      auto overhead = [&](const MilpSolveResult& r) {
        if (r.result.status != SolveStatus::kSolved) return std::string(run_checkmate ? "-" : "not run");
        verify_schedule(g.graph, r.result.schedule);
        return fmt::format("{:.2f}", overhead_of(g.graph, r.result.schedule.cost) * 100);
      };
      c0 = std::clock();
      CostLowerBound bound =
          schedule_cost_lower_bound(g.graph, budget, LowerBoundOptions().with_time_limit_seconds(bound_limit));
      double bound_cpu = cpu_seconds_since(c0);
      std::string bound_text = bound.infeasible ? "infeasible"
                               : bound.method.rfind("total cost", 0) == 0
                                   ? "0.00 (total cost: order not unique)"
                                   : fmt::format("{:.2f}{}", overhead_of(g.graph, bound.cost) * 100,
                                                 bound.relaxation_solved ? "" : " (time limit)");
      std::string lp = "not run";  // the Checkmate LP's root solve ignores the time limit on large graphs
      if (run_checkmate) {
        try {
          std::optional<double> v = milp_lower_bound(g.graph, budget, checkmate);
          lp = v ? fmt::format("{:.2f}", overhead_of(g.graph, *v) * 100) : "infeasible";
        } catch (const Error&) {
          lp = "timeout";
        }
      }
      std::printf("| %s | %d | %.0f%% | %lld / %lld / %lld | %s | %.1f | %s | %lld / %lld / %lld | %d | %d | %s | %.1f | %s "
                  "| %lld / %lld | %s | %.1f | %s |\n",
                  g.name.c_str(), g.graph.num_nodes(), f * 100, static_cast<long long>(a.stats.integers),
                  static_cast<long long>(a.stats.columns), static_cast<long long>(a.stats.rows),
                  run_checkmate ? status_of(a).c_str() : "not run",
                  a_cpu, overhead(a).c_str(), static_cast<long long>(b.stats.integers),
                  static_cast<long long>(b.stats.columns), static_cast<long long>(b.stats.rows), b.stats.rounds,
                  b.stats.detailed_stages, status_of(b).c_str(), b_cpu, overhead(b).c_str(),
                  static_cast<long long>(bound.stats.columns), static_cast<long long>(bound.stats.rows),
                  bound_text.c_str(), bound_cpu, lp.c_str());
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  double time_limit = 60;
  std::vector<int32_t> sizes = {20, 30, 40, 60, 80, 100};
  std::vector<double> fractions = {0.8, 0.6};
  int32_t seeds = 1, compare_max = 30;
  bool lazy = false, residual = true;
  double bound_limit = 30;
  int32_t checkmate_max = 1 << 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--time-limit") time_limit = std::stod(value);
    else if (flag == "--sizes") sizes = parse_list<int32_t>(value);
    else if (flag == "--fractions") fractions = parse_list<double>(value);
    else if (flag == "--seeds") seeds = std::stoi(value);
    else if (flag == "--compare-max") compare_max = std::stoi(value);
    else if (flag == "--lazy") lazy = std::stoi(value) != 0;
    else if (flag == "--bound-limit") bound_limit = std::stod(value);
    else if (flag == "--checkmate-max") checkmate_max = std::stoi(value);  // lazy table: Checkmate up to N nodes
    else if (flag == "--residual") residual = std::stoi(value) != 0;       // lazy table: the residual nets
    else if (flag == "--architectures") {
      architectures_table();
      return 0;
    }
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  register_milp_solver();
  if (lazy) {
    lazy_table(sizes, fractions, time_limit, bound_limit, checkmate_max, residual);
    return 0;
  }
  const Solver* dtr = find_solver("dtr");
  const Solver* dag = find_solver("dag");
  MilpOptions options = MilpOptions().with_time_limit_seconds(time_limit);

  std::printf("time limit %.0f s per CBC call; random_dag(n, seed) (2n nodes); budgets = fraction of store-all peak\n\n",
              time_limit);
  std::printf("| fwd nodes | seed | budget | binaries | columns | rows | warm start | status | wall s | cpu s | milp overhead %% "
              "| gap %% | LP bound overhead %% | dtr overhead %% | dag overhead %% |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::vector<std::string> comparison;
  for (int32_t n : sizes) {
    for (int32_t seed = 1; seed <= seeds; ++seed) {
      Graph g = random_dag(n, static_cast<uint64_t>(seed));
      const uint64_t full = store_all_peak_bytes(g);
      for (double f : fractions) {
        const uint64_t budget = static_cast<uint64_t>(static_cast<double>(full) * f);
        auto begin = std::chrono::steady_clock::now();
        std::clock_t cpu_begin = std::clock();
        MilpSolveResult r = milp_solve_budget(g, budget, options);
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
        double cpu_seconds = static_cast<double>(std::clock() - cpu_begin) / CLOCKS_PER_SEC;
        std::string status, overhead = "-", gap = "-", lp = "-";
        if (r.result.status == SolveStatus::kSolved) {
          status = r.result.proven_optimal ? "optimal" : "time limit";
          verify_schedule(g, r.result.schedule);
          overhead = fmt::format("{:.2f}", overhead_of(g, r.result.schedule.cost) * 100);
          if (r.result.lower_bound_cost) {
            gap = fmt::format("{:.2f}", (r.result.schedule.cost - *r.result.lower_bound_cost) / r.result.schedule.cost * 100);
          }
        } else {
          status = r.result.note.find("proven") != std::string::npos ? "infeasible" : "none found";
        }
        try {
          std::optional<double> bound = milp_lower_bound(g, budget, options);
          lp = bound ? fmt::format("{:.2f}", overhead_of(g, *bound) * 100) : "infeasible";
        } catch (const Error&) {
          lp = "timeout";
        }
        std::string dtr_text = dtr ? overhead_text(g, dtr->solve_budget(g, budget, SolveOptions())) : "n/a";
        std::string dag_text = "n/a";
        if (dag && !dag->unsupported_reason(g)) {
          try {
            dag_text = overhead_text(g, dag->solve_budget(g, budget, SolveOptions()));
          } catch (const Error&) {
            dag_text = "error";
          }
        }
        std::printf("| %d | %d | %.0f%% | %lld | %lld | %lld | %s | %s | %.1f | %.1f | %s | %s | %s | %s | %s |\n", n, seed,
                    f * 100, static_cast<long long>(r.stats.integers), static_cast<long long>(r.stats.columns),
                    static_cast<long long>(r.stats.rows), r.stats.warm_started ? r.stats.warm_start_from.c_str() : "no",
                    status.c_str(), seconds, cpu_seconds, overhead.c_str(), gap.c_str(), lp.c_str(), dtr_text.c_str(),
                    dag_text.c_str());
        std::fflush(stdout);

        if (n <= compare_max) {
          MilpOptions plain = options;
          plain.with_prune(false).with_warm_start(false).with_lazy_stages(false);
          auto t0 = std::chrono::steady_clock::now();
          MilpSolveResult p = milp_solve_budget(g, budget, plain);
          double plain_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          std::string plain_status = p.result.status != SolveStatus::kSolved ? "no solution"
                                     : p.result.proven_optimal              ? "optimal"
                                                                            : "time limit";
          std::string plain_cost = p.result.status == SolveStatus::kSolved
                                       ? fmt::format("{:.2f}", overhead_of(g, p.result.schedule.cost) * 100)
                                       : "-";
          comparison.push_back(fmt::format("| {} | {:.0f}% | {} / {} | {} | {:.2f} | {} | {:.2f} | {} / {} |", n, f * 100,
                                           p.stats.integers, r.stats.integers, plain_status, plain_seconds, status,
                                           seconds, plain_cost, overhead));
        }
      }
    }
  }
  if (!comparison.empty()) {
    std::printf("\nCheckmate as published (all of R, S, FREE binary; no pruning; no warm start) vs this formulation\n\n");
    std::printf("| fwd nodes | budget | binaries (published / ours) | published: status | published: s | ours: status "
                "| ours: s | overhead %% (published / ours) |\n|---|---|---|---|---|---|---|---|\n");
    for (const std::string& line : comparison) std::printf("%s\n", line.c_str());
  }
  return 0;
}
