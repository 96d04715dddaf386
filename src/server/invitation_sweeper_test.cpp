#include "server/invitation_sweeper.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>

#include "server/invitations.hpp"
#include "store/sqlite_store.hpp"

namespace portier {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

// A bus that keeps what it was told.
class RecordingBus final : public Bus {
 public:
  void publish_changes(const sync::FeedChanges&) override {}
  void publish_revocation(const Revocation& r) override {
    std::lock_guard lock(mu);
    revoked.push_back(r);
  }
  void publish_event(const std::string&, std::shared_ptr<const std::string>) override {}
  void send_command(const UnitCommand&, CommandDone done) override { done({"unit_offline", ""}); }
  void subscribe(BusListener*) override {}
  std::vector<Revocation> taken() {
    std::lock_guard lock(mu);
    return revoked;
  }
  std::mutex mu;
  std::vector<Revocation> revoked;
};

Instant at(std::int64_t unix) { return Instant(std::chrono::seconds(unix)); }

class SweeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portier-sweeper-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = std::move(SqliteStore::open(dir_ + "/db").value());
    ASSERT_TRUE(store_->write([](WriteTx& tx) {
      if (auto s = tx.insert_org({"o", "O", "t"}); !s) return s;
      if (auto s = tx.insert(
              Record{Kind::site, "s", "o", {{"name", "HQ"}, {"timezone", "UTC"}}, 1, "t", "t"});
          !s)
        return s;
      return tx.insert(
          Record{Kind::door, "d", "o", {{"site_id", "s"}, {"name", "D"}}, 1, "t", "t"});
    }));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // A user (a guest or not) with a token, and a grant of hers ending at `until` (0: never).
  void person(const std::string& id, bool guest, std::int64_t until) {
    json::object body{{"email", id + "@x.y"}, {"name", id}, {"role", "member"}};
    if (guest) body["guest"] = true;
    json::object grant{{"user_id", id}, {"door_id", "d"}};
    if (until) grant["valid_until"] = format_rfc3339(at(until));
    ASSERT_TRUE(store_->write([&](WriteTx& tx) {
      if (auto s = tx.insert(Record{Kind::user, id, "o", body, 1, "t", "t"}); !s) return s;
      return tx.insert(Record{Kind::grant, "g_" + id, "o", grant, 1, "t", "t"});
    }));
    ASSERT_TRUE(store_->create_token("tok_" + id, id, 1'000'000));
  }
  bool has_token(const std::string& id) {
    auto t = store_->find_token("tok_" + id, 0);
    return t.ok() && t->has_value();
  }
  std::string dir_;
  std::unique_ptr<SqliteStore> store_;
  RecordingBus bus_;
};

TEST_F(SweeperTest, EndsAGuestsInvitationWhenHerLastGrantRunsOutAndOnlyThen) {
  person("ana", true, 1000);
  person("bo", true, 2000);
  person("open", true, 0);       // a guest whose grant never ends
  person("member", false, 500);  // not a guest: her token is hers, whatever her grants
  InvitationSweeper sweeper(*store_, bus_);
  auto p = sweeper.sweep(at(999));
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->ended, 0);
  ASSERT_TRUE(p->next.has_value());
  EXPECT_EQ(*p->next, at(1000));
  EXPECT_TRUE(bus_.taken().empty());
  // At 1000 Ana's grant has ended ([from, until)): her token goes, her sessions are told why.
  p = sweeper.sweep(at(1000));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->ended, 1);
  EXPECT_EQ(*p->next, at(2000));
  ASSERT_EQ(bus_.taken().size(), 1u);
  EXPECT_EQ(bus_.taken()[0].user_id, "ana");
  EXPECT_EQ(bus_.taken()[0].reason, "invitation_ended");
  EXPECT_FALSE(has_token("ana"));
  EXPECT_TRUE(has_token("bo"));
  EXPECT_TRUE(has_token("member"));
  EXPECT_TRUE(has_token("open"));
  auto log = store_->list_audit(AuditQuery{.org_id = "o", .kind = "invitation.ended"});
  ASSERT_EQ(log->size(), 1u);
  EXPECT_EQ((*log)[0].entity_id, "ana");
  EXPECT_EQ((*log)[0].actor_id, "");
  EXPECT_EQ((*log)[0].after.at("reason"), "expired");
  // Once is enough: a later pass finds nothing more to end for her.
  p = sweeper.sweep(at(1500));
  EXPECT_EQ(p->ended, 0);
  EXPECT_EQ(bus_.taken().size(), 1u);
  // Bo was given more time before hers ran out: nothing ends at 2000, the next end moves.
  ASSERT_TRUE(store_->write([](WriteTx& tx) {
    auto g = tx.get(Kind::grant, "o", "g_bo");
    if (!g) return Status(g.error());
    Record r = **g;
    r.body["valid_until"] = format_rfc3339(at(3000));
    return tx.update(r);
  }));
  p = sweeper.sweep(at(2000));
  EXPECT_EQ(p->ended, 0);
  EXPECT_EQ(*p->next, at(3000));
  p = sweeper.sweep(at(3000));
  EXPECT_EQ(p->ended, 1);
  EXPECT_FALSE(has_token("bo"));
  EXPECT_FALSE(p->next.has_value());  // the open-ended guest never ends by time
  EXPECT_TRUE(has_token("open"));
}

