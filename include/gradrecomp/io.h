// Reading and writing the two documents of ../shared/spec/formats.md.
//
//   gradrecomp::Graph g = gradrecomp::read_graph_file("resnet.json");
//   gradrecomp::Schedule s = gradrecomp::parse_schedule(text, g);   // resolves ids against g
//   std::string out = gradrecomp::schedule_to_json(s, g);
//
// Every parse error is a gradrecomp::Error whose message names the document, the offending id
// or value and what was expected (malformed JSON with line and column, missing fields, wrong
// types, unknown "format", duplicate ids, unknown ids, negative/non-finite/overflowing numbers).
#pragma once

#include <string>
#include <string_view>

#include "gradrecomp/graph.h"
#include "gradrecomp/schedule.h"

namespace gradrecomp {

inline constexpr std::string_view kGraphFormat = "gradrecomp.tgraph/1";
inline constexpr std::string_view kScheduleFormat = "gradrecomp.schedule/1";

Graph parse_graph(std::string_view text);
Graph read_graph_file(const std::string& path);
std::string graph_to_json(const Graph& graph, int indent = 2);

Schedule parse_schedule(std::string_view text, const Graph& graph);
Schedule read_schedule_file(const std::string& path, const Graph& graph);
// Steps are written one per line, which keeps long schedules readable and diffable.
std::string schedule_to_json(const Schedule& schedule, const Graph& graph);

// Whole file as a string; throws gradrecomp::Error naming the path if it cannot be read.
std::string read_text_file(const std::string& path);
void write_text_file(const std::string& path, std::string_view text);

}  // namespace gradrecomp
