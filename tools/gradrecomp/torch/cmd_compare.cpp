// `gradrecomp compare [--model NAME [--small] | --torchscript FILE --input-shape C,H,W]`: train a
// model with full caching, sqrt and every-2 checkpointing and the optimal plan, and print what was
// measured (include/gradrecomp/torch/compare.h says how).
#include <torch/torch.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "compare_svg.h"
#include "gradrecomp/error.h"
#include "gradrecomp/io.h"
#include "gradrecomp/torch/compare.h"
#include "gradrecomp/torch/memory_tracker.h"
#include "gradrecomp/units.h"
#include "output.h"
#include "progress.h"

#include "gradrecomp/torch/models.h"
#include "gradrecomp/torch/torchscript.h"

namespace gradrecomp::cli {
namespace {

constexpr const char* kDefaultModel = "resnet-demo";
constexpr int64_t kSmallBatch = 8;   // the built-in model, --small zoo configs, TorchScript files
constexpr int64_t kFullBatch = 2;    // full-size zoo models
constexpr const char* kDefaultCap = "3x";

struct CompareArgs {
  std::string model;
  bool small = false;
  std::string torchscript;
  std::string input_shape;
  bool cross_entropy = false;
  int64_t batch = 0;
  int32_t steps = 5;
  std::string budget;
  std::string max_overhead = "5%";
  std::string memory_cap = kDefaultCap;
  int64_t max_batch = 4096;
  int32_t threads = 0;
  double learning_rate = 1e-4;
  std::string json;
  std::string svg;
  std::string save_graph;
  bool progress = false;
  std::string strategies = "full,sqrt,every2,optimal";
};

// "full,optimal" -> the strategies, full first (every ratio is over it).
std::vector<Strategy> parse_strategies(const std::string& text) {
  std::vector<Strategy> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::optional<Strategy> found;
    for (Strategy s : all_strategies()) {
      if (strategy_name(s) == item) found = s;
    }
    if (!found) {
      throw Error(fmt::format("--strategies: unknown strategy \"{}\" (expected a comma list of full, sqrt, every2, "
                              "optimal)", item));
    }
    if (std::find(out.begin(), out.end(), *found) != out.end()) {
      throw Error(fmt::format("--strategies: \"{}\" is listed twice", item));
    }
    out.push_back(*found);
  }
  if (out.empty() || out.front() != Strategy::kFull) {
    throw Error(fmt::format("--strategies \"{}\": the list must start with full (the reference of every ratio)", text));
  }
  return out;
}

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> shape;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    long long value = 0;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || value < 1) {
      throw Error(fmt::format("--input-shape \"{}\": \"{}\" is not a positive integer (expected sizes without the "
                              "batch dimension, e.g. 3,32,32)",
                              text, item));
    }
    shape.push_back(value);
  }
  if (shape.empty()) throw Error("--input-shape is empty (expected sizes without the batch dimension, e.g. 3,32,32)");
  return shape;
}

std::unique_ptr<ZooModel> load_model(const CompareArgs& args) {
  if (!args.torchscript.empty()) {
    if (!args.model.empty()) throw Error("give --model or --torchscript, not both");
    if (args.input_shape.empty()) throw Error("--torchscript needs --input-shape (e.g. 3,32,32)");
    const std::vector<int64_t> shape = parse_shape(args.input_shape);
    return std::make_unique<ZooModel>(load_torchscript_sequential(args.torchscript, shape, args.cross_entropy));
  }
  if (!args.input_shape.empty() || args.cross_entropy) {
    throw Error("--input-shape and --cross-entropy go with --torchscript FILE");
  }
  if (args.model.empty() || args.model == kDefaultModel) {
    return std::make_unique<ZooModel>(compare_default_model(/*tiny=*/args.small));
  }
  const std::vector<std::string> zoo = zoo_model_names();
  if (std::find(zoo.begin(), zoo.end(), args.model) == zoo.end()) {
    std::string names = kDefaultModel;
    for (const std::string& name : zoo) names += ", " + name;
    throw Error(fmt::format("unknown model \"{}\" (expected one of: {})", args.model, names));
  }
  return std::make_unique<ZooModel>(make_zoo_model(args.model, args.small ? ZooSize::kSmall : ZooSize::kFull));
}

