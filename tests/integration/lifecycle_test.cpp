// The process: listening line, health, metrics, graceful stop, restarts keep data.
#include <signal.h>

#include "fixture.hpp"

namespace portier::testing {
namespace {

class Lifecycle : public ApiTest {};

TEST_F(Lifecycle, HealthAndMetrics) {
  EXPECT_EQ(c().get("/healthz").obj().at("status").as_string(), "ok");
  c().get("/v1/sites", owner_);
  c().get("/v1/sites/site_nope", owner_);
  auto m = c().get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.headers["content-type"].find("text/plain"), std::string::npos);
  EXPECT_NE(m.raw.find(
                "portier_http_requests_total{route=\"/v1/sites\",method=\"GET\",status=\"200\"} 1"),
            std::string::npos)
      << m.raw;
  EXPECT_NE(
      m.raw.find(
          "portier_http_requests_total{route=\"/v1/sites/{id}\",method=\"GET\",status=\"404\"} 1"),
      std::string::npos)
      << m.raw;
  EXPECT_NE(m.raw.find("portier_http_request_duration_seconds_count{route=\"/v1/sites\"} 1"),
            std::string::npos);
}

TEST_F(Lifecycle, SigtermExitsZeroAndRestartKeepsEverything) {
  auto [site, door] = site_with_door();
  auto before = digest();
  EXPECT_EQ(server_.stop(), 0);
  server_.start();
  EXPECT_EQ(digest(), before);  // data and the owner's token survive
  EXPECT_EQ(c().get("/v1/doors/" + door, owner_).status, 200);
}

TEST_F(Lifecycle, KilledServerLosesNothingCommitted) {
  std::vector<std::string> sites;
  for (int i = 0; i < 10; ++i)
    sites.push_back(create("sites", {{"name", "S" + std::to_string(i)}, {"timezone", "UTC"}}));
  server_.kill();
  server_.start();
  for (const auto& s : sites) EXPECT_EQ(c().get("/v1/sites/" + s, owner_).status, 200);
}

TEST_F(Lifecycle, DemoSeedsOnceAndPrintsLogins) {
  Server demo;
  demo.start({"--demo"});
  std::string email, password;
  for (const auto& line : demo.banner())
    if (line.rfind("maria@", 0) == 0) {
      email = line.substr(0, line.find(' '));
      auto rest = line.substr(line.find(' '));
      rest = rest.substr(rest.find_first_not_of(' '));
      password = rest.substr(0, rest.find(' '));
    }
  ASSERT_FALSE(password.empty());
  auto token = demo.login(email, password);
  auto doors = demo.client().get("/v1/me/doors", token);
  ASSERT_EQ(doors.status, 200);
  EXPECT_EQ(doors.obj().at("items").as_array().size(), 3u);  // every HQ door, in office hours
  auto tz = doors.obj().at("items").as_array()[0].at("site").at("timezone");
  EXPECT_EQ(tz, json::value("Europe/Madrid"));
  EXPECT_EQ(demo.stop(), 0);
  demo.start({"--demo"});  // a second start seeds nothing new, and still prints the logins
  EXPECT_EQ(demo.login(email, password).empty(), false);
  auto owner = demo.banner()[1].substr(0, demo.banner()[1].find(' '));
  EXPECT_EQ(owner, "admin@demo.portier.dev");
}

}  // namespace
}  // namespace portier::testing
