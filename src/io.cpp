#include "gradrecomp/io.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gradrecomp/error.h"

namespace gradrecomp {
namespace {

using nlohmann::json;

// Where in the document a value sits, for messages: `node "F2" output "a2"`.
using Where = std::string;

json parse_json(std::string_view text, const char* document) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    // nlohmann's message carries "at line L, column C"; keep it and say which document.
    std::string what = e.what();
    auto pos = what.find("parse error");
    throw Error(fmt::format("{}: malformed JSON: {}", document, pos == std::string::npos ? what : what.substr(pos)));
  } catch (const json::exception& e) {
    // e.g. out_of_range 406 for 1e999: a number that is not finite as a double.
    throw Error(fmt::format("{}: a number is not finite: {} (expected finite numbers)", document, e.what()));
  }
}

const char* type_name(const json& value) { return value.type_name(); }

void check_keys(const json& object, const Where& where, std::initializer_list<const char*> allowed) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    bool known = false;
    for (const char* key : allowed) known = known || it.key() == key;
    if (!known) {
      std::string expected;
      for (const char* key : allowed) expected += (expected.empty() ? "" : ", ") + std::string(key);
      throw Error(fmt::format("{}: unknown field \"{}\" (expected only: {})", where, it.key(), expected));
    }
  }
}

const json& require(const json& object, const char* key, const Where& where) {
  auto it = object.find(key);
  if (it == object.end()) throw Error(fmt::format("{}: missing field \"{}\"", where, key));
  return *it;
}

std::string get_string(const json& value, const Where& where) {
  if (!value.is_string()) {
    throw Error(fmt::format("{}: expected a string, got {} {}", where, type_name(value), value.dump()));
  }
  return value.get<std::string>();
}

uint64_t get_bytes(const json& value, const Where& where) {
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer()) {
    throw Error(fmt::format("{}: {} is negative (expected an integer number of bytes >= 0)", where, value.dump()));
  }
  if (value.is_number_float()) {
    double d = value.get<double>();
    if (!std::isfinite(d)) throw Error(fmt::format("{}: {} is not finite (expected bytes >= 0)", where, value.dump()));
    if (d < 0) throw Error(fmt::format("{}: {} is negative (expected an integer number of bytes >= 0)", where, value.dump()));
    if (std::floor(d) == d && d >= 18446744073709551616.0) {
      throw Error(fmt::format("{}: {} overflows 64 bits (expected bytes <= 18446744073709551615)", where, value.dump()));
    }
    throw Error(fmt::format("{}: {} is not an integer (expected a whole number of bytes)", where, value.dump()));
  }
  throw Error(fmt::format("{}: expected an integer number of bytes, got {} {}", where, type_name(value), value.dump()));
}

double get_cost(const json& value, const Where& where) {
  if (!value.is_number()) {
    throw Error(fmt::format("{}: expected a number, got {} {}", where, type_name(value), value.dump()));
  }
  double d = value.get<double>();
  if (!std::isfinite(d)) throw Error(fmt::format("{}: {} is not finite (expected a finite number >= 0)", where, value.dump()));
  if (d < 0) throw Error(fmt::format("{}: {} is negative (expected a finite number >= 0)", where, value.dump()));
  return d;
}

const json& require_array(const json& object, const char* key, const Where& where) {
  const json& value = require(object, key, where);
  if (!value.is_array()) {
    throw Error(fmt::format("{}: field \"{}\" must be an array, got {}", where, key, type_name(value)));
  }
  return value;
}

void check_format(const json& doc, std::string_view expected, const char* document) {
  if (!doc.is_object()) throw Error(fmt::format("{}: expected a JSON object, got {}", document, type_name(doc)));
  std::string format = get_string(require(doc, "format", document), fmt::format("{} field \"format\"", document));
  if (format != expected) {
    throw Error(fmt::format("{}: unknown format \"{}\" (expected \"{}\")", document, format, expected));
  }
}

std::string string_for_id(const json& value, const Where& where) {
  std::string id = get_string(value, where);
  if (id.empty()) throw Error(fmt::format("{}: id is empty (expected a non-empty string)", where));
  return id;
}

}  // namespace

