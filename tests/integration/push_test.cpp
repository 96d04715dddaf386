// Push sync end to end: an admin's change reaches the affected devices by itself, and no
// device ever misses one — across disconnects, restarts and kills.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>

#include "client/feed_client.hpp"
#include "fixture.hpp"
#include "support/eventually.hpp"

namespace portier::testing {
namespace {

using namespace std::chrono_literals;
using client::FeedClient;

class Push : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    std::tie(site_, door_) = site_with_door();
    std::tie(maria_, maria_token_) = person("maria@one.test");
    sched_ = create("schedules", {{"name", "Office"}, {"windows", windows("20:00")}});
    grant_ = create("grants", {{"user_id", maria_}, {"door_id", door_}, {"schedule_id", sched_}});
  }
  static json::array windows(const std::string& end) {
    return json::array{json::object{{"days", json::array{"mon", "tue", "wed", "thu", "fri"}},
                                    {"start", "08:00"},
                                    {"end", end}}};
  }
  std::unique_ptr<FeedClient> connect(const std::string& token, std::vector<std::string> feeds = {},
                                      const std::string& state = "") {
    client::ClientOptions o;
    o.url = "http://127.0.0.1:" + std::to_string(server_.port());
    o.token = token;
    o.feeds = std::move(feeds);
    o.state_file = state;
    o.min_backoff = 20ms;
    o.max_backoff = 500ms;
    auto c = std::make_unique<FeedClient>(o);
    c->on_event([this](const client::Event& e) {
      std::lock_guard lock(events_mu_);
      events_.push_back(e);
    });
    c->start();
    return c;
  }
  static std::string end_of(const client::Replica& r, const std::string& sched) {
    auto it = r.records.find("schedule:" + sched);
    if (it == r.records.end()) return "";
    return std::string(it->second.at("windows").as_array()[0].at("end").as_string());
  }
  // A fresh snapshot of a feed, as a new client with no cursor gets it.
  client::Replica fresh(const std::string& token, const std::string& feed) {
    auto c = connect(token, {feed});
    EXPECT_TRUE(c->wait_for([&](const FeedClient& x) { return x.replica(feed).seq >= 0; }, 10s));
    return c->replica(feed);
  }
  std::vector<client::Event> events() {
    std::lock_guard lock(events_mu_);
    return events_;
  }

  std::string site_, door_, maria_, maria_token_, sched_, grant_;
  std::mutex events_mu_;
  std::vector<client::Event> events_;
};

// Issue 10 §5: push sessions are asynchronous on the caller's io_context, so thousands share a
// few threads (the benchmark runs them so): 2,000 sessions on two threads connect, hold the
// feed, and all get an admin's change.
TEST_F(Push, TwoThousandSessionsOnTwoThreadsAllGetTheChange) {
  server_.stop();
  // All of them come from 127.0.0.1, with one token.
  server_.start({"--max-connections-per-address", "0", "--ws-max-sessions-per-token", "0"});
  const int n = 2000;
  std::string feed = "user/" + maria_;
  boost::asio::io_context ioc;
  auto work = boost::asio::make_work_guard(ioc);
  std::vector<std::shared_ptr<client::FeedSession>> sessions;
  for (int i = 0; i < n; ++i) {
    client::ClientOptions o;
    o.url = "http://127.0.0.1:" + std::to_string(server_.port());
    o.token = maria_token_;
    o.device_id = "phone-" + std::to_string(i);
    o.min_backoff = 20ms;
    o.max_backoff = 1s;
    sessions.push_back(client::FeedSession::create(ioc, o));
    sessions.back()->start();
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) threads.emplace_back([&] { ioc.run(); });
  auto count = [&](const std::function<bool(const client::FeedSession&)>& pred) {
    return std::count_if(sessions.begin(), sessions.end(), [&](const auto& s) { return pred(*s); });
  };
  EXPECT_TRUE(eventually(
      [&] { return count([&](const auto& s) { return s.protocol().replica(feed).seq > 0; }) == n; },
      60s, 100ms));
  ASSERT_EQ(c().patch("/v1/doors/" + door_, json::object{{"name", "Renamed"}}, owner_).status, 200);
  auto renamed = [&](const client::FeedSession& s) {
    auto d = s.protocol().record(feed, "door:" + door_);
    return d && d->at("name") == "Renamed";
  };
  EXPECT_TRUE(eventually([&] { return count(renamed) == n; }, 30s, 100ms))
      << count(renamed) << " of " << n;
  // Stopping is asynchronous too; then the threads run out of work.
  std::atomic<int> stopped{0};
  for (auto& s : sessions) s->stop([&] { ++stopped; });
  work.reset();
  for (auto& t : threads) t.join();
  EXPECT_EQ(stopped.load(), n);
}

