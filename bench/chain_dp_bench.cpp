// Benchmark of the chain DP (include/gradrecomp/solvers/chain_dp.h). Prints markdown tables:
//   1. chain length x {whole Pareto table + frontier, one budget (top-down), smallest peak (scalar DP)};
//   2. exactness of memory_slots on 100-stage chains: cost over the exact optimum, of the rounded
//      table's own plan for each budget and of its replayed frontier.
// Usage: chain_dp_bench [--quick] [--max-seconds S] [--skip-exactness] [--max-stages N]
//                       (median of 3 runs; 1 with --quick; lengths above N are left out)
//        chain_dp_bench --digest N   prints a digest of every result (frontier bits, plans' ops,
//                       costs and peaks at 10 budgets, exact and 200 slots, seeds 1-3) of
//                       random_chain(N, seed): an optimisation must leave it unchanged.
// Chains: random_chain(n, seed 1) (heterogeneous, rotor shape), through the `chain-dp` adapter's
// model (chain_model_of). A configuration whose extrapolated time (n^3 from the previous length)
// exceeds --max-seconds (default 60) is skipped and reported as such.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gradrecomp/chain.h"
#include "gradrecomp/generators.h"
#include "gradrecomp/solvers/chain_dp.h"

using namespace gradrecomp;

