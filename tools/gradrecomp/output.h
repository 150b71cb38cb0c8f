// Output helpers of the `gradrecomp` CLI: aligned text tables, CSV quoting, percentages and the
// two drawings (the Pareto frontier and the memory timeline) as self-contained SVG text.
//
//   gradrecomp::cli::Table t({"solver", "peak", "cost"}, {Align::kLeft, Align::kRight, Align::kRight});
//   t.add_row({"chain-dp", "1.20 MiB", "131.5"});
//   std::cout << t.render();
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gradrecomp/graph.h"
#include "gradrecomp/schedule.h"
#include "gradrecomp/simulate.h"

namespace gradrecomp::cli {

enum class Align { kLeft, kRight };

class Table {
 public:
  Table(std::vector<std::string> headers, std::vector<Align> align);
  void add_row(std::vector<std::string> cells);
  // Columns separated by two spaces, a dashed rule under the headers, each line ending in '\n'.
  std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

// Two-column "key  value" block, keys padded to the longest one.
std::string key_values(const std::vector<std::pair<std::string, std::string>>& rows);

// 0.05 -> "5.00%".
std::string percent(double fraction);
// A cost as the shortest exact-looking decimal ("15", "131.25", "1.5e+12").
std::string format_cost(double cost);
// Quotes a CSV field when it holds a comma, quote or newline.
std::string csv_field(const std::string& text);
// Escapes &, <, >, " for SVG/XML text and attributes.
std::string xml_escape(const std::string& text);

// One solver's frontier as the chart draws it: x = peak as % of store-all, y = overhead %.
struct FrontierSeries {
  std::string solver;
  std::vector<double> memory_percent;    // increasing
  std::vector<double> overhead_percent;  // decreasing
};
// Peak memory (% of store-all) on x, overhead % on y; one coloured step line per solver (the
// cheapest cost reachable within each budget), dots at the frontier points, ticks, labels and a
// legend.
std::string frontier_svg(const std::string& title, const std::vector<FrontierSeries>& series);

// Memory during each step of a valid replay: CSV "step,kind,id,live_bytes,recompute" and an SVG
// step chart with the peak marked and the budget drawn when there is one.
std::string timeline_csv(const Graph& graph, const Schedule& schedule, const Simulation& sim);
std::string timeline_svg(const Graph& graph, const Schedule& schedule, const Simulation& sim);

// For each step, whether it computes a node that an earlier step already computed.
std::vector<bool> recompute_flags(const Graph& graph, const std::vector<Step>& steps);

}  // namespace gradrecomp::cli