TEST_F(SweeperTest, AnUnusedLinkDiesWithTheInvitationEvenWithoutAToken) {
  person("ana", true, 1000);
  ASSERT_TRUE(store_->write([](WriteTx& tx) {
    if (auto s = tx.revoke_tokens("ana"); !s) return s;
    return tx.add_signin_code("code_hash", "ana", 5000);  // longer than her grant
  }));
  InvitationSweeper sweeper(*store_, bus_);
  EXPECT_EQ(sweeper.sweep(at(1000))->ended, 1);
  auto r = store_->redeem_signin_code("code_hash", "t", 9000, 1001);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "code_expired");
}

TEST_F(SweeperTest, ItsThreadEndsAnInvitationAtItsEndAndWakesOnAGrantChange) {
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  person("ana", true, (now + 2s).time_since_epoch().count());
  // A minute between passes at most: Ana's end comes first, so the thread waits for it alone.
  InvitationSweeper sweeper(*store_, bus_, {}, std::chrono::seconds(60));
  sweeper.start();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (bus_.taken().empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_EQ(bus_.taken().size(), 1u);
  EXPECT_GE(std::chrono::system_clock::now(), now + 2s);
  // Bo's grant is cut short while the thread sleeps its minute: the change wakes it.
  person("bo", true, (now + 3600s).time_since_epoch().count());
  ASSERT_TRUE(store_->write([&](WriteTx& tx) {
    auto g = tx.get(Kind::grant, "o", "g_bo");
    if (!g) return Status(g.error());
    Record r = **g;
    r.body["valid_until"] = format_rfc3339(now);
    return tx.update(r);
  }));
  auto change = std::make_shared<const std::string>(R"({"op":"put","kind":"grant","id":"g_bo"})");
  sweeper.on_changes(
      sync::share(std::vector<sync::FeedChange>{sync::FeedChange{"org/o", 7, change}}));
  deadline = std::chrono::steady_clock::now() + 10s;
  while (bus_.taken().size() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_EQ(bus_.taken().size(), 2u);
  EXPECT_EQ(bus_.taken()[1].user_id, "bo");
  sweeper.stop();
}

TEST(GuestAccess, IsHerOwnLiveGrantsAndEndsWithTheLastOne) {
  EXPECT_TRUE(grant_live(json::object{}, at(5)));
  EXPECT_TRUE(grant_live(json::object{{"valid_until", "1970-01-01T00:00:10Z"}}, at(9)));
  EXPECT_FALSE(grant_live(json::object{{"valid_until", "1970-01-01T00:00:10Z"}}, at(10)));
  EXPECT_TRUE(is_guest(json::object{{"guest", true}}));
  EXPECT_FALSE(is_guest(json::object{{"guest", "yes"}}));
}

}  // namespace
}  // namespace portier
