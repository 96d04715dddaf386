// The open path in-process: a real SQLite store seeded with the demo organization, a bus that
// plays the unit (the test answers its commands, or does not), and a clock the test sets.
#include "server/doors.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>

#include "crypto/crypto.hpp"
#include "server/bootstrap.hpp"
#include "store/sqlite_store.hpp"

namespace portier {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

// The unit's side of the bus: commands wait here for the test to answer them.
class FakeBus final : public Bus {
 public:
  struct Sent {
    UnitCommand cmd;
    CommandDone done;
  };
  void publish_changes(const sync::FeedChanges&) override {}
  void publish_revocation(const Revocation&) override {}
  void publish_event(const std::string&, std::shared_ptr<const std::string>) override {}
  void send_command(const UnitCommand& cmd, CommandDone done) override {
    if (!online) return done(CommandResult{"unit_offline", "the unit is not connected"});
    sent.push_back({cmd, std::move(done)});
  }
  void subscribe(BusListener*) override {}

  bool online = true;
  std::vector<Sent> sent;
};

// A store that stops writing after `writes_left` transactions, as a process that died would:
// nothing after that point reaches the disk.
class DyingStore final : public Store {
 public:
  DyingStore(Store& inner, int writes_left) : inner_(inner), left_(writes_left) {}
  Status write(const std::function<Status(WriteTx&)>& fn) override {
    if (left_-- <= 0) return Error{500, "store_error", "the process is gone", ""};
    return inner_.write(fn);
  }
  Status read(const std::function<Status(ReadTx&)>& fn) override { return inner_.read(fn); }
  Result<std::optional<Credentials>> find_credentials(const std::string& e) override {
    return inner_.find_credentials(e);
  }
  Status create_token(const std::string& h, const std::string& u, std::int64_t x) override {
    return inner_.create_token(h, u, x);
  }
  Result<std::optional<TokenInfo>> find_token(const std::string& h, std::int64_t n) override {
    return inner_.find_token(h, n);
  }
  Status delete_token(const std::string& h) override { return inner_.delete_token(h); }
  Status set_unit_credential(const std::string& u, const std::string& h, std::int64_t n) override {
    return inner_.set_unit_credential(u, h, n);
  }
  Status revoke_unit_credential(const std::string& u) override {
    return inner_.revoke_unit_credential(u);
  }
  Status create_enrollment_code(const std::string& u, const std::string& h,
                                std::int64_t x) override {
    return inner_.create_enrollment_code(u, h, x);
  }
  Result<UnitCredential> redeem_enrollment_code(const std::string& c, const std::string& h,
                                                std::int64_t n) override {
    return inner_.redeem_enrollment_code(c, h, n);
  }
  Result<TokenInfo> redeem_signin_code(const std::string& c, const std::string& t, std::int64_t x,
                                       std::int64_t n) override {
    return inner_.redeem_signin_code(c, t, x, n);
  }
  Result<std::optional<UnitCredential>> find_unit_credential(const std::string& h) override {
    return inner_.find_unit_credential(h);
  }
  Result<std::vector<AuditEntry>> list_audit(const AuditQuery& q) override {
    return inner_.list_audit(q);
  }
  Status prune_feeds(std::int64_t k, std::int64_t o) override { return inner_.prune_feeds(k, o); }
  Result<bool> fan_out(std::size_t m) override { return inner_.fan_out(m); }
  void on_queued(std::function<void()> fn) override { inner_.on_queued(std::move(fn)); }
  Status optimize() override { return inner_.optimize(); }

