// checkpoint_sequential on a model's top-level units. Problem, algorithm, complexity and memory
// model: include/gradrecomp/solvers/units.h.
#include "gradrecomp/solvers/units.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gradrecomp/error.h"
#include "gradrecomp/solvers/segments.h"

namespace gradrecomp {
namespace {

struct NodeUnit {
  std::optional<std::string> unit;
  std::optional<std::string> phase;
};

NodeUnit read_node_unit(const Graph& graph, NodeId n) {
  const Node& node = graph.node(n);
  NodeUnit result;
  if (node.meta_json.empty()) return result;
  nlohmann::json meta = nlohmann::json::parse(node.meta_json, nullptr, /*allow_exceptions=*/false);
  if (!meta.is_object()) return result;
  auto string_field = [&](const char* key) -> std::optional<std::string> {
    auto it = meta.find(key);
    if (it == meta.end()) return std::nullopt;
    if (!it->is_string()) {
      throw Error(fmt::format("node \"{}\" of graph \"{}\" has meta \"{}\": {} (expected a string)", node.id,
                              graph.name(), key, it->dump()));
    }
    return it->get<std::string>();
  };
  result.unit = string_field("unit");
  result.phase = string_field("phase");
  return result;
}

}  // namespace

GraphUnits graph_units(const Graph& graph) {
  std::vector<NodeUnit> tags(static_cast<size_t>(graph.num_nodes()));
  bool any_unit = false;
  for (NodeId n = 0; n < graph.num_nodes(); ++n) {
    tags[n] = read_node_unit(graph, n);
    any_unit = any_unit || tags[n].unit.has_value();
  }
  if (!any_unit) {
    throw Error(fmt::format("graph \"{}\" has no unit meta on its nodes (expected node meta {{\"unit\": ..., "
                            "\"phase\": \"forward\" | \"backward\"}}, as profile_model writes for a model's "
                            "top-level blocks); the unit baselines need to know the model's blocks",
                            graph.name()));
  }
  GraphUnits result;
  std::unordered_map<std::string, size_t> index;
  for (NodeId n = 0; n < graph.num_nodes(); ++n) {
    const Node& node = graph.node(n);
    if (!tags[n].unit) {
      throw Error(fmt::format("node \"{}\" of graph \"{}\" has no unit meta (expected every node tagged with its "
                              "top-level unit, e.g. {{\"unit\": \"3\", \"phase\": \"forward\"}})",
                              node.id, graph.name()));
    }
    const std::string& unit = *tags[n].unit;
    const std::string phase = tags[n].phase.value_or("");
    if (phase != "forward" && phase != "backward") {
      throw Error(fmt::format("node \"{}\" of graph \"{}\" has phase \"{}\" (expected meta \"phase\": \"forward\" "
                              "or \"backward\")",
                              node.id, graph.name(), phase));
    }
    auto it = index.find(unit);
    if (phase == "forward") {
      if (it == index.end()) {
        index.emplace(unit, result.units.size());
        result.units.push_back(GraphUnit{unit, {n}, {}});
      } else if (it->second + 1 != result.units.size()) {
        throw Error(fmt::format("forward node \"{}\" of graph \"{}\" belongs to unit \"{}\", but unit \"{}\" "
                                "started after it (expected each unit's forward nodes to be contiguous)",
                                node.id, graph.name(), unit, result.units.back().name));
      } else {
        result.units.back().forward.push_back(n);
      }
    } else {
      if (it == index.end()) {
        throw Error(fmt::format("backward node \"{}\" of graph \"{}\" belongs to unit \"{}\", which has no forward "
                                "node before it (expected a unit's forward nodes first)",
                                node.id, graph.name(), unit));
      }
      result.units[it->second].backward.push_back(n);
    }
  }
  auto loss = index.find(kLossUnit);
  if (loss != index.end()) {
    if (loss->second + 1 != result.units.size()) {
      throw Error(fmt::format("unit \"{}\" of graph \"{}\" is followed by unit \"{}\" (expected the loss unit last)",
                              kLossUnit, graph.name(), result.units.back().name));
    }
    result.has_loss_unit = true;
  }
  if (result.counted() < 1) {
    throw Error(fmt::format("graph \"{}\" has only the \"{}\" unit (expected at least one model unit to segment)",
                            graph.name(), kLossUnit));
  }
  return result;
}

std::vector<NodeId> unit_segment_compute_order(const GraphUnits& units, const std::vector<int32_t>& ends) {
  const int32_t n = units.counted();
  if (ends.empty() || ends.back() != n) {
    throw Error(fmt::format("unit segment ends must finish with the last unit {} (got {})", n,
                            ends.empty() ? std::string("none") : std::to_string(ends.back())));
  }
  for (size_t k = 0; k < ends.size(); ++k) {
    const int32_t previous = k == 0 ? 0 : ends[k - 1];
    if (ends[k] <= previous) {
      throw Error(fmt::format("unit segment end {} at position {} does not follow {} (expected increasing units in "
                              "1..{})",
                              ends[k], k, previous, n));
    }
  }
  // The loss unit (if any) belongs to the last segment: its range ends at units.size().
  const int32_t all = static_cast<int32_t>(units.units.size());
  std::vector<NodeId> forward_all;
  for (const GraphUnit& unit : units.units) forward_all.insert(forward_all.end(), unit.forward.begin(), unit.forward.end());
  std::sort(forward_all.begin(), forward_all.end());

  std::vector<NodeId> order = forward_all;
  const int32_t last = static_cast<int32_t>(ends.size()) - 1;
  for (int32_t k = last; k >= 0; --k) {
    const int32_t lo = k == 0 ? 0 : ends[k - 1];    // 0-based first unit
    const int32_t hi = k == last ? all : ends[k];   // one past the last unit
    if (k != last) {
      for (int32_t u = lo; u < hi; ++u) order.insert(order.end(), units.units[u].forward.begin(), units.units[u].forward.end());
    }
    std::vector<NodeId> backward;
    for (int32_t u = lo; u < hi; ++u) backward.insert(backward.end(), units.units[u].backward.begin(), units.units[u].backward.end());
    std::sort(backward.begin(), backward.end());
    order.insert(order.end(), backward.begin(), backward.end());
  }
  return order;
}

Schedule unit_segment_schedule(const Graph& graph, const std::vector<int32_t>& ends, const std::string& solver_name) {
  return schedule_from_computes(graph, unit_segment_compute_order(graph_units(graph), ends), solver_name);
}

Schedule unit_sqrt_schedule(const Graph& graph) {
  const GraphUnits units = graph_units(graph);
  const std::vector<int32_t> ends = equal_segment_ends(units.counted(), 0);
  return schedule_from_computes(graph, unit_segment_compute_order(units, ends),
                                fmt::format("sqrt-units(K={})", ends.size()));
}

Schedule unit_every_k_schedule(const Graph& graph, int32_t k) {
  const GraphUnits units = graph_units(graph);
  const std::vector<int32_t> ends = every_k_segment_ends(units.counted(), k);
  return schedule_from_computes(graph, unit_segment_compute_order(units, ends), fmt::format("every-k-units(k={})", k));
}

}  // namespace gradrecomp
