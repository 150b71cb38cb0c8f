// `gradrecomp info GRAPH.json [--json]`: what a training graph holds and which solvers apply.
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "gradrecomp/chain.h"
#include "gradrecomp/io.h"
#include "gradrecomp/simulate.h"
#include "gradrecomp/units.h"
#include "output.h"

namespace gradrecomp::cli {
namespace {

struct InfoArgs {
  std::string graph_path;
  bool json = false;
};

int run_info(const InfoArgs& args) {
  Graph graph = read_graph_file(args.graph_path);
  uint64_t input_bytes = 0;
  for (TensorId t : graph.graph_inputs()) input_bytes += graph.tensor(t).bytes;
  uint64_t store_all = store_all_peak_bytes(graph);
  std::string why_not_chain;
  std::optional<Chain> chain = recognize_chain(graph, &why_not_chain);

  struct Applicability {
    std::string name;
    std::optional<std::string> reason;
  };
  std::vector<Applicability> solvers;
  for (const Solver* s : all_solvers()) solvers.push_back({std::string(s->name()), s->unsupported_reason(graph)});

  if (args.json) {
    nlohmann::json doc;
    doc["graph"] = graph.name();
    doc["nodes"] = graph.num_nodes();
    doc["tensors"] = graph.num_tensors();
    doc["graph_inputs"] = graph.graph_inputs().size();
    doc["graph_input_bytes"] = input_bytes;
    doc["constant_bytes"] = graph.constant_bytes();
    doc["total_cost"] = graph.total_cost();
    doc["store_all_peak_bytes"] = store_all;
    doc["chain"] = chain ? nlohmann::json{{"is_chain", true}, {"stages", chain->length()}}
                         : nlohmann::json{{"is_chain", false}, {"why_not", why_not_chain}};
    nlohmann::json list = nlohmann::json::array();
    for (const auto& s : solvers) {
      nlohmann::json entry{{"name", s.name}, {"applies", !s.reason}};
      if (s.reason) entry["why_not"] = *s.reason;
      list.push_back(entry);
    }
    doc["solvers"] = list;
    std::cout << doc.dump(2) << "\n";
    return kExitOk;
  }

  std::string applies, not_applies;
  for (const auto& s : solvers) {
    if (!s.reason) applies += (applies.empty() ? "" : ", ") + s.name;
  }
  std::cout << key_values({
      {"graph", graph.name()},
      {"nodes", fmt::format("{}", graph.num_nodes())},
      {"tensors", fmt::format("{}", graph.num_tensors())},
      {"graph inputs", fmt::format("{}, {}", graph.graph_inputs().size(), format_bytes_exact(input_bytes))},
      {"constant bytes", format_bytes_exact(graph.constant_bytes()) + ", not part of any peak"},
      {"total cost", format_cost(graph.total_cost()) + " (every node once)"},
      {"store-all peak", format_bytes_exact(store_all) + ", the 100% reference"},
      {"chain", chain ? fmt::format("yes, {} stages", chain->length()) : "no: " + why_not_chain},
      {"solvers that apply", applies.empty() ? "none" : applies},
  });
  for (const auto& s : solvers) {
    if (s.reason) std::cout << fmt::format("  {} does not apply: {}\n", s.name, *s.reason);
  }
  return kExitOk;
}

}  // namespace

Command add_info_command(CLI::App& parent) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* app = parent.add_subcommand("info", "Describe a training graph: sizes, store-all peak, chain shape, "
                                                "which solvers apply");
  app->add_option("graph", args->graph_path, "training graph (gradrecomp.tgraph/1 JSON)")->required()->type_name("GRAPH");
  app->add_flag("--json", args->json, "print the same facts as a JSON object");
  return {app, [args] { return run_info(*args); }};
}

}  // namespace gradrecomp::cli
