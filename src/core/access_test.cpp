#include "core/access.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace portier {
namespace {

Instant at(const char* s) { return *parse_rfc3339(s); }

class AccessTest : public ::testing::Test {
 protected:
  Schedule weekdays = *parse_schedule(
      boost::json::parse(
          R"({"windows":[{"days":["mon","tue","wed","thu","fri"],"start":"08:00","end":"20:00"}]})")
          .as_object());
  Zone madrid = find_zone("Europe/Madrid");

  Decision check(const std::vector<GrantRule>& grants, const char* when, bool enabled = true) {
    return decide(enabled, grants, madrid, at(when));
  }
  static std::string next(const Decision& d) {
    return d.next_change ? format_rfc3339(*d.next_change, find_zone("Europe/Madrid")) : "never";
  }
};

TEST_F(AccessTest, InsideAndOutsideTheSchedule) {
  GrantRule g{.id = "g1", .schedule = &weekdays};
  auto d = check({g}, "2026-11-27T19:59:59+01:00");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, "granted");
  EXPECT_EQ(d.grant_id, "g1");
  EXPECT_EQ(next(d), "2026-11-27T20:00:00+01:00");

  d = check({g}, "2026-11-27T20:00:00+01:00");
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "outside_schedule");
  EXPECT_EQ(next(d), "2026-11-30T08:00:00+01:00");  // Friday evening -> Monday morning
}

TEST_F(AccessTest, AlwaysGrantNeverChanges) {
  auto d = check({GrantRule{.id = "g"}}, "2026-11-28T03:00:00+01:00");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(next(d), "never");
}

TEST_F(AccessTest, ValidityEdges) {
  GrantRule g{.id = "g",
              .valid_from = at("2026-12-01T00:00:00+01:00"),
              .valid_until = at("2026-12-02T00:00:00+01:00")};
  auto before = check({g}, "2026-11-30T23:59:59+01:00");
  EXPECT_EQ(before.reason, "not_yet_valid");
  EXPECT_EQ(next(before), "2026-12-01T00:00:00+01:00");
  EXPECT_TRUE(check({g}, "2026-12-01T00:00:00+01:00").allowed);  // from is inclusive
  EXPECT_EQ(next(check({g}, "2026-12-01T12:00:00+01:00")), "2026-12-02T00:00:00+01:00");
  auto after = check({g}, "2026-12-02T00:00:00+01:00");  // until is exclusive
  EXPECT_EQ(after.reason, "expired");
  EXPECT_EQ(next(after), "never");
}

TEST_F(AccessTest, ValidityAndScheduleTogether) {
  // Valid from a Saturday: the first opening is Monday 08:00.
  GrantRule g{.id = "g", .valid_from = at("2026-11-28T00:00:00+01:00"), .schedule = &weekdays};
  auto d = check({g}, "2026-11-27T21:00:00+01:00");
  EXPECT_EQ(d.reason, "not_yet_valid");
  EXPECT_EQ(next(d), "2026-11-30T08:00:00+01:00");
}

TEST_F(AccessTest, UsesExhausted) {
  GrantRule g{.id = "g", .max_uses = 3, .uses = 3};
  auto d = check({g}, "2026-11-27T12:00:00+01:00");
  EXPECT_EQ(d.reason, "uses_exhausted");
  EXPECT_EQ(next(d), "never");
  g.uses = 2;
  EXPECT_TRUE(check({g}, "2026-11-27T12:00:00+01:00").allowed);
}

TEST_F(AccessTest, DisabledUserAndNoGrant) {
  EXPECT_EQ(check({GrantRule{.id = "g"}}, "2026-11-27T12:00:00+01:00", false).reason,
            "user_disabled");
  EXPECT_EQ(check({}, "2026-11-27T12:00:00+01:00").reason, "no_grant");
}

TEST_F(AccessTest, GrantsAddUp) {
  auto morning = *parse_schedule(
      boost::json::parse(R"({"windows":[{"days":["fri"],"start":"08:00","end":"12:00"}]})")
          .as_object());
  auto afternoon = *parse_schedule(
      boost::json::parse(R"({"windows":[{"days":["fri"],"start":"12:00","end":"16:00"}]})")
          .as_object());
  auto d = check(
      {GrantRule{.id = "a", .schedule = &morning}, GrantRule{.id = "b", .schedule = &afternoon}},
      "2026-11-27T10:00:00+01:00");
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.grant_id, "a");
  EXPECT_EQ(next(d), "2026-11-27T16:00:00+01:00");
}

TEST_F(AccessTest, MostHopefulReasonWins) {
  GrantRule expired{.id = "e", .valid_until = at("2026-01-01T00:00:00Z")};
  GrantRule later{.id = "l", .valid_from = at("2027-01-01T00:00:00Z")};
  auto d = check({expired, later}, "2026-11-27T12:00:00+01:00");
  EXPECT_EQ(d.reason, "not_yet_valid");
  EXPECT_EQ(format_rfc3339(*d.next_change), "2027-01-01T00:00:00Z");
}

TEST_F(AccessTest, FarExceptionIsFound) {
  // Closed every day but one date months ahead.
  auto s = *parse_schedule(
      boost::json::parse(
          R"({"exceptions":[{"date":"2027-06-01","windows":[{"start":"10:00","end":"11:00"}]}]})")
          .as_object());
  auto d = check({GrantRule{.id = "g", .schedule = &s}}, "2026-11-27T12:00:00+01:00");
  EXPECT_EQ(d.reason, "outside_schedule");
  EXPECT_EQ(next(d), "2027-06-01T10:00:00+02:00");
}

TEST_F(AccessTest, NextChangeAcrossDst) {
  // Friday 2026-03-27 20:00 CET closes; Monday 2026-03-30 08:00 is CEST.
  auto d = check({GrantRule{.id = "g", .schedule = &weekdays}}, "2026-03-27T21:00:00+01:00");
  EXPECT_EQ(next(d), "2026-03-30T08:00:00+02:00");
}

}  // namespace
}  // namespace portier
