#include <gtest/gtest.h>

#include "gradrecomp/error.h"
#include "gradrecomp/units.h"

namespace gradrecomp {
namespace {

TEST(ParseBytes, UnitsAndPlainNumbers) {
  EXPECT_EQ(parse_bytes("4096"), 4096u);
  EXPECT_EQ(parse_bytes("2GiB"), 2147483648u);
  EXPECT_EQ(parse_bytes("2 gib"), 2147483648u);
  EXPECT_EQ(parse_bytes("1.5MB"), 1500000u);
  EXPECT_EQ(parse_bytes("512M"), 512u << 20);
  EXPECT_EQ(parse_bytes("1KiB"), 1024u);
  EXPECT_EQ(parse_bytes("18446744073709551615"), UINT64_MAX);
}

TEST(ParseBytes, ErrorsNameTheValue) {
  for (const char* bad : {"", "abc", "12 parsecs", "-5", "1.2.3GB"}) {
    try {
      parse_bytes(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("\"") + bad + "\""), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(parse_bytes("18446744073709551616"), Error);
  EXPECT_THROW(parse_bytes("99999999999TiB"), Error);
}

TEST(FormatBytes, HumanAndExact) {
  EXPECT_EQ(format_bytes(512), "512 B");
  EXPECT_EQ(format_bytes(1610612736), "1.50 GiB");
  EXPECT_EQ(format_bytes_exact(1610612736), "1.50 GiB (1610612736 bytes)");
}

TEST(Budget, PercentOfStoreAll) {
  Budget b = parse_budget("40%");
  ASSERT_TRUE(b.fraction.has_value());
  EXPECT_EQ(b.resolve(1000), 400u);
  EXPECT_EQ(parse_budget("2KiB").resolve(1000), 2048u);
  EXPECT_THROW(parse_budget("-4%"), Error);
}

TEST(Fraction, PercentOrPlain) {
  EXPECT_DOUBLE_EQ(parse_fraction("5%"), 0.05);
  EXPECT_DOUBLE_EQ(parse_fraction("0.05"), 0.05);
  EXPECT_THROW(parse_fraction("five"), Error);
  EXPECT_THROW(parse_fraction("-1%"), Error);
}

}  // namespace
}  // namespace gradrecomp
