// Guest invitations (issue 9): the guest, her grants and a single-use link in one request; the
// link signs her in once; when her grant is revoked or runs out, her link and her sessions
// die (4003, invitation_ended) and her token with them.
#include <sqlite3.h>

#include <thread>

#include "fixture.hpp"
#include "support/ws.hpp"

namespace portier::testing {
namespace {

using namespace std::chrono_literals;

// RFC 3339 UTC, in whole seconds.
std::string rfc(std::chrono::system_clock::time_point tp) {
  auto t = std::chrono::system_clock::to_time_t(tp);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}
std::string in(std::chrono::seconds d) { return rfc(std::chrono::system_clock::now() + d); }

class Invitations : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    std::tie(site_, door_) = site_with_door();
    door2_ = create("doors", {{"site_id", site_}, {"name", "Garage"}});
  }
  Reply invite(const json::object& body, const std::string& token = "") {
    return c().post("/v1/invitations", body, token.empty() ? owner_ : token);
  }
  // Invites Ana to the front door until `until`; returns the answer's body.
  json::object ana(const std::string& until, json::object extra = {}) {
    json::object body{{"name", "Ana"},
                      {"email", "ana@guest.test"},
                      {"door_ids", json::array{door_}},
                      {"valid_until", until}};
    for (auto& kv : extra) body[kv.key()] = kv.value();
    auto r = invite(body);
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.status == 201 ? r.obj() : json::object{};
  }
  static std::string code_of(const json::object& inv) {
    return std::string(inv.at("link").at("code").as_string());
  }
  Reply redeem(const std::string& code) {
    return c().post("/v1/auth/code", json::object{{"code", code}});
  }
  // Signs in with the code; returns her token.
  std::string sign_in(const std::string& code) {
    auto r = redeem(code);
    EXPECT_EQ(r.status, 200) << r.raw;
    return r.status == 200 ? std::string(r.obj().at("token").as_string()) : "";
  }
  // A push session of hers, past ready and the snapshot.
  std::unique_ptr<RawWs> session(const std::string& token) {
    auto ws = std::make_unique<RawWs>(server_.port());
    ws->send_json({{"type", "hello"}, {"token", token}});
    EXPECT_EQ(ws->read_json().at("type"), "ready");
    EXPECT_EQ(ws->read_json().at("type"), "snapshot");
    return ws;
  }
  // Reads until the session is revoked: the reason (or "" if it never was).
  static std::string revoked(RawWs& ws, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = ws.read_json(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
      if (m.is_null()) return "";
      if (m.at("type") == "revoked") return std::string(m.at("reason").as_string());
    }
    return "";
  }
  std::vector<json::object> audit(const std::string& kind) {
    std::vector<json::object> out;
    auto r = c().get("/v1/audit?limit=500&kind=" + kind, owner_);
    for (const auto& e : r.obj().at("items").as_array()) out.push_back(e.as_object());
    return out;
  }
  std::string site_, door_, door2_;
};