 private:
  Store& inner_;
  int left_;
};

InstantMs at(const char* rfc3339) { return *parse_rfc3339_ms(rfc3339); }

class DoorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto_init());
    char tmpl[] = "/tmp/portier-doors-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto s = SqliteStore::open(dir_ + "/portier.db");
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
    // Joan may open the garage 10 times; the garage unit drives it.
    ASSERT_TRUE(seed_demo(*store_, dir_, whole_seconds(now_)).ok());
    auto joan = store_->find_credentials("joan@demo.portier.dev");
    ASSERT_TRUE(joan.ok() && *joan);
    joan_ = (*joan)->user.id;
    org_ = (*joan)->user.org_id;
    ASSERT_TRUE(store_->read([&](ReadTx& tx) -> Status {
      auto doors = tx.list(Kind::door, org_);
      if (!doors) return doors.error();
      for (const auto& d : *doors)
        if (d.body.at("name") == "Garage") garage_ = d.id;
      auto grants = tx.list_by(Kind::grant, org_, "door_id", garage_);
      if (!grants) return grants.error();
      grant_ = grants->at(0).id;
      return ok();
    }));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Doors> doors(Store& store) {
    DoorsOptions o;
    o.open_timeout = 5000ms;
    return std::make_unique<Doors>(
        store, bus_, [](const std::function<void()>& fn) { fn(); }, o, [this] { return now_; });
  }
  // Opens the garage as Joan; the answer lands in `answer` whenever it comes.
  void open_garage(Doors& d, std::optional<OpenOutcome>& answer) {
    d.open(OpenRequest{org_, joan_, garage_, false, "api"},
           [&answer](OpenOutcome out) { answer = std::move(out); });
  }
  std::vector<json::object> audit(const std::string& action) {
    AuditQuery q;
    q.org_id = org_;
    q.kind = action;
    auto entries = store_->list_audit(q);
    EXPECT_TRUE(entries.ok());
    std::vector<json::object> out;
    for (auto& e : *entries) {
      json::object o{{"at", e.at}, {"actor_id", e.actor_id}, {"entity_id", e.entity_id}};
      o["after"] = e.after;
      out.insert(out.begin(), std::move(o));
    }
    return out;
  }
  std::int64_t uses() {
    std::int64_t n = -1;
    EXPECT_TRUE(store_->read([&](ReadTx& tx) -> Status {
      auto g = tx.get(Kind::grant, org_, grant_);
      if (!g) return g.error();
      n = (*g)->body.at("uses").as_int64();
      return ok();
    }));
    return n;
  }
  std::vector<OpenInFlight> in_flight() {
    std::vector<OpenInFlight> out;
    EXPECT_TRUE(store_->read([&](ReadTx& tx) -> Status {
      auto o = tx.opens_in_flight();
      if (!o) return o.error();
      out = std::move(*o);
      return ok();
    }));
    return out;
  }

  std::string dir_;
  std::unique_ptr<SqliteStore> store_;
  FakeBus bus_;
  InstantMs now_ = at("2030-01-07T10:00:00.250Z");
  std::string org_, joan_, garage_, grant_;
};

TEST_F(DoorsTest, TheDecisionIsLoggedWithItsCommandBeforeTheUnitAnswers) {
  auto d = doors(*store_);
  std::optional<OpenOutcome> answer;
  open_garage(*d, answer);
  EXPECT_FALSE(answer);  // the unit has not answered
  ASSERT_EQ(bus_.sent.size(), 1u);
  const auto& cmd = bus_.sent[0].cmd;
  // By the injected clock: decided at 10:00:00.250, expiring open_timeout later.
  EXPECT_EQ(cmd.expires_at, "2030-01-07T10:00:05.250Z");
  auto granted = audit("door.open_granted");
  ASSERT_EQ(granted.size(), 1u);
  EXPECT_EQ(granted[0].at("at"), "2030-01-07T10:00:00Z");
  EXPECT_EQ(granted[0].at("actor_id"), json::value(joan_));
  const auto& after = granted[0].at("after");
  EXPECT_EQ(after.at("result"), "granted");
  EXPECT_EQ(after.at("command_id"), json::value(cmd.id));
  EXPECT_EQ(after.at("grant_id"), json::value(grant_));
  EXPECT_EQ(after.at("use_reserved"), true);
  EXPECT_EQ(after.at("expires_at"), "2030-01-07T10:00:05.250Z");
  EXPECT_TRUE(audit("door.open").empty());
  EXPECT_EQ(uses(), 1);
  auto flying = in_flight();
  ASSERT_EQ(flying.size(), 1u);
  EXPECT_EQ(flying[0].command_id, cmd.id);
  EXPECT_TRUE(flying[0].sent);
  // The unit answers 300 ms later.
  now_ += 300ms;
  bus_.sent[0].done(CommandResult{"opened", ""});
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body.at("at"), "2030-01-07T10:00:00.550Z");
  auto log = audit("door.open");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].at("after").at("result"), "opened");
  EXPECT_EQ(log[0].at("after").at("command_id"), json::value(cmd.id));
  EXPECT_EQ(uses(), 1);
  EXPECT_TRUE(in_flight().empty());
}

