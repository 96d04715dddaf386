// Every class of bad input gets a clear error with a stable code, and changes nothing.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "fixture.hpp"

namespace portier::testing {
namespace {

class BadInput : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    std::tie(site_, door_) = site_with_door();
    std::tie(maria_, std::ignore) = person("maria@one.test");
    sched_ = create("schedules", {{"name", "Office"}});
    grant_ = create("grants", {{"user_id", maria_},
                               {"door_id", door_},
                               {"schedule_id", sched_},
                               {"valid_from", "2026-01-01T00:00:00Z"}});
    before_ = digest();
  }
  // Asserts the reply's status, code and field, and that nothing changed.
  void expect_rejected(const Reply& r, int status, const std::string& code,
                       const std::string& field = "") {
    EXPECT_EQ(r.status, status) << r.raw;
    EXPECT_EQ(r.code(), code) << r.raw;
    if (!field.empty()) {
      ASSERT_TRUE(r.body.is_object()) << r.raw;
      EXPECT_EQ(r.obj().at("error").at("field"), json::value(field)) << r.raw;
    }
    EXPECT_FALSE(r.obj().at("error").at("message").as_string().empty());
    EXPECT_EQ(digest(), before_) << "a rejected request changed the store";
  }
  Reply raw_post(const std::string& target, const std::string& body,
                 const std::string& type = "application/json") {
    return c().request("POST", target, nullptr, owner_, type, body);
  }

  std::string site_, door_, maria_, sched_, grant_, before_;
};

TEST_F(BadInput, MalformedJson) {
  expect_rejected(raw_post("/v1/sites", "{\"name\": \"HQ\", "), 400, "bad_json");
  expect_rejected(raw_post("/v1/sites", "[1,2,3]"), 400, "bad_json");
  expect_rejected(raw_post("/v1/sites", ""), 400, "bad_json");
}

TEST_F(BadInput, JsonTooDeep) {
  std::string deep = std::string(40, '[') + std::string(40, ']');
  expect_rejected(raw_post("/v1/sites", "{\"name\":" + deep + "}"), 400, "too_deep");
}

TEST_F(BadInput, BodyTooLarge) {
  std::string big = "{\"name\":\"" + std::string(2 << 20, 'x') + "\"}";
  expect_rejected(raw_post("/v1/sites", big), 413, "payload_too_large");
}

TEST_F(BadInput, NotJson) {
  expect_rejected(raw_post("/v1/sites", "name=HQ", "application/x-www-form-urlencoded"), 415,
                  "unsupported_media_type");
}

TEST_F(BadInput, UnknownTimeZone) {
  expect_rejected(
      c().post("/v1/sites", json::object{{"name", "X"}, {"timezone", "Europe/Atlantis"}}, owner_),
      422, "invalid_timezone", "timezone");
  expect_rejected(c().patch("/v1/sites/" + site_, json::object{{"timezone", "CET+25"}}, owner_),
                  422, "invalid_timezone", "timezone");
}

TEST_F(BadInput, TimesOfDay) {
  auto windows =
      json::array{json::object{{"days", json::array{"mon"}}, {"start", "08:00"}, {"end", "12:00"}},
                  json::object{{"days", json::array{"tue"}}, {"start", "08:00"}, {"end", "25:00"}}};
  expect_rejected(
      c().post("/v1/schedules", json::object{{"name", "S"}, {"windows", windows}}, owner_), 422,
      "schedule_invalid", "windows[1].end");
  expect_rejected(c().patch("/v1/schedules/" + sched_, json::object{{"windows", windows}}, owner_),
                  422, "schedule_invalid", "windows[1].end");
}

TEST_F(BadInput, EmptyDayList) {
  auto windows =
      json::array{json::object{{"days", json::array{}}, {"start", "08:00"}, {"end", "12:00"}}};
  expect_rejected(
      c().post("/v1/schedules", json::object{{"name", "S"}, {"windows", windows}}, owner_), 422,
      "schedule_invalid", "windows[0].days");
}

TEST_F(BadInput, ValidityBackwards) {
  expect_rejected(c().post("/v1/grants",
                           json::object{{"user_id", maria_},
                                        {"door_id", door_},
                                        {"valid_from", "2026-02-01T00:00:00Z"},
                                        {"valid_until", "2026-01-01T00:00:00Z"}},
                           owner_),
                  422, "invalid_range", "valid_until");
  // The stored valid_from counts on PATCH too.
  expect_rejected(c().patch("/v1/grants/" + grant_,
                            json::object{{"valid_until", "2025-06-01T00:00:00Z"}}, owner_),
                  422, "invalid_range", "valid_until");
}

