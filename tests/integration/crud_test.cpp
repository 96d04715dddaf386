// Every resource's create, read, list (paged), update and delete, with its audit trail.
#include "fixture.hpp"

namespace portier::testing {
namespace {

class Crud : public ApiTest {};

TEST_F(Crud, Sites) {
  auto r =
      c().post("/v1/sites", json::object{{"name", "HQ"}, {"timezone", "Europe/Madrid"}}, owner_);
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string id(r.obj().at("id").as_string());
  EXPECT_EQ(r.headers["location"], "/v1/sites/" + id);
  EXPECT_EQ(r.obj().at("version").as_int64(), 1);

  auto got = c().get("/v1/sites/" + id, owner_);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.obj().at("timezone").as_string(), "Europe/Madrid");

  auto patched = c().patch("/v1/sites/" + id, json::object{{"timezone", "Asia/Kolkata"}}, owner_);
  ASSERT_EQ(patched.status, 200) << patched.raw;
  EXPECT_EQ(patched.obj().at("timezone").as_string(), "Asia/Kolkata");
  EXPECT_EQ(patched.obj().at("name").as_string(), "HQ");  // untouched fields stay
  EXPECT_EQ(patched.obj().at("version").as_int64(), 2);

  EXPECT_EQ(c().del("/v1/sites/" + id, owner_).status, 204);
  EXPECT_EQ(c().get("/v1/sites/" + id, owner_).status, 404);
  EXPECT_EQ(c().del("/v1/sites/" + id, owner_).status, 404);