Graph parse_graph(std::string_view text) {
  const char* doc_name = "training graph";
  json doc = parse_json(text, doc_name);
  check_format(doc, kGraphFormat, doc_name);
  check_keys(doc, doc_name, {"format", "name", "constant_bytes", "inputs", "nodes", "meta"});
  std::string name = doc.contains("name") ? get_string(doc["name"], "training graph field \"name\"") : "";
  GraphBuilder builder(name);
  if (doc.contains("constant_bytes")) builder.constant_bytes(get_bytes(doc["constant_bytes"], "graph \"constant_bytes\""));
  if (doc.contains("meta")) builder.meta_json(doc["meta"].dump());

  const json& inputs = require_array(doc, "inputs", doc_name);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const json& input = inputs[i];
    Where where = fmt::format("graph input #{}", i);
    if (!input.is_object()) throw Error(fmt::format("{}: expected an object {{\"id\", \"bytes\"}}, got {}", where, type_name(input)));
    check_keys(input, where, {"id", "bytes", "meta"});
    std::string id = string_for_id(require(input, "id", where), where + " \"id\"");
    where = fmt::format("graph input \"{}\"", id);
    builder.input(id, get_bytes(require(input, "bytes", where), where + " \"bytes\""));
  }

  const json& nodes = require_array(doc, "nodes", doc_name);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const json& node = nodes[i];
    Where where = fmt::format("node #{}", i);
    if (!node.is_object()) throw Error(fmt::format("{}: expected an object, got {}", where, type_name(node)));
    check_keys(node, where, {"id", "cost", "inputs", "outputs", "workspace_bytes", "meta"});
    std::string id = string_for_id(require(node, "id", where), where + " \"id\"");
    where = fmt::format("node \"{}\"", id);
    double cost = get_cost(require(node, "cost", where), where + " \"cost\"");
    std::vector<std::string> input_ids;
    for (const json& input : require_array(node, "inputs", where)) {
      input_ids.push_back(string_for_id(input, where + " input"));
    }
    std::vector<OutputSpec> outputs;
    const json& output_array = require_array(node, "outputs", where);
    for (size_t k = 0; k < output_array.size(); ++k) {
      const json& output = output_array[k];
      Where out_where = fmt::format("{} output #{}", where, k);
      if (!output.is_object()) throw Error(fmt::format("{}: expected an object {{\"id\", \"bytes\"}}, got {}", out_where, type_name(output)));
      check_keys(output, out_where, {"id", "bytes", "meta"});
      std::string out_id = string_for_id(require(output, "id", out_where), out_where + " \"id\"");
      out_where = fmt::format("{} output \"{}\"", where, out_id);
      outputs.push_back({out_id, get_bytes(require(output, "bytes", out_where), out_where + " \"bytes\"")});
    }
    uint64_t workspace = node.contains("workspace_bytes") ? get_bytes(node["workspace_bytes"], where + " \"workspace_bytes\"") : 0;
    builder.node(id, cost, input_ids, outputs, workspace, node.contains("meta") ? node["meta"].dump() : "");
  }
  return std::move(builder).build();
}

std::string graph_to_json(const Graph& graph, int indent) {
  json doc;
  doc["format"] = kGraphFormat;
  doc["name"] = graph.name();
  doc["constant_bytes"] = graph.constant_bytes();
  doc["inputs"] = json::array();
  for (TensorId t : graph.graph_inputs()) {
    doc["inputs"].push_back({{"id", graph.tensor(t).id}, {"bytes", graph.tensor(t).bytes}});
  }
  doc["nodes"] = json::array();
  for (const Node& node : graph.nodes()) {
    json j;
    j["id"] = node.id;
    j["cost"] = node.cost;
    j["inputs"] = json::array();
    for (TensorId t : node.inputs) j["inputs"].push_back(graph.tensor(t).id);
    j["outputs"] = json::array();
    for (TensorId t : node.outputs) j["outputs"].push_back({{"id", graph.tensor(t).id}, {"bytes", graph.tensor(t).bytes}});
    if (node.workspace_bytes) j["workspace_bytes"] = node.workspace_bytes;
    if (!node.meta_json.empty()) j["meta"] = json::parse(node.meta_json);
    doc["nodes"].push_back(std::move(j));
  }
  if (!graph.meta_json().empty()) doc["meta"] = json::parse(graph.meta_json());
  return doc.dump(indent) + "\n";
}

