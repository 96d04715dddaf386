#include "core/time.hpp"

#include <gtest/gtest.h>

namespace portier {
namespace {

TEST(Time, ParsesOffsetsAndZulu) {
  auto a = parse_rfc3339("2026-11-27T20:00:00+01:00");
  auto b = parse_rfc3339("2026-11-27T19:00:00Z");
  auto c = parse_rfc3339("2026-11-27T19:00:00.999z");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(*b, *c);
  EXPECT_EQ(format_rfc3339(*a), "2026-11-27T19:00:00Z");
}

TEST(Time, KeepsMillisecondsWhenAsked) {
  auto a = parse_rfc3339_ms("2026-11-27T20:00:00.125+01:00");
  auto b = parse_rfc3339_ms("2026-11-27T19:00:00.1Z");
  auto c = parse_rfc3339_ms("2026-11-27T19:00:00.98765Z");
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(format_rfc3339_ms(*a), "2026-11-27T19:00:00.125Z");
  EXPECT_EQ(format_rfc3339_ms(*b), "2026-11-27T19:00:00.100Z");
  EXPECT_EQ(format_rfc3339_ms(*c), "2026-11-27T19:00:00.987Z");
  EXPECT_EQ(*parse_rfc3339("2026-11-27T19:00:00.987Z"), *parse_rfc3339("2026-11-27T19:00:00Z"));
}

TEST(Time, RejectsMalformed) {
  for (const char* s : {"", "2026-11-27", "2026-11-27T20:00:00", "2026-13-01T00:00:00Z",
                        "2026-02-30T00:00:00Z", "2026-11-27T24:00:00Z", "2026-11-27T20:00:00+1:00",
                        "2026-11-27T20:00:00Zjunk", "2026-11-27T20:00:00.Z"})
    EXPECT_FALSE(parse_rfc3339(s)) << s;
}

TEST(Time, FormatsInZoneWithOffset) {
  auto t = *parse_rfc3339("2026-07-01T10:00:00Z");
  EXPECT_EQ(format_rfc3339(t, find_zone("Europe/Madrid")), "2026-07-01T12:00:00+02:00");
  EXPECT_EQ(format_rfc3339(t, find_zone("Asia/Kolkata")), "2026-07-01T15:30:00+05:30");
  EXPECT_EQ(format_rfc3339(t, find_zone("America/New_York")), "2026-07-01T06:00:00-04:00");
}

TEST(Time, ZonesAreValidated) {
  EXPECT_NE(find_zone("Australia/Lord_Howe"), nullptr);
  EXPECT_EQ(find_zone("Mars/Olympus_Mons"), nullptr);
  EXPECT_EQ(find_zone(""), nullptr);
}

TEST(Time, HoursAndMinutes) {
  EXPECT_EQ(parse_hhmm("08:30", false), 8 * 3600 + 30 * 60);
  EXPECT_EQ(parse_hhmm("24:00", true), 86400);
  EXPECT_FALSE(parse_hhmm("24:00", false));
  EXPECT_FALSE(parse_hhmm("25:00", true));
  EXPECT_FALSE(parse_hhmm("12:60", true));
  EXPECT_FALSE(parse_hhmm("8:30", true));
  EXPECT_EQ(format_hhmm(8 * 3600 + 5 * 60), "08:05");
}

TEST(Time, SkippedLocalTimeMapsToTheJump) {
  auto madrid = find_zone("Europe/Madrid");
  // 2026-03-29 02:30 does not exist in Madrid: clocks go 02:00 CET -> 03:00 CEST at 01:00Z.
  auto local = std::chrono::local_days(parse_date("2026-03-29")->time_since_epoch()) +
               std::chrono::minutes(150);
  EXPECT_EQ(format_rfc3339(to_instant(madrid, local, false)), "2026-03-29T01:00:00Z");
  EXPECT_EQ(format_rfc3339(to_instant(madrid, local, true)), "2026-03-29T01:00:00Z");
}

TEST(Time, RepeatedLocalTimeHasTwoInstants) {
  auto madrid = find_zone("Europe/Madrid");
  // 2026-10-25 02:30 happens twice: 00:30Z (CEST) and 01:30Z (CET).
  auto local = std::chrono::local_days(parse_date("2026-10-25")->time_since_epoch()) +
               std::chrono::minutes(150);
  EXPECT_EQ(format_rfc3339(to_instant(madrid, local, false)), "2026-10-25T00:30:00Z");
  EXPECT_EQ(format_rfc3339(to_instant(madrid, local, true)), "2026-10-25T01:30:00Z");
}

}  // namespace
}  // namespace portier
