// The chain DP's model helpers, the model replay and the exact Pareto table (ChainDp).
// Recurrence and memory algebra: include/gradrecomp/solvers/chain_dp.h.
#include "gradrecomp/solvers/chain_dp.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "gradrecomp/error.h"
#include "gradrecomp/units.h"
#include "solvers/chain_dp_internal.h"

namespace gradrecomp {

using chain_dp_detail::Option;
using chain_dp_detail::Sizes;

namespace {

const char* op_name(ChainOpKind kind) {
  switch (kind) {
    case ChainOpKind::kForwardDiscard: return "forward-discard";
    case ChainOpKind::kForwardKeep: return "forward-keep";
    case ChainOpKind::kBackward: return "backward";
  }
  return "?";
}

void check_cost(double cost, int32_t stage, const char* field) {
  if (!std::isfinite(cost) || cost < 0) {
    throw Error(fmt::format("chain model stage {}: {} is {} (expected a finite number >= 0)", stage, field, cost));
  }
}

void check_counts(uint64_t peak, uint64_t counted, int32_t stage, const char* field, const char* what) {
  if (peak < counted) {
    throw Error(fmt::format("chain model stage {}: {} is {} but must count at least {} = {}", stage, field,
                            format_bytes_exact(peak), what, format_bytes_exact(counted)));
  }
}

// Costs summed in different orders differ in the last bits; a point must be cheaper than the one
// before it by more than that to count as a new frontier point.
// cheaper(cost, than) is cost < cheaper_bound(than); the table's inner loops keep the bound.
inline double cheaper_bound(double than) { return than - 1e-12 * std::max(1.0, std::abs(than)); }
bool cheaper(double cost, double than) { return cost < cheaper_bound(than); }

uint64_t round_up(uint64_t bytes, uint64_t unit) { return unit <= 1 ? bytes : (bytes + unit - 1) / unit * unit; }

template <class P>
[[gnu::always_inline]] inline void push_point(std::vector<P>& out, const P& p) {
  if (!out.empty() && !cheaper(p.cost, out.back().cost)) return;
  if (!out.empty() && out.back().peak_bytes == p.peak_bytes) out.back() = p;
  else out.push_back(p);
}

}  // namespace

// ---- model ------------------------------------------------------------------------------------

void validate_chain_model(const ChainModel& model) {
  const int32_t n = model.length();
  if (n < 1) throw Error("chain model has no stage (expected at least 1)");
  uint64_t previous = model.input_bytes;
  for (int32_t i = 1; i <= n; ++i) {
    const ChainModelStage& st = model.stages[i - 1];
    uint64_t d_in = i < n ? model.stages[i].gradient_bytes : 0;  // d(i)
    check_cost(st.forward_cost, i, "forward_cost");
    check_counts(st.forward_peak_bytes, previous + st.activation_bytes, i, "forward_peak_bytes", "a(i-1) + a(i)");
    if (st.keep_options.empty()) throw Error(fmt::format("chain model stage {} has no keep option (expected at least 1)", i));
    for (size_t o = 0; o < st.keep_options.size(); ++o) {
      const KeepOption& k = st.keep_options[o];
      std::string field = fmt::format("keep option {}", o);
      check_cost(k.forward_cost, i, (field + " forward_cost").c_str());
      check_cost(k.backward_cost, i, (field + " backward_cost").c_str());
      check_counts(k.kept_bytes, st.activation_bytes, i, (field + " kept_bytes").c_str(), "a(i)");
      check_counts(k.forward_peak_bytes, previous + k.kept_bytes, i, (field + " forward_peak_bytes").c_str(),
                   "a(i-1) + kept");
      check_counts(k.backward_peak_bytes, previous + k.kept_bytes + d_in + st.gradient_bytes, i,
                   (field + " backward_peak_bytes").c_str(), "a(i-1) + kept + d(i) + d(i-1)");
    }
    previous = st.activation_bytes;
  }
}

namespace chain_dp_detail {

Sizes make_sizes(const ChainModel& model, uint64_t unit) {
  const int32_t n = model.length();
  auto r = [unit](uint64_t bytes) { return round_up(bytes, unit); };
  // A peak rounded as the rounded items it counts plus its rounded excess over them.
  auto excess = [](uint64_t peak, uint64_t counted) { return peak > counted ? peak - counted : 0; };
  Sizes m;
  m.n = n;
  m.baseline = r(model.baseline_bytes);
  m.a.assign(n + 1, 0);
  m.d.assign(n + 1, 0);
  m.a[0] = r(model.input_bytes);
  for (int32_t i = 1; i <= n; ++i) {
    m.a[i] = r(model.stages[i - 1].activation_bytes);
    m.d[i - 1] = r(model.stages[i - 1].gradient_bytes);
  }
  m.discard_peak.assign(n + 1, 0);
  m.discard_cost.assign(n + 1, 0);
  m.options.assign(n + 1, {});
  m.least_prefix.assign(n + 1, 0);
  uint64_t true_prev = model.input_bytes;
  for (int32_t i = 1; i <= n; ++i) {
    const ChainModelStage& st = model.stages[i - 1];
    uint64_t true_d_in = i < n ? model.stages[i].gradient_bytes : 0;
    m.discard_peak[i] = m.a[i - 1] + m.a[i] + r(excess(st.forward_peak_bytes, true_prev + st.activation_bytes));
    m.discard_cost[i] = st.forward_cost;
    double least = 0;
    for (size_t o = 0; o < st.keep_options.size(); ++o) {
      const KeepOption& k = st.keep_options[o];
      Option opt;
      opt.kept = m.a[i] + r(excess(k.kept_bytes, st.activation_bytes));
      opt.forward_peak = m.a[i - 1] + opt.kept + r(excess(k.forward_peak_bytes, true_prev + k.kept_bytes));
      opt.backward_peak = m.a[i - 1] + opt.kept + m.d[i] + m.d[i - 1] +
                          r(excess(k.backward_peak_bytes, true_prev + k.kept_bytes + true_d_in + st.gradient_bytes));
      opt.forward_cost = k.forward_cost;
      opt.backward_cost = k.backward_cost;
      const double both = k.forward_cost + k.backward_cost;
      least = o == 0 ? both : std::min(least, both);
      m.options[i].push_back(opt);
    }
    m.least_prefix[i] = m.least_prefix[i - 1] + least;
    true_prev = st.activation_bytes;
  }
  return m;
}

uint64_t slot_bytes_for(const ChainModel& model, int32_t memory_slots) {
  if (memory_slots < 0) throw Error(fmt::format("memory_slots is {} (expected 0 for exact, or > 0)", memory_slots));
  if (memory_slots == 0) return 1;
  uint64_t peak = chain_store_all_plan(model).peak_bytes;
  uint64_t unit = (peak + static_cast<uint64_t>(memory_slots) - 1) / static_cast<uint64_t>(memory_slots);
  return std::max<uint64_t>(unit, 1);
}

}  // namespace chain_dp_detail

ChainPlan chain_store_all_plan(const ChainModel& model) {
  validate_chain_model(model);
  const int32_t n = model.length();
  std::vector<ChainOp> ops;
  std::vector<int32_t> option(n + 1, 0);
  for (int32_t i = 1; i <= n; ++i) {
    const auto& options = model.stages[i - 1].keep_options;
    for (size_t o = 1; o < options.size(); ++o) {
      double cost = options[o].forward_cost + options[o].backward_cost;
      double best = options[option[i]].forward_cost + options[option[i]].backward_cost;
      if (cost < best) option[i] = static_cast<int32_t>(o);
    }
    ops.push_back({ChainOpKind::kForwardKeep, i, option[i]});
  }
  for (int32_t i = n; i >= 1; --i) ops.push_back({ChainOpKind::kBackward, i, option[i]});
  return replay_chain_ops(model, std::move(ops));
}

// ---- replay -----------------------------------------------------------------------------------

ChainPlan replay_chain_ops(const ChainModel& model, std::vector<ChainOp> ops) {
  validate_chain_model(model);
  const int32_t n = model.length();
  auto a = [&](int32_t i) { return i == 0 ? model.input_bytes : model.stages[i - 1].activation_bytes; };
  auto d = [&](int32_t i) { return i == n ? uint64_t{0} : model.stages[i].gradient_bytes; };
  for (size_t i = 0; i < ops.size(); ++i) {
    const ChainOp& op = ops[i];
    if (op.stage < 1 || op.stage > n) {
      throw Error(fmt::format("chain op {} ({}): stage {} is out of range (expected 1..{})", i, op_name(op.kind),
                              op.stage, n));
    }
    size_t options = model.stages[op.stage - 1].keep_options.size();
    if (op.kind != ChainOpKind::kForwardDiscard && (op.option < 0 || static_cast<size_t>(op.option) >= options)) {
      throw Error(fmt::format("chain op {} ({} of stage {}): keep option {} does not exist (expected 0..{})", i,
                              op_name(op.kind), op.stage, op.option, options - 1));
    }
  }
  // Earliest frees of stored activations a(j) (those not inside a stage's kept bytes): scanning
  // backwards, a(j) dies after op i if its next event after i is not a read (by stage j+1).
  enum class Event : uint8_t { kNone, kRead, kProduce };
  std::vector<Event> next(n + 1, Event::kNone);
  std::vector<std::vector<int32_t>> free_after(ops.size());
  for (size_t i = ops.size(); i-- > 0;) {
    const ChainOp& op = ops[i];
    if (op.kind != ChainOpKind::kBackward) {
      if (op.kind == ChainOpKind::kForwardDiscard && next[op.stage] != Event::kRead) free_after[i].push_back(op.stage);
      next[op.stage] = Event::kProduce;
    }
    if (next[op.stage - 1] != Event::kRead) free_after[i].push_back(op.stage - 1);
    next[op.stage - 1] = Event::kRead;
  }

  std::vector<char> stored(n + 1, 0);   // a(j) live on its own
  std::vector<int32_t> kept(n + 1, -1); // keep option whose kept bytes are live
  stored[0] = 1;
  int32_t gradient = n;                 // d(gradient) is live
  uint64_t live = model.baseline_bytes + model.input_bytes;
  ChainPlan plan;
  plan.peak_bytes = live;
  for (size_t i = 0; i < ops.size(); ++i) {
    const ChainOp& op = ops[i];
    const int32_t k = op.stage;
    const ChainModelStage& st = model.stages[k - 1];
    auto fail = [&](const std::string& why) {
      return Error(fmt::format("chain op {} ({} of stage {}): {}", i, op_name(op.kind), k, why));
    };
    if (!stored[k - 1] && !(k >= 2 && kept[k - 1] >= 0)) throw fail(fmt::format("a({}) is not live", k - 1));
    uint64_t during = 0;
    switch (op.kind) {
      case ChainOpKind::kForwardDiscard:
      case ChainOpKind::kForwardKeep:
        if (stored[k] || kept[k] >= 0) throw fail(fmt::format("a({}) is already live", k));
        if (op.kind == ChainOpKind::kForwardDiscard) {
          during = live - a(k - 1) + st.forward_peak_bytes;
          live += a(k);
          stored[k] = 1;
          plan.cost += st.forward_cost;
        } else {
          const KeepOption& o = st.keep_options[op.option];
          during = live - a(k - 1) + o.forward_peak_bytes;
          live += o.kept_bytes;
          kept[k] = op.option;
          plan.cost += o.forward_cost;
        }
        break;
      case ChainOpKind::kBackward: {
        if (gradient != k) {
          throw fail(gradient < k ? std::string("this backward already ran")
                                  : fmt::format("the backward of stage {} must run first", gradient));
        }
        if (kept[k] != op.option) {
          throw fail(kept[k] < 0 ? fmt::format("nothing of stage {} is kept (run forward-keep first)", k)
                                 : fmt::format("the kept bytes are from option {}, not {}", kept[k], op.option));
        }
        const KeepOption& o = st.keep_options[op.option];
        during = live - a(k - 1) - o.kept_bytes - d(k) + o.backward_peak_bytes;
        live = live - o.kept_bytes - d(k) + d(k - 1);
        kept[k] = -1;
        gradient = k - 1;
        plan.cost += o.backward_cost;
        break;
      }
    }
    plan.peak_bytes = std::max(plan.peak_bytes, during);
    for (int32_t j : free_after[i]) {
      if (stored[j]) {
        stored[j] = 0;
        live -= a(j);
      }
    }
  }
  if (gradient != 0) throw Error(fmt::format("chain plan never runs the backward of stage {}", gradient));
  plan.ops = std::move(ops);
  return plan;
}

// ---- the table --------------------------------------------------------------------------------

namespace {

using TablePointOf = std::vector<ChainDp::TablePoint>;

// The frontier of one option: peak = max(floor, hold + right, left), cost = combined_cost(
// forward, right, left), over every pair of points, kept Pareto. A pair is only worth taking at
// a breakpoint of one of the two step functions, so a linear walk over both suffices. `right`
// may be null (no right child).
void merge_option(uint64_t floor, double forward, const TablePointOf* right, uint64_t hold, const TablePointOf& left,
                  int32_t split, int32_t option, uint64_t cap, TablePointOf& out) {
  out.clear();
  if (floor > cap || left.empty() || (right && right->empty())) return;
  if (!right) {
    for (const auto& p : left) {
      if (p.peak_bytes > cap) break;
      push_point(out, ChainDp::TablePoint{std::max(floor, p.peak_bytes),
                                          chain_dp_detail::combined_cost(forward, 0.0, p.cost), split, option});
    }
    return;
  }
  const TablePointOf& r = *right;
  size_t i = 0, j = 0;
  uint64_t peak = std::max({floor, hold + r[0].peak_bytes, left[0].peak_bytes});
  while (peak <= cap) {
    while (i + 1 < r.size() && hold + r[i + 1].peak_bytes <= peak) ++i;
    while (j + 1 < left.size() && left[j + 1].peak_bytes <= peak) ++j;
    push_point(out, ChainDp::TablePoint{peak, chain_dp_detail::combined_cost(forward, r[i].cost, left[j].cost), split,
                                        option});
    uint64_t next = chain_dp_detail::kNoPeak;
    if (i + 1 < r.size()) next = hold + r[i + 1].peak_bytes;
    if (j + 1 < left.size()) next = std::min(next, left[j + 1].peak_bytes);
    if (next == chain_dp_detail::kNoPeak) break;
    peak = next;
  }
}

// The points of merge_option(floor, forward, &right, hold, left, split, option, cap) one at a
// time, in the same order and with the same values (with a right child its peaks strictly
// increase, so push_point never replaces a point: it only drops the ones not cheaper).
class MergedPoints {
 public:
  MergedPoints(uint64_t floor, double forward, const TablePointOf& right, uint64_t hold, const TablePointOf& left,
               int32_t split, int32_t option, uint64_t cap)
      : forward_(forward), r_(right), l_(left), hold_(hold), cap_(cap), split_(split), option_(option) {
    peak_ = std::max({floor, hold + r_[0].peak_bytes, l_[0].peak_bytes});
  }
  bool next(ChainDp::TablePoint& out) {
    while (!done_ && peak_ <= cap_) {
      while (i_ + 1 < r_.size() && hold_ + r_[i_ + 1].peak_bytes <= peak_) ++i_;
      while (j_ + 1 < l_.size() && l_[j_ + 1].peak_bytes <= peak_) ++j_;
      const double cost = chain_dp_detail::combined_cost(forward_, r_[i_].cost, l_[j_].cost);
      const uint64_t peak = peak_;
      uint64_t next = chain_dp_detail::kNoPeak;
      if (i_ + 1 < r_.size()) next = hold_ + r_[i_ + 1].peak_bytes;
      if (j_ + 1 < l_.size()) next = std::min(next, l_[j_ + 1].peak_bytes);
      if (next == chain_dp_detail::kNoPeak) done_ = true;
      else peak_ = next;
      if (cost < bound_) {  // push_point keeps it
        bound_ = cheaper_bound(cost);
        out = ChainDp::TablePoint{peak, cost, split_, option_};
        return true;
      }
    }
    return false;
  }

