#include "output.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "gradrecomp/units.h"

namespace gradrecomp::cli {

Table::Table(std::vector<std::string> headers, std::vector<Align> align)
    : headers_(std::move(headers)), align_(std::move(align)) {
  align_.resize(headers_.size(), Align::kLeft);
}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  std::vector<size_t> width(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) {
    width[c] = headers_[c].size();
    for (const auto& row : rows_) width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      std::string cell = cells[c];
      std::string pad(width[c] - cell.size(), ' ');
      bool last = c + 1 == cells.size();
      if (align_[c] == Align::kRight) out += pad + cell;
      else out += last ? cell : cell + pad;
      if (!last) out += "  ";
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers_);
  std::vector<std::string> rule;
  for (size_t w : width) rule.push_back(std::string(w, '-'));
  out += line(rule);
  for (const auto& row : rows_) out += line(row);
  return out;
}

std::string key_values(const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t width = 0;
  for (const auto& [key, value] : rows) width = std::max(width, key.size());
  std::string out;
  for (const auto& [key, value] : rows) out += fmt::format("{:<{}}  {}\n", key, width, value);
  return out;
}

std::string percent(double fraction) { return fmt::format("{:.2f}%", fraction * 100.0); }

std::string format_cost(double cost) { return fmt::format("{:.10g}", cost); }

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::vector<bool> recompute_flags(const Graph& graph, const std::vector<Step>& steps) {
  std::vector<char> seen(graph.num_nodes(), 0);
  std::vector<bool> flags(steps.size(), false);
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].kind != StepKind::kCompute) continue;
    NodeId n = steps[i].target;
    if (n < 0 || n >= graph.num_nodes()) continue;
    flags[i] = seen[n] != 0;
    seen[n] = 1;
  }
  return flags;
}

namespace {

// Chart geometry shared by both drawings: a plot box inside an SVG canvas.
struct Plot {
  double width = 800, height = 480;
  double left = 80, right = 200, top = 50, bottom = 60;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  double px(double x) const { return left + (x - x_min) / (x_max - x_min) * (width - left - right); }
  double py(double y) const { return height - bottom - (y - y_min) / (y_max - y_min) * (height - top - bottom); }
};

// A "nice" tick spacing (1, 2 or 5 times a power of ten) giving about `count` ticks over `range`.
double nice_step(double range, int count) {
  if (range <= 0) return 1;
  double raw = range / count;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double residual = raw / magnitude;
  double nice = residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10;
  return nice * magnitude;
}

// Dash patterns cycle with a different period from the colours, so overlapping frontiers
// (two solvers finding the same points) stay distinguishable.
const char* kDashes[] = {"", "8 4", "3 3", "12 4 3 4"};

const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                          "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};

std::string svg_header(const Plot& p, const std::string& title) {
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"20\" y=\"24\" font-size=\"14\" font-weight=\"bold\">{2}</text>\n",
      p.width, p.height, xml_escape(title));
  return out;
}

// Axes box, grid lines, ticks and axis labels; `x_label_of`/`y_label_of` format tick values.
template <typename XFormat, typename YFormat>
std::string svg_axes(const Plot& p, double x_step, double y_step, XFormat x_label_of, YFormat y_label_of,
                     const std::string& x_title, const std::string& y_title) {
  std::string out;
  double x0 = p.px(p.x_min), x1 = p.px(p.x_max), y0 = p.py(p.y_min), y1 = p.py(p.y_max);
  for (double x = std::ceil(p.x_min / x_step) * x_step; x <= p.x_max + x_step * 1e-9; x += x_step) {
    out += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>\n",
                       p.px(x), y0, y1);
    out += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"black\"/>\n",
                       p.px(x), y0, y0 + 5);
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", p.px(x), y0 + 19,
                       xml_escape(x_label_of(x)));
  }
  for (double y = std::ceil(p.y_min / y_step) * y_step; y <= p.y_max + y_step * 1e-9; y += y_step) {
    out += fmt::format("<line x1=\"{1:.1f}\" y1=\"{0:.1f}\" x2=\"{2:.1f}\" y2=\"{0:.1f}\" stroke=\"#e5e5e5\"/>\n",
                       p.py(y), x0, x1);
    out += fmt::format("<line x1=\"{1:.1f}\" y1=\"{0:.1f}\" x2=\"{2:.1f}\" y2=\"{0:.1f}\" stroke=\"black\"/>\n",
                       p.py(y), x0 - 5, x0);
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", x0 - 8, p.py(y) + 4,
                       xml_escape(y_label_of(y)));
  }
  out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"black\"/>\n",
                     x0, y1, x1 - x0, y0 - y1);
  out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", (x0 + x1) / 2,
                     p.height - 15, xml_escape(x_title));
  out += fmt::format("<text transform=\"translate(14 {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                     (y0 + y1) / 2, xml_escape(y_title));
  return out;
}

}  // namespace