namespace {

constexpr int32_t kSlots = 200;
// The exact table of a 200-stage chain takes minutes on the 2-core bench machine; 100 stages
// keeps the exactness table within a few minutes.
constexpr int32_t kExactnessStages = 100;
constexpr uint64_t kExactnessSeeds = 2;

double seconds_of(const std::function<void()>& work) {
  auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string format_seconds(double s) {
  char buf[64];
  if (s < 1e-3) std::snprintf(buf, sizeof buf, "%.0f us", s * 1e6);
  else if (s < 1) std::snprintf(buf, sizeof buf, "%.1f ms", s * 1e3);
  else std::snprintf(buf, sizeof buf, "%.2f s", s);
  return buf;
}

ChainModel model_of(int32_t n, uint64_t seed) {
  Graph g = random_chain(n, seed);
  return chain_model_of(g, require_chain(g, "bench"));
}

// FNV-1a over the bytes of every value fed to it.
struct Digest {
  uint64_t h = 1469598103934665603ull;
  template <class T>
  void add(const T& v) {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(&v);
    for (size_t i = 0; i < sizeof(T); ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  void add_plan(const std::optional<ChainPlan>& plan) {
    add(plan.has_value());
    if (!plan) return;
    add(plan->peak_bytes);
    add(plan->cost);
    for (const ChainOp& op : plan->ops) {
      add(static_cast<int32_t>(op.kind));
      add(op.stage);
      add(op.option);
    }
  }
};

int print_digest(int32_t n) {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    ChainModel model = model_of(n, seed);
    for (int32_t slots : {0, 200}) {
      Digest table, budget;
      ChainDp dp(model, slots);
      for (const auto& p : dp.frontier()) {
        table.add(p.peak_bytes);
        table.add(p.cost);
      }
      table.add(dp.table_points());
      const uint64_t low = chain_min_peak_bytes(model, slots), high = chain_store_all_plan(model).peak_bytes;
      for (int i = 0; i < 10; ++i) {
        uint64_t b = low + (high - low) * i / 9;
        table.add_plan(dp.plan_for_budget(b));
        budget.add_plan(solve_chain_budget(model, b, slots));
      }
      std::printf("n=%d seed=%llu slots=%d frontier=%zu table=%016llx budget=%016llx\n", n,
                  static_cast<unsigned long long>(seed), slots, dp.frontier().size(),
                  static_cast<unsigned long long>(table.h), static_cast<unsigned long long>(budget.h));
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  double max_seconds = 60;
  bool skip_exactness = false;
  int32_t max_stages = 2000;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--digest") && i + 1 < argc) return print_digest(std::atoi(argv[i + 1]));
    if (!std::strcmp(argv[i], "--max-stages") && i + 1 < argc) max_stages = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--quick")) runs = 1;
    else if (!std::strcmp(argv[i], "--max-seconds") && i + 1 < argc) max_seconds = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--skip-exactness")) skip_exactness = true;
  }

  std::printf("## chain-dp: time by chain length (random_chain(n, 1), median of %d run%s)\n\n", runs,
              runs > 1 ? "s" : "");
  std::printf("| stages | frontier points | table points | table + frontier | one budget (midway) | "
              "one budget (40%% of store-all) | smallest peak | table, %d slots | one budget (midway), %d slots |\n",
              kSlots, kSlots);
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::optional<std::pair<int32_t, double>> last_table, last_budget, last_min, last_slots_table, last_slots_budget;
  auto too_long = [&](const std::optional<std::pair<int32_t, double>>& last, int32_t n) {
    if (!last) return false;
    double ratio = static_cast<double>(n) / last->first;
    return last->second * ratio * ratio * ratio > max_seconds;
  };
  for (int32_t n : {10, 50, 100, 200, 500, 1000, 2000}) {
    if (n > max_stages) break;
    ChainModel model = model_of(n, 1);
    std::string table_cell = "skipped", points_cell = "-", table_points_cell = "-";
    std::string mid_cell = "skipped", forty_cell = "skipped", min_cell = "skipped";
    if (!too_long(last_table, n)) {
      std::vector<double> times;
      size_t points = 0;
      uint64_t table_points = 0;
      for (int r = 0; r < runs; ++r) {
        times.push_back(seconds_of([&] {
          ChainDp dp(model);
          points = dp.frontier().size();
          table_points = dp.table_points();
        }));
        if (times.back() > max_seconds) break;
      }
      double t = median(times);
      last_table = {n, t};
      table_cell = format_seconds(t);
      points_cell = std::to_string(points);
      table_points_cell = std::to_string(table_points);
    }
    uint64_t min_peak = 0;
    if (!too_long(last_min, n)) {
      std::vector<double> times;
      for (int r = 0; r < runs; ++r) times.push_back(seconds_of([&] { min_peak = chain_min_peak_bytes(model); }));
      double t = median(times);
      last_min = {n, t};
      min_cell = format_seconds(t);
    }
    const uint64_t store_all = chain_store_all_plan(model).peak_bytes;
    if (min_peak > 0 && !too_long(last_budget, n)) {
      uint64_t midway = min_peak + (store_all - min_peak) / 2;
      uint64_t forty = std::max<uint64_t>(min_peak, store_all * 2 / 5);
      std::vector<double> mid_times, forty_times;
      for (int r = 0; r < runs; ++r) {
        mid_times.push_back(seconds_of([&] { (void)solve_chain_budget(model, midway); }));
        forty_times.push_back(seconds_of([&] { (void)solve_chain_budget(model, forty); }));
      }
      double t = std::max(median(mid_times), median(forty_times));
      last_budget = {n, t};
      mid_cell = format_seconds(median(mid_times));
      forty_cell = format_seconds(median(forty_times)) + (forty == min_peak ? " (= min peak)" : "");
    }
    std::string slots_table_cell = "skipped", slots_budget_cell = "skipped";
    if (!too_long(last_slots_table, n)) {
      std::vector<double> times;
      for (int r = 0; r < runs; ++r) times.push_back(seconds_of([&] { ChainDp dp(model, kSlots); }));
      last_slots_table = {n, median(times)};
      slots_table_cell = format_seconds(median(times));
    }
    if (min_peak > 0 && !too_long(last_slots_budget, n)) {
      uint64_t midway = min_peak + (store_all - min_peak) / 2;
      std::vector<double> times;
      for (int r = 0; r < runs; ++r) times.push_back(seconds_of([&] { (void)solve_chain_budget(model, midway, kSlots); }));
      last_slots_budget = {n, median(times)};
      slots_budget_cell = format_seconds(median(times));
    }
    std::printf("| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, points_cell.c_str(), table_points_cell.c_str(),
                table_cell.c_str(), mid_cell.c_str(), forty_cell.c_str(), min_cell.c_str(), slots_table_cell.c_str(),
                slots_budget_cell.c_str());
    std::fflush(stdout);
  }

  if (skip_exactness) return 0;
  std::printf("\n## chain-dp: memory_slots vs exact on random_chain(%d, seed), seeds 1-%d\n\n", kExactnessStages,
              kExactnessSeeds);
  std::printf("Budgets: 10 evenly spaced between the exact smallest peak and the store-all peak. "
              "Cost over exact = mean and max of (cost / exact cost - 1) over budgets where both are feasible; "
              "infeasible = budgets the rounded model cannot meet although the exact one can.\n\n");
  std::printf("Replayed: the plans of every point of the rounded frontier, replayed on the exact model (their true "
              "peaks are lower than the rounded ones), Pareto-filtered; the cheapest whose true peak fits the budget "
              "(what the `chain-dp` solver's frontier() returns, since it replays and filters its schedules).\n\n");
  std::printf("| slots | table time (median) | largest subfrontier | mean cost over exact | max cost over exact | "
              "infeasible budgets | replayed: mean over exact | replayed: max over exact | replayed: infeasible |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::vector<ChainModel> models;
  for (uint64_t seed = 1; seed <= kExactnessSeeds; ++seed) models.push_back(model_of(kExactnessStages, seed));
  std::vector<std::vector<uint64_t>> budgets;
  std::vector<std::vector<double>> exact_costs;
  for (const ChainModel& model : models) {
    ChainDp exact(model);
    uint64_t low = exact.min_peak_bytes(), high = chain_store_all_plan(model).peak_bytes;
    std::vector<uint64_t> b;
    std::vector<double> c;
    for (int i = 0; i < 10; ++i) {
      b.push_back(low + (high - low) * i / 9);
      c.push_back(exact.plan_for_budget(b.back())->cost);
    }
    budgets.push_back(b);
    exact_costs.push_back(c);
  }
  for (int32_t slots : {100, 200, 500, 1000, 2000, 0}) {
    std::vector<double> times, overs, replayed_overs;
    uint64_t largest = 0;
    int infeasible = 0, replayed_infeasible = 0;
    for (size_t m = 0; m < models.size(); ++m) {
      std::optional<ChainDp> dp;
      times.push_back(seconds_of([&] { dp.emplace(models[m], slots); }));
      largest = std::max(largest, dp->largest_subfrontier());
      std::vector<ChainFrontierPoint> replayed;  // true peak and cost of each rounded point's plan
      for (const ChainFrontierPoint& point : dp->frontier()) {
        std::optional<ChainPlan> plan = dp->plan_for_budget(point.peak_bytes);
        replayed.push_back({plan->peak_bytes, plan->cost});
      }
      for (size_t i = 0; i < budgets[m].size(); ++i) {
        std::optional<double> best;
        for (const ChainFrontierPoint& p : replayed) {
          if (p.peak_bytes <= budgets[m][i] && (!best || p.cost < *best)) best = p.cost;
        }
        if (best) replayed_overs.push_back(*best / exact_costs[m][i] - 1);
        else ++replayed_infeasible;
      }
      for (size_t i = 0; i < budgets[m].size(); ++i) {
        std::optional<ChainPlan> plan = dp->plan_for_budget(budgets[m][i]);
        if (!plan) {
          ++infeasible;
          continue;
        }
        overs.push_back(plan->cost / exact_costs[m][i] - 1);
      }
    }
    auto mean_and_max = [](const std::vector<double>& v) {
      double mean = 0, worst = 0;
      for (double o : v) {
        mean += o;
        worst = std::max(worst, o);
      }
      return std::pair<double, double>{v.empty() ? 0 : mean / v.size(), worst};
    };
    const auto [mean, worst] = mean_and_max(overs);
    const auto [replayed_mean, replayed_worst] = mean_and_max(replayed_overs);
    std::printf("| %s | %s | %llu | %.3f%% | %.3f%% | %d of %zu | %.3f%% | %.3f%% | %d of %zu |\n",
                slots ? std::to_string(slots).c_str() : "exact", format_seconds(median(times)).c_str(),
                static_cast<unsigned long long>(largest), mean * 100, worst * 100, infeasible, models.size() * 10,
                replayed_mean * 100, replayed_worst * 100, replayed_infeasible, models.size() * 10);

    std::fflush(stdout);
  }
  return 0;
}