// The solver's note without its long clauses (the dag solver lists every block decomposition it
// tried); --json keeps all of it.
std::string short_note(const std::string& note) {
  std::string out;
  size_t start = 0;
  while (start <= note.size()) {
    size_t end = note.find("; ", start);
    if (end == std::string::npos) end = note.size();
    const std::string clause = note.substr(start, end - start);
    if (!clause.empty() && clause.size() <= 120) out += (out.empty() ? "" : "; ") + clause;
    start = end + 2;
  }
  return out;
}

std::string mib(int64_t bytes) { return fmt::format("{:.2f}", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

std::string signed_percent(double fraction) { return fmt::format("{:+.1f}%", fraction * 100.0); }

std::string render_table(const CompareReport& r) {
  const StrategyResult& full = r.strategies[0];
  Table table({"strategy", "plan", "peak MiB", "% of full", "simulated %", "meas/sim", "overhead", "cpu overhead",
               "sim overhead", "batch under cap", "x full", "samples/s", "grads bitwise"},
              {Align::kLeft, Align::kLeft, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight,
               Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kRight, Align::kLeft});
  for (const StrategyResult& s : r.strategies) {
    const double of_full = static_cast<double>(s.measured_peak_bytes) / static_cast<double>(full.measured_peak_bytes);
    const double sim_of_full = memory_ratio_of(s.plan.schedule.peak_bytes, full.plan.schedule.peak_bytes);
    const double meas_sim = s.plan.schedule.peak_bytes
                                ? static_cast<double>(s.measured_peak_bytes) / static_cast<double>(s.plan.schedule.peak_bytes)
                                : 0.0;
    std::string batch = "-", times = "-", throughput = "-";
    if (s.batch_search) {
      const BatchSearch& b = *s.batch_search;
      if (b.largest_batch == 0) {
        batch = "none";
      } else {
        batch = fmt::format("{}{}", b.largest_batch, b.reached_max_batch ? "+" : "");
        throughput = fmt::format("{:.1f}", b.samples_per_second);
        if (full.batch_search && full.batch_search->largest_batch > 0) {
          times = fmt::format("{:.2f}x", static_cast<double>(b.largest_batch) /
                                             static_cast<double>(full.batch_search->largest_batch));
        }
      }
    }
    const bool is_full = &s == &full;
    table.add_row({std::string(strategy_name(s.plan.strategy)), s.plan.schedule.solver, mib(s.measured_peak_bytes),
                   fmt::format("{:.1f}%", 100.0 * of_full), fmt::format("{:.1f}%", 100.0 * sim_of_full),
                   fmt::format("{:.3f}", meas_sim), is_full ? "0 (ref)" : signed_percent(s.overhead),
                   is_full ? "0 (ref)" : signed_percent(s.cpu_overhead), signed_percent(s.plan.simulated_overhead), batch, times, throughput,
                   is_full ? "(reference)" : s.gradients_equal ? "yes" : "NO (" + s.gradient_mismatch + ")"});
  }
  return table.render();
}

int run_compare(CompareArgs& args) {
  if (args.steps < 1) throw Error(fmt::format("--steps {} (expected >= 1)", args.steps));
  if (args.batch < 0) throw Error(fmt::format("--batch {} (expected >= 1)", args.batch));
  if (args.max_batch < 1) throw Error(fmt::format("--max-batch {} (expected >= 1)", args.max_batch));
  if (args.threads < 0) throw Error(fmt::format("--threads {} (expected >= 1)", args.threads));
  CompareOptions options;
  options.steps = args.steps;
  options.learning_rate = args.learning_rate;
  options.max_batch = args.max_batch;
  options.strategies = parse_strategies(args.strategies);
  if (!args.budget.empty()) {
    try {
      options.optimal.budget = parse_budget(args.budget);
    } catch (const Error& e) {
      throw Error(fmt::format("--budget: {}", e.what()));
    }
  } else {
    try {
      options.optimal.max_overhead = parse_fraction(args.max_overhead);
    } catch (const Error& e) {
      throw Error(fmt::format("--max-overhead: {}", e.what()));
    }
  }
  const std::string cap = args.memory_cap;
  if (cap != "none") {
    if (!cap.empty() && (cap.back() == 'x' || cap.back() == 'X')) {
      double multiple = 0;
      size_t used = 0;
      try {
        multiple = std::stod(cap.substr(0, cap.size() - 1), &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != cap.size() - 1 || !(multiple > 0)) {
        throw Error(fmt::format("--memory-cap \"{}\" (expected a size like 512MiB, a multiple of full caching's "
                                "peak like 3x, or none)",
                                cap));
      }
      options.memory_cap_full_multiple = multiple;
    } else {
      try {
        options.memory_cap_bytes = parse_bytes(cap);
      } catch (const Error& e) {
        throw Error(fmt::format("--memory-cap: {} (or a multiple of full caching's peak like 3x, or none)", e.what()));
      }
      if (*options.memory_cap_bytes == 0) throw Error("--memory-cap 0 (expected a positive size)");
    }
  }
  if (args.threads > 0) at::set_num_threads(args.threads);
  MemoryTracker::install();

  std::unique_ptr<ZooModel> model = load_model(args);
  const int64_t batch = args.batch > 0 ? args.batch
                        : (model->config == "full" ? kFullBatch : kSmallBatch);
  std::cout << fmt::format("gradrecomp compare: {} ({}), {}, batch {}, {} parameters\n", model->name, model->config,
                           model->input_description, batch, model->parameters);

  Progress progress(args.progress);
  progress.begin("compare");
  options.progress = progress.callback();
  CompareReport report;
  try {
    report = compare_strategies(*model, batch, options);
  } catch (const InfeasibleTarget& e) {
    progress.end();
    throw ExitError(kExitInfeasible, fmt::format("optimal: {}", e.what()));
  }
  progress.end();

  std::string blas;
  for (const std::string& lib : report.blas_libraries) blas += (blas.empty() ? "" : ", ") + lib;
  std::cout << key_values({
      {"model graph", fmt::format("{} nodes, {} units (+ loss); parameters, gradients and buffers {} (not counted "
                                  "below)",
                                  report.graph_nodes, report.units, format_bytes(report.constant_bytes))},
      {"runtime", fmt::format("LibTorch {}, {} thread(s); BLAS/OpenMP: {}", report.torch_version, report.threads,
                              blas.empty() ? "none found in /proc/self/maps" : blas)},
      {"optimal", report.optimal_target + ": " + short_note(report.strategies.back().plan.note)},
      {"time", fmt::format("median of {} interleaved rounds (order rotated each round) after a warm-up step; "
                           "executor step + SGD (lr {:g}); wall clock, and process CPU time (less disturbed by other "
                           "load)",
                           report.steps, report.learning_rate)},
      {"full caching", fmt::format("median step {:.1f} ms wall, {:.1f} ms CPU", 1e3 * report.strategies[0].median_step_seconds,
                                   1e3 * report.strategies[0].median_step_cpu_seconds)},
      {"memory", "peak of live CPU bytes during one step (counting allocator): batch, activations, their "
                 "gradients, workspaces"},
      {"batch under cap", report.memory_cap_bytes
                              ? fmt::format("largest batch whose measured peak <= {}{}", format_bytes_exact(*report.memory_cap_bytes),
                                            options.memory_cap_full_multiple
                                                ? fmt::format(" ({:g}x full caching's peak at batch {})",
                                                              *options.memory_cap_full_multiple, batch)
                                                : "")
                              : std::string("not searched (--memory-cap none)")},
  });
  std::cout << "\n" << render_table(report);
  // What the table cannot say in one cell.
  for (const StrategyResult& s : report.strategies) {
    if (!s.batch_search) continue;
    const BatchSearch& b = *s.batch_search;
    const std::string name(strategy_name(s.plan.strategy));
    if (b.largest_batch == 0) {
      // The bisection below a failing base batch ends with a probe of batch 1.
      const BatchProbe& one = b.probes.back();
      std::cout << fmt::format("note: {}: not even batch {} fits under the cap {}: it needs {}\n", name, one.batch,
                               format_bytes_exact(b.cap_bytes),
                               one.planned ? format_bytes_exact(static_cast<uint64_t>(one.measured_peak_bytes)) + " measured"
                                           : format_bytes_exact(one.simulated_peak_bytes) +
                                                 " (no plan fits: the smallest feasible peak, simulated)");
    } else if (b.reached_max_batch) {
      std::cout << fmt::format("note: {}: batch {} (--max-batch) still fits; the search stopped there\n", name,
                               b.largest_batch);
    }
  }
  std::cout << fmt::format("\n{} probes in the batch search; total {:.1f} s\n",
                           [&] {
                             size_t n = 0;
                             for (const StrategyResult& s : report.strategies) n += s.batch_search ? s.batch_search->probes.size() : 0;
                             return n;
                           }(),
                           report.seconds);

  if (!args.json.empty()) write_output(args.json, compare_report_json(report).dump(2) + "\n");
  if (!args.save_graph.empty()) write_output(args.save_graph, graph_to_json(report.graph));
  if (!args.svg.empty()) {
    write_output(args.svg + "-memory-overhead.svg", compare_memory_overhead_svg(report));
    write_output(args.svg + "-timeline.svg", compare_timeline_svg(report));
    std::cout << fmt::format("wrote {0}-memory-overhead.svg and {0}-timeline.svg\n", args.svg);
  }
  return kExitOk;
}

}  // namespace

Command add_compare_command(CLI::App& parent) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* app = parent.add_subcommand(
      "compare",
      "Train a model on synthetic data with full caching, sqrt(N) and every-2 checkpointing (PyTorch "
      "checkpoint_sequential on the model's top-level units) and the optimal plan; measure peak memory, step "
      "time, the largest batch under a memory cap with its throughput, and whether gradients are bitwise equal");
  app->add_option("--model", args->model,
                  fmt::format("model to train (default: \"{}\", an 8-block ResNet-style net on 3x32x32 images"
                              "; or a zoo model: resnet152, bert_large, vit_b_16, gpt2"
                              ")",
                              kDefaultModel))
      ->type_name("NAME");
  app->add_flag("--small", args->small,
                fmt::format("small configuration of the model (\"{}\": 4 blocks of 8 channels on 3x16x16)", kDefaultModel));
  app->add_option("--torchscript", args->torchscript,
                  "train a TorchScript file of a torch.nn.Sequential instead (torch.jit.script(model).save(FILE))")
      ->type_name("FILE");
  app->add_option("--input-shape", args->input_shape, "with --torchscript: one sample's shape, e.g. 3,32,32")
      ->type_name("C,H,W");
  app->add_flag("--cross-entropy", args->cross_entropy,
                "with --torchscript: cross-entropy on synthetic labels (2-D outputs) instead of mean(output^2)");
  app->add_option("--batch", args->batch,
                  fmt::format("base batch size (default: {} for the built-in model, --small and TorchScript; {} for "
                              "full-size zoo models)",
                              kSmallBatch, kFullBatch))
      ->type_name("N");
  app->add_option("--steps", args->steps, "timed rounds; each runs every strategy once")->capture_default_str();
  auto* budget = app->add_option("--budget", args->budget,
                                 "optimal: the cheapest plan within this activation budget (512MiB, 2GiB, or 40% of "
                                 "full caching's simulated peak) instead of --max-overhead");
  budget->type_name("B");
  auto* overhead = app->add_option("--max-overhead", args->max_overhead,
                                   "optimal: the least memory within this simulated overhead (5% or 0.05)");
  overhead->type_name("X")->capture_default_str();
  budget->excludes(overhead);
  app->add_option("--memory-cap", args->memory_cap,
                  "batch search: the largest batch whose measured peak fits this cap (512MiB, 1GiB), or a multiple "
                  "of full caching's measured peak at the base batch (3x), or none to skip the search")
      ->type_name("BYTES|Nx|none")
      ->capture_default_str();
  app->add_option("--max-batch", args->max_batch, "batch search: the largest batch tried")->capture_default_str();
  app->add_option("--threads", args->threads, "LibTorch intra-op threads (default: LibTorch's choice)")->type_name("N");
  app->add_option("--lr", args->learning_rate, "SGD learning rate of the training steps")->capture_default_str();
  app->add_option("--json", args->json, "write everything measured as JSON to FILE (- for stdout)")->type_name("FILE");
  app->add_option("--svg", args->svg,
                  "write PREFIX-memory-overhead.svg (peak memory vs overhead per strategy, with the optimal solver's "
                  "simulated frontier) and PREFIX-timeline.svg (measured memory during one step of each strategy)")
      ->type_name("PREFIX");
  app->add_option("--save-graph", args->save_graph,
                  "write the training graph profiled at the base batch (gradrecomp.tgraph/1) to FILE, for "
                  "'gradrecomp solve' and friends")
      ->type_name("FILE");
  app->add_option("--strategies", args->strategies,
                  "comma list of strategies to run, starting with full (the reference)")
      ->capture_default_str();
  app->add_flag("--progress", args->progress, "show progress on stderr even when it is not a terminal");
  app->footer(
      "The default run (no options) trains the built-in model at batch 8 for 5 rounds and searches the batch under\n"
      "3x full caching's peak: about 2 minutes on a 2-core machine.\n"
      "Exit codes: 0 ok; 2 bad input (unknown model, bad shape or option); 3 --budget below the smallest feasible "
      "peak\n(the message gives it).");
  return {app, [args] { return run_compare(*args); }};
}

}  // namespace gradrecomp::cli