// Joining a group brings the group's doors to her app, and the door's unit learns her.
TEST_F(Push, JoiningAGroupBringsItsDoorsToTheAppAndTheUnit) {
  auto back = create("doors", {{"site_id", site_}, {"name", "Back"}});
  auto unit = create("units", {{"name", "Back unit"}, {"door_ids", json::array{back}}});
  auto group = create("groups", {{"name", "Night staff"}});
  create("grants", {{"group_id", group}, {"door_id", back}});
  auto app = connect(maria_token_);
  auto console = connect(owner_, {"unit/" + unit});
  std::string feed = "user/" + maria_;
  ASSERT_TRUE(app->wait_for([&](const FeedClient& c) { return c.replica(feed).seq > 0; }, 10s));
  EXPECT_EQ(app->replica(feed).records.count("door:" + back), 0u);
  ASSERT_EQ(
      c().patch("/v1/users/" + maria_, json::object{{"group_ids", json::array{group}}}, owner_)
          .status,
      200);
  EXPECT_TRUE(app->wait_for(
      [&](const FeedClient& c) {
        const auto& r = c.replica(feed).records;
        return r.count("door:" + back) && r.count("group:" + group);
      },
      10s));
  EXPECT_TRUE(console->wait_for(
      [&](const FeedClient& c) {
        return c.replica("unit/" + unit).records.count("user:" + maria_);
      },
      10s));
  // And a fresh snapshot holds exactly what the changes built (once the app is at its seq).
  auto snapshot = fresh(maria_token_, feed);
  ASSERT_TRUE(
      app->wait_for([&](const FeedClient& c) { return c.replica(feed).seq >= snapshot.seq; }, 10s));
  EXPECT_EQ(snapshot.records, app->replica(feed).records);
}

// The story: an admin moves Maria's schedule end from 20:00 to 18:00; her app holds 18:00
// without asking.
TEST_F(Push, AnEditReachesTheConnectedAppByItself) {
  auto app = connect(maria_token_);
  std::string feed = "user/" + maria_;
  ASSERT_TRUE(app->wait_for(
      [&](const FeedClient& c) { return end_of(c.replica(feed), sched_) == "20:00"; }, 10s));
  ASSERT_EQ(
      c().patch("/v1/schedules/" + sched_, json::object{{"windows", windows("18:00")}}, owner_)
          .status,
      200);
  EXPECT_TRUE(app->wait_for(
      [&](const FeedClient& c) { return end_of(c.replica(feed), sched_) == "18:00"; }, 10s));
  EXPECT_EQ(app->connections(), 1);
  // What it holds is exactly the server's view.
  EXPECT_EQ(app->replica(feed).records, fresh(maria_token_, feed).records);
}

