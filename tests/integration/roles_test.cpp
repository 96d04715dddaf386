// Who sees and changes what: owners, admins, admins scoped to sites, members, other orgs.
#include "fixture.hpp"

namespace portier::testing {
namespace {

class Roles : public ApiTest {
 protected:
  static std::vector<std::string> ids(const Reply& r) {
    std::vector<std::string> out;
    for (const auto& i : r.obj().at("items").as_array()) out.emplace_back(i.at("id").as_string());
    return out;
  }
};

TEST_F(Roles, AdminScopedToASiteManagesOnlyThatSite) {
  auto [a_site, a_door] = site_with_door("A");
  auto [b_site, b_door] = site_with_door("B");
  auto [scoped, token] = person("sam@one.test", "admin", {{"site_ids", json::array{a_site}}});
  auto [maria, m_token] = person("maria@one.test");
  create("grants", {{"user_id", maria}, {"door_id", b_door}});

  EXPECT_EQ(ids(c().get("/v1/sites", token)), std::vector<std::string>{a_site});
  EXPECT_EQ(ids(c().get("/v1/doors", token)), std::vector<std::string>{a_door});
  EXPECT_TRUE(ids(c().get("/v1/grants", token)).empty());
  EXPECT_EQ(c().get("/v1/doors/" + b_door, token).status, 404);
  EXPECT_EQ(c().patch("/v1/doors/" + b_door, json::object{{"name", "x"}}, token).status, 404);

  create("doors", {{"site_id", a_site}, {"name", "A2"}}, token);
  auto other = c().post("/v1/doors", json::object{{"site_id", b_site}, {"name", "B2"}}, token);
  EXPECT_EQ(other.status, 403);
  // Moving a door out of the scope is refused as well.
  EXPECT_EQ(c().patch("/v1/doors/" + a_door, json::object{{"site_id", b_site}}, token).status, 403);
  EXPECT_EQ(c().post("/v1/sites", json::object{{"name", "C"}, {"timezone", "UTC"}}, token).status,
            403);
  EXPECT_EQ(c().patch("/v1/sites/" + a_site, json::object{{"name", "A!"}}, token).status, 200);
  EXPECT_EQ(c().post("/v1/schedules", json::object{{"name", "S"}}, token).status, 403);
  create("grants", {{"user_id", maria}, {"door_id", a_door}}, token);
  EXPECT_EQ(
      c().post("/v1/grants", json::object{{"user_id", maria}, {"site_id", b_site}}, token).status,
      403);
  // Members yes, admins no.
  create("users", {{"email", "new@one.test"}, {"name", "New"}, {"password", "password-1234"}},
         token);
  EXPECT_EQ(c().post("/v1/users",
                     json::object{{"email", "adm@one.test"},
                                  {"name", "A"},
                                  {"role", "admin"},
                                  {"password", "password-1234"}},
                     token)
                .status,
            403);
  // The audit log shows them their sites only.
  auto audit = c().get("/v1/audit?limit=500", token);
  ASSERT_EQ(audit.status, 200);
  for (const auto& e : audit.obj().at("items").as_array())
    EXPECT_EQ(e.at("site_id"), json::value(a_site)) << e;
  EXPECT_FALSE(audit.obj().at("items").as_array().empty());
}

TEST_F(Roles, AMemberSeesHerselfAndHerDoorsOnly) {
  auto [site, door] = site_with_door();
  auto other_door = create("doors", {{"site_id", site}, {"name", "Back"}});
  auto sched = create("schedules", {{"name", "Always-ish"}});
  auto [maria, token] = person("maria@one.test");
  auto [joan, j_token] = person("joan@one.test");
  auto grant = create("grants", {{"user_id", maria}, {"door_id", door}, {"schedule_id", sched}});
  create("grants", {{"user_id", joan}, {"door_id", other_door}});

  EXPECT_EQ(ids(c().get("/v1/users", token)), std::vector<std::string>{maria});
  EXPECT_EQ(ids(c().get("/v1/doors", token)), std::vector<std::string>{door});
  EXPECT_EQ(ids(c().get("/v1/grants", token)), std::vector<std::string>{grant});
  EXPECT_EQ(ids(c().get("/v1/schedules", token)), std::vector<std::string>{sched});
  EXPECT_EQ(ids(c().get("/v1/sites", token)), std::vector<std::string>{site});
  EXPECT_TRUE(ids(c().get("/v1/units", token)).empty());
  EXPECT_EQ(c().get("/v1/users/" + joan, token).status, 404);
  EXPECT_EQ(c().get("/v1/doors/" + other_door, token).status, 404);
  EXPECT_EQ(c().post("/v1/sites", json::object{{"name", "X"}, {"timezone", "UTC"}}, token).status,
            403);
  EXPECT_EQ(c().patch("/v1/doors/" + door, json::object{{"name", "Mine"}}, token).status, 403);
  EXPECT_EQ(c().del("/v1/grants/" + grant, token).status, 403);
  EXPECT_EQ(c().get("/v1/audit", token).status, 403);
  EXPECT_EQ(c().get("/v1/access/check?user_id=" + joan + "&door_id=" + other_door, token).status,
            403);
  EXPECT_EQ(c().get("/v1/access/check?door_id=" + door, token).status, 200);
}

TEST_F(Roles, OnlyOwnersManageOwners) {
  auto [admin, token] = person("adam@one.test", "admin");
  auto me = c().get("/v1/me", owner_);
  std::string owner_id(me.obj().at("user").at("id").as_string());
  EXPECT_EQ(c().patch("/v1/users/" + owner_id, json::object{{"name", "x"}}, token).status, 403);
  EXPECT_EQ(c().post("/v1/users",
                     json::object{{"email", "o2@one.test"},
                                  {"name", "O"},
                                  {"role", "owner"},
                                  {"password", "password-1234"}},
                     token)
                .status,
            403);
  EXPECT_EQ(c().patch("/v1/users/" + admin, json::object{{"role", "owner"}}, token).status, 403);
  // The last owner stays.
  auto demote = c().patch("/v1/users/" + owner_id, json::object{{"role", "admin"}}, owner_);
  EXPECT_EQ(demote.status, 409);
  EXPECT_EQ(demote.code(), "last_owner");
  EXPECT_EQ(c().del("/v1/users/" + owner_id, owner_).status, 409);
  // With a second owner, the first may step down.
  ASSERT_EQ(c().patch("/v1/users/" + admin, json::object{{"role", "owner"}}, owner_).status, 200);
  EXPECT_EQ(c().patch("/v1/users/" + owner_id, json::object{{"role", "admin"}}, owner_).status,
            200);
}

TEST_F(Roles, OneOrganizationNeverSeesAnother) {
  ASSERT_EQ(server_.init("Two", "owner@two.test", "owner-password-2"), 0);
  auto two = server_.login("owner@two.test", "owner-password-2");
  auto [site, door] = site_with_door();
  auto [maria, m] = person("maria@one.test");
  auto grant = create("grants", {{"user_id", maria}, {"door_id", door}});

  for (const char* plural : {"sites", "doors", "users", "grants", "units", "schedules"}) {
    auto list = c().get(std::string("/v1/") + plural, two);
    EXPECT_EQ(list.raw.find(kOwner), std::string::npos) << plural;
    EXPECT_EQ(list.raw.find(site), std::string::npos) << plural;
  }
  EXPECT_EQ(ids(c().get("/v1/sites", two)).size(), 0u);
  EXPECT_EQ(ids(c().get("/v1/users", two)).size(), 1u);  // only its own owner
  EXPECT_EQ(c().get("/v1/sites/" + site, two).status, 404);
  EXPECT_EQ(c().get("/v1/grants/" + grant, two).status, 404);
  EXPECT_EQ(c().patch("/v1/doors/" + door, json::object{{"name", "mine"}}, two).status, 404);
  EXPECT_EQ(c().del("/v1/users/" + maria, two).status, 404);
  EXPECT_EQ(c().get("/v1/access/check?user_id=" + maria + "&door_id=" + door, two).status, 404);
  // Ids of another organization are dangling references.
  auto two_site = create("sites", {{"name", "Two HQ"}, {"timezone", "UTC"}}, two);
  auto cross = c().post("/v1/doors", json::object{{"site_id", site}, {"name", "sneaky"}}, two);
  EXPECT_EQ(cross.status, 422);
  EXPECT_EQ(cross.code(), "invalid_reference");
  EXPECT_EQ(
      c().post("/v1/grants", json::object{{"user_id", maria}, {"site_id", two_site}}, two).status,
      422);
  EXPECT_TRUE(c().get("/v1/audit", two).raw.find(site) == std::string::npos);
}

}  // namespace
}  // namespace portier::testing
