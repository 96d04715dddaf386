// Groups and the batch import: one grant for a whole group, thousands of people in one
// request (all or nothing), and signing in once with a code.
#include "fixture.hpp"

namespace portier::testing {
namespace {

class Import : public ApiTest {
 protected:
  Reply import(const std::string& lines, const std::string& token = "") {
    return c().request("POST", "/v1/import", nullptr, token.empty() ? owner_ : token,
                       "application/x-ndjson", lines);
  }
  Reply check(const std::string& user, const std::string& door) {
    return c().get("/v1/access/check?user_id=" + user + "&door_id=" + door, owner_);
  }
  // The id the import gave the record of a line.
  static std::string id_of(const Reply& r, std::size_t line) {
    for (const auto& row : r.obj().at("rows").as_array())
      if (row.at("line").as_int64() == static_cast<std::int64_t>(line))
        return std::string(row.at("id").as_string());
    return "";
  }
};

TEST_F(Import, GroupsUsersAndGrantsArriveTogetherAndSignInCodesWorkOnce) {
  auto [site, door] = site_with_door();
  auto sched = create(
      "schedules",
      {{"name", "Always"},
       {"windows", json::array{json::object{
                       {"days", json::array{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}},
                       {"start", "00:00"},
                       {"end", "24:00"}}}}});
  std::string lines =
      R"({"kind":"group","name":"Night staff"})"
      "\n"
      R"({"kind":"user","email":"ana@one.test","name":"Ana","groups":["night STAFF"],"sign_in":true})"
      "\n\n"  // blank lines are skipped
      R"({"kind":"user","email":"bo@one.test","name":"Bo","password":"a long secret"})"
      "\r\n" +
      std::string(R"({"kind":"grant","group":"Night staff","door_id":")") + door + "\"}\n" +
      R"({"kind":"grant","user":"BO@one.test","site_id":")" + site + R"(","schedule_id":")" +
      sched + "\"}\n";
  auto r = import(lines);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.obj().at("created").at("groups").as_int64(), 1);
  EXPECT_EQ(r.obj().at("created").at("users").as_int64(), 2);
  EXPECT_EQ(r.obj().at("created").at("grants").as_int64(), 2);
  std::string group = id_of(r, 1), ana = id_of(r, 2), bo = id_of(r, 4);
  ASSERT_FALSE(group.empty());
  EXPECT_EQ(c().get("/v1/users/" + ana, owner_).obj().at("group_ids").as_array(),
            json::array{json::value(group)});
  // Ana gets in through her group, and the check says so.
  auto ca = check(ana, door);
  EXPECT_TRUE(ca.obj().at("allowed").as_bool()) << ca.raw;
  EXPECT_EQ(ca.obj().at("group_id").as_string(), group);
  EXPECT_TRUE(check(bo, door).obj().at("allowed").as_bool());
  EXPECT_TRUE(check(bo, door).obj().at("group_id").is_null());
  // Bo's password works; Ana has a single-use code instead.
  EXPECT_FALSE(server_.login("bo@one.test", "a long secret").empty());
  std::string code;
  for (const auto& row : r.obj().at("rows").as_array())
    if (row.as_object().contains("sign_in_code")) code = row.at("sign_in_code").as_string();
  ASSERT_EQ(code.rfind("psi_", 0), 0u);
  auto in = c().post("/v1/auth/code", json::object{{"code", code}});
  ASSERT_EQ(in.status, 200) << in.raw;
  EXPECT_EQ(in.obj().at("user").at("id").as_string(), ana);
  std::string token(in.obj().at("token").as_string());
  auto me = c().get("/v1/me", token);
  EXPECT_EQ(me.status, 200);
  // Her doors come through the group.
  auto doors = c().get("/v1/me/doors", token);
  ASSERT_EQ(doors.obj().at("items").as_array().size(), 1u) << doors.raw;
  EXPECT_EQ(doors.obj().at("items").as_array()[0].at("grants").as_array()[0].at("group_id"),
            json::value(group));
  auto again = c().post("/v1/auth/code", json::object{{"code", code}});
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.code(), "code_used");
  EXPECT_EQ(c().post("/v1/auth/code", json::object{{"code", "psi_nope"}}).code(), "code_invalid");
  // Every created record is in the audit log.
  auto audit = c().get("/v1/audit?kind=grant", owner_);
  EXPECT_EQ(audit.obj().at("items").as_array().size(), 2u);
}

