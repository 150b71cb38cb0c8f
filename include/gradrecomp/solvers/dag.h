// The `dag` solver: fast, near-optimal recomputation plans for general training graphs (residual
// nets, transformers, U-Nets, random DAGs) by reducing them to a chain of blocks and running the
// optimal chain dynamic program (solvers/chain_dp.h) on it.
//
//   const gradrecomp::Solver* dag = gradrecomp::find_solver("dag");
//   gradrecomp::SolveResult r = dag->solve_budget(graph, 2_GiB, gradrecomp::SolveOptions());
//
//   // The pieces, for tests and tools:
//   gradrecomp::DagPhases phases = gradrecomp::split_phases(graph);       // forward / backward
//   gradrecomp::DagDecomposition d = gradrecomp::decompose_dag(graph, phases, {});
//   gradrecomp::DagChainModel m = gradrecomp::build_dag_chain_model(graph, d);
//
// Problem:    a training graph (spec section 1) and a peak budget in bytes (constant_bytes
//             excluded); find a compute order (recomputations allowed) of least total cost whose
//             replayed peak is within the budget -- or the Pareto frontier of (peak, cost).
// Algorithm:  block decomposition + partial recomputation + the heterogeneous-chain DP of
//             Beaumont, Eyraud-Dubois, Herrmann, Joly, Shilova, "Optimal checkpointing for
//             heterogeneous chains", arXiv 1911.13214 (2019); the per-block keep menus follow the
//             partial-recomputation idea of Rockmate (Zhao, Le Hellard, Eyraud-Dubois, Gusak,
//             Beaumont, "Rockmate: an efficient, fast, automatic and generic tool for
//             re-materialization in PyTorch", ICML 2023), simplified to greedy menus.
//   1. Phases (split_phases, src/solvers/dag_phases.cpp). Node meta "phase" when the graph has
//      it (then every node must have it); otherwise the forward part is the longest prefix of
//      p nodes such that each of them has an output read by a node at position >= p (every
//      forward node passes something on to the backward side; the loss's output is read only by
//      the first backward node, so no longer prefix qualifies). A forward node may not read a
//      backward node's output.
//   2. Blocks (decompose_dag, dag_blocks.cpp). Forward nodes in file order get positions
//      0..m-1. Backward node b gets the position epos(b) = min(last forward position whose
//      tensor it reads, epos of the backward nodes whose outputs it reads); with neither, m-1.
//      A cut p (between positions p-1 and p) is forbidden when some b has epos(b) < p <= the
//      last forward position it reads (it would need a tensor of a later block after that
//      block's backward). Block k = forward positions [c(k-1), c(k)) plus the backward nodes
//      whose epos falls in it. Crossing sets at cut k: a(k) = forward tensors produced before
//      the cut and read by a node of a later block; d(k) = backward tensors produced by a
//      later block and read by this or an earlier one. Graph inputs are held the whole step
//      (baseline_bytes). Policies: kNoPassThrough cuts only where every crossing tensor comes
//      from the node right before the cut (the articulation points: nothing is held across two
//      cuts); kEveryPosition cuts wherever allowed (more freedom, but a tensor crossing several
//      cuts is counted in each a(k), which over-estimates peaks). useful_cuts_only also drops
//      cuts no backward node reads across (measured on ResNet-50: the chain model's store-all
//      peak falls from 1.29x to 1.001x the real one); grouping keeps every 2nd / 3rd cut.
//   3. Keep menus (build_dag_chain_model, dag_options.cpp). For block k with internals S read
//      by its backward: option K subset of S keeps K and a(k) from forward-keep to backward;
//      backward(K) first recomputes, in forward order, the producers of S \ K and of any
//      dropped internal they need (closure), then runs the block's backward nodes in file
//      order (eager); or, lazily, recomputes before each backward node just the dropped
//      internals it reads (recomputed tensors die sooner, shared ones are recomputed again).
//      Menu: K = S, then tensors dropped one at a time in the greedy order of least extra
//      recompute cost per byte, at most max_options prefixes, each with the eager and the lazy
//      backward, dominated options removed.
//      Every local peak and cost comes from replaying the op's node sequence with the
//      simulator's rules and earliest frees, starting from exactly what the chain model says
//      is live (the stage input a(k-1), the kept set, d(k)); it is then raised to at least the
//      sum of the sets the model says it counts, so the model never under-estimates.
//   4. The DP on that chain, each plan's ops expanded to node computations
//      (dag_plan_computes), schedule_from_computes, replayed by the simulator. Several
//      decompositions are tried (articulation cuts read by backward; the same in groups of 2
//      and 3 at every offset; every cut; ...) while the summed stages^3 x options^2 (the DP's
//      growth) stays small, and the replayed schedules are Pareto-merged; chains of more than
//      64 blocks are instead grouped two ways, down to 64 blocks (short menus) and down to 30
//      (full menus), and both are tried. frontier() replays every model frontier point;
//      solve_budget picks from that on graphs of <= 200 nodes (answers are then monotone in
//      the budget); on larger ones (3-prefix menus without lazy backward beyond 30 blocks) it
//      builds the table only up to budget + 1/8 and replays the cheapest point whose model
//      peak fits plus the 16 points above it (or the smallest-peak plan when none fits).
//      Not modelled (measured against exhaustive search, docs/benchmarks/dag.md): dropping a
//      kept stage's input a(k-1) and recomputing it later, and recomputing backward nodes.
// Recurrence: the chain DP's (see chain_dp.h); stage i of the chain is block i with
//             fd(i) = replay(F_i | a(i-1)),  fk(i,K) = replay(F_i | a(i-1), keep a(i) and K),
//             bw(i,K) = replay(R(K) then B_i | a(i-1), a(i), K, d(i)),  R(K) = recompute closure
//             (or the lazy sequence, recomputing before each backward node).
// Complexity: n_f forward, n_b backward nodes, N = nodes + tensors, k blocks, s = the largest
//             |S| of a block, M = max_options. Phases and blocks O(N + k * crossing tensors);
//             menus O(k * (s^2 + M) * block size) (greedy over s <= 48, a static ranking
//             beyond); the DP O(k^3 K O^2), O options per stage (chain_dp.h); each replayed
//             frontier point O(steps).
//             Measured in bench/dag_bench.cpp, docs/benchmarks/dag.md.
// Memory model: the simulator's (include/gradrecomp/simulate.h). The chain model is an upper
//             bound of every op's true contribution, so a plan's replayed peak is <= its model
//             peak; the returned schedules carry the replayed figures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gradrecomp/graph.h"
#include "gradrecomp/solvers/chain_model.h"