TEST_F(BadInput, DanglingIds) {
  expect_rejected(
      c().post("/v1/doors", json::object{{"site_id", "site_nope"}, {"name", "X"}}, owner_), 422,
      "invalid_reference", "site_id");
  expect_rejected(
      c().post("/v1/grants", json::object{{"user_id", "user_nope"}, {"door_id", door_}}, owner_),
      422, "invalid_reference", "user_id");
  expect_rejected(
      c().post("/v1/units",
               json::object{{"name", "U"}, {"door_ids", json::array{door_, "door_nope"}}}, owner_),
      422, "invalid_reference", "door_ids[1]");
  expect_rejected(
      c().patch("/v1/grants/" + grant_, json::object{{"schedule_id", "sched_nope"}}, owner_), 422,
      "invalid_reference", "schedule_id");
}

TEST_F(BadInput, FieldsThatDoNotBelong) {
  expect_rejected(
      c().post("/v1/sites", json::object{{"name", "X"}, {"timezone", "UTC"}, {"colour", "red"}},
               owner_),
      422, "unknown_field", "colour");
  expect_rejected(c().patch("/v1/grants/" + grant_, json::object{{"uses", 0}}, owner_), 422,
                  "read_only", "uses");
  expect_rejected(c().patch("/v1/sites/" + site_, json::object{{"id", "site_mine"}}, owner_), 422,
                  "read_only", "id");
  expect_rejected(
      c().post("/v1/doors", json::object{{"site_id", site_}, {"name", "X"}, {"pulse_ms", "long"}},
               owner_),
      422, "invalid_field", "pulse_ms");
  expect_rejected(
      c().post("/v1/users", json::object{{"email", "x@one.test"}, {"name", "X"}}, owner_), 422,
      "required", "password");
}

TEST_F(BadInput, Conflicts) {
  expect_rejected(
      c().post(
          "/v1/users",
          json::object{{"email", "MARIA@one.test"}, {"name", "M"}, {"password", "password-1234"}},
          owner_),
      409, "email_taken", "email");
  expect_rejected(c().del("/v1/sites/" + site_, owner_), 409, "in_use");
  expect_rejected(c().del("/v1/doors/" + door_, owner_), 409, "in_use");
}

TEST_F(BadInput, UnknownThings) {
  expect_rejected(c().patch("/v1/doors/door_nope", json::object{{"name", "X"}}, owner_), 404,
                  "not_found");
  expect_rejected(c().get("/v1/doors/door_nope", owner_), 404, "not_found");
  expect_rejected(c().get("/v1/widgets", owner_), 404, "not_found");
  auto put = c().request("PUT", "/v1/sites", json::object{}, owner_);
  expect_rejected(put, 405, "method_not_allowed");
  EXPECT_EQ(put.headers["allow"], "GET, POST");
  expect_rejected(c().get("/v1/sites?limit=0", owner_), 400, "invalid_parameter", "limit");
  expect_rejected(c().get("/v1/access/check?door_id=" + door_ + "&at=tomorrow", owner_), 400,
                  "invalid_time", "at");
  expect_rejected(c().post("/v1/sites", json::object{{"name", "X"}, {"timezone", "UTC"}}), 401,
                  "unauthorized");
}

TEST_F(BadInput, MalformedHttpIsAnsweredAndTheServerGoesOn) {
  namespace net = boost::asio;
  net::io_context ioc;
  net::ip::tcp::socket s(ioc);
  s.connect({net::ip::make_address("127.0.0.1"), server_.port()});
  std::string junk = "GARBAGE \x01\x02 NOT-HTTP\r\n\r\n";
  net::write(s, net::buffer(junk));
  std::string reply(256, '\0');
  boost::system::error_code ec;
  auto n = s.read_some(net::buffer(reply), ec);
  reply.resize(n);
  EXPECT_EQ(reply.rfind("HTTP/1.1 400", 0), 0u) << reply;
  EXPECT_EQ(c().get("/healthz").status, 200);
  EXPECT_EQ(digest(), before_);
}

}  // namespace
}  // namespace portier::testing