TEST_F(Import, ABadLineAnywhereImportsNothingAndEveryBadLineIsReported) {
  auto [site, door] = site_with_door();
  person("taken@one.test");
  auto before = digest();
  std::string lines = R"({"kind":"user","email":"new@one.test","name":"New"})"
                      "\n"
                      R"({"kind":"user","email":"taken@one.test","name":"Dup"})"
                      "\n"
                      "{not json\n" +
                      std::string(R"({"kind":"grant","user":"nobody@one.test","door_id":")") +
                      door + "\"}\n" + R"({"kind":"site","name":"X"})" + "\n" +
                      R"({"kind":"grant","user":"new@one.test","door_id":")" + door + "\"}\n";
  auto r = import(lines);
  ASSERT_EQ(r.status, 422) << r.raw;
  EXPECT_EQ(r.code(), "import_invalid");
  std::map<std::int64_t, std::string> rows;
  for (const auto& row : r.obj().at("error").at("rows").as_array())
    rows[row.at("line").as_int64()] = row.at("code").as_string();
  EXPECT_EQ(
      rows,
      (std::map<std::int64_t, std::string>{
          {2, "email_taken"}, {3, "bad_json"}, {4, "invalid_reference"}, {5, "unknown_kind"}}));
  EXPECT_EQ(digest(), before);  // nothing, not even the good lines
  // Wrong media type, members and scoped admins are refused before anything happens.
  EXPECT_EQ(c().request("POST", "/v1/import", nullptr, owner_, "application/json", "{}").status,
            415);
  auto [m, member] = person("m@one.test");
  EXPECT_EQ(import(R"({"kind":"group","name":"G"})", member).status, 403);
  auto [a, scoped] = person("a@one.test", "admin", {{"site_ids", json::array{site}}});
  EXPECT_EQ(import(R"({"kind":"group","name":"G"})", scoped).status, 403);
  EXPECT_EQ(import("\n\n").code(), "empty_import");
}

TEST_F(Import, AThousandPeopleAndTheirGrantsInOneRequest) {
  auto [site, door] = site_with_door();
  std::string lines;
  for (int i = 0; i < 1000; ++i) {
    std::string email = "p" + std::to_string(i) + "@bulk.test";
    lines += R"({"kind":"user","email":")" + email + R"(","name":"P)" + std::to_string(i) + "\"}\n";
    lines += R"({"kind":"grant","user":")" + email + R"(","door_id":")" + door + "\"}\n";
  }
  auto r = import(lines);
  ASSERT_EQ(r.status, 200) << r.raw.substr(0, 500);
  EXPECT_EQ(r.obj().at("created").at("grants").as_int64(), 1000);
  auto page = c().get("/v1/grants?limit=500", owner_);
  EXPECT_EQ(page.obj().at("items").as_array().size(), 500u);
  EXPECT_FALSE(page.obj().at("next_cursor").is_null());
  EXPECT_TRUE(check(id_of(r, 1999), door).obj().at("allowed").as_bool());
}

class Groups : public ApiTest {};

TEST_F(Groups, MembershipGivesAndTakesAccessAndAGroupInUseStays) {
  // Not structured bindings: clang 14 (clang-tidy) cannot capture them.
  const auto site_and_door = site_with_door();
  const std::string& door = site_and_door.second;
  auto group = create("groups", {{"name", "Cleaners"}});
  const auto maria_and_token = person("maria@one.test");
  const std::string& maria = maria_and_token.first;
  const std::string& token = maria_and_token.second;
  auto grant = create("grants", {{"group_id", group}, {"door_id", door}});
  auto check = [&] {
    return c()
        .get("/v1/access/check?user_id=" + maria + "&door_id=" + door, owner_)
        .obj()
        .at("reason")
        .as_string();
  };
  EXPECT_EQ(check(), "no_grant");
  ASSERT_EQ(c().patch("/v1/users/" + maria, json::object{{"group_ids", json::array{group}}}, owner_)
                .status,
            200);
  EXPECT_EQ(check(), "granted");
  // A member sees her group and its grant, not other groups.
  auto other = create("groups", {{"name", "Drivers"}});
  EXPECT_EQ(c().get("/v1/groups/" + group, token).status, 200);
  EXPECT_EQ(c().get("/v1/groups/" + other, token).status, 404);
  EXPECT_EQ(c().get("/v1/grants/" + grant, token).status, 200);
  // Names are unique in the organization; a user and a group on one grant is refused.
  EXPECT_EQ(c().post("/v1/groups", json::object{{"name", "cleaners"}}, owner_).code(),
            "name_taken");
  auto both =
      c().post("/v1/grants",
               json::object{{"user_id", maria}, {"group_id", group}, {"door_id", door}}, owner_);
  EXPECT_EQ(both.status, 422);
  // A group with grants stays; without, deleting it takes it out of its members.
  EXPECT_EQ(c().del("/v1/groups/" + group, owner_).code(), "in_use");
  EXPECT_EQ(c().del("/v1/grants/" + grant, owner_).status, 204);
  EXPECT_EQ(check(), "no_grant");
  EXPECT_EQ(c().del("/v1/groups/" + group, owner_).status, 204);
  EXPECT_TRUE(c().get("/v1/users/" + maria, owner_).obj().at("group_ids").as_array().empty());
}

TEST_F(Groups, AScopedAdminReadsGroupsButNeitherChangesThemNorMembership) {
  auto [site, door] = site_with_door();
  auto group = create("groups", {{"name", "Cleaners"}});
  auto [a, scoped] = person("a@one.test", "admin", {{"site_ids", json::array{site}}});
  auto [m, member] = person("m@one.test");
  EXPECT_EQ(c().get("/v1/groups/" + group, scoped).status, 200);
  EXPECT_EQ(c().patch("/v1/groups/" + group, json::object{{"name", "X"}}, scoped).status, 403);
  EXPECT_EQ(
      c().patch("/v1/users/" + m, json::object{{"group_ids", json::array{group}}}, scoped).status,
      403);
  // Granting the group a door of her site is hers to do.
  EXPECT_EQ(
      c().post("/v1/grants", json::object{{"group_id", group}, {"door_id", door}}, scoped).status,
      201);
}

}  // namespace
}  // namespace portier::testing