  auto audit = c().get("/v1/audit?kind=site", owner_);
  ASSERT_EQ(audit.status, 200);
  const auto& items = audit.obj().at("items").as_array();
  ASSERT_EQ(items.size(), 3u);  // newest first
  EXPECT_EQ(items[0].at("action").as_string(), "site.deleted");
  EXPECT_EQ(items[1].at("action").as_string(), "site.updated");
  EXPECT_EQ(items[1].at("before").at("timezone").as_string(), "Europe/Madrid");
  EXPECT_EQ(items[1].at("after").at("timezone").as_string(), "Asia/Kolkata");
  EXPECT_EQ(items[2].at("action").as_string(), "site.created");
  EXPECT_TRUE(items[2].at("before").is_null());
}

TEST_F(Crud, DoorsAndUnits) {
  auto [site, door] = site_with_door();
  auto d = c().get("/v1/doors/" + door, owner_);
  EXPECT_EQ(d.obj().at("kind").as_string(), "door");
  auto gate =
      create("doors", {{"site_id", site}, {"name", "Gate"}, {"kind", "gate"}, {"pulse_ms", 2500}});
  EXPECT_EQ(c().patch("/v1/doors/" + gate, json::object{{"name", "Main gate"}}, owner_)
                .obj()
                .at("name")
                .as_string(),
            "Main gate");
  auto unit = create("units", {{"name", "Unit 1"}, {"door_ids", json::array{door, gate}}});
  EXPECT_EQ(c().get("/v1/units/" + unit, owner_).obj().at("door_ids").as_array().size(), 2u);
  // A door drives through one unit only.
  auto second = c().post("/v1/units",
                         json::object{{"name", "Unit 2"}, {"door_ids", json::array{gate}}}, owner_);
  EXPECT_EQ(second.status, 409);
  EXPECT_EQ(second.code(), "door_has_unit");
  // Moving the gate to a second unit frees it on the first.
  ASSERT_EQ(
      c().patch("/v1/units/" + unit, json::object{{"door_ids", json::array{door}}}, owner_).status,
      200);
  create("units", {{"name", "Unit 2"}, {"door_ids", json::array{gate}}});
  EXPECT_EQ(c().del("/v1/units/" + unit, owner_).status, 204);
}

TEST_F(Crud, UsersSchedulesGrants) {
  auto [site, door] = site_with_door();
  auto [maria, maria_token] = person("maria@one.test");
  auto sched =
      create("schedules",
             {{"name", "Office"},
              {"windows", json::array{json::object{{"days", json::array{"mon", "tue"}},
                                                   {"start", "08:00"},
                                                   {"end", "20:00"}}}},
              {"exceptions", json::array{json::object{{"date", "2026-12-25"}, {"closed", true}}}}});
  auto grant = create("grants", {{"user_id", maria},
                                 {"door_id", door},
                                 {"schedule_id", sched},
                                 {"valid_from", "2026-01-01T00:00:00+01:00"},
                                 {"max_uses", 5}});
  auto g = c().get("/v1/grants/" + grant, owner_);
  ASSERT_EQ(g.status, 200);
  EXPECT_EQ(g.obj().at("uses").as_int64(), 0);
  EXPECT_EQ(g.obj().at("valid_from").as_string(), "2025-12-31T23:00:00Z");
  // null removes an optional field (JSON merge patch).
  auto p = c().patch("/v1/grants/" + grant, json::object{{"max_uses", nullptr}}, owner_);
  ASSERT_EQ(p.status, 200) << p.raw;
  EXPECT_FALSE(p.obj().contains("max_uses"));
  EXPECT_EQ(p.obj().at("uses").as_int64(), 0);
  // Users never show a password.
  auto u = c().get("/v1/users/" + maria, owner_);
  EXPECT_EQ(u.raw.find("password"), std::string::npos);
  EXPECT_EQ(
      c().patch("/v1/schedules/" + sched, json::object{{"name", "Office hours"}}, owner_).status,
      200);
  // A schedule in use cannot go; deleting Maria takes her grants with her.
  auto busy = c().del("/v1/schedules/" + sched, owner_);
  EXPECT_EQ(busy.status, 409);
  EXPECT_EQ(busy.code(), "in_use");
  EXPECT_EQ(c().del("/v1/users/" + maria, owner_).status, 204);
  EXPECT_EQ(c().get("/v1/grants/" + grant, owner_).status, 404);
  EXPECT_EQ(c().get("/v1/me", maria_token).status, 401);  // her sessions died with her
  EXPECT_EQ(c().del("/v1/schedules/" + sched, owner_).status, 204);
}

TEST_F(Crud, ListsArePaged) {
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i)
    ids.push_back(create("sites", {{"name", "S" + std::to_string(i)}, {"timezone", "UTC"}}));
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  for (;;) {
    auto r = c().get("/v1/sites?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor), owner_);
    ASSERT_EQ(r.status, 200);
    ++pages;
    for (const auto& item : r.obj().at("items").as_array())
      seen.emplace_back(item.at("id").as_string());
    if (r.obj().at("next_cursor").is_null()) break;
    cursor = std::string(r.obj().at("next_cursor").as_string());
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, ids);
}

TEST_F(Crud, AuditIsPagedAndFilteredByTime) {
  for (int i = 0; i < 5; ++i)
    create("sites", {{"name", "S" + std::to_string(i)}, {"timezone", "UTC"}});
  auto first = c().get("/v1/audit?kind=site&limit=2", owner_);
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(first.obj().at("items").as_array().size(), 2u);
  auto cursor = std::string(first.obj().at("next_cursor").as_string());
  auto second = c().get("/v1/audit?kind=site&limit=2&cursor=" + cursor, owner_);
  ASSERT_EQ(second.obj().at("items").as_array().size(), 2u);
  EXPECT_LT(second.obj().at("items").as_array()[0].at("seq").as_int64(),
            first.obj().at("items").as_array()[1].at("seq").as_int64());
  EXPECT_EQ(
      c().get("/v1/audit?from=2999-01-01T00:00:00Z", owner_).obj().at("items").as_array().size(),
      0u);
  EXPECT_GE(c().get("/v1/audit?to=2999-01-01T00:00:00Z&kind=site.created", owner_)
                .obj()
                .at("items")
                .as_array()
                .size(),
            5u);
}

}  // namespace
}  // namespace portier::testing