TEST_F(Invitations, OneRequestMakesTheGuestHerGrantsAndALinkThatSignsHerInOnce) {
  auto sched = create(
      "schedules",
      {{"name", "Always"},
       {"windows", json::array{json::object{
                       {"days", json::array{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}},
                       {"start", "00:00"},
                       {"end", "24:00"}}}}});
  std::string until = in(3600s);
  auto r = invite({{"name", "Ana Ruiz"},
                   {"email", "ana@guest.test"},
                   {"phone", "+34 600 123 456"},
                   {"door_ids", json::array{door_, door2_}},
                   {"schedule_id", sched},
                   {"valid_until", until},
                   {"max_uses", 3}});
  ASSERT_EQ(r.status, 201) << r.raw;
  auto inv = r.obj();
  std::string id(inv.at("id").as_string());
  EXPECT_EQ(r.headers.at("location"), "/v1/invitations/" + id);
  const auto& user = inv.at("user").as_object();
  EXPECT_EQ(user.at("id"), json::value(id));
  EXPECT_EQ(user.at("role"), "member");
  EXPECT_EQ(user.at("guest"), json::value(true));
  EXPECT_EQ(user.at("phone"), "+34 600 123 456");
  ASSERT_EQ(inv.at("grants").as_array().size(), 2u);
  for (const auto& g : inv.at("grants").as_array()) {
    EXPECT_EQ(g.at("user_id"), json::value(id));
    EXPECT_EQ(g.at("schedule_id"), json::value(sched));
    EXPECT_EQ(g.at("valid_until"), json::value(until));
    EXPECT_EQ(g.at("max_uses"), 3);
  }
  std::string code = code_of(inv);
  EXPECT_EQ(code.rfind("psi_", 0), 0u);
  EXPECT_EQ(inv.at("link").at("path"), json::value("/app/#code=" + code));
  EXPECT_EQ(inv.at("link").at("expires_at"), json::value(until));
  // The grants are real: the access check lets her in.
  auto check = c().get("/v1/access/check?user_id=" + id + "&door_id=" + door2_, owner_);
  EXPECT_TRUE(check.obj().at("allowed").as_bool()) << check.raw;
  // The link signs her in, once; her session ends when her invitation does.
  auto in1 = redeem(code);
  ASSERT_EQ(in1.status, 200) << in1.raw;
  EXPECT_EQ(in1.obj().at("user").at("id"), json::value(id));
  EXPECT_EQ(in1.obj().at("expires_at"), json::value(until));
  std::string token(in1.obj().at("token").as_string());
  auto doors = c().get("/v1/me/doors", token);
  EXPECT_EQ(doors.obj().at("items").as_array().size(), 2u) << doors.raw;
  EXPECT_EQ(redeem(code).code(), "code_used");
  // No password: her email alone signs no one in.
  EXPECT_EQ(c().post("/v1/auth/login", json::object{{"email", "ana@guest.test"}, {"password", ""}})
                .status,
            401);
  // The console's list, and the audit (which never holds the code).
  auto list = c().get("/v1/invitations", owner_);
  ASSERT_EQ(list.obj().at("items").as_array().size(), 1u) << list.raw;
  const auto& item = list.obj().at("items").as_array()[0];
  EXPECT_EQ(item.at("id"), json::value(id));
  EXPECT_TRUE(item.at("active").as_bool());
  EXPECT_EQ(item.at("ends_at"), json::value(until));
  EXPECT_EQ(item.at("grants").as_array().size(), 2u);
  EXPECT_EQ(c().get("/v1/invitations/" + id, owner_).obj().at("id"), json::value(id));
  auto created = audit("invitation.created");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].at("entity_id"), json::value(id));
  EXPECT_EQ(created[0].at("site_id"), json::value(site_));
  EXPECT_EQ(c().get("/v1/audit?limit=500", owner_).raw.find(code.substr(4)), std::string::npos);
}

TEST_F(Invitations, RevokingHerLastGrantEndsHerSessionsHerTokenAndHerLink) {
  auto inv = ana(in(3600s), {{"door_ids", json::array{door_, door2_}}});
  std::string id(inv.at("id").as_string());
  std::string token = sign_in(code_of(inv));
  auto ws = session(token);
  // A second, unused link (the first was used).
  auto link = c().post("/v1/invitations/" + id + "/link", json::object{}, owner_);
  ASSERT_EQ(link.status, 201) << link.raw;
  std::string spare(link.obj().at("code").as_string());
  const auto& grants = inv.at("grants").as_array();
  std::string g1(grants[0].at("id").as_string()), g2(grants[1].at("id").as_string());
  // One grant of two goes: she keeps the other, and her session.
  ASSERT_EQ(c().del("/v1/grants/" + g1, owner_).status, 204);
  ws->send_json({{"type", "ping"}});
  for (;;) {  // the change comes first, then the pong
    auto m = ws->read_json(5s);
    ASSERT_FALSE(m.is_null());
    ASSERT_NE(m.at("type"), "revoked");
    if (m.at("type") == "pong") break;
  }
  EXPECT_EQ(c().get("/v1/me", token).status, 200);
  // The last one ends (its valid_until moved into the past): so does her invitation, at once.
  ASSERT_EQ(c().patch("/v1/grants/" + g2, json::object{{"valid_until", in(-60s)}}, owner_).status,
            200);
  EXPECT_EQ(revoked(*ws), "invitation_ended");
  EXPECT_EQ(ws->read_until_close(), 4003);
  EXPECT_EQ(c().get("/v1/me", token).status, 401);
  EXPECT_EQ(redeem(spare).code(), "code_expired");
  RawWs again(server_.port());
  again.send_json({{"type", "hello"}, {"token", token}});
  EXPECT_EQ(again.read_json().at("code"), "unauthorized");
  // Giving her time again does not bring her old token back: she needs a new link.
  ASSERT_EQ(c().patch("/v1/grants/" + g2, json::object{{"valid_until", in(3600s)}}, owner_).status,
            200);
  EXPECT_EQ(c().get("/v1/me", token).status, 401);
  auto fresh = c().post("/v1/invitations/" + id + "/link", json::object{}, owner_);
  ASSERT_EQ(fresh.status, 201) << fresh.raw;
  EXPECT_EQ(c().get("/v1/me", sign_in(std::string(fresh.obj().at("code").as_string()))).status,
            200);
  auto ended = audit("invitation.ended");
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].at("after").at("reason"), "revoked");
  EXPECT_EQ(ended[0].at("actor_id").as_string(),
            c().get("/v1/me", owner_).obj().at("user").at("id").as_string());
}

