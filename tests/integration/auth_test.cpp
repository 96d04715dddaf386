// Login, tokens, logout, rate limits, disabled accounts.
#include "fixture.hpp"

namespace portier::testing {
namespace {

class Auth : public ApiTest {
 protected:
  Reply login(const std::string& email, const std::string& password) {
    return c().post("/v1/auth/login", json::object{{"email", email}, {"password", password}});
  }
};

TEST_F(Auth, LoginGivesATokenThatIdentifiesTheUser) {
  auto r = login(kOwner, kPassword);
  ASSERT_EQ(r.status, 200);
  auto token = std::string(r.obj().at("token").as_string());
  EXPECT_EQ(token.rfind("ptk_", 0), 0u);
  EXPECT_EQ(r.obj().at("user").at("email").as_string(), kOwner);
  auto me = c().get("/v1/me", token);
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(me.obj().at("user").at("role").as_string(), "owner");
  EXPECT_EQ(me.obj().at("org").at("name").as_string(), "One");
  EXPECT_EQ(login("OWNER@one.test", kPassword).status, 200);  // emails ignore case
}

TEST_F(Auth, WrongPasswordsAndUnknownAccountsLookTheSame) {
  auto wrong = login(kOwner, "not-the-password");
  auto unknown = login("nobody@one.test", "not-the-password");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(wrong.code(), "invalid_credentials");
  EXPECT_EQ(wrong.raw, unknown.raw);
}

TEST_F(Auth, RequestsWithoutAValidTokenAre401) {
  EXPECT_EQ(c().get("/v1/sites").status, 401);
  auto r = c().get("/v1/sites", "ptk_forged");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.code(), "unauthorized");
  EXPECT_EQ(r.headers["www-authenticate"], "Bearer");
}

TEST_F(Auth, LogoutRevokesTheToken) {
  auto token = server_.login(kOwner, kPassword);
  ASSERT_EQ(c().get("/v1/me", token).status, 200);
  EXPECT_EQ(c().request("POST", "/v1/auth/logout", nullptr, token).status, 204);
  EXPECT_EQ(c().get("/v1/me", token).status, 401);
  EXPECT_EQ(c().get("/v1/me", owner_).status, 200);  // other sessions live on
}

TEST_F(Auth, FailedLoginsAreLimitedPerAccount) {
  for (int i = 0; i < 5; ++i) EXPECT_EQ(login(kOwner, "wrong-password").status, 401);
  auto limited = login(kOwner, kPassword);  // even the right password waits
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.code(), "rate_limited");
  ASSERT_TRUE(limited.headers.count("retry-after"));
  int wait = std::stoi(limited.headers["retry-after"]);
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 15 * 60);
  auto [id, token] = person("maria@one.test");  // other accounts are not affected
  EXPECT_FALSE(token.empty());
}

TEST_F(Auth, FailedLoginsAreLimitedPerAddress) {
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(login("guess" + std::to_string(i) + "@one.test", "x").status, 401);
  EXPECT_EQ(login(kOwner, kPassword).status, 429);
}

TEST_F(Auth, DisablingAUserEndsHerSessions) {
  auto [maria, token] = person("maria@one.test");
  ASSERT_EQ(c().get("/v1/me", token).status, 200);
  ASSERT_EQ(c().patch("/v1/users/" + maria, json::object{{"disabled", true}}, owner_).status, 200);
  EXPECT_EQ(c().get("/v1/me", token).status, 401);
  auto again = login("maria@one.test", "password-maria@one.test");
  EXPECT_EQ(again.status, 403);
  EXPECT_EQ(again.code(), "user_disabled");
  ASSERT_EQ(c().patch("/v1/users/" + maria, json::object{{"disabled", false}}, owner_).status, 200);
  EXPECT_EQ(login("maria@one.test", "password-maria@one.test").status, 200);
}

TEST_F(Auth, ANewPasswordReplacesTheOldAndEndsSessions) {
  auto [maria, token] = person("maria@one.test");
  ASSERT_EQ(c().patch("/v1/users/" + maria, json::object{{"password", "brand-new-secret"}}, owner_)
                .status,
            200);
  EXPECT_EQ(c().get("/v1/me", token).status, 401);
  EXPECT_EQ(login("maria@one.test", "password-maria@one.test").status, 401);
  EXPECT_EQ(login("maria@one.test", "brand-new-secret").status, 200);
  auto weak = c().patch("/v1/users/" + maria, json::object{{"password", "short"}}, owner_);
  EXPECT_EQ(weak.status, 422);
  EXPECT_EQ(weak.code(), "weak_password");
}

}  // namespace
}  // namespace portier::testing