namespace gradrecomp {

struct DagPhases {
  std::vector<NodeId> forward;   // file order
  std::vector<NodeId> backward;  // file order
  std::string rule;              // how the split was found ("node meta \"phase\"", "inferred: ...")
};

// Splits the nodes into forward and backward (rule 1 above). Throws gradrecomp::Error naming
// the node when the meta is incomplete or a forward node reads a backward output, or when no
// split exists (no node passes anything to a later part).
DagPhases split_phases(const Graph& graph);

enum class DagCutPolicy { kNoPassThrough, kEveryPosition };

struct DagBlock {
  std::vector<NodeId> forward;            // file order
  std::vector<NodeId> backward;           // file order
  std::vector<TensorId> input;            // a(k-1): crossing the cut before the block
  std::vector<TensorId> output;           // a(k): crossing the cut after it
  std::vector<TensorId> gradient_in;      // d(k)
  std::vector<TensorId> gradient_out;     // d(k-1)
  std::vector<TensorId> saved;            // internals (produced here, not in output) read by backward
};

struct DagDecomposition {
  std::vector<DagBlock> blocks;           // blocks[0] is the chain's stage 1
  std::vector<int32_t> cuts;              // forward positions where blocks 2.. start
  std::vector<TensorId> baseline;         // graph inputs read by some node (held the whole step)
  uint64_t baseline_bytes = 0;
  int32_t forward_positions = 0;          // m
};

struct DagCutOptions {
  DagCutPolicy policy = DagCutPolicy::kNoPassThrough;
  // Also drop a cut when no backward node reads any tensor crossing it: a block's output a(k) is
  // held by its forward-keep until its backward, pure waste when no backward reads it (batch
  // norm -> relu: relu's backward reads its output, not its input); merging makes such tensors
  // internal, freed as soon as read.
  bool useful_cuts_only = false;
  // Keep only every group-th of the remaining cuts, starting with the group_offset-th: blocks of
  // `group` consecutive blocks, whose menus can then drop the tensors between them (the chain
  // model holds a stage's input a(k-1) from its forward-keep to its backward; inside a merged
  // block it may be dropped and recomputed instead).
  int32_t group = 1;
  int32_t group_offset = 0;

  DagCutOptions& with_policy(DagCutPolicy v) { policy = v; return *this; }
  DagCutOptions& with_useful_cuts_only(bool v) { useful_cuts_only = v; return *this; }
  DagCutOptions& with_group(int32_t size, int32_t offset = 0) { group = size; group_offset = offset; return *this; }
};

// Rule 2 above. Throws gradrecomp::Error if the phases do not cover the graph's nodes or the
// grouping is not 1 <= group, 0 <= group_offset < group.
DagDecomposition decompose_dag(const Graph& graph, const DagPhases& phases, const DagCutOptions& options = {});

// One keep option of a block, with the node sequence of backward(option).
struct DagKeepOption {
  std::vector<TensorId> kept;             // internals kept (a(k) is kept too, not listed)
  std::vector<NodeId> backward_sequence;  // recomputations and the block's backward nodes
};

struct DagChainModel {
  ChainModel model;
  std::vector<std::vector<DagKeepOption>> options;  // [stage-1][option], parallel to keep_options
};

inline constexpr int32_t kDagDefaultMaxOptions = 8;

// Rule 3 above: the chain model of a decomposition, figures from local replays.
// with_lazy: also offer the lazy backward of each prefix (doubles the menu; the chain DP's time
// grows with the square of the options per stage).
DagChainModel build_dag_chain_model(const Graph& graph, const DagDecomposition& decomposition,
                                    int32_t max_options = kDagDefaultMaxOptions, bool with_lazy = true);

// The node computations of a chain plan: forward ops run their block's forward nodes,
// backward(o) runs option o's backward_sequence.
std::vector<NodeId> dag_plan_computes(const DagDecomposition& decomposition, const DagChainModel& model,
                                      const std::vector<ChainOp>& ops);

}  // namespace gradrecomp
