// Drawings of `gradrecomp compare`; what they show: compare_svg.h.
#include "compare_svg.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <vector>

#include <fmt/format.h>

#include "output.h"

namespace gradrecomp::cli {
namespace {

const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

struct Box {
  double width = 880, height = 500;
  double left = 80, right = 270, top = 50, bottom = 60;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  double px(double x) const { return left + (x - x_min) / (x_max - x_min) * (width - left - right); }
  double py(double y) const { return height - bottom - (y - y_min) / (y_max - y_min) * (height - top - bottom); }
};

double nice_step(double range, int count) {
  if (range <= 0) return 1;
  const double raw = range / count;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double residual = raw / magnitude;
  return (residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10) * magnitude;
}

// Widens [lo, hi] to multiples of a nice step; returns the step.
double fit_axis(double& lo, double& hi, int ticks) {
  if (!(hi > lo)) hi = lo + 1;
  const double step = nice_step(hi - lo, ticks);
  lo = std::floor(lo / step) * step;
  hi = std::ceil(hi / step) * step;
  if (hi <= lo) hi = lo + step;
  return step;
}

template <typename Label>
std::string frame(const Box& b, const std::string& title, double x_step, double y_step, Label x_label, Label y_label,
                  const std::string& x_title, const std::string& y_title) {
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"20\" y=\"24\" font-size=\"14\" font-weight=\"bold\">{2}</text>\n",
      b.width, b.height, xml_escape(title));
  const double x0 = b.px(b.x_min), x1 = b.px(b.x_max), y0 = b.py(b.y_min), y1 = b.py(b.y_max);
  for (double x = b.x_min; x <= b.x_max + x_step * 1e-9; x += x_step) {
    out += fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" stroke=\"#e5e5e5\"/>\n"
                       "<text x=\"{0:.1f}\" y=\"{3:.1f}\" text-anchor=\"middle\">{4}</text>\n",
                       b.px(x), y0, y1, y0 + 18, xml_escape(x_label(x)));
  }
  for (double y = b.y_min; y <= b.y_max + y_step * 1e-9; y += y_step) {
    out += fmt::format("<line x1=\"{1:.1f}\" y1=\"{0:.1f}\" x2=\"{2:.1f}\" y2=\"{0:.1f}\" stroke=\"#e5e5e5\"/>\n"
                       "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
                       b.py(y), x0, x1, x0 - 8, b.py(y) + 4, xml_escape(y_label(y)));
  }
  out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"black\"/>\n",
                     x0, y1, x1 - x0, y0 - y1);
  out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", (x0 + x1) / 2, b.height - 15,
                     xml_escape(x_title));
  out += fmt::format("<text transform=\"translate(16 {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
                     (y0 + y1) / 2, xml_escape(y_title));
  return out;
}

std::string legend_entry(const Box& b, size_t row, const char* colour, const std::string& text, bool line) {
  const double y = b.top + 10 + 20 * static_cast<double>(row);
  const double x = b.width - b.right + 16;
  std::string mark = line ? fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
                                        "stroke-width=\"3\"/>\n",
                                        x, y, x + 20, y, colour)
                          : fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"5\" fill=\"{}\"/>\n", x + 10, y, colour);
  return mark + fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">{}</text>\n", x + 28, y + 4, xml_escape(text));
}

std::string title_of(const CompareReport& r) {
  return fmt::format("{} ({}), batch {}, {} thread(s)", r.model, r.config, r.batch, r.threads);
}

}  // namespace