TEST_F(Push, OfflineEditsArriveOnReconnectExactlyOnceAndInOrder) {
  TempDir dir;
  std::string state = dir.path() + "/maria.json";
  std::string feed = "user/" + maria_;
  std::int64_t cursor;
  {
    auto app = connect(maria_token_, {}, state);
    ASSERT_TRUE(app->wait_for([&](const FeedClient& c) { return c.replica(feed).seq > 0; }, 10s));
    cursor = app->replica(feed).seq;
    app->stop();  // saves the replica and cursor
  }
  for (int i = 1; i <= 5; ++i)
    ASSERT_EQ(c().patch("/v1/doors/" + door_, json::object{{"name", "Front " + std::to_string(i)}},
                        owner_)
                  .status,
              200);
  {
    std::lock_guard lock(events_mu_);
    events_.clear();
  }
  auto app = connect(maria_token_, {}, state);
  ASSERT_TRUE(
      app->wait_for([&](const FeedClient& c) { return c.replica(feed).seq == cursor + 5; }, 10s));
  // The callback of the last change may still be running when the replica shows it.
  auto changes = [&] {
    int n = 0;
    for (const auto& e : events()) n += e.type == "change";
    return n;
  };
  EXPECT_TRUE(eventually([&] { return changes() >= 5; }));
  std::vector<std::int64_t> seqs;
  std::vector<std::string> names;
  for (const auto& e : events()) {
    EXPECT_NE(e.type, "snapshot");
    if (e.type == "ready") {
      EXPECT_EQ(e.message.at("feeds").as_array()[0].at("resumed"), json::value(true));
    }
    if (e.type != "change") continue;
    seqs.push_back(e.seq);
    names.emplace_back(e.message.at("change").at("record").at("name").as_string());
  }
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{cursor + 1, cursor + 2, cursor + 3, cursor + 4,
                                             cursor + 5}));
  EXPECT_EQ(names,
            (std::vector<std::string>{"Front 1", "Front 2", "Front 3", "Front 4", "Front 5"}));
  EXPECT_EQ(app->replica(feed).records, fresh(maria_token_, feed).records);
}

TEST_F(Push, ACursorFromAnotherEpochGetsASnapshot) {
  TempDir dir;
  std::string state = dir.path() + "/maria.json";
  std::string feed = "user/" + maria_;
  {
    std::ofstream f(state);
    json::object ghost{{"door:ghost", json::object{{"id", "ghost"}}}};
    json::object replica{{"epoch", "0000000000000000"}, {"seq", 3}, {"records", ghost}};
    f << json::serialize(json::object{{feed, replica}});
  }
  auto app = connect(maria_token_, {}, state);
  ASSERT_TRUE(app->wait_for(
      [&](const FeedClient& c) { return c.replica(feed).epoch != "0000000000000000"; }, 10s));
  EXPECT_EQ(app->replica(feed).records.count("door:ghost"), 0u);
  EXPECT_EQ(app->replica(feed).records, fresh(maria_token_, feed).records);
}

TEST_F(Push, EntitlementsAreEnforced) {
  auto [joan, joan_token] = person("joan@one.test");
  auto me = c().get("/v1/me", owner_);
  std::string org = "org/" + std::string(me.obj().at("org").at("id").as_string());
  for (const auto& feed : {org, "user/" + joan, "site/" + site_}) {
    auto app = connect(maria_token_, {feed});
    ASSERT_TRUE(app->wait_for([](const FeedClient& c) { return !c.stopped_reason().empty(); }, 10s))
        << feed;
    EXPECT_EQ(app->stopped_reason(), "forbidden_feed") << feed;
  }
  // A unit reads its own feed only.
  auto unit = create("units", {{"name", "U1"}, {"door_ids", json::array{door_}}});
  auto other = create("units", {{"name", "U2"}});
  auto cred = c().post("/v1/units/" + unit + "/credentials", json::object{}, owner_);
  ASSERT_EQ(cred.status, 201);
  std::string unit_token(cred.obj().at("token").as_string());
  auto bad = connect(unit_token, {"unit/" + other});
  ASSERT_TRUE(bad->wait_for([](const FeedClient& c) { return !c.stopped_reason().empty(); }, 10s));
  EXPECT_EQ(bad->stopped_reason(), "forbidden_feed");
  auto good = connect(unit_token);
  std::string ufeed = "unit/" + unit;
  ASSERT_TRUE(good->wait_for([&](const FeedClient& c) { return c.replica(ufeed).seq >= 0; }, 10s));
  // The unit's offline list names Maria, who holds a grant on its door.
  EXPECT_EQ(good->replica(ufeed).records.count("user:" + maria_), 1u);
  // An owner may read the organization feed.
  auto console = connect(owner_, {org});
  ASSERT_TRUE(console->wait_for([&](const FeedClient& c) { return c.replica(org).seq >= 0; }, 10s));
  EXPECT_EQ(console->replica(org).records.count("grant:" + grant_), 1u);
}

