#include "probe/config/duration.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace reachprobe::config {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

TEST(ParseDuration, AcceptsGoStyleDurations) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("10s"), seconds(10));
  EXPECT_EQ(parse_duration("1m30s"), seconds(90));
  EXPECT_EQ(parse_duration("1h"), hours(1));
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
  EXPECT_EQ(parse_duration("100us"), microseconds(100));
  EXPECT_EQ(parse_duration("100\xC2\xB5s"), microseconds(100));
  EXPECT_EQ(parse_duration("7ns"), nanoseconds(7));
  EXPECT_EQ(parse_duration("1h2m3s4ms"), hours(1) + minutes(2) + seconds(3) + milliseconds(4));
  EXPECT_EQ(parse_duration(".5s"), milliseconds(500));
  EXPECT_EQ(parse_duration("2.s"), seconds(2));
  EXPECT_EQ(parse_duration("0.000000001s"), nanoseconds(1));
  EXPECT_EQ(parse_duration("0s"), nanoseconds(0));
}

TEST(ParseDuration, RejectsBareNumbersAndGarbage) {
  for (const char* text : {"", "10", "0", "1.5", "s", ".s", "10 s", " 10s", "10s ", "10sec", "10S",
                           "-1s", "+1s", "1d", "1w", "1m30", "abc", "1..5s", "ms10"}) {
    EXPECT_EQ(parse_duration(text), std::nullopt) << "'" << text << "'";
  }
}

TEST(ParseDuration, RejectsValuesBeyondTheRangeOfNanoseconds) {
  EXPECT_NE(parse_duration("2562047h"), std::nullopt);
  EXPECT_EQ(parse_duration("2562048h"), std::nullopt);
  EXPECT_EQ(parse_duration("99999999999999999999s"), std::nullopt);
  EXPECT_EQ(parse_duration("2562047h2562047h"), std::nullopt);
}

TEST(FormatDuration, WritesTheShortestSpelling) {
  EXPECT_EQ(format_duration(seconds(0)), "0s");
  EXPECT_EQ(format_duration(nanoseconds(7)), "7ns");
  EXPECT_EQ(format_duration(microseconds(100)), "100us");
  EXPECT_EQ(format_duration(microseconds(1500)), "1.5ms");
  EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(format_duration(seconds(10)), "10s");
  EXPECT_EQ(format_duration(seconds(90)), "1m30s");
  EXPECT_EQ(format_duration(hours(1)), "1h");
  EXPECT_EQ(format_duration(hours(1) + seconds(5)), "1h5s");
  EXPECT_EQ(format_duration(-seconds(2)), "-2s");
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (nanoseconds d : {nanoseconds(1), nanoseconds(999), nanoseconds(1001), nanoseconds(123456789),
                        nanoseconds(1'000'000'001), nanoseconds(3'600'000'000'001),
                        nanoseconds(std::chrono::nanoseconds::max()),
                        nanoseconds(milliseconds(250)), nanoseconds(minutes(61) + seconds(1))}) {
    const std::string text = format_duration(d);
    EXPECT_EQ(parse_duration(text), d) << text;
  }
}

}  // namespace
}  // namespace reachprobe::config
