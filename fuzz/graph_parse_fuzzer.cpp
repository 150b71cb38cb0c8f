// libFuzzer target: parse_graph on arbitrary bytes. Any gradrecomp::Error is an accepted answer;
// anything else (a crash, a sanitizer report, an internal assertion, an uncaught exception) is a
// bug. When the bytes parse, the graph must also survive what every command does with it: the
// store-all reference must replay to its recorded figures, chain recognition must answer, and
// writing the graph back must give a document that parses to the same graph.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gradrecomp/chain.h"
#include "gradrecomp/error.h"
#include "gradrecomp/io.h"
#include "gradrecomp/simulate.h"

namespace {

// A broken property, as opposed to a rejected input: stop with a crash libFuzzer records.
void require(bool condition) {
  if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  gradrecomp::Graph graph;
  try {
    graph = gradrecomp::parse_graph(text);
  } catch (const gradrecomp::Error&) {
    return 0;
  }
  gradrecomp::Schedule reference = gradrecomp::store_all_schedule(graph);
  gradrecomp::Simulation sim = gradrecomp::simulate(graph, reference.steps);
  require(sim.valid);
  require(sim.peak_bytes == reference.peak_bytes);
  require(sim.peak_bytes <= graph.total_bytes_bound());
  std::string why_not;
  std::optional<gradrecomp::Chain> chain = gradrecomp::recognize_chain(graph, &why_not);
  require(chain.has_value() || !why_not.empty());

  gradrecomp::Graph again = gradrecomp::parse_graph(gradrecomp::graph_to_json(graph));
  require(again.num_nodes() == graph.num_nodes());
  require(again.num_tensors() == graph.num_tensors());
  require(gradrecomp::store_all_peak_bytes(again) == reference.peak_bytes);
  return 0;
}