// Issue 10 §6: the unit's session ended with the command sent and unanswered. The door may
// have pulsed: the app hears 502 unit_lost (not 504, which promised it did not open), and the
// use stays spent.
TEST_F(DoorsTest, Issue10_AUnitLostWithTheCommandKeepsTheUseAndSaysSo) {
  auto d = doors(*store_);
  std::optional<OpenOutcome> answer;
  open_garage(*d, answer);
  ASSERT_EQ(bus_.sent.size(), 1u);
  bus_.sent[0].done(CommandResult{"unit_lost", "the unit's connection ended"});
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 502);
  EXPECT_EQ(answer->body.at("error").at("code"), "unit_lost");
  EXPECT_EQ(uses(), 1);
  EXPECT_TRUE(in_flight().empty());
  auto log = audit("door.open");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].at("after").at("result"), "unit_lost");
}

TEST_F(DoorsTest, AnOpenThatDidNotHappenGivesItsUseBack) {
  auto d = doors(*store_);
  std::optional<OpenOutcome> answer;
  open_garage(*d, answer);
  ASSERT_EQ(bus_.sent.size(), 1u);
  bus_.sent[0].done(CommandResult{"unit_timeout", "no answer in time"});
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 504);
  EXPECT_EQ(uses(), 0);
  EXPECT_TRUE(in_flight().empty());
  // Offline: the same, at once.
  bus_.online = false;
  answer.reset();
  open_garage(*d, answer);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 409);
  EXPECT_EQ(uses(), 0);
  EXPECT_TRUE(in_flight().empty());
  auto log = audit("door.open");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].at("after").at("result"), "unit_offline");
}

TEST_F(DoorsTest, ACrashAfterTheCommandLeftIsSettledUnknownAndKeepsTheUse) {
  std::string cmd;
  {
    auto d = doors(*store_);
    std::optional<OpenOutcome> answer;
    open_garage(*d, answer);
    ASSERT_EQ(bus_.sent.size(), 1u);
    cmd = bus_.sent[0].cmd.id;
    bus_.sent.clear();  // the process dies: its memory, the waiting answer with it
  }
  EXPECT_EQ(uses(), 1);
  now_ += 1h;
  auto restarted = doors(*store_);
  auto n = restarted->settle_interrupted();
  ASSERT_TRUE(n.ok()) << n.error().message;
  EXPECT_EQ(*n, 1);
  auto log = audit("door.open");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].at("at"), "2030-01-07T11:00:00Z");
  EXPECT_EQ(log[0].at("actor_id"), json::value(joan_));
  EXPECT_EQ(log[0].at("entity_id"), json::value(garage_));
  const auto& after = log[0].at("after");
  EXPECT_EQ(after.at("result"), "unknown");
  EXPECT_EQ(after.at("command_id"), json::value(cmd));
  EXPECT_EQ(after.at("grant_id"), json::value(grant_));
  EXPECT_EQ(after.at("via"), "api");
  EXPECT_NE(std::string(after.at("message").as_string()).find("may have opened"),
            std::string::npos);
  EXPECT_EQ(uses(), 1);  // it may have opened: the use stays spent, and explained
  EXPECT_TRUE(in_flight().empty());
  EXPECT_EQ(*restarted->settle_interrupted(), 0);  // once
  EXPECT_EQ(audit("door.open").size(), 1u);
}

TEST_F(DoorsTest, ACrashBeforeTheCommandLeftIsSettledNotSentAndGivesTheUseBack) {
  {
    // Only the decision reaches the disk; the process dies before the command is sent.
    DyingStore dying(*store_, 1);
    auto d = doors(dying);
    std::optional<OpenOutcome> answer;
    open_garage(*d, answer);
    EXPECT_TRUE(bus_.sent.empty());  // never sent when it could not be marked sent
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 500);
  }
  EXPECT_EQ(uses(), 1);
  auto flying = in_flight();
  ASSERT_EQ(flying.size(), 1u);
  EXPECT_FALSE(flying[0].sent);
  auto restarted = doors(*store_);
  EXPECT_EQ(*restarted->settle_interrupted(), 1);
  auto log = audit("door.open");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].at("after").at("result"), "not_sent");
  EXPECT_EQ(log[0].at("after").at("command_id"), json::value(flying[0].command_id));
  EXPECT_EQ(uses(), 0);  // provably never ran: the use is back
  EXPECT_TRUE(in_flight().empty());
}

}  // namespace
}  // namespace portier