TEST_F(Push, RevokingAGrantPushesAndDisablingClosesTheSession) {
  std::string feed = "user/" + maria_;
  auto app = connect(maria_token_);
  ASSERT_TRUE(app->wait_for(
      [&](const FeedClient& c) { return c.replica(feed).records.count("door:" + door_); }, 10s));
  ASSERT_EQ(c().del("/v1/grants/" + grant_, owner_).status, 204);
  EXPECT_TRUE(app->wait_for(
      [&](const FeedClient& c) { return !c.replica(feed).records.count("door:" + door_); }, 10s));
  auto check = c().get("/v1/access/check?user_id=" + maria_ + "&door_id=" + door_, owner_);
  EXPECT_EQ(check.obj().at("reason"), json::value("no_grant"));

  ASSERT_EQ(c().patch("/v1/users/" + maria_, json::object{{"disabled", true}}, owner_).status, 200);
  ASSERT_TRUE(app->wait_for([](const FeedClient& c) { return !c.stopped_reason().empty(); }, 10s));
  EXPECT_EQ(app->stopped_reason(), "revoked: user_disabled");
  EXPECT_EQ(app->last_close_code(), 4003);
  EXPECT_FALSE(app->connected());
}

TEST_F(Push, NewRightsReconnectTheSession) {
  auto app = connect(maria_token_);
  std::string feed = "user/" + maria_, me = "user:" + maria_;
  ASSERT_TRUE(app->wait_for(
      [&](const FeedClient& c) { return c.replica(feed).records.count(me) > 0; }, 10s));
  ASSERT_EQ(c().patch("/v1/users/" + maria_, json::object{{"role", "admin"}}, owner_).status, 200);
  // The session is revoked (rights_changed) and the client comes back by itself.
  EXPECT_TRUE(app->wait_for(
      [&](const FeedClient& c) {
        auto r = c.replica(feed);
        return c.connections() == 2 && r.records.count(me) &&
               r.records.at(me).at("role") == "admin";
      },
      10s));
  EXPECT_EQ(app->stopped_reason(), "");
  EXPECT_EQ(app->last_close_code(), 4003);
}

TEST_F(Push, LogoutClosesThatSessionOnly) {
  auto second = server_.login("maria@one.test", "password-maria@one.test");
  auto a = connect(maria_token_);
  auto b = connect(second);
  ASSERT_TRUE(a->wait_for([](const FeedClient& c) { return c.connected(); }, 10s));
  ASSERT_TRUE(b->wait_for([](const FeedClient& c) { return c.connected(); }, 10s));
  ASSERT_EQ(c().request("POST", "/v1/auth/logout", nullptr, second).status, 204);
  ASSERT_TRUE(b->wait_for([](const FeedClient& c) { return !c.stopped_reason().empty(); }, 10s));
  EXPECT_EQ(b->stopped_reason(), "revoked: logged_out");
  EXPECT_TRUE(a->connected());
}