Schedule parse_schedule(std::string_view text, const Graph& graph) {
  const char* doc_name = "schedule";
  json doc = parse_json(text, doc_name);
  check_format(doc, kScheduleFormat, doc_name);
  check_keys(doc, doc_name, {"format", "graph", "solver", "budget_bytes", "peak_bytes", "cost", "steps", "meta"});
  Schedule schedule;
  schedule.graph_name = get_string(require(doc, "graph", doc_name), "schedule field \"graph\"");
  if (schedule.graph_name != graph.name()) {
    throw Error(fmt::format("schedule is for graph \"{}\" but the training graph is named \"{}\"",
                            schedule.graph_name, graph.name()));
  }
  schedule.solver = doc.contains("solver") ? get_string(doc["solver"], "schedule field \"solver\"") : "";
  if (doc.contains("budget_bytes") && !doc["budget_bytes"].is_null()) {
    schedule.budget_bytes = get_bytes(doc["budget_bytes"], "schedule \"budget_bytes\"");
  }
  schedule.peak_bytes = get_bytes(require(doc, "peak_bytes", doc_name), "schedule \"peak_bytes\"");
  schedule.cost = get_cost(require(doc, "cost", doc_name), "schedule \"cost\"");
  const json& steps = require_array(doc, "steps", doc_name);
  schedule.steps.reserve(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const json& step = steps[i];
    Where where = fmt::format("schedule step {}", i);
    if (!step.is_array() || step.size() != 2) {
      throw Error(fmt::format("{}: {} is not a step (expected [\"compute\", NODE] or [\"free\", TENSOR])", where, step.dump()));
    }
    std::string kind = get_string(step[0], where + " kind");
    std::string id = get_string(step[1], where + " id");
    if (kind == "compute") {
      NodeId n = graph.find_node(id);
      if (n == kNoNode) throw Error(fmt::format("{}: compute names unknown node \"{}\" (not in graph \"{}\")", where, id, graph.name()));
      schedule.steps.push_back(Step::compute(n));
    } else if (kind == "free") {
      TensorId t = graph.find_tensor(id);
      if (t < 0) throw Error(fmt::format("{}: free names unknown tensor \"{}\" (not in graph \"{}\")", where, id, graph.name()));
      schedule.steps.push_back(Step::free(t));
    } else {
      throw Error(fmt::format("{}: unknown step kind \"{}\" (expected \"compute\" or \"free\")", where, kind));
    }
  }
  return schedule;
}

std::string schedule_to_json(const Schedule& schedule, const Graph& graph) {
  // Header through nlohmann (escaping), steps one per line by hand.
  json header;
  header["format"] = kScheduleFormat;
  header["graph"] = schedule.graph_name;
  header["solver"] = schedule.solver;
  if (schedule.budget_bytes) header["budget_bytes"] = *schedule.budget_bytes;
  header["peak_bytes"] = schedule.peak_bytes;
  header["cost"] = schedule.cost;
  std::ostringstream out;
  out << "{\n";
  for (const char* key : {"format", "graph", "solver", "budget_bytes", "peak_bytes", "cost"}) {
    if (header.contains(key)) out << "  \"" << key << "\": " << header[key].dump() << ",\n";
  }
  out << "  \"steps\": [";
  for (size_t i = 0; i < schedule.steps.size(); ++i) {
    const Step& step = schedule.steps[i];
    const std::string& id = step.kind == StepKind::kCompute ? graph.node(step.target).id : graph.tensor(step.target).id;
    out << (i ? ",\n    " : "\n    ") << "[\"" << (step.kind == StepKind::kCompute ? "compute" : "free") << "\", "
        << json(id).dump() << "]";
  }
  out << (schedule.steps.empty() ? "]\n}\n" : "\n  ]\n}\n");
  return out.str();
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open \"{}\" for reading", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error(fmt::format("error while reading \"{}\"", path));
  return buffer.str();
}

void write_text_file(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(fmt::format("cannot open \"{}\" for writing", path));
  out << text;
  if (!out) throw Error(fmt::format("error while writing \"{}\"", path));
}

Graph read_graph_file(const std::string& path) {
  std::string text = read_text_file(path);
  try {
    return parse_graph(text);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
}

Schedule read_schedule_file(const std::string& path, const Graph& graph) {
  std::string text = read_text_file(path);
  try {
    return parse_schedule(text, graph);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
}

}  // namespace gradrecomp