 private:
  double forward_;
  const TablePointOf& r_;
  const TablePointOf& l_;
  uint64_t hold_, cap_, peak_ = 0;
  int32_t split_, option_;
  size_t i_ = 0, j_ = 0;
  bool done_ = false;
  double bound_ = std::numeric_limits<double>::infinity();
};

// acc := pareto_union(acc, y) in place, y given one point at a time by gen.next(point) (peaks
// strictly increasing, each point cheaper() than the one before). Both inputs being such
// frontiers, the union never meets two points of equal peak that it both keeps, and a point of
// acc is kept as long as no point of y has been kept since the last point of acc. So: the points
// of acc before the first kept point of y are left in place; from there on the union is written
// into `merged` until y is used up and a point of acc has been kept again (the rest of acc then
// follows unchanged), and spliced back.
template <class Gen>
void union_into(TablePointOf& acc, Gen& gen, TablePointOf& merged) {
  ChainDp::TablePoint y;
  if (!gen.next(y)) return;
  auto x_first = [&](size_t i) {
    return acc[i].peak_bytes < y.peak_bytes || (acc[i].peak_bytes == y.peak_bytes && acc[i].cost <= y.cost);
  };
  size_t i = static_cast<size_t>(
      std::lower_bound(acc.begin(), acc.end(), y.peak_bytes,
                       [](const ChainDp::TablePoint& p, uint64_t peak) { return p.peak_bytes < peak; }) -
      acc.begin());
  // Points of y dropped while the last point kept is acc[i - 1].
  for (;;) {
    if (i < acc.size() && x_first(i)) {
      ++i;
      continue;
    }
    if (i == 0 || y.cost < cheaper_bound(acc[i - 1].cost)) break;
    if (!gen.next(y)) return;  // acc unchanged
  }
  const size_t lo = i;
  merged.clear();
  merged.push_back(y);
  double bound = cheaper_bound(y.cost);
  bool have_y = gen.next(y);
  bool last_kept_x = false;
  for (;;) {
    if (!have_y && (last_kept_x || i >= acc.size())) break;
    const bool take_x = !have_y || (i < acc.size() && x_first(i));
    const ChainDp::TablePoint p = take_x ? acc[i++] : y;
    if (!take_x) have_y = gen.next(y);
    if (!(p.cost < bound)) {
      last_kept_x = false;
      continue;
    }
    merged.push_back(p);
    bound = cheaper_bound(p.cost);
    last_kept_x = take_x;
  }
  // acc[lo, i) is replaced by merged.
  const size_t replaced = i - lo;
  const auto at = [&acc](size_t index) { return acc.begin() + static_cast<std::ptrdiff_t>(index); };
  if (merged.size() <= replaced) {
    std::copy(merged.begin(), merged.end(), at(lo));
    acc.erase(at(lo + merged.size()), at(i));
  } else {
    std::copy(merged.begin(), merged.begin() + static_cast<std::ptrdiff_t>(replaced), at(lo));
    acc.insert(at(i), merged.begin() + static_cast<std::ptrdiff_t>(replaced), merged.end());
  }
}

// The points of an already built frontier, one at a time.
struct PointsOf {
  const TablePointOf& points;
  size_t next_index = 0;
  bool next(ChainDp::TablePoint& out) {
    if (next_index >= points.size()) return false;
    out = points[next_index++];
    return true;
  }
};

// Adds one option's frontier (merge_option's arguments) to acc, the Pareto union of the options
// so far, exactly as pareto_union(acc, merge_option(...)) would, but without building the points
// that cannot enter it: every point of the option costs at least c_min = combined_cost(forward,
// cheapest right, cheapest left) (floating-point addition is monotone), so from the first point
// of acc that costs <= c_min on (peak P*), acc's own points are at least as cheap at every peak
// and the option's points there would be dropped by the union (at equal peaks acc's point comes
// first, and ties are not "cheaper"). The option is merged only below P* (or not at all), and
// with a right child its points go straight into the union (MergedPoints).
void add_option(TablePointOf& acc, uint64_t floor, double forward, const TablePointOf* right, uint64_t hold,
                const TablePointOf& left, int32_t split, int32_t option, uint64_t cap, TablePointOf& candidate,
                TablePointOf& merged) {
  if (floor > cap || left.empty() || (right && right->empty())) return;
  const double c_min = chain_dp_detail::combined_cost(forward, right ? right->back().cost : 0.0, left.back().cost);
  auto dominating = std::partition_point(acc.begin(), acc.end(),
                                         [c_min](const ChainDp::TablePoint& p) { return p.cost > c_min; });
  uint64_t limit = cap;
  if (dominating != acc.end()) {
    if (dominating->peak_bytes <= floor) return;  // every point of the option has peak >= floor
    limit = std::min(cap, dominating->peak_bytes - 1);
  }
  if (right) {
    MergedPoints gen(floor, forward, *right, hold, left, split, option, limit);
    union_into(acc, gen, merged);
    return;
  }
  merge_option(floor, forward, right, hold, left, split, option, limit, candidate);
  PointsOf gen{candidate};
  union_into(acc, gen, merged);
}

}  // namespace

size_t ChainDp::n_index(int32_t s, int32_t t) const { return (s - 1) * static_cast<size_t>(model_.length()) + (t - 1); }
size_t ChainDp::s_index(int32_t s, int32_t t, int32_t option) const {
  return (s - 1) * static_cast<size_t>(option_count_) + option_offset_[t] + option;
}

ChainDp::ChainDp(ChainModel model, int32_t memory_slots, ProgressFn progress, uint64_t max_peak_bytes)
    : model_(std::move(model)), memory_slots_(memory_slots) {
  validate_chain_model(model_);
  slot_bytes_ = chain_dp_detail::slot_bytes_for(model_, memory_slots);
  const Sizes m = chain_dp_detail::make_sizes(model_, slot_bytes_);
  const int32_t n = m.n;
  // Local peaks above this cannot be part of any plan within max_peak_bytes (callers only add).
  const uint64_t cap = max_peak_bytes < m.baseline ? 0 : max_peak_bytes - m.baseline;
  const bool nothing_fits = max_peak_bytes < m.baseline;
  option_offset_.assign(n + 1, 0);
  option_count_ = 0;
  for (int32_t k = 1; k <= n; ++k) {
    option_offset_[k] = option_count_;
    option_count_ += static_cast<int32_t>(m.options[k].size());
  }
  n_table_.assign(static_cast<size_t>(n) * n, {});
  s_table_.assign(static_cast<size_t>(n) * option_count_, {});
  TablePointOf acc, candidate, merged;
  // Every option of one subproblem (see best_choice in chain_dp_internal.h for the same options
  // evaluated at one budget), accumulated into a Pareto frontier.
  auto build = [&](int32_t s, int32_t t, int32_t kept_option) {
    acc.clear();
    const bool kept = kept_option >= 0;
    if (kept && s == t) {
      const Option& o = m.options[t][kept_option];
      if (o.backward_peak <= cap && !nothing_fits) acc.push_back({o.backward_peak, o.backward_cost, t, -1});
      return acc;
    }
    const uint64_t entry = m.d[t] + (kept ? m.options[t][kept_option].kept : 0);
    const uint64_t a_before = m.a[s - 1];
    auto right_of = [&](int32_t start) -> const TablePointOf& {
      return kept ? s_table_[s_index(start, t, kept_option)] : n_table_[n_index(start, t)];
    };
    uint64_t sweep_max = 0;
    double sweep_cost = 0;
    const int32_t last_keep = kept ? t - 1 : (s == t ? t : t - 1);
    for (int32_t k = s; k <= last_keep; ++k) {
      if (k > s) {
        sweep_max = std::max(sweep_max, (k - 1 > s ? a_before : 0) + m.discard_peak[k - 1]);
        sweep_cost += m.discard_cost[k - 1];
      }
      for (size_t oi = 0; oi < m.options[k].size(); ++oi) {
        const Option& o = m.options[k][oi];
        const uint64_t floor = entry + std::max(sweep_max, (k > s ? a_before : 0) + o.forward_peak);
        const TablePointOf* right = k < t ? &right_of(k + 1) : nullptr;
        add_option(acc, floor, sweep_cost + o.forward_cost, right, right ? m.hold(s, k, o) : 0,
                   s_table_[s_index(s, k, static_cast<int32_t>(oi))], k, static_cast<int32_t>(oi), cap, candidate,
                   merged);
      }
    }
    uint64_t forward_max = 0;
    double forward_cost = 0;
    for (int32_t split = s + 1; split <= t; ++split) {
      forward_max = std::max(forward_max, (split - 1 > s ? a_before : 0) + m.discard_peak[split - 1]);
      forward_cost += m.discard_cost[split - 1];
      add_option(acc, entry + forward_max, forward_cost, &right_of(split), a_before, n_table_[n_index(s, split - 1)],
                 split, -1, cap, candidate, merged);
    }
    return acc;
  };
  for (int32_t length = 1; length <= n; ++length) {
    if (progress) progress(static_cast<double>(length - 1) / n, "chain-dp table");
    for (int32_t s = 1; s + length - 1 <= n; ++s) {
      const int32_t t = s + length - 1;
      for (int32_t o = 0; o < static_cast<int32_t>(m.options[t].size()); ++o) s_table_[s_index(s, t, o)] = build(s, t, o);
      n_table_[n_index(s, t)] = build(s, t, -1);
    }
  }
  if (progress) progress(1.0, "chain-dp table");
  frontier_.clear();
  for (const TablePoint& p : n_table_[n_index(1, n)]) frontier_.push_back({m.baseline + p.peak_bytes, p.cost});
  dp_model_baseline_ = m.baseline;
  dp_sizes_ = std::make_shared<const Sizes>(m);
}

void ChainDp::rebuild(int32_t s, int32_t t, int32_t kept_option, uint64_t local_budget, std::vector<ChainOp>& ops) const {
  const std::vector<TablePoint>& points =
      kept_option >= 0 ? s_table_[s_index(s, t, kept_option)] : n_table_[n_index(s, t)];
  auto it = std::upper_bound(points.begin(), points.end(), local_budget,
                             [](uint64_t budget, const TablePoint& p) { return budget < p.peak_bytes; });
  GRADRECOMP_ASSERT(it != points.begin(), fmt::format("subproblem ({}, {}, {}) has no point within {}", s, t,
                                                      kept_option, local_budget));
  const TablePoint& point = *(it - 1);
  chain_dp_detail::emit_choice(*dp_sizes_, chain_dp_detail::Sub{s, t, kept_option}, local_budget, point.split,
                               point.option, ops,
                               [this](chain_dp_detail::Sub sub, uint64_t budget, std::vector<ChainOp>& out) {
                                 rebuild(sub.s, sub.t, sub.kept_option, budget, out);
                               });
}

std::optional<ChainPlan> ChainDp::plan_for_budget(uint64_t budget_bytes) const {
  if (frontier_.empty() || budget_bytes < frontier_.front().peak_bytes) return std::nullopt;
  std::vector<ChainOp> ops;
  rebuild(1, model_.length(), -1, budget_bytes - dp_model_baseline_, ops);
  return replay_chain_ops(model_, std::move(ops));
}

uint64_t ChainDp::table_points() const {
  uint64_t total = 0;
  for (const auto* table : {&n_table_, &s_table_}) {
    for (const auto& points : *table) total += points.size();
  }
  return total;
}

uint64_t ChainDp::largest_subfrontier() const {
  uint64_t largest = 0;
  for (const auto* table : {&n_table_, &s_table_}) {
    for (const auto& points : *table) largest = std::max<uint64_t>(largest, points.size());
  }
  return largest;
}

}  // namespace gradrecomp