TEST_F(Invitations, DeletingTheGrantInTheConsoleWayEndsHerSessionWith4003) {
  auto inv = ana(in(3600s));
  auto ws = session(sign_in(code_of(inv)));
  ASSERT_EQ(
      c().del("/v1/grants/" + std::string(inv.at("grants").as_array()[0].at("id").as_string()),
              owner_)
          .status,
      204);
  EXPECT_EQ(revoked(*ws), "invitation_ended");
  EXPECT_EQ(ws->read_until_close(), 4003);
}

TEST_F(Invitations, HerSessionsEndOnTimeWhenHerGrantRunsOut) {
  auto end = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) + 2s;
  auto inv = ana(rfc(end));
  std::string token = sign_in(code_of(inv));
  auto ws = session(token);
  EXPECT_EQ(c().get("/v1/me", token).status, 200);
  EXPECT_EQ(revoked(*ws, 10s), "invitation_ended");
  EXPECT_GE(std::chrono::system_clock::now(), end);  // not before her grant ended
  EXPECT_EQ(ws->read_until_close(), 4003);
  EXPECT_EQ(c().get("/v1/me", token).status, 401);
  auto ended = audit("invitation.ended");
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].at("after").at("reason"), "expired");
  EXPECT_EQ(ended[0].at("actor_id"), "");
}

