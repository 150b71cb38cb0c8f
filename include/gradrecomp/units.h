// Byte sizes and budgets as people write them.
//
//   parse_bytes("2GiB") == 2147483648;  parse_bytes("1.5MB") == 1500000;  parse_bytes("4096") == 4096
//   format_bytes(1610612736) == "1.50 GiB"
//   parse_budget("40%") -> Budget{.fraction = 0.40};  resolve against the store-all peak.
//   parse_fraction("5%") == 0.05;  parse_fraction("0.05") == 0.05
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gradrecomp {

// Accepts an integer or decimal number followed by an optional unit: B, KB/MB/GB/TB (powers of
// 1000), KiB/MiB/GiB/TiB (powers of 1024), K/M/G/T (powers of 1024). Case-insensitive units.
uint64_t parse_bytes(std::string_view text);
// "1.50 GiB" (or "512 B" below 1 KiB).
std::string format_bytes(uint64_t bytes);
// "1.50 GiB (1610612736 bytes)": the human and exact form used in messages.
std::string format_bytes_exact(uint64_t bytes);

struct Budget {
  std::optional<uint64_t> bytes;     // absolute
  std::optional<double> fraction;    // of the store-all peak ("40%")
  uint64_t resolve(uint64_t store_all_peak) const;
  std::string describe() const;
};
Budget parse_budget(std::string_view text);

// "5%" -> 0.05, "0.05" -> 0.05; must be finite and >= 0.
double parse_fraction(std::string_view text);

}  // namespace gradrecomp