std::string compare_memory_overhead_svg(const CompareReport& report) {
  if (report.strategies.empty()) return {};
  const StrategyResult& full = report.strategies[0];
  const double full_measured = std::max<double>(1, static_cast<double>(full.measured_peak_bytes));
  const double full_simulated = std::max<double>(1, static_cast<double>(full.plan.schedule.peak_bytes));
  struct Point {
    double memory, overhead;
  };
  std::vector<Point> measured, simulated, frontier;
  for (const StrategyResult& s : report.strategies) {
    measured.push_back({100.0 * static_cast<double>(s.measured_peak_bytes) / full_measured, 100.0 * s.overhead});
    simulated.push_back({100.0 * static_cast<double>(s.plan.schedule.peak_bytes) / full_simulated,
                         100.0 * s.plan.simulated_overhead});
  }
  for (const FrontierPoint& p : report.optimal_frontier) {
    frontier.push_back({100.0 * static_cast<double>(p.peak_bytes) / full_simulated, 100.0 * p.overhead});
  }
  Box b;
  double x_lo = 100, x_hi = 100, y_lo = 0, y_hi = 1;
  // The axes fit the strategies; the frontier extends to lower memory at higher overheads and is
  // clipped at the top rather than squeezing the strategies into the bottom of the chart.
  for (const auto* list : {&measured, &simulated, &frontier}) {
    for (const Point& p : *list) {
      x_lo = std::min(x_lo, p.memory), x_hi = std::max(x_hi, p.memory);
      y_lo = std::min(y_lo, p.overhead);
      if (list != &frontier) y_hi = std::max(y_hi, p.overhead);
    }
  }
  b.x_min = x_lo, b.x_max = x_hi, b.y_min = y_lo, b.y_max = std::max(y_hi * 1.3, 5.0);
  const double x_step = fit_axis(b.x_min, b.x_max, 8);
  const double y_step = fit_axis(b.y_min, b.y_max, 6);
  auto pct = [](double v) { return fmt::format("{:g}%", v); };
  std::string out = frame(b, "peak memory vs overhead: " + title_of(report), x_step, y_step, pct, pct,
                          "peak activation memory (% of full caching)", "step-time overhead over full caching (%)");
  if (!frontier.empty()) {
    std::string path = fmt::format("M{:.1f},{:.1f}", b.px(frontier[0].memory), b.py(frontier[0].overhead));
    for (size_t k = 1; k < frontier.size(); ++k) {
      path += fmt::format(" H{:.1f} V{:.1f}", b.px(frontier[k].memory), b.py(frontier[k].overhead));
    }
    path += fmt::format(" H{:.1f}", b.px(b.x_max));
    out += fmt::format("<clipPath id=\"plot\"><rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\"/></clipPath>\n",
                       b.px(b.x_min), b.py(b.y_max), b.px(b.x_max) - b.px(b.x_min), b.py(b.y_min) - b.py(b.y_max));
    out += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"#7f7f7f\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\" "
                       "clip-path=\"url(#plot)\"/>\n",
                       path);
  }
  size_t row = 0;
  for (size_t i = 0; i < report.strategies.size(); ++i) {
    const char* colour = kColours[i % std::size(kColours)];
    const std::string name(strategy_name(report.strategies[i].plan.strategy));
    const double mx = b.px(measured[i].memory), my = b.py(measured[i].overhead);
    const double sx = b.px(simulated[i].memory), sy = b.py(simulated[i].overhead);
    out += fmt::format("<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" stroke-width=\"1\"/>\n",
                       sx, sy, mx, my, colour);
    out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"6\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\">"
                       "<title>{} simulated: {:.1f}% memory, {:.1f}% overhead</title></circle>\n",
                       sx, sy, colour, xml_escape(name), simulated[i].memory, simulated[i].overhead);
    out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"6\" fill=\"{}\"><title>{} measured: {:.1f}% memory, "
                       "{:.1f}% overhead</title></circle>\n",
                       mx, my, colour, xml_escape(name), measured[i].memory, measured[i].overhead);
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\">{}</text>\n", mx + 9, my - 8, colour, xml_escape(name));
    out += legend_entry(b, row++, colour,
                        fmt::format("{}: {:.0f}%, {:+.1f}% (CPU {:+.1f}%)", name, measured[i].memory, measured[i].overhead,
                                    100.0 * report.strategies[i].cpu_overhead),
                        false);
  }
  out += legend_entry(b, row++, "#7f7f7f", "auto frontier (simulated)", true);
  out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">dots: measured (wall-clock median)</text>\n", b.width - b.right + 16,
                     b.top + 20 + 20 * static_cast<double>(row));
  out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\">rings: simulated</text>\n", b.width - b.right + 16,
                     b.top + 40 + 20 * static_cast<double>(row));
  return out + "</svg>\n";
}

std::string compare_timeline_svg(const CompareReport& report) {
  Box b;
  double t_hi = 0, bytes_hi = 1;
  for (const StrategyResult& s : report.strategies) {
    if (!s.timeline_end_seconds.empty()) t_hi = std::max(t_hi, s.timeline_end_seconds.back());
    for (int64_t v : s.timeline_peak_bytes) bytes_hi = std::max(bytes_hi, static_cast<double>(v));
  }
  const double mib = 1024.0 * 1024.0;
  b.x_min = 0, b.x_max = std::max(t_hi * 1000.0, 1e-3);
  b.y_min = 0, b.y_max = bytes_hi * 1.05 / mib;
  const double x_step = fit_axis(b.x_min, b.x_max, 10);
  const double y_step = fit_axis(b.y_min, b.y_max, 6);
  auto ms = [](double v) { return fmt::format("{:g}", v); };
  auto mb = [](double v) { return fmt::format("{:g} MiB", v); };
  std::string out = frame(b, "measured memory during one step: " + title_of(report), x_step, y_step,
                          std::function<std::string(double)>(ms), std::function<std::string(double)>(mb),
                          "time since the step's start (ms)", "live activation memory (MiB, peak per schedule step)");
  for (size_t i = 0; i < report.strategies.size(); ++i) {
    const StrategyResult& s = report.strategies[i];
    const char* colour = kColours[i % std::size(kColours)];
    const size_t n = std::min(s.timeline_end_seconds.size(), s.timeline_peak_bytes.size());
    std::string path = fmt::format("M{:.1f},{:.1f}", b.px(0), b.py(static_cast<double>(report.batch_bytes) / mib));
    int64_t peak = 0;
    for (size_t k = 0; k < n; ++k) {
      path += fmt::format(" V{:.1f} H{:.1f}", b.py(static_cast<double>(s.timeline_peak_bytes[k]) / mib),
                          b.px(s.timeline_end_seconds[k] * 1000.0));
      peak = std::max(peak, s.timeline_peak_bytes[k]);
    }
    out += fmt::format("<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" opacity=\"0.9\"/>\n", path, colour);
    out += legend_entry(b, i, colour,
                        fmt::format("{}: peak {}, {:.0f} ms", strategy_name(s.plan.strategy),
                                    format_bytes(static_cast<uint64_t>(std::max<int64_t>(peak, 0))),
                                    n ? s.timeline_end_seconds[n - 1] * 1000.0 : 0.0),
                        true);
  }
  return out + "</svg>\n";
}

}  // namespace gradrecomp::cli
