// Access decisions over HTTP: the schedule in the site's time zone, reasons, next change.
#include "fixture.hpp"

namespace portier::testing {
namespace {

class Access : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    std::tie(site_, door_) = site_with_door();  // Europe/Madrid
    std::tie(maria_, maria_token_) = person("maria@one.test");
    sched_ =
        create("schedules",
               {{"name", "Office"},
                {"windows",
                 json::array{json::object{{"days", json::array{"mon", "tue", "wed", "thu", "fri"}},
                                          {"start", "08:00"},
                                          {"end", "20:00"}}}}});
  }
  Reply check(const std::string& at, const std::string& user = "") {
    return c().get("/v1/access/check?user_id=" + (user.empty() ? maria_ : user) +
                       "&door_id=" + door_ + "&at=" + at,
                   owner_);
  }
  std::string site_, door_, maria_, maria_token_, sched_;
};

TEST_F(Access, NoGrantThenAScheduledGrant) {
  auto r = check("2026-11-27T12:00:00%2B01:00");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.obj().at("allowed"), json::value(false));
  EXPECT_EQ(r.obj().at("reason"), json::value("no_grant"));

  auto grant = create("grants", {{"user_id", maria_}, {"site_id", site_}, {"schedule_id", sched_}});
  r = check("2026-11-27T19:59:00%2B01:00");
  EXPECT_EQ(r.obj().at("allowed"), json::value(true));
  EXPECT_EQ(r.obj().at("grant_id"), json::value(grant));
  EXPECT_EQ(r.obj().at("next_change"), json::value("2026-11-27T20:00:00+01:00"));
  r = check("2026-11-27T20:00:00%2B01:00");
  EXPECT_EQ(r.obj().at("reason"), json::value("outside_schedule"));
  EXPECT_EQ(r.obj().at("next_change"), json::value("2026-11-30T08:00:00+01:00"));
  // In summer the same local hours are other UTC instants.
  r = check("2026-07-01T06:30:00Z");
  EXPECT_EQ(r.obj().at("allowed"), json::value(true));
  EXPECT_EQ(r.obj().at("at"), json::value("2026-07-01T08:30:00+02:00"));
}

TEST_F(Access, TheSiteTimeZoneDecides) {
  create("grants", {{"user_id", maria_}, {"door_id", door_}, {"schedule_id", sched_}});
  EXPECT_EQ(check("2026-11-27T07:30:00Z").obj().at("allowed"), json::value(true));  // 08:30 Madrid
  ASSERT_EQ(c().patch("/v1/sites/" + site_, json::object{{"timezone", "America/New_York"}}, owner_)
                .status,
            200);
  auto r = check("2026-11-27T07:30:00Z");  // 02:30 New York
  EXPECT_EQ(r.obj().at("allowed"), json::value(false));
  EXPECT_EQ(r.obj().at("next_change"), json::value("2026-11-27T08:00:00-05:00"));
}

TEST_F(Access, ValidityUsesAndDisabledUsers) {
  auto grant = create("grants", {{"user_id", maria_},
                                 {"door_id", door_},
                                 {"valid_from", "2026-12-01T00:00:00+01:00"},
                                 {"valid_until", "2026-12-31T00:00:00+01:00"}});
  EXPECT_EQ(check("2026-11-30T12:00:00Z").obj().at("reason"), json::value("not_yet_valid"));
  EXPECT_EQ(check("2026-11-30T12:00:00Z").obj().at("next_change"),
            json::value("2026-12-01T00:00:00+01:00"));
  EXPECT_EQ(check("2026-12-15T12:00:00Z").obj().at("allowed"), json::value(true));
  EXPECT_EQ(check("2026-12-31T12:00:00Z").obj().at("reason"), json::value("expired"));
  ASSERT_EQ(c().patch("/v1/users/" + maria_, json::object{{"disabled", true}}, owner_).status, 200);
  EXPECT_EQ(check("2026-12-15T12:00:00Z").obj().at("reason"), json::value("user_disabled"));
  (void)grant;
}

TEST_F(Access, MyDoorsShowWindowsAndTheAnswerNow) {
  auto back = create("doors", {{"site_id", site_}, {"name", "Back"}});
  create("grants", {{"user_id", maria_}, {"door_id", door_}, {"schedule_id", sched_}});
  create("grants", {{"user_id", maria_}, {"door_id", back}, {"max_uses", 3}});
  create("grants",
         {{"user_id", maria_}, {"door_id", back}, {"valid_until", "2020-01-01T00:00:00Z"}});
  auto r = c().get("/v1/me/doors", maria_token_);
  ASSERT_EQ(r.status, 200) << r.raw;
  const auto& items = r.obj().at("items").as_array();
  ASSERT_EQ(items.size(), 2u);
  for (const auto& item : items) {
    const auto& grants = item.at("grants").as_array();
    if (item.at("id") == json::value(back)) {
      EXPECT_EQ(item.at("allowed_now"), json::value(true));
      ASSERT_EQ(grants.size(), 1u);  // the expired grant is not shown
      EXPECT_EQ(grants[0].at("remaining_uses"), json::value(3));
    } else {
      ASSERT_EQ(grants.size(), 1u);
      EXPECT_EQ(grants[0].at("schedule").at("windows").as_array()[0].at("start"),
                json::value("08:00"));
      EXPECT_EQ(item.at("site").at("timezone"), json::value("Europe/Madrid"));
      EXPECT_FALSE(item.at("next_change").is_null());
    }
  }
  // Another member's view is her own.
  auto [joan, joan_token] = person("joan@one.test");
  EXPECT_TRUE(c().get("/v1/me/doors", joan_token).obj().at("items").as_array().empty());
}

}  // namespace
}  // namespace portier::testing
