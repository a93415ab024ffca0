#include "common/time.h"

#include <gtest/gtest.h>

namespace vigil {
namespace time_test {

TEST(DurationTest, ParsesEveryUnit) {
  EXPECT_EQ(*ParseDuration("500ms"), 500);
  EXPECT_EQ(*ParseDuration("2s"), 2000);
  EXPECT_EQ(*ParseDuration("10m"), 600000);
  EXPECT_EQ(*ParseDuration("1h"), 3600000);
  EXPECT_EQ(*ParseDuration("90d"), 90LL * 86400000);
  EXPECT_EQ(*ParseDuration("0s"), 0);
}

TEST(DurationTest, RejectsMalformed) {
  for (const char* bad : {"", "s", "10", "10x", "-1s", "1.5h", "99999999999999999999d"}) {
    EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
  }
}

TEST(DurationTest, FormatsLargestExactUnit) {
  EXPECT_EQ(FormatDuration(3600000), "1h");
  EXPECT_EQ(FormatDuration(90000), "90s");
  EXPECT_EQ(FormatDuration(1), "1ms");
}

TEST(TimestampTest, ParsesIsoWithZones) {
  EXPECT_EQ(*ParseTimestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseTimestamp("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(*ParseTimestamp("1970-01-01T00:00:00.123456Z"), 123);
  EXPECT_EQ(*ParseTimestamp("1970-01-01T02:00:00+02:00"), 0);
  EXPECT_EQ(*ParseTimestamp("1969-12-31T23:00:00-01:00"), 0);
  EXPECT_EQ(*ParseTimestamp("2026-03-01T12:00:00Z"), 1772366400000);
  EXPECT_EQ(*ParseTimestamp("2024-02-29 00:00:00+0000"), 1709164800000);
  EXPECT_EQ(*ParseTimestamp("1772366400000"), 1772366400000);
}

TEST(TimestampTest, RejectsWithoutZoneOrOutOfRange) {
  for (const char* bad : {"2026-03-01T12:00:00", "2026-13-01T00:00:00Z", "2023-02-29T00:00:00Z",
                          "2026-03-01T12:00:00Zjunk", "abc", "", "2026-03-01T12:00:00.Z"}) {
    EXPECT_FALSE(ParseTimestamp(bad).ok()) << bad;
  }
}

TEST(TimestampTest, FormatRoundTrips) {
  for (int64_t ts : {0LL, 1772366400123LL, -1LL, 253402300799999LL}) {
    EXPECT_EQ(*ParseTimestamp(FormatIsoTimestamp(ts)), ts) << FormatIsoTimestamp(ts);
  }
}

}  // namespace time_test
}  // namespace vigil