TEST_F(Invitations, AGuestTokenIsRefusedTheMomentHerAccessEnds) {
  // Even before the sweeper has run, the token dies with the grant: here the grant already
  // ended when the store was written (a grant moved into the past by hand would do the same).
  auto inv = ana(in(3600s));
  std::string token = sign_in(code_of(inv));
  std::string grant(inv.at("grants").as_array()[0].at("id").as_string());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((server_.data_dir() + "/portier.db").c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  std::string sql = "UPDATE grants SET body = json_set(body, '$.valid_until', '" + in(-10s) +
                    "') WHERE id = '" + grant + "'";
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  // (The sweeper is not due for a minute: this is the check at authentication.)
  auto me = c().get("/v1/me", token);
  EXPECT_EQ(me.status, 401);
  EXPECT_EQ(me.code(), "invitation_ended") << me.raw;
  RawWs ws(server_.port());
  ws.send_json({{"type", "hello"}, {"token", token}});
  EXPECT_EQ(ws.read_json().at("code"), "invitation_ended");
  EXPECT_EQ(ws.read_until_close(), 1008);
}

TEST_F(Invitations, ALongInvitationKeepsHerSignedInPastTheUsualThirtyDays) {
  std::string until = in(std::chrono::hours(24 * 90));
  auto r = redeem(code_of(ana(until)));
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.obj().at("expires_at"), json::value(until));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((server_.data_dir() + "/portier.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id"
                               " WHERE u.email = 'ana@guest.test'",
                               -1, &s, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  auto expires = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  EXPECT_GT(expires, now + 89 * 24 * 3600);
}

TEST_F(Invitations, BadInputIsRefusedWithItsFieldAndChangesNothing) {
  person("taken@one.test");
  auto [m, member] = person("m@one.test");
  auto before = digest();
  json::object good{{"name", "Ana"},
                    {"email", "ana@guest.test"},
                    {"door_ids", json::array{door_}},
                    {"valid_until", in(3600s)}};
  auto with = [&](json::object changes, std::initializer_list<const char*> drop = {}) {
    json::object b = good;
    for (const char* k : drop) b.erase(k);
    for (auto& kv : changes) b[kv.key()] = kv.value();
    auto r = invite(b);
    return std::to_string(r.status) + " " + r.code() + "@" +
           (r.body.is_object() && r.obj().contains("error")
                ? std::string(r.obj().at("error").at("field").as_string())
                : "");
  };
  EXPECT_EQ(with({}, {"name"}), "422 required@name");
  EXPECT_EQ(with({}, {"email"}), "422 required@email");
  EXPECT_EQ(with({{"site_id", site_}}), "422 invalid_field@site_id");
  EXPECT_EQ(with({}, {"door_ids"}), "422 required@door_ids");
  EXPECT_EQ(with({{"door_ids", json::array{}}}), "422 invalid_field@door_ids");
  EXPECT_EQ(with({{"door_ids", json::array{door_, "door_nope"}}}),
            "422 invalid_reference@door_ids[1]");
  EXPECT_EQ(with({{"door_ids", json::array{door_, door_}}}), "422 invalid_field@door_ids[1]");
  EXPECT_EQ(with({}, {"valid_until"}), "422 required@valid_until");
  EXPECT_EQ(with({{"valid_until", in(-60s)}}), "422 invalid_range@valid_until");
  EXPECT_EQ(with({{"valid_until", "tomorrow"}}), "422 invalid_time@valid_until");
  EXPECT_EQ(with({{"valid_from", in(7200s)}}), "422 invalid_range@valid_until");
  EXPECT_EQ(with({{"max_uses", 0}}), "422 invalid_field@max_uses");
  EXPECT_EQ(with({{"phone", "call me"}}), "422 invalid_field@phone");
  EXPECT_EQ(with({{"email", "not-an-email"}}), "422 invalid_field@email");
  EXPECT_EQ(with({{"schedule_id", "sched_nope"}}), "422 invalid_reference@schedule_id");
  EXPECT_EQ(with({{"colour", "red"}}), "422 unknown_field@colour");
  EXPECT_EQ(with({{"email", "taken@one.test"}}), "409 email_taken@email");
  EXPECT_EQ(invite(good, member).status, 403);
  EXPECT_EQ(c().get("/v1/invitations", member).status, 403);
  EXPECT_EQ(digest(), before);
}

TEST_F(Invitations, AScopedAdminInvitesToHerSitesOnlyAndSeesHerGuests) {
  auto [other_site, other_door] = site_with_door("Annex");
  auto [a, scoped] = person("a@one.test", "admin", {{"site_ids", json::array{site_}}});
  auto before = digest();
  auto no = invite({{"name", "Bo"},
                    {"email", "bo@guest.test"},
                    {"door_ids", json::array{door_, other_door}},
                    {"valid_until", in(3600s)}},
                   scoped);
  EXPECT_EQ(no.status, 403) << no.raw;
  EXPECT_EQ(digest(), before);
  auto yes = invite(
      {{"name", "Bo"}, {"email", "bo@guest.test"}, {"site_id", site_}, {"valid_until", in(3600s)}},
      scoped);
  ASSERT_EQ(yes.status, 201) << yes.raw;
  ana(in(3600s), {{"door_ids", json::array{other_door}}});  // the owner's guest, elsewhere
  auto mine_reply = c().get("/v1/invitations", scoped);
  const auto& mine = mine_reply.obj().at("items").as_array();
  ASSERT_EQ(mine.size(), 1u);
  EXPECT_EQ(mine[0].at("user").at("name"), "Bo");
  EXPECT_EQ(c().get("/v1/invitations", owner_).obj().at("items").as_array().size(), 2u);
}

TEST_F(Invitations, AGuestByPhoneAloneAndAGuestInvitedAgain) {
  auto r = invite({{"name", "Cy"},
                   {"phone", "600 111 222"},
                   {"door_ids", json::array{door_}},
                   {"valid_until", in(3600s)}});
  ASSERT_EQ(r.status, 201) << r.raw;
  std::string email(r.obj().at("user").at("email").as_string());
  EXPECT_EQ(email, std::string(r.obj().at("id").as_string()) + "@guest.invalid");
  // Ana is invited, her invitation is ended early, then she is invited again: the same
  // person, new grants and a new link.
  auto first = ana(in(3600s));
  std::string id(first.at("id").as_string());
  std::string old_link = code_of(first);
  ASSERT_EQ(c().del("/v1/invitations/" + id, owner_).status, 204);
  EXPECT_EQ(redeem(old_link).code(), "code_expired");
  auto gone = c().get("/v1/invitations/" + id, owner_);
  EXPECT_FALSE(gone.obj().at("active").as_bool());
  EXPECT_TRUE(gone.obj().at("grants").as_array().empty());
  EXPECT_EQ(c().post("/v1/invitations/" + id + "/link", json::object{}, owner_).code(),
            "invitation_ended");
  auto second = ana(in(7200s), {{"name", "Ana R."}});
  EXPECT_EQ(second.at("id"), json::value(id));
  EXPECT_EQ(second.at("user").at("name"), "Ana R.");
  EXPECT_EQ(c().get("/v1/me", sign_in(code_of(second))).status, 200);
  // A new link replaces an unused one.
  auto third = c().post("/v1/invitations/" + id + "/link", json::object{}, owner_);
  auto fourth = c().post("/v1/invitations/" + id + "/link", json::object{}, owner_);
  EXPECT_EQ(redeem(std::string(third.obj().at("code").as_string())).code(), "code_expired");
  EXPECT_EQ(redeem(std::string(fourth.obj().at("code").as_string())).status, 200);
  // Not a guest: no invitation to see.
  auto [m, member] = person("m@one.test");
  EXPECT_EQ(c().get("/v1/invitations/" + m, owner_).status, 404);
}

}  // namespace
}  // namespace portier::testing
