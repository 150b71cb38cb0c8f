#include "gradrecomp/units.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "gradrecomp/error.h"

namespace gradrecomp {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

// Splits "1.5GiB" into the number and the unit; the number must be a plain decimal.
std::pair<std::string_view, std::string_view> split_number(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  return {text.substr(0, i), trim(text.substr(i))};
}

}  // namespace

uint64_t parse_bytes(std::string_view raw) {
  std::string_view text = trim(raw);
  auto [number, unit] = split_number(text);
  const std::string expected = "expected a byte count such as 4096, 512MiB, 2GiB or 1.5GB";
  if (number.empty() || number == ".") throw Error(fmt::format("size \"{}\" is not a number ({})", raw, expected));
  std::string u = lower(unit);
  double scale = 0;
  if (u.empty() || u == "b") scale = 1;
  else if (u == "kb") scale = 1e3;
  else if (u == "mb") scale = 1e6;
  else if (u == "gb") scale = 1e9;
  else if (u == "tb") scale = 1e12;
  else if (u == "k" || u == "kib") scale = 1024.0;
  else if (u == "m" || u == "mib") scale = 1024.0 * 1024;
  else if (u == "g" || u == "gib") scale = 1024.0 * 1024 * 1024;
  else if (u == "t" || u == "tib") scale = 1024.0 * 1024 * 1024 * 1024;
  else throw Error(fmt::format("size \"{}\" has unknown unit \"{}\" ({})", raw, unit, expected));

  if (number.find('.') == std::string_view::npos && scale == 1) {
    uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec == std::errc::result_out_of_range) throw Error(fmt::format("size \"{}\" overflows 64 bits", raw));
    if (ec != std::errc() || ptr != number.data() + number.size()) {
      throw Error(fmt::format("size \"{}\" is not a number ({})", raw, expected));
    }
    return value;
  }
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(std::string(number), &used);
    if (used != number.size()) throw Error("");
  } catch (...) {
    throw Error(fmt::format("size \"{}\" is not a number ({})", raw, expected));
  }
  double bytes = std::round(value * scale);
  if (!std::isfinite(bytes) || bytes >= 18446744073709551616.0) {
    throw Error(fmt::format("size \"{}\" overflows 64 bits", raw));
  }
  return static_cast<uint64_t>(bytes);
}

std::string format_bytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.2f} {}", value, kUnits[unit]);
}

std::string format_bytes_exact(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  return fmt::format("{} ({} bytes)", format_bytes(bytes), bytes);
}

double parse_fraction(std::string_view raw) {
  std::string_view text = trim(raw);
  bool percent = !text.empty() && text.back() == '%';
  if (percent) text = trim(text.substr(0, text.size() - 1));
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(std::string(text), &used);
    if (used != text.size()) throw Error("");
  } catch (...) {
    throw Error(fmt::format("\"{}\" is not a fraction (expected a percentage such as 5% or a number such as 0.05)", raw));
  }
  if (percent) value /= 100.0;
  if (!std::isfinite(value) || value < 0) {
    throw Error(fmt::format("\"{}\" is out of range (expected a finite value >= 0)", raw));
  }
  return value;
}

Budget parse_budget(std::string_view raw) {
  std::string_view text = trim(raw);
  Budget budget;
  if (!text.empty() && text.back() == '%') {
    budget.fraction = parse_fraction(text);
  } else {
    budget.bytes = parse_bytes(text);
  }
  return budget;
}

uint64_t Budget::resolve(uint64_t store_all_peak) const {
  if (bytes) return *bytes;
  double value = std::floor(*fraction * static_cast<double>(store_all_peak));
  if (value >= 18446744073709551616.0) return UINT64_MAX;
  return static_cast<uint64_t>(value);
}

std::string Budget::describe() const {
  if (bytes) return format_bytes_exact(*bytes);
  return fmt::format("{:g}% of the store-all peak", *fraction * 100);
}

}  // namespace gradrecomp
