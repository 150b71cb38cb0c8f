// `gradrecomp compare`'s report as JSON (compare_report_json, include/gradrecomp/torch/compare.h).
#include <string>

#include "gradrecomp/simulate.h"
#include "gradrecomp/torch/compare.h"

namespace gradrecomp {

nlohmann::json compare_report_json(const CompareReport& report) {
  using nlohmann::json;
  json out;
  out["format"] = "gradrecomp.compare/1";
  out["model"] = {{"name", report.model},
                  {"config", report.config},
                  {"input", report.input_description},
                  {"batch", report.batch},
                  {"parameters", report.parameters},
                  {"graph_nodes", report.graph_nodes},
                  {"units", report.units},
                  {"constant_bytes", report.constant_bytes},
                  {"batch_bytes", report.batch_bytes}};
  out["runtime"] = {{"threads", report.threads},
                    {"blas_libraries", report.blas_libraries},
                    {"torch_version", report.torch_version}};
  out["settings"] = {{"optimal_target", report.optimal_target},
                     {"memory_cap_bytes", report.memory_cap_bytes ? json(*report.memory_cap_bytes) : json(nullptr)},
                     {"steps", report.steps},
                     {"learning_rate", report.learning_rate}};
  const StrategyResult* full = report.strategies.empty() ? nullptr : &report.strategies[0];
  json strategies = json::array();
  for (const StrategyResult& r : report.strategies) {
    json s;
    s["name"] = std::string(strategy_name(r.plan.strategy));
    s["plan"] = r.plan.note;
    s["schedule_solver"] = r.plan.schedule.solver;
    s["recomputed_nodes"] = r.plan.recomputed_nodes;
    s["simulated"] = {{"peak_bytes", r.plan.schedule.peak_bytes},
                      {"cost_seconds", r.plan.schedule.cost},
                      {"overhead", r.plan.simulated_overhead},
                      {"peak_fraction_of_full",
                       full ? memory_ratio_of(r.plan.schedule.peak_bytes, full->plan.schedule.peak_bytes) : 1.0}};
    s["measured"] = {
        {"peak_bytes", r.measured_peak_bytes},
        {"peak_fraction_of_full",
         full && full->measured_peak_bytes > 0
             ? static_cast<double>(r.measured_peak_bytes) / static_cast<double>(full->measured_peak_bytes)
             : 1.0},
        {"peak_over_simulated", r.plan.schedule.peak_bytes > 0 ? static_cast<double>(r.measured_peak_bytes) /
                                                                     static_cast<double>(r.plan.schedule.peak_bytes)
                                                               : 0.0},
        {"step_seconds", r.step_seconds},
        {"median_step_seconds", r.median_step_seconds},
        {"overhead", r.overhead},
        {"step_cpu_seconds", r.step_cpu_seconds},
        {"median_step_cpu_seconds", r.median_step_cpu_seconds},
        {"cpu_overhead", r.cpu_overhead}};
    s["gradients"] = {{"bitwise_equal_to_full", r.gradients_equal},
                      {"first_mismatch", r.gradient_mismatch},
                      {"max_abs_difference", r.max_abs_gradient_difference},
                      {"loss", r.loss}};
    s["timeline"] = {{"end_seconds", r.timeline_end_seconds},
                     {"measured_peak_bytes", r.timeline_peak_bytes},
                     {"simulated_bytes", r.timeline_simulated_bytes},
                     {"steps", r.timeline_steps}};
    if (r.batch_search) {
      const BatchSearch& b = *r.batch_search;
      json probes = json::array();
      for (const BatchProbe& p : b.probes) {
        probes.push_back({{"batch", p.batch},
                          {"planned", p.planned},
                          {"simulated_peak_bytes", p.simulated_peak_bytes},
                          {"measured_peak_bytes", p.measured_peak_bytes},
                          {"fits", p.fits}});
      }
      json search = {{"cap_bytes", b.cap_bytes},
                     {"largest_batch", b.largest_batch},
                     {"measured_peak_bytes", b.measured_peak_bytes},
                     {"first_failing_batch", b.first_failing_batch ? json(*b.first_failing_batch) : json(nullptr)},
                     {"reached_max_batch", b.reached_max_batch},
                     {"plan", b.plan_note},
                     {"samples_per_second", b.samples_per_second},
                     {"throughput_step_seconds", b.throughput_step_seconds},
                     {"probes", probes}};
      if (full && full->batch_search && full->batch_search->largest_batch > 0) {
        search["batch_over_full"] =
            static_cast<double>(b.largest_batch) / static_cast<double>(full->batch_search->largest_batch);
        search["throughput_over_full"] = full->batch_search->samples_per_second > 0
                                             ? b.samples_per_second / full->batch_search->samples_per_second
                                             : 0.0;
      }
      s["batch_search"] = search;
    }
    strategies.push_back(s);
  }
  out["strategies"] = strategies;
  json frontier = json::array();
  for (const FrontierPoint& p : report.optimal_frontier) {
    frontier.push_back({{"peak_bytes", p.peak_bytes}, {"overhead", p.overhead}});
  }
  out["optimal_frontier_simulated"] = frontier;
  out["seconds"] = report.seconds;
  return out;
}

}  // namespace gradrecomp
