// One session's protocol in-process: a fake connection (the Sink) that keeps what would be
// written, store reads run inline, a real SQLite store seeded with the demo organization, and
// a fake door service.
#include "server/push/protocol.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <filesystem>

#include "crypto/crypto.hpp"
#include "server/bootstrap.hpp"
#include "server/push/commands.hpp"
#include "server/push/hub.hpp"
#include "store/sqlite_store.hpp"

namespace portier::push {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

class FakeDoors final : public DoorService {
 public:
  void open(const OpenRequest& req, std::function<void(OpenOutcome)> done) override {
    opens.push_back(req);
    done(OpenOutcome{200, json::object{{"result", "opened"}, {"door_id", req.door_id}}});
  }
  Status unit_event(const UnitEvent& e) override {
    events.push_back(e);
    return ok();
  }
  Status unit_presence(const std::string&, const std::string&, bool connected) override {
    presence.push_back(connected);
    return ok();
  }
  std::vector<OpenRequest> opens;
  std::vector<UnitEvent> events;
  std::vector<bool> presence;
};

// The connection: what the protocol writes piles up as "queued" until the test drains it.
class FakeSession final : public Subscriber, public Sink {
 public:
  explicit FakeSession(Services& svc) : protocol(svc, *this, *this) {}
  // Subscriber: the hub's deliveries, straight in (the test is the strand).
  void deliver(std::shared_ptr<const std::vector<sync::FeedChange>> batch,
               std::size_t index) override {
    protocol.on_live((*batch)[index]);
  }
  void push(std::shared_ptr<const std::string> message) override {
    if (protocol.ready()) send(Frame{"", std::move(message), ""});
  }
  void end(std::string message, std::uint16_t code, std::string reason) override {
    if (!message.empty()) send(Frame{"", std::make_shared<const std::string>(message), ""});
    close(code, reason);
  }
  // Sink.
  void send(Frame f) override {
    if (closing_) return;
    queued += f.size();
    written.push_back(json::parse(f.head + *f.body + f.tail).as_object());
  }
  void close(std::uint16_t code, std::string) override {
    if (!closing_) close_code = code;
    closing_ = true;
  }
  bool closing() const override { return closing_; }
  std::size_t queued_bytes() const override { return queued; }
  void offload(std::function<void()> work, std::function<void()> then) override {
    work();
    if (then) then();
  }
  void hello_accepted() override { accepted = true; }
  std::function<void(std::shared_ptr<const std::string>)> sender() override {
    return [this](std::shared_ptr<const std::string> m) { push(std::move(m)); };
  }

  void say(const json::object& o) { protocol.on_message(json::serialize(o), true); }
  // What was written and not yet taken by the test, oldest first.
  std::vector<json::object> take() {
    auto out = std::move(written);
    written.clear();
    return out;
  }
  // The socket wrote everything queued.
  void drain() {
    queued = 0;
    protocol.on_drained();
  }

  Protocol protocol;
  std::vector<json::object> written;
  std::size_t queued = 0;
  int close_code = 0;
  bool accepted = false;

 private:
  bool closing_ = false;
};

class ProtocolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto_init());
    char tmpl[] = "/tmp/portier-protocol-XXXXXX";
    dir_ = mkdtemp(tmpl);
    auto s = SqliteStore::open(dir_ + "/portier.db");
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
    ASSERT_TRUE(seed_demo(*store_, dir_, whole_seconds(now_)).ok());
    auto joan = store_->find_credentials("joan@demo.portier.dev");
    ASSERT_TRUE(joan.ok() && *joan);
    joan_ = (*joan)->user.id;
    org_ = (*joan)->user.org_id;
    joan_token_ = new_token();
    ASSERT_TRUE(store_
                    ->create_token(token_hash(joan_token_), joan_,
                                   (whole_seconds(now_) + 24h).time_since_epoch().count())
                    .ok());
    ASSERT_TRUE(store_->read([&](ReadTx& tx) -> Status {
      auto units = tx.list(Kind::unit, org_);
      if (!units) return units.error();
      unit_ = units->at(0).id;
      unit_door_ = units->at(0).body.at("door_ids").as_array().at(0).as_string();
      auto head = tx.feed_head("user/" + joan_);
      if (!head) return head.error();
      head_ = *head;
      return ok();
    }));
    unit_token_ = "ptu_" + new_token();
    ASSERT_TRUE(store_
                    ->set_unit_credential(unit_, token_hash(unit_token_),
                                          whole_seconds(now_).time_since_epoch().count())
                    .ok());
    ASSERT_GE(head_.seq, 3) << "the demo gives joan's feed a few changes";
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  Services services(ProtocolOptions o = {}) {
    return Services{*store_,    devices_, doors_, *hub_,
                    *commands_, nullptr,  o,      [this] { return now_; }};
  }
  json::object hello(const std::string& token, json::array feeds = {}) {
    json::object h{{"type", "hello"}, {"token", token}};
    if (!feeds.empty()) h["feeds"] = std::move(feeds);
    return h;
  }
  // A session that joined the hub, as the transport does at the handshake.
  std::shared_ptr<FakeSession> session(Services& svc) {
    auto s = std::make_shared<FakeSession>(svc);
    hub_->join(s.get(), s);
    return s;
  }

  std::string dir_;
  std::unique_ptr<SqliteStore> store_;
  boost::asio::io_context ioc_;
  DeviceRegistry devices_;
  FakeDoors doors_;
  std::shared_ptr<Hub> hub_ = std::make_shared<Hub>(ioc_.get_executor(), devices_);
  std::shared_ptr<PendingCommands> commands_ =
      std::make_shared<PendingCommands>(ioc_.get_executor());
  InstantMs now_ = *parse_rfc3339_ms("2030-01-07T10:00:00.250Z");
  std::string org_, joan_, joan_token_, unit_, unit_door_, unit_token_;
  FeedHead head_;
};

