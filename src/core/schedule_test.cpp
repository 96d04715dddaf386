#include "core/schedule.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace portier {
namespace {

Schedule parse(const char* text) {
  auto r = parse_schedule(boost::json::parse(text).as_object());
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().field + ": " + r.error().message);
  return r.ok() ? *r : Schedule{};
}

Error parse_error(const char* text) {
  auto r = parse_schedule(boost::json::parse(text).as_object());
  EXPECT_FALSE(r.ok()) << text;
  return r.ok() ? Error{} : r.error();
}

// The intervals of the windows starting on one local day, as "begin/end" in UTC.
std::vector<std::string> day(const Schedule& s, const char* zone, const char* date) {
  auto d = *parse_date(date);
  std::vector<std::string> out;
  for (const auto& iv : schedule_intervals(s, find_zone(zone), d, d))
    out.push_back(format_rfc3339(iv.begin) + "/" + format_rfc3339(iv.end));
  return out;
}

using V = std::vector<std::string>;

TEST(Schedule, WeekdayWindowsInLocalTime) {
  auto s = parse(
      R"({"windows":[{"days":["mon","tue","wed","thu","fri"],"start":"08:00","end":"20:00"}]})");
  EXPECT_EQ(day(s, "Europe/Madrid", "2026-11-27"), V{"2026-11-27T07:00:00Z/2026-11-27T19:00:00Z"});
  EXPECT_EQ(day(s, "Europe/Madrid", "2026-11-28"), V{});  // Saturday
  EXPECT_EQ(day(s, "Europe/Madrid", "2026-07-01"), V{"2026-07-01T06:00:00Z/2026-07-01T18:00:00Z"});
}

TEST(Schedule, OvernightWindowIsOneWindow) {
  auto s = parse(R"({"windows":[{"days":["fri"],"start":"22:00","end":"02:00"}]})");
  EXPECT_EQ(day(s, "Europe/Madrid", "2026-11-27"), V{"2026-11-27T21:00:00Z/2026-11-28T01:00:00Z"});
}

TEST(Schedule, TouchingWindowsMerge) {
  auto s = parse(R"({"windows":[{"days":["mon"],"start":"22:00","end":"24:00"},
                                {"days":["tue"],"start":"00:00","end":"06:00"}]})");
  auto d = *parse_date("2026-11-30");
  auto v = schedule_intervals(s, find_zone("UTC"), d, d + std::chrono::days{1});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(format_rfc3339(v[0].begin), "2026-11-30T22:00:00Z");
  EXPECT_EQ(format_rfc3339(v[0].end), "2026-12-01T06:00:00Z");
}

TEST(Schedule, ExceptionClosesOrReplacesItsDate) {
  auto s = parse(R"({"windows":[{"days":["thu","fri"],"start":"08:00","end":"20:00"}],
                    "exceptions":[{"date":"2026-12-25","closed":true},
                                  {"date":"2026-12-24","windows":[{"start":"08:00","end":"14:00"}]}]})");
  EXPECT_EQ(day(s, "Europe/Madrid", "2026-12-25"), V{});
  EXPECT_EQ(day(s, "Europe/Madrid", "2026-12-24"), V{"2026-12-24T07:00:00Z/2026-12-24T13:00:00Z"});
}

TEST(Schedule, OvernightWindowRunsIntoAClosedDate) {
  auto s = parse(R"({"windows":[{"days":["thu"],"start":"22:00","end":"02:00"}],
                    "exceptions":[{"date":"2026-12-25","closed":true}]})");
  EXPECT_EQ(day(s, "UTC", "2026-12-24"), V{"2026-12-24T22:00:00Z/2026-12-25T02:00:00Z"});
}

// Europe/Madrid, 2026-03-29: 02:00 CET jumps to 03:00 CEST (at 01:00Z).
TEST(ScheduleDst, MadridSkippedHour) {
  EXPECT_EQ(day(parse(R"({"windows":[{"days":["sun"],"start":"02:00","end":"02:45"}]})"),
                "Europe/Madrid", "2026-03-29"),
            V{});  // only times that do not exist: nothing
  EXPECT_EQ(day(parse(R"({"windows":[{"days":["sun"],"start":"01:00","end":"02:30"}]})"),
                "Europe/Madrid", "2026-03-29"),
            V{"2026-03-29T00:00:00Z/2026-03-29T01:00:00Z"});
  EXPECT_EQ(day(parse(R"({"windows":[{"days":["sun"],"start":"02:30","end":"04:00"}]})"),
                "Europe/Madrid", "2026-03-29"),
            V{"2026-03-29T01:00:00Z/2026-03-29T02:00:00Z"});
}