std::string frontier_svg(const std::string& title, const std::vector<FrontierSeries>& series) {
  Plot p;
  double x_lo = 100, x_hi = 100, y_hi = 0;
  for (const auto& s : series) {
    for (double x : s.memory_percent) x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x);
    for (double y : s.overhead_percent) y_hi = std::max(y_hi, y);
  }
  double x_step = nice_step(std::max(x_hi - x_lo, 1.0), 8);
  p.x_min = std::floor(x_lo / x_step) * x_step;
  p.x_max = std::ceil(x_hi / x_step) * x_step;
  if (p.x_max <= p.x_min) p.x_max = p.x_min + x_step;
  double y_step = nice_step(std::max(y_hi, 1.0), 6);
  p.y_min = 0;
  p.y_max = std::max(y_step, std::ceil(y_hi / y_step) * y_step);
  if (p.y_max <= y_hi) p.y_max += y_step;

  std::string out = svg_header(p, title);
  auto pct = [](double v) { return fmt::format("{:g}%", v); };
  out += svg_axes(p, x_step, y_step, pct, pct, "peak memory (% of store-all peak)", "compute overhead (%)");
  for (size_t i = 0; i < series.size(); ++i) {
    const FrontierSeries& s = series[i];
    const char* colour = kColours[i % std::size(kColours)];
    const std::string dash = *kDashes[i % std::size(kDashes)] ? fmt::format(" stroke-dasharray=\"{}\"", kDashes[i % std::size(kDashes)]) : "";
    if (!s.memory_percent.empty()) {
      // Cheapest overhead within a budget is a step function: flat until the next frontier point.
      std::string path = fmt::format("M{:.1f},{:.1f}", p.px(s.memory_percent[0]), p.py(s.overhead_percent[0]));
      for (size_t k = 1; k < s.memory_percent.size(); ++k) {
        path += fmt::format(" H{:.1f} V{:.1f}", p.px(s.memory_percent[k]), p.py(s.overhead_percent[k]));
      }
      path += fmt::format(" H{:.1f}", p.px(p.x_max));
      out += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" opacity=\"0.85\"{}/>\n", path,
                         colour, dash);
      for (size_t k = 0; k < s.memory_percent.size(); ++k) {
        out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"><title>{}: {:.2f}% memory, "
                           "{:.2f}% overhead</title></circle>\n",
                           p.px(s.memory_percent[k]), p.py(s.overhead_percent[k]), colour, xml_escape(s.solver),
                           s.memory_percent[k], s.overhead_percent[k]);
      }
    }
    double ly = p.top + 10 + 20 * static_cast<double>(i);
    double lx = p.width - p.right + 20;
    out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"3\"{}/>\n",
                       lx, ly, lx + 24, ly, colour, dash);
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{} ({} pt)</text>\n", lx + 30, ly + 4, xml_escape(s.solver),
                       s.memory_percent.size());
  }
  return out + "</svg>\n";
}

std::string timeline_csv(const Graph& graph, const Schedule& schedule, const Simulation& sim) {
  std::vector<bool> recompute = recompute_flags(graph, schedule.steps);
  std::string out = "step,kind,id,live_bytes,recompute\n";
  for (size_t i = 0; i < schedule.steps.size() && i < sim.timeline_bytes.size(); ++i) {
    const Step& s = schedule.steps[i];
    bool compute = s.kind == StepKind::kCompute;
    const std::string& id = compute ? graph.node(s.target).id : graph.tensor(s.target).id;
    out += fmt::format("{},{},{},{},{}\n", i, compute ? "compute" : "free", csv_field(id), sim.timeline_bytes[i],
                       recompute[i] ? 1 : 0);
  }
  return out;
}