TEST_F(ProtocolTest, AHelloGetsReadyThenASnapshotThenLiveChangesInOrder) {
  auto svc = services();
  auto s = session(svc);
  s->say({{"type", "ping"}});
  EXPECT_EQ(s->take().at(0).at("code"), "hello_first");
  s->say(hello(joan_token_));
  auto out = s->take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].at("type"), "ready");
  EXPECT_EQ(out[0].at("server_time"), "2030-01-07T10:00:00.250Z");  // the injected clock
  EXPECT_EQ(out[0].at("feeds").as_array()[0].at("resumed"), false);
  EXPECT_EQ(out[1].at("type"), "snapshot");
  EXPECT_EQ(out[1].at("seq"), head_.seq);
  EXPECT_TRUE(s->accepted);
  // Live: the next seq is sent, one already sent is not, a gap is read from the store.
  std::string feed = "user/" + joan_;
  auto body = std::make_shared<const std::string>(R"({"op":"delete","kind":"door","id":"d"})");
  for (auto seq : {head_.seq + 1, head_.seq})
    hub_->publish(sync::share(std::vector<sync::FeedChange>{sync::FeedChange{feed, seq, body}}));
  ioc_.run();
  out = s->take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].at("type"), "change");
  EXPECT_EQ(out[0].at("seq"), head_.seq + 1);
  EXPECT_EQ(out[0].at("change").at("id"), "d");
  // Acks: of what was sent, yes (no answer); beyond it, no.
  s->say({{"type", "ack"}, {"feed", feed}, {"seq", head_.seq + 1}});
  s->say({{"type", "ack"}, {"feed", feed}, {"seq", head_.seq + 2}});
  out = s->take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].at("code"), "bad_ack");
  auto listed = devices_.list(org_, {}, "", 500, whole_seconds(now_)).items;
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].feeds.at(feed).acked_seq, head_.seq + 1);
}

TEST_F(ProtocolTest, ACursorResumesWithExactlyTheMissedChanges) {
  auto svc = services();
  auto s = session(svc);
  std::string feed = "user/" + joan_;
  s->say(hello(joan_token_,
               {json::object{{"feed", feed}, {"epoch", head_.epoch}, {"seq", head_.seq - 2}}}));
  auto out = s->take();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].at("feeds").as_array()[0].at("resumed"), true);
  EXPECT_EQ(out[1].at("seq"), head_.seq - 1);
  EXPECT_EQ(out[2].at("seq"), head_.seq);
  // Another epoch: a snapshot.
  auto again = session(svc);
  again->say(
      hello(joan_token_, {json::object{{"feed", feed}, {"epoch", "another"}, {"seq", head_.seq}}}));
  out = again->take();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].at("type"), "snapshot");
}

// Catch-up is paced by the socket: past half the byte budget it waits for the queue to drain,
// then goes on where it stopped, with nothing sent twice or skipped.
TEST_F(ProtocolTest, CatchUpWaitsWhileHalfTheBudgetIsUnsent) {
  ProtocolOptions o;
  o.queue_budget_bytes = 1;  // anything queued is past half of it
  o.fetch_batch = 2;
  auto svc = services(o);
  auto s = session(svc);
  std::string feed = "user/" + joan_;
  s->say(hello(joan_token_, {json::object{{"feed", feed}, {"epoch", head_.epoch}, {"seq", 0}}}));
  std::vector<std::int64_t> seqs;
  for (int rounds = 0; rounds < 1000 && (seqs.empty() || seqs.back() < head_.seq); ++rounds) {
    auto out = s->take();
    // The ready, then one change a round: the queue was past half the budget after each.
    ASSERT_LE(out.size(), rounds == 0 ? 2u : 1u) << rounds;
    for (const auto& m : out)
      if (m.at("type") == "change") seqs.push_back(m.at("seq").as_int64());
    s->drain();
  }
  ASSERT_EQ(seqs.size(), static_cast<std::size_t>(head_.seq));
  for (std::size_t i = 0; i < seqs.size(); ++i)
    EXPECT_EQ(seqs[i], static_cast<std::int64_t>(i + 1));
}