// Europe/Madrid, 2026-10-25: 03:00 CEST falls back to 02:00 CET (at 01:00Z).
TEST(ScheduleDst, MadridRepeatedHour) {
  // From the first 01:00 to the last 02:30: both 02:xx hours up to 02:30 CET.
  EXPECT_EQ(day(parse(R"({"windows":[{"days":["sun"],"start":"01:00","end":"02:30"}]})"),
                "Europe/Madrid", "2026-10-25"),
            V{"2026-10-24T23:00:00Z/2026-10-25T01:30:00Z"});
  // A window that starts in the repeated hour starts at its first occurrence.
  EXPECT_EQ(day(parse(R"({"windows":[{"days":["sun"],"start":"02:30","end":"04:00"}]})"),
                "Europe/Madrid", "2026-10-25"),
            V{"2026-10-25T00:30:00Z/2026-10-25T03:00:00Z"});
}

// America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
TEST(ScheduleDst, NewYork) {
  EXPECT_EQ(day(parse(R"({"windows":[{"days":["sun"],"start":"02:15","end":"03:30"}]})"),
                "America/New_York", "2026-03-08"),
            V{"2026-03-08T07:00:00Z/2026-03-08T07:30:00Z"});
  EXPECT_EQ(day(parse(R"({"windows":[{"days":["sun"],"start":"00:30","end":"01:30"}]})"),
                "America/New_York", "2026-11-01"),
            V{"2026-11-01T04:30:00Z/2026-11-01T06:30:00Z"});
  // An ordinary overnight window across the fall-back night is an hour longer.
  EXPECT_EQ(day(parse(R"({"windows":[{"days":["sat"],"start":"22:00","end":"06:00"}]})"),
                "America/New_York", "2026-10-31"),
            V{"2026-11-01T02:00:00Z/2026-11-01T11:00:00Z"});
}

// Australia/Lord_Howe shifts by 30 minutes: 2026-10-04 02:00 -> 02:30 (+10:30 -> +11),
// 2026-04-05 02:00 -> 01:30 (+11 -> +10:30).
TEST(ScheduleDst, LordHoweHalfHourShift) {
  EXPECT_EQ(day(parse(R"({"windows":[{"days":["sun"],"start":"02:00","end":"02:30"}]})"),
                "Australia/Lord_Howe", "2026-10-04"),
            V{});
  EXPECT_EQ(day(parse(R"({"windows":[{"days":["sun"],"start":"02:00","end":"03:00"}]})"),
                "Australia/Lord_Howe", "2026-10-04"),
            V{"2026-10-03T15:30:00Z/2026-10-03T16:00:00Z"});
  EXPECT_EQ(day(parse(R"({"windows":[{"days":["sun"],"start":"01:30","end":"02:00"}]})"),
                "Australia/Lord_Howe", "2026-04-05"),
            V{"2026-04-04T14:30:00Z/2026-04-04T15:30:00Z"});
}

TEST(ScheduleDst, KolkataHasNoDst) {
  auto s = parse(R"({"windows":[{"days":["sun"],"start":"09:00","end":"18:00"}]})");
  EXPECT_EQ(day(s, "Asia/Kolkata", "2026-03-29"), V{"2026-03-29T03:30:00Z/2026-03-29T12:30:00Z"});
  EXPECT_EQ(day(s, "Asia/Kolkata", "2026-10-25"), V{"2026-10-25T03:30:00Z/2026-10-25T12:30:00Z"});
}

TEST(ScheduleParse, NamesTheBadField) {
  auto e = parse_error(R"({"windows":[{"days":["mon"],"start":"08:00","end":"20:00"},
                                       {"days":["tue"],"start":"08:00","end":"25:00"}]})");
  EXPECT_EQ(e.code, "schedule_invalid");
  EXPECT_EQ(e.field, "windows[1].end");
  EXPECT_NE(e.message.find("25:00"), std::string::npos);
  EXPECT_EQ(parse_error(R"({"windows":[{"days":[],"start":"08:00","end":"20:00"}]})").field,
            "windows[0].days");
  EXPECT_EQ(parse_error(R"({"windows":[{"days":["funday"],"start":"08:00","end":"20:00"}]})").field,
            "windows[0].days[0]");
  EXPECT_EQ(parse_error(R"({"windows":[{"days":["mon"],"start":"08:00","end":"08:00"}]})").field,
            "windows[0].end");
  EXPECT_EQ(parse_error(R"({"windows":[{"days":["mon"],"start":"08:00"}]})").field,
            "windows[0].end");
  EXPECT_EQ(parse_error(R"({"windows":[{"days":["mon"],"start":"8","end":"09:00","x":1}]})").field,
            "windows[0].x");
  EXPECT_EQ(parse_error(R"({"exceptions":[{"date":"2026-02-30","closed":true}]})").field,
            "exceptions[0].date");
  EXPECT_EQ(parse_error(R"({"exceptions":[{"date":"2026-02-03"}]})").field, "exceptions[0]");
  EXPECT_EQ(parse_error(R"({"exceptions":[{"date":"2026-02-03","closed":true},
                                          {"date":"2026-02-03","closed":true}]})")
                .field,
            "exceptions[1].date");
}

}  // namespace
}  // namespace portier