TEST_F(Push, ClientsReconvergeAfterTheServerIsKilled) {
  std::string feed = "user/" + maria_;
  auto me = c().get("/v1/me", owner_);
  std::string org = "org/" + std::string(me.obj().at("org").at("id").as_string());
  auto app = connect(maria_token_);
  auto console = connect(owner_, {org});
  ASSERT_TRUE(app->wait_for([&](const FeedClient& c) { return c.replica(feed).seq > 0; }, 10s));
  ASSERT_TRUE(console->wait_for([&](const FeedClient& c) { return c.replica(org).seq > 0; }, 10s));
  server_.kill();
  server_.restart();
  ASSERT_EQ(
      c().patch("/v1/schedules/" + sched_, json::object{{"windows", windows("17:00")}}, owner_)
          .status,
      200);
  EXPECT_TRUE(app->wait_for(
      [&](const FeedClient& c) { return end_of(c.replica(feed), sched_) == "17:00"; }, 20s));
  EXPECT_GE(app->connections(), 2);
  EXPECT_TRUE(console->wait_for(
      [&](const FeedClient& c) { return end_of(c.replica(org), sched_) == "17:00"; }, 20s));
  EXPECT_EQ(app->replica(feed).records, fresh(maria_token_, feed).records);
  EXPECT_EQ(console->replica(org).records, fresh(owner_, org).records);
}

TEST_F(Push, DevicesShowWhatEachHolds) {
  client::ClientOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(server_.port());
  o.token = maria_token_;
  o.device_id = "maria-phone";
  o.device_name = "Maria's phone";
  FeedClient app(o);
  app.start();
  std::string feed = "user/" + maria_;
  ASSERT_TRUE(app.wait_for([&](const FeedClient& c) { return c.replica(feed).seq > 0; }, 10s));
  auto device = [&]() -> json::value {
    auto r = c().get("/v1/devices", owner_);
    for (const auto& d : r.obj().at("items").as_array())
      if (d.at("id") == "maria-phone") return d;
    return nullptr;
  };
  // Acks travel asynchronously: wait for the receipt.
  EXPECT_TRUE(
      eventually([&] { return device().is_object() && device().at("up_to_date") == true; }));
  auto d = device();
  ASSERT_TRUE(d.is_object());
  EXPECT_EQ(d.at("connected"), json::value(true));
  EXPECT_EQ(d.at("up_to_date"), json::value(true));
  EXPECT_EQ(d.at("feeds").as_array()[0].at("acked_seq"),
            d.at("feeds").as_array()[0].at("latest_seq"));
  app.stop();
  ASSERT_EQ(c().patch("/v1/doors/" + door_, json::object{{"name", "Renamed"}}, owner_).status, 200);
  EXPECT_TRUE(eventually([&] { return device().at("connected") == false; }));
  d = device();
  EXPECT_EQ(d.at("connected"), json::value(false));
  EXPECT_EQ(d.at("up_to_date"), json::value(false));
  EXPECT_EQ(d.at("feeds").as_array()[0].at("behind"), json::value(1));
}

TEST_F(Push, ADeviceIdNamesNoOneElsesDevice) {
  auto [joan, joan_token] = person("joan@one.test");
  std::vector<std::unique_ptr<FeedClient>> apps;
  for (const auto& token : {maria_token_, joan_token}) {
    client::ClientOptions o;
    o.url = "http://127.0.0.1:" + std::to_string(server_.port());
    o.token = token;
    o.device_id = "phone";
    apps.push_back(std::make_unique<FeedClient>(o));
    apps.back()->start();
    ASSERT_TRUE(apps.back()->wait_for([](const FeedClient& c) { return c.connected(); }, 10s));
  }
  auto r = c().get("/v1/devices", owner_);
  std::set<std::string> owners;
  for (const auto& d : r.obj().at("items").as_array()) {
    if (d.at("id") != "phone") continue;
    owners.emplace(d.at("user_id").as_string());
    ASSERT_EQ(d.at("feeds").as_array().size(), 1u);  // each holds its own feed only
    EXPECT_EQ(d.at("feeds").as_array()[0].at("feed"),
              json::value("user/" + std::string(d.at("user_id").as_string())));
  }
  EXPECT_EQ(owners, (std::set<std::string>{maria_, joan}));
}

