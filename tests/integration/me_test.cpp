// POST /v1/me/password: a person changes her own password.
#include "fixture.hpp"

namespace portier::testing {
namespace {

class MyPassword : public ApiTest {
 protected:
  Reply change(const std::string& token, const json::object& body) {
    return c().post("/v1/me/password", body, token);
  }
};

TEST_F(MyPassword, AMemberChangesHersAndEveryOtherSessionEnds) {
  auto [id, phone] = person("lee@one.test");
  auto laptop = server_.login("lee@one.test", "password-lee@one.test");
  auto r = change(phone,
                  {{"current_password", "password-lee@one.test"}, {"new_password", "a-new-one-2"}});
  ASSERT_EQ(r.status, 200) << r.raw;
  auto fresh = std::string(r.obj().at("token").as_string());
  EXPECT_EQ(r.obj().at("user").at("id").as_string(), id);
  EXPECT_EQ(c().get("/v1/me", phone).status, 401);   // the token it was sent with
  EXPECT_EQ(c().get("/v1/me", laptop).status, 401);  // and her others
  EXPECT_EQ(c().get("/v1/me", fresh).status, 200);   // the phone goes on with the new one
  EXPECT_EQ(c().get("/v1/me", owner_).status, 200);  // other people are untouched
  EXPECT_EQ(c().post("/v1/auth/login",
                     json::object{{"email", "lee@one.test"}, {"password", "password-lee@one.test"}})
                .status,
            401);
  EXPECT_EQ(server_.login("lee@one.test", "a-new-one-2").empty(), false);
  auto audit = c().get("/v1/audit?kind=user", owner_);
  EXPECT_EQ(audit.obj().at("items").as_array()[0].at("action").as_string(),
            "user.password_changed");
}

TEST_F(MyPassword, AWrongCurrentPasswordChangesNothing) {
  auto [id, token] = person("lee@one.test");
  auto before = digest();
  auto r = change(token, {{"current_password", "not-it"}, {"new_password", "a-new-one-2"}});
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.code(), "wrong_password");
  EXPECT_EQ(r.obj().at("error").at("field").as_string(), "current_password");
  EXPECT_EQ(c().get("/v1/me", token).status, 200);  // not a 401: the session is fine
  EXPECT_EQ(digest(), before);
  EXPECT_FALSE(server_.login("lee@one.test", "password-lee@one.test").empty());
}

TEST_F(MyPassword, BadBodiesAreRefusedByField) {
  auto [id, token] = person("lee@one.test");
  auto weak =
      change(token, {{"current_password", "password-lee@one.test"}, {"new_password", "short"}});
  EXPECT_EQ(weak.status, 422);
  EXPECT_EQ(weak.code(), "weak_password");
  EXPECT_EQ(weak.obj().at("error").at("field").as_string(), "new_password");
  auto missing = change(token, {{"current_password", "password-lee@one.test"}});
  EXPECT_EQ(missing.obj().at("error").at("field").as_string(), "new_password");
  auto extra = change(token, {{"current_password", "password-lee@one.test"},
                              {"new_password", "a-new-one-2"},
                              {"role", "owner"}});
  EXPECT_EQ(extra.code(), "unknown_field");
  EXPECT_EQ(c().post("/v1/me/password", json::object{}).status, 401);  // needs a login
  EXPECT_FALSE(server_.login("lee@one.test", "password-lee@one.test").empty());
}

TEST_F(MyPassword, GuessingIsLimitedLikeLogins) {
  auto [id, token] = person("lee@one.test");
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(change(token, {{"current_password", "wrong-" + std::to_string(i)},
                             {"new_password", "x-new-one-9"}})
                  .status,
              422);
  auto limited = change(
      token, {{"current_password", "password-lee@one.test"}, {"new_password", "a-new-one-2"}});
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.code(), "rate_limited");
}

}  // namespace
}  // namespace portier::testing
