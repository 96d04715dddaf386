#include "fixture.hpp"

namespace portier::testing {

void ApiTest::SetUp() {
  ASSERT_EQ(server_.init("One", kOwner, kPassword), 0);
  ASSERT_NO_FATAL_FAILURE(server_.start());
  owner_ = server_.login(kOwner, kPassword);
  ASSERT_FALSE(owner_.empty());
}

std::string ApiTest::create(const std::string& plural, const json::object& body,
                            const std::string& token) {
  auto r = c().post("/v1/" + plural, body, token.empty() ? owner_ : token);
  EXPECT_EQ(r.status, 201) << plural << ": " << r.raw;
  if (r.status != 201) return "";
  return std::string(r.obj().at("id").as_string());
}

std::pair<std::string, std::string> ApiTest::person(const std::string& email,
                                                    const std::string& role, json::object extra) {
  json::object body{{"email", email},
                    {"name", email.substr(0, email.find('@'))},
                    {"role", role},
                    {"password", "password-" + email}};
  for (auto& kv : extra) body[kv.key()] = kv.value();
  auto id = create("users", body);
  return {id, server_.login(email, "password-" + email)};
}

std::pair<std::string, std::string> ApiTest::site_with_door(const std::string& name) {
  auto site = create("sites", {{"name", name}, {"timezone", "Europe/Madrid"}});
  auto door = create("doors", {{"site_id", site}, {"name", name + " front"}});
  return {site, door};
}

std::string ApiTest::digest() {
  std::string out;
  for (const char* plural : {"sites", "doors", "units", "users", "schedules", "grants", "audit"}) {
    auto r = c().get(std::string("/v1/") + plural + "?limit=500", owner_);
    EXPECT_EQ(r.status, 200) << r.raw;
    out += std::string(plural) + ":" + r.raw + "\n";
  }
  return out;
}

}  // namespace portier::testing
