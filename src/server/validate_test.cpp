#include "server/validate.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>

#include "store/sqlite_store.hpp"

namespace portier {
namespace {
namespace json = boost::json;

class ValidateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portier-validate-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = std::move(SqliteStore::open(dir_ + "/db").value());
    ASSERT_TRUE(store_->write([](WriteTx& tx) {
      if (auto s = tx.insert_org({"o", "O", "t"}); !s) return s;
      if (auto s = tx.insert_org({"other", "Other", "t"}); !s) return s;
      if (auto s = tx.insert(
              Record{Kind::site, "s1", "o", {{"name", "HQ"}, {"timezone", "UTC"}}, 1, "t", "t"});
          !s)
        return s;
      return tx.insert(
          Record{Kind::site, "s9", "other", {{"name", "X"}, {"timezone", "UTC"}}, 1, "t", "t"});
    }));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  Result<json::object> check(Kind k, const char* body) {
    Result<json::object> out = Error{};
    (void)store_->read([&](ReadTx& tx) {
      out = validate(k, json::parse(body).as_object(), "o", tx);
      return ok();
    });
    return out;
  }
  std::string field_of(Kind k, const char* body) {
    auto r = check(k, body);
    return r.ok() ? "(ok)" : r.error().code + "@" + r.error().field;
  }
  std::string dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(ValidateTest, GuestsAreMembersWithAnOptionalPhone) {
  const char* ana = R"({"email":"ana@x.y","name":"Ana","guest":true,"phone":"+34 (600) 12-34.56"})";
  auto r = check(Kind::user, ana);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->at("guest"), json::value(true));
  EXPECT_EQ(r->at("phone"), json::value("+34 (600) 12-34.56"));
  // Not a guest: the flag is not stored at all.
  auto m = check(Kind::user, R"({"email":"m@x.y","name":"M","guest":false})");
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(m->contains("guest"));
  EXPECT_FALSE(check(Kind::user, R"({"email":"m@x.y","name":"M"})")->contains("guest"));
  EXPECT_EQ(field_of(Kind::user, R"({"email":"a@x.y","name":"A","guest":true,"role":"admin"})"),
            "invalid_field@role");
  EXPECT_EQ(field_of(Kind::user, R"({"email":"a@x.y","name":"A","guest":"yes"})"),
            "invalid_field@guest");
  EXPECT_EQ(field_of(Kind::user, R"({"email":"a@x.y","name":"A","phone":"call me"})"),
            "invalid_field@phone");
  EXPECT_EQ(field_of(Kind::user, R"({"email":"a@x.y","name":"A","phone":"12"})"),
            "invalid_field@phone");
  EXPECT_EQ(field_of(Kind::user, R"({"email":"a@x.y","name":"A","phone":"6+00 000"})"),
            "invalid_field@phone");
}

TEST_F(ValidateTest, SitesNeedAKnownTimeZone) {
  EXPECT_EQ(field_of(Kind::site, R"({"name":"HQ","timezone":"Europe/Madrid"})"), "(ok)");
  EXPECT_EQ(field_of(Kind::site, R"({"name":"HQ","timezone":"Europe/Atlantis"})"),
            "invalid_timezone@timezone");
  EXPECT_EQ(field_of(Kind::site, R"({"name":"HQ"})"), "required@timezone");
  EXPECT_EQ(field_of(Kind::site, R"({"name":"","timezone":"UTC"})"), "invalid_field@name");
  EXPECT_EQ(field_of(Kind::site, R"({"name":"HQ","timezone":"UTC","id":"x"})"), "read_only@id");
  EXPECT_EQ(field_of(Kind::site, R"({"name":"HQ","timezone":"UTC","colour":"red"})"),
            "unknown_field@colour");
}

TEST_F(ValidateTest, DoorsDefaultAndRefer) {
  auto r = check(Kind::door, R"({"site_id":"s1","name":"Front"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->at("kind").as_string(), "door");
  EXPECT_EQ(r->at("pulse_ms").as_int64(), 1000);
  EXPECT_EQ(field_of(Kind::door, R"({"site_id":"s9","name":"Front"})"),
            "invalid_reference@site_id");
  EXPECT_EQ(field_of(Kind::door, R"({"site_id":"s1","name":"F","kind":"window"})"),
            "invalid_field@kind");
  EXPECT_EQ(field_of(Kind::door, R"({"site_id":"s1","name":"F","pulse_ms":10})"),
            "invalid_field@pulse_ms");
}

TEST_F(ValidateTest, GrantsNameOneTargetAndAnOrderedValidity) {
  ASSERT_TRUE(store_->write([](WriteTx& tx) {
    return tx.insert(Record{Kind::user, "u1", "o", {{"email", "a@b.c"}}, 1, "t", "t"});
  }));
  EXPECT_EQ(field_of(Kind::grant, R"({"user_id":"u1","site_id":"s1"})"), "(ok)");
  EXPECT_EQ(field_of(Kind::grant, R"({"user_id":"u1"})"), "invalid_field@door_id");
  EXPECT_EQ(field_of(Kind::grant, R"({"user_id":"u1","site_id":"s1","door_id":"d"})"),
            "invalid_field@site_id");
  EXPECT_EQ(
      field_of(Kind::grant, R"({"user_id":"u1","site_id":"s1","valid_from":"2026-02-01T00:00:00Z",
                                      "valid_until":"2026-01-01T00:00:00Z"})"),
      "invalid_range@valid_until");
  EXPECT_EQ(field_of(Kind::grant, R"({"user_id":"u1","site_id":"s1","valid_from":"yesterday"})"),
            "invalid_time@valid_from");
  EXPECT_EQ(field_of(Kind::grant, R"({"user_id":"u1","site_id":"s1","max_uses":0})"),
            "invalid_field@max_uses");
  EXPECT_EQ(field_of(Kind::grant, R"({"user_id":"nobody","site_id":"s1"})"),
            "invalid_reference@user_id");
  auto r = check(Kind::grant,
                 R"({"user_id":"u1","site_id":"s1","valid_from":"2026-02-01T01:00:00+01:00"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->at("valid_from").as_string(), "2026-02-01T00:00:00Z");  // normalized to UTC
}

TEST_F(ValidateTest, UsersAndPasswords) {
  EXPECT_EQ(field_of(Kind::user, R"({"email":"not-an-email","name":"X"})"), "invalid_field@email");
  EXPECT_EQ(
      field_of(Kind::user, R"({"email":"a@b.c","name":"X","role":"member","site_ids":["s1"]})"),
      "invalid_field@site_ids");
  EXPECT_EQ(
      field_of(Kind::user, R"({"email":"a@b.c","name":"X","role":"admin","site_ids":["s1"]})"),
      "(ok)");
  EXPECT_EQ(field_of(Kind::user, R"({"email":"a@b.c","name":"X","role":"king"})"),
            "invalid_field@role");
  EXPECT_FALSE(validate_password(json::value("short")));
  EXPECT_TRUE(validate_password(json::value("long enough")));
}

TEST_F(ValidateTest, SchedulesUseTheCoreRules) {
  EXPECT_EQ(field_of(Kind::schedule,
                     R"({"name":"S","windows":[{"days":["mon"],"start":"08:00","end":"25:00"}]})"),
            "schedule_invalid@windows[0].end");
  auto r = check(Kind::schedule, R"({"name":"S"})");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->at("windows").as_array().empty());
}

// Issue 10: names with NUL or bidi overrides displayed as something they are not.
TEST_F(ValidateTest, NamesRefuseControlAndBidiCharacters) {
  for (const char* name :
       {R"(HQ\u0000)", R"(H\tQ)", R"(HQ\u001b[2J)", R"(HQ\u0085)", R"(HQ\u2028)", R"(HQ\u202a)",
        R"(HQ\u202e)", R"(HQ\u2066)", R"(HQ\u2069)", R"(HQ\u007f)"}) {
    auto body = std::string(R"({"name":")") + name + R"(","timezone":"UTC"})";
    EXPECT_EQ(field_of(Kind::site, body.c_str()), "invalid_characters@name") << name;
  }
  // The neighbours of the refused ranges, other scripts, emoji with joiners: fine.
  for (const char* name :
       {R"(HQ\u00a0)", R"(HQ\u2029x)", R"(HQ\u202f)", R"(HQ\u2065)", R"(HQ\u206a)", "Z\u00fcrich",
        R"(\ud83d\udc69\u200d\ud83d\udcbb)", R"(\u05de\u05e9\u05e8\u05d3)"}) {
    auto body = std::string(R"({"name":")") + name + R"(","timezone":"UTC"})";
    auto want = std::string(name) == R"(HQ\u2029x)" ? "invalid_characters@name" : "(ok)";
    EXPECT_EQ(field_of(Kind::site, body.c_str()), want) << name;
  }
  EXPECT_EQ(field_of(Kind::user, R"({"email":"a\u202e@b.test","name":"A"})"),
            "invalid_characters@email");
}

}  // namespace
}  // namespace portier
