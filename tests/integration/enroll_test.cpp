// Units enroll with a single-use code and get a credential of their own; revoking the unit
// kills it.
#include <ctime>
#include <iomanip>
#include <sstream>

#include "client/feed_client.hpp"
#include "fixture.hpp"
#include "support/eventually.hpp"

namespace portier::testing {
namespace {

using namespace std::chrono_literals;

class Enroll : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    std::tie(site_, door_) = site_with_door();
    unit_ = create("units", {{"name", "Front unit"}, {"door_ids", json::array{door_}}});
  }
  std::string issue(const json::value& body = json::object{}) {
    auto r = c().post("/v1/units/" + unit_ + "/enrollment", body, owner_);
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.status == 201 ? std::string(r.obj().at("code").as_string()) : "";
  }
  Reply redeem(const std::string& code) {
    return c().post("/v1/enroll", json::object{{"code", code}});
  }
  std::string site_, door_, unit_;
};

TEST_F(Enroll, ACodeBuysOneCredentialOnce) {
  auto code = issue();
  EXPECT_EQ(code.size(), 14u);  // XXXX-XXXX-XXXX
  auto r = redeem(code);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.obj().at("unit_id"), json::value(unit_));
  std::string token(r.obj().at("token").as_string());
  EXPECT_EQ(token.rfind("ptu_", 0), 0u);
  auto again = redeem(code);
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.code(), "code_used");
  // The credential reads the unit's feed: its door is in it.
  client::ClientOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(server_.port());
  o.token = token;
  client::FeedClient unit(o);
  unit.start();
  std::string feed = "unit/" + unit_;
  ASSERT_TRUE(unit.wait_for(
      [&](const client::FeedClient& c) { return c.replica(feed).records.count("door:" + door_); },
      10s));
  // Revoking the unit (deleting it) ends its session and its credential.
  ASSERT_EQ(c().del("/v1/units/" + unit_, owner_).status, 204);
  ASSERT_TRUE(
      unit.wait_for([](const client::FeedClient& c) { return !c.stopped_reason().empty(); }, 10s));
  EXPECT_EQ(unit.stopped_reason(), "revoked: unit_deleted");
  client::FeedClient after(o);
  after.start();
  ASSERT_TRUE(
      after.wait_for([](const client::FeedClient& c) { return !c.stopped_reason().empty(); }, 10s));
  EXPECT_EQ(after.stopped_reason(), "unauthorized");
}

TEST_F(Enroll, BadCodesAreRefusedClearly) {
  EXPECT_EQ(redeem("ZZZZ-ZZZZ-ZZZZ").code(), "code_invalid");
  EXPECT_EQ(redeem("not a code!").code(), "code_invalid");
  EXPECT_EQ(c().post("/v1/enroll", json::object{}).code(), "required");
  // A newer code replaces an unused older one.
  auto old = issue();
  auto fresh = issue();
  EXPECT_EQ(redeem(old).code(), "code_invalid");
  EXPECT_EQ(redeem(fresh).status, 200);
  // Codes typed in lower case, without dashes, work too.
  auto typed = issue();
  std::string sloppy;
  for (char ch : typed)
    if (ch != '-') sloppy += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  EXPECT_EQ(redeem(sloppy).status, 200);
}

TEST_F(Enroll, CodesExpire) {
  auto r = c().post("/v1/units/" + unit_ + "/enrollment", json::object{{"ttl_seconds", 1}}, owner_);
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string code(r.obj().at("code").as_string());
  // Redeeming before it expires would use the code up: wait for the clock (the server's is
  // this machine's) to reach its expiry, which has whole seconds.
  std::tm tm{};
  std::istringstream in(std::string(r.obj().at("expires_at").as_string()));  // UTC, "…Z"
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  ASSERT_FALSE(in.fail()) << r.raw;
  auto expires = std::chrono::system_clock::from_time_t(timegm(&tm));
  ASSERT_TRUE(eventually([&] { return std::chrono::system_clock::now() >= expires; }, 5s));
  auto late = redeem(code);
  EXPECT_EQ(late.status, 410) << late.raw;
  EXPECT_EQ(late.code(), "code_expired");
}

TEST_F(Enroll, OnlyUnitAdminsIssueCodesAndGuessingIsThrottled) {
  auto [maria, token] = person("maria@one.test");
  // A member cannot even see units.
  EXPECT_EQ(c().post("/v1/units/" + unit_ + "/enrollment", json::object{}, token).status, 404);
  EXPECT_EQ(c().post("/v1/units/unit_nope/enrollment", json::object{}, owner_).status, 404);
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(redeem("AAAA-AAAA-AAA" + std::to_string(i % 10)).status, 404);
  auto limited = redeem(issue());
  EXPECT_EQ(limited.status, 429);
  EXPECT_TRUE(limited.headers.count("retry-after"));
}

}  // namespace
}  // namespace portier::testing