std::string timeline_svg(const Graph& graph, const Schedule& schedule, const Simulation& sim) {
  Plot p;
  p.right = 40;
  uint64_t start = 0;
  for (TensorId t : graph.graph_inputs()) start += graph.tensor(t).bytes;
  const size_t n = std::min(schedule.steps.size(), sim.timeline_bytes.size());
  uint64_t top = std::max<uint64_t>(sim.peak_bytes, schedule.budget_bytes.value_or(0));
  top = std::max<uint64_t>(top, 1);
  // Byte ticks in a power-of-two unit so the labels read "256 KiB", "512 KiB", ...
  double unit = 1;
  while (unit * 1024 <= static_cast<double>(top)) unit *= 1024;
  double y_step = nice_step(static_cast<double>(top) / unit, 6) * unit;
  p.x_min = 0;
  p.x_max = static_cast<double>(std::max<size_t>(n, 1));
  p.y_min = 0;
  p.y_max = std::ceil(static_cast<double>(top) * 1.05 / y_step) * y_step;
  double x_step = std::max(1.0, nice_step(p.x_max, 10));

  std::string out = svg_header(p, fmt::format("memory timeline: {} on {} (peak {})", schedule.solver, graph.name(),
                                              format_bytes(sim.peak_bytes)));
  auto step_label = [](double x) { return fmt::format("{:g}", x); };
  // Tick labels in the axis unit ("0.2 MiB", not "204.80 KiB").
  const char* unit_name = unit >= 1024.0 * 1024 * 1024 ? "GiB" : unit >= 1024.0 * 1024 ? "MiB" : unit >= 1024 ? "KiB" : "B";
  auto byte_label = [unit, unit_name](double y) { return fmt::format("{:g} {}", y / unit, unit_name); };
  out += svg_axes(p, x_step, y_step, step_label, byte_label, "step", "live bytes");
  // Step i occupies [i, i+1) on the x axis; before step 0 only the graph inputs are live.
  std::string path = fmt::format("M{:.1f},{:.1f}", p.px(0), p.py(static_cast<double>(start)));
  for (size_t i = 0; i < n; ++i) {
    path += fmt::format(" V{:.1f} H{:.1f}", p.py(static_cast<double>(sim.timeline_bytes[i])),
                        p.px(static_cast<double>(i + 1)));
  }
  out += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\"/>\n", path);
  std::vector<bool> recompute = recompute_flags(graph, schedule.steps);
  for (size_t i = 0; i < n; ++i) {
    if (!recompute[i]) continue;
    out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.5\" fill=\"#ff7f0e\"><title>step {}: recompute "
                       "{}</title></circle>\n",
                       p.px(i + 0.5), p.py(static_cast<double>(sim.timeline_bytes[i])), i,
                       xml_escape(graph.node(schedule.steps[i].target).id));
  }
  auto hline = [&](uint64_t bytes, const char* colour, const std::string& label) {
    double y = p.py(static_cast<double>(bytes));
    out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
                       "stroke-dasharray=\"6 4\"/>\n",
                       p.px(p.x_min), y, p.px(p.x_max), y, colour);
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\" fill=\"{}\">{}</text>\n", p.px(p.x_max) - 4,
                       y - 4, colour, xml_escape(label));
  };
  hline(sim.peak_bytes, "#d62728", fmt::format("peak {}", format_bytes(sim.peak_bytes)));
  if (schedule.budget_bytes) hline(*schedule.budget_bytes, "#2ca02c", fmt::format("budget {}", format_bytes(*schedule.budget_bytes)));
  out += fmt::format("<text x=\"{:.1f}\" y=\"40\" fill=\"#ff7f0e\">orange dots: recomputations</text>\n", p.left);
  return out + "</svg>\n";
}

}  // namespace gradrecomp::cli