// Issue 10 §6: a device id over 100 characters was silently replaced by the session id.
TEST_F(ProtocolTest, Issue10_ADeviceIdOver100CharactersIsRefusedAndNothingRegistered) {
  auto svc = services();
  auto s = session(svc);
  for (json::value bad : {json::value(std::string(101, 'x')), json::value(5)}) {
    auto h = hello(joan_token_);
    h["device"] = json::object{{"id", bad}, {"kind", "app"}};
    s->say(h);
    auto out = s->take();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].at("code"), "bad_message");
  }
  auto h = hello(joan_token_);
  h["device"] = json::object{{"kind", "app"}, {"name", std::string(101, 'n')}};
  s->say(h);
  EXPECT_EQ(s->take().at(0).at("code"), "bad_message");
  EXPECT_TRUE(devices_.list(org_, {}, "", 500, whole_seconds(now_)).items.empty());
  EXPECT_FALSE(s->protocol.ready());
}

// Issue 10 §6: errors about a unit's event carry the event's id.
TEST_F(ProtocolTest, Issue10_AUnitsEventErrorsCarryItsId) {
  auto svc = services();
  auto s = session(svc);
  s->say(hello(unit_token_));
  ASSERT_EQ(s->take().at(0).at("type"), "ready");
  json::object ev{{"type", "event"},
                  {"id", "evt_1"},
                  {"event", "door_forced"},
                  {"door", unit_door_},
                  {"at", "not a time"}};
  s->say(ev);
  ev["at"] = "2030-01-07T10:00:00Z";
  ev["event"] = "door_exploded";
  s->say(ev);
  ev["event"] = "door_forced";
  s->say(ev);
  auto out = s->take();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].at("code"), "bad_message");
  EXPECT_EQ(out[0].at("id"), "evt_1");
  EXPECT_EQ(out[1].at("code"), "bad_event");
  EXPECT_EQ(out[1].at("id"), "evt_1");
  EXPECT_EQ(out[2].at("type"), "event_saved");
  EXPECT_EQ(out[2].at("id"), "evt_1");
  ASSERT_EQ(doors_.events.size(), 1u);
  EXPECT_EQ(doors_.events[0].door_id, unit_door_);
  EXPECT_EQ(doors_.presence, (std::vector<bool>{true}));
}

// Issue 10 §6: a unit whose session ends with a command unanswered: the command is unit_lost
// at once, not a timeout that would say the door did not open.
TEST_F(ProtocolTest, Issue10_AUnitSessionEndingLosesItsCommandsInFlight) {
  auto svc = services();
  auto s = session(svc);
  s->say(hello(unit_token_));
  ASSERT_EQ(s->take().at(0).at("type"), "ready");
  auto unit = hub_->unit_session(unit_);
  ASSERT_EQ(unit.get(), static_cast<Subscriber*>(s.get()));
  std::vector<std::string> results;
  UnitCommand cmd{"cmd_1", org_, unit_, unit_door_, 1000, "2030-01-07T10:00:05Z", 60s};
  commands_->add(
      cmd, [&](const CommandResult& r) { results.push_back(r.result); }, unit.get());
  // An answer from another unit is not this command's.
  commands_->resolve("cmd_1", "unit_other", CommandResult{"opened", ""});
  EXPECT_TRUE(results.empty());
  s->protocol.on_closed();
  EXPECT_EQ(results, (std::vector<std::string>{"unit_lost"}));
  EXPECT_EQ(commands_->size(), 0u);
  EXPECT_EQ(hub_->unit_session(unit_), nullptr);
  EXPECT_EQ(hub_->size(), 0u);
  EXPECT_EQ(doors_.presence, (std::vector<bool>{true, false}));
  // The answer, late: ignored.
  commands_->resolve("cmd_1", unit_, CommandResult{"opened", ""});
  EXPECT_EQ(results.size(), 1u);
}

TEST_F(ProtocolTest, AnAppOpensThroughTheDoorServiceAndHearsTheOutcome) {
  auto svc = services();
  auto s = session(svc);
  s->say(hello(joan_token_));
  s->take();
  s->say({{"type", "open"}, {"request_id", "r-1"}, {"door_id", "door_x"}});
  auto out = s->take();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].at("type"), "open_result");
  EXPECT_EQ(out[0].at("request_id"), "r-1");
  EXPECT_EQ(out[0].at("status"), 200);
  ASSERT_EQ(doors_.opens.size(), 1u);
  EXPECT_EQ(doors_.opens[0].user_id, joan_);
  EXPECT_EQ(doors_.opens[0].via, "stream");
  s->say({{"type", "result"}, {"id", "cmd"}, {"result", "opened"}});  // apps send no results
  EXPECT_EQ(s->take().at(0).at("code"), "bad_message");
}

}  // namespace
}  // namespace portier::push