TEST_F(Push, TheConsoleSeesDevicesComeGoAndCatchUp) {
  auto me = c().get("/v1/me", owner_);
  std::string org = "org/" + std::string(me.obj().at("org").at("id").as_string());
  auto console = connect(owner_, {org});
  ASSERT_TRUE(console->wait_for([&](const FeedClient& c) { return c.replica(org).seq >= 0; }, 10s));
  client::ClientOptions o;
  o.url = "http://127.0.0.1:" + std::to_string(server_.port());
  o.token = maria_token_;
  o.device_id = "maria-phone";
  o.device_name = "Maria's phone";
  auto app = std::make_unique<FeedClient>(o);
  app->start();
  // Live, without asking: the phone comes online and acknowledges what it holds …
  auto saw = [&](const std::function<bool(const json::object&)>& pred) {
    return eventually([&] {
      for (const auto& e : events())
        if (e.type == "device" && e.message.at("device").at("id") == "maria-phone" &&
            pred(e.message.at("device").as_object()))
          return true;
      return false;
    });
  };
  EXPECT_TRUE(saw([](const json::object& d) {
    return d.at("connected") == true && d.at("feeds").as_array()[0].at("behind") == 0 &&
           d.at("feeds").as_array()[0].at("acked_seq").as_int64() > 0;
  }));
  // … and goes offline.
  app->stop();
  EXPECT_TRUE(saw([](const json::object& d) { return d.at("connected") == false; }));
}

// A cursor older than the retained history gets a snapshot equal to the current state.
TEST_F(Push, ACursorPastRetentionGetsASnapshot) {
  server_.stop();
  server_.start({"--feed-keep", "2", "--feed-prune-every", "1"});
  TempDir dir;
  std::string state = dir.path() + "/maria.json";
  std::string feed = "user/" + maria_;
  {
    auto app = connect(maria_token_, {}, state);
    ASSERT_TRUE(app->wait_for([&](const FeedClient& c) { return c.replica(feed).seq > 0; }, 10s));
    app->stop();
  }
  for (int i = 1; i <= 5; ++i)
    ASSERT_EQ(
        c().patch("/v1/doors/" + door_, json::object{{"name", "Door " + std::to_string(i)}}, owner_)
            .status,
        200);
  // Pruning runs every second: wait until the old cursor is past the retained history.
  auto epoch_seq = [&] {
    std::ifstream f(state);
    auto v = json::parse(std::string(std::istreambuf_iterator<char>(f), {})).at(feed);
    return std::make_pair(std::string(v.at("epoch").as_string()), v.at("seq").as_int64());
  }();
  // Each probe resumes a copy of the old cursor; once pruning has passed it, the probe gets a
  // snapshot instead.
  bool pruned = eventually(
      [&] {
        client::ClientOptions o;
        o.url = "http://127.0.0.1:" + std::to_string(server_.port());
        o.token = maria_token_;
        std::string probe_state = dir.path() + "/probe.json";
        std::filesystem::copy_file(state, probe_state,
                                   std::filesystem::copy_options::overwrite_existing);
        o.state_file = probe_state;
        FeedClient probe(o);
        bool resumed = true;
        probe.on_event([&](const client::Event& e) {
          if (e.type == "ready")
            resumed = e.message.at("feeds").as_array()[0].at("resumed").as_bool();
        });
        probe.start();
        probe.wait_for(
            [&](const FeedClient& c) { return c.replica(feed).seq >= epoch_seq.second + 5; }, 10s);
        probe.stop();
        return !resumed;
      },
      15s, 100ms);
  ASSERT_TRUE(pruned) << "the feed was never pruned past the cursor";
  auto app = connect(maria_token_, {}, state);
  ASSERT_TRUE(app->wait_for(
      [&](const FeedClient& c) { return c.replica(feed).seq == epoch_seq.second + 5; }, 10s));
  bool snapshot = false;
  for (const auto& e : events()) snapshot = snapshot || (e.type == "snapshot" && e.feed == feed);
  EXPECT_TRUE(snapshot);
  EXPECT_EQ(app->replica(feed).records.at("door:" + door_).at("name"), json::value("Door 5"));
  EXPECT_EQ(app->replica(feed).records, fresh(maria_token_, feed).records);
}

}  // namespace
}  // namespace portier::testing
