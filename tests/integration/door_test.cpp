// The open path end to end: a real portierd, real portier-unit processes with the sim driver,
// people opening over REST and the WebSocket.
#include <signal.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "fixture.hpp"
#include "support/eventually.hpp"
#include "support/ws.hpp"

namespace portier::testing {
namespace {

using namespace std::chrono_literals;

std::string unit_bin() { return PORTIER_UNIT_BIN; }

class Doors : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    // A short unit timeout keeps the 504 test quick.
    server_.stop();
    server_.start({"--open-timeout-ms", "1500"});
    std::tie(site_, door_) = site_with_door();
    unit_ = create("units", {{"name", "Front unit"}, {"door_ids", json::array{door_}}});
    std::tie(maria_, maria_token_) = person("maria@one.test");
    grant_ = create("grants", {{"user_id", maria_}, {"door_id", door_}});
    state_ = dir_.path() + "/unit";
    enroll(unit_, state_);
  }
  void TearDown() override {
    if (unit_proc_) unit_proc_->signal(SIGCONT);
  }

  void enroll(const std::string& unit, const std::string& state) {
    auto r = c().post("/v1/units/" + unit + "/enrollment", json::object{}, owner_);
    ASSERT_EQ(r.status, 201) << r.raw;
    auto [rc, out] = run({unit_bin(), "enroll", "--server", url(), "--code",
                          std::string(r.obj().at("code").as_string()), "--state", state});
    ASSERT_EQ(rc, 0) << out;
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }

  // Starts portier-unit and waits until the server lists it connected.
  void start_unit(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{unit_bin(), "run", "--state", state_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    start_unit_argv(argv);
    // Connected is not yet synced: until its snapshot is applied the unit knows no door of its
    // own and refuses every command (an open right after the start failed now and then).
    ASSERT_TRUE(eventually([&] { return lists(show(), "units", unit_); }))
        << "the unit never held its replica";
  }
  void start_unit_argv(const std::vector<std::string>& argv) {
    // Its log, to wait for what it says it did.
    unit_log_ =
        std::make_unique<LogFile>(dir_.path() + "/unit-" + std::to_string(++runs_) + ".log");
    unit_proc_ = std::make_unique<Process>(argv, ChildOptions{.stderr_path = unit_log_->path()});
    ASSERT_TRUE(eventually([&] { return unit_connected(); })) << "the unit never connected";
  }
  bool unit_connected() {
    auto r = c().get("/v1/devices", owner_);
    if (r.status != 200) return false;
    for (const auto& d : r.obj().at("items").as_array())
      if (d.at("unit_id") == json::value(unit_) && d.at("connected").as_bool()) return true;
    return false;
  }
  std::vector<std::string> pulses() { return read_lines(state_ + "/sim/relay.log"); }
  Reply open(const std::string& token, const std::string& door = "") {
    return c().post("/v1/doors/" + (door.empty() ? door_ : door) + "/open", nullptr, token);
  }
  // What `portier-unit show` prints: the unit's offline state.
  json::object show() {
    auto [rc, out] = run({unit_bin(), "show", "--state", state_});
    EXPECT_EQ(rc, 0);
    return rc == 0 ? json::parse(out).as_object() : json::object{};
  }
  bool lists(const json::object& state, const char* plural, const std::string& id) {
    if (!state.contains(plural)) return false;
    for (const auto& r : state.at(plural).as_array())
      if (r.at("id") == json::value(id)) return true;
    return false;
  }
  // Whether portierd's store has this open in flight marked sent (read beside the server).
  bool marked_sent(const std::string& command_id) {
    sqlite3* db = nullptr;
    bool sent = false;
    if (sqlite3_open_v2((server_.data_dir() + "/portier.db").c_str(), &db, SQLITE_OPEN_READONLY,
                        nullptr) == SQLITE_OK) {
      sqlite3_stmt* s = nullptr;
      sqlite3_prepare_v2(db, "SELECT sent FROM open_commands WHERE command_id = ?1", -1, &s,
                         nullptr);
      sqlite3_bind_text(s, 1, command_id.c_str(), -1, SQLITE_TRANSIENT);
      sent = sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 1;
      sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return sent;
  }
  // Audit entries with this action, oldest first.
  std::vector<json::object> audit(const std::string& action) {
    auto r = c().get("/v1/audit?limit=500&kind=" + action, owner_);
    EXPECT_EQ(r.status, 200) << r.raw;
    std::vector<json::object> out;
    for (const auto& e : r.obj().at("items").as_array()) out.insert(out.begin(), e.as_object());
    return out;
  }

  TempDir dir_;
  std::string site_, door_, unit_, maria_, maria_token_, grant_, state_;
  std::unique_ptr<Process> unit_proc_;
  std::unique_ptr<LogFile> unit_log_;
  int runs_ = 0;
};

TEST_F(Doors, AGrantedOpenPulsesTheRelayOnceAndAnswersOpened) {
  start_unit();
  // The unit's device is named by its unit id (receipts of two units never share a name).
  bool named = false;
  auto devices = c().get("/v1/devices", owner_);
  for (const auto& d : devices.obj().at("items").as_array())
    named = named || (d.at("unit_id") == json::value(unit_) && d.at("id") == json::value(unit_));
  EXPECT_TRUE(named);
  auto r = open(maria_token_);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.obj().at("result"), "opened");
  EXPECT_EQ(r.obj().at("unit_id"), json::value(unit_));
  EXPECT_EQ(r.obj().at("grant_id"), json::value(grant_));
  std::string cmd(r.obj().at("command_id").as_string());
  auto p = pulses();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("pulse " + door_ + " 1000ms " + cmd), std::string::npos) << p[0];
  auto log = audit("door.open");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].at("after").at("result"), "opened");
  EXPECT_EQ(log[0].at("after").at("command_id"), json::value(cmd));
  EXPECT_EQ(log[0].at("actor_id"), json::value(maria_));
  auto metrics = c().get("/metrics").raw;
  EXPECT_NE(metrics.find("portier_door_opens_total{result=\"opened\"} 1"), std::string::npos);
}

TEST_F(Doors, OutsideTheScheduleIsDeniedWithTheReasonAndNeverReachesTheUnit) {
  // Open all week, except yesterday, today and tomorrow (UTC dates: whatever Madrid's date).
  json::array closed;
  auto today = std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  for (int d : {-1, 0, 1}) {
    std::time_t t = std::chrono::system_clock::to_time_t(today + std::chrono::days(d));
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", std::gmtime(&t));
    closed.push_back(json::object{{"date", buf}, {"closed", true}});
  }
  auto sched = create(
      "schedules",
      {{"name", "Not these days"},
       {"windows", json::array{json::object{
                       {"days", json::array{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}},
                       {"start", "00:00"},
                       {"end", "24:00"}}}},
       {"exceptions", closed}});
  ASSERT_EQ(c().patch("/v1/grants/" + grant_, json::object{{"schedule_id", sched}}, owner_).status,
            200);
  start_unit();
  auto r = open(maria_token_);
  ASSERT_EQ(r.status, 403) << r.raw;
  EXPECT_EQ(r.code(), "access_denied");
  EXPECT_EQ(r.obj().at("error").at("reason"), "outside_schedule");
  EXPECT_TRUE(r.obj().at("error").at("next_change").is_string()) << r.raw;
  auto log = audit("door.open");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].at("after").at("result"), "denied");
  EXPECT_EQ(log[0].at("after").at("reason"), "outside_schedule");
  EXPECT_TRUE(log[0].at("after").at("command_id").is_null());
  // The unit handles commands in order: when an allowed open has pulsed, a command for the
  // denied one would have pulsed before it.
  ASSERT_EQ(
      c().patch("/v1/grants/" + grant_, json::object{{"schedule_id", nullptr}}, owner_).status,
      200);
  auto allowed = open(maria_token_);
  ASSERT_EQ(allowed.status, 200) << allowed.raw;
  auto p = pulses();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find(std::string(allowed.obj().at("command_id").as_string())), std::string::npos);
}

TEST_F(Doors, ABadOpenRequestIsRefusedAndChangesNothing) {
  start_unit();
  auto path = "/v1/doors/" + door_ + "/open";
  auto r = c().post(path, json::object{{"override_lockdown", "yes"}}, maria_token_);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.code(), "invalid_field");
  r = c().post(path, json::object{{"door", door_}}, maria_token_);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.code(), "unknown_field");
  r = c().request("POST", path, nullptr, maria_token_, "application/json", std::string("{oops"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.code(), "bad_json");
  EXPECT_EQ(c().post("/v1/doors/door_nope/open", nullptr, maria_token_).status, 404);
  EXPECT_EQ(c().post(path, nullptr, "ptk_forged").status, 401);
  EXPECT_TRUE(pulses().empty());
  EXPECT_TRUE(audit("door.open").empty());
}

TEST_F(Doors, AKilledUnitAnswers409AtOnce) {
  start_unit();
  unit_proc_->signal(SIGKILL);
  unit_proc_->wait(5s);
  ASSERT_TRUE(eventually([&] { return !unit_connected(); }));
  // 409 unit_offline, not 504 unit_timeout: the server did not wait for a unit it knows is gone
  // (no timing assertion: the answer's code says it).
  auto r = open(maria_token_);
  EXPECT_EQ(r.status, 409) << r.raw;
  EXPECT_EQ(r.code(), "unit_offline");
  EXPECT_EQ(audit("door.open").back().at("after").at("result"), "unit_offline");
}

TEST_F(Doors, AStoppedUnitTimesOutAndNeverPulsesLate) {
  start_unit();
  unit_proc_->signal(SIGSTOP);
  auto r = open(maria_token_);
  EXPECT_EQ(r.status, 504) << r.raw;
  EXPECT_EQ(r.code(), "unit_timeout");
  std::string cmd(audit("door.open").back().at("after").at("command_id").as_string());
  unit_proc_->signal(SIGCONT);
  // Resumed, the unit reads the command, finds it expired and drops it.
  EXPECT_TRUE(unit_log_->wait_for("command " + cmd + ": expired")) << unit_log_->text();
  EXPECT_TRUE(pulses().empty());
  ASSERT_TRUE(unit_connected());
  // And it still works.
  auto again = open(maria_token_);
  EXPECT_EQ(again.status, 200) << again.raw;
  ASSERT_EQ(pulses().size(), 1u);
  // The one pulse is the second command's (the unit handles commands in order).
  EXPECT_NE(pulses()[0].find(std::string(again.obj().at("command_id").as_string())),
            std::string::npos);
  auto log = audit("door.open");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].at("after").at("result"), "unit_timeout");
  EXPECT_EQ(log[1].at("after").at("result"), "opened");
}

// Issue 10 §4: portierd killed between an open's decision and the unit's answer. The decision
// (and the use it reserved) is in the log before the command leaves; at the next start the
// open without an outcome is settled: the command was sent, so the door may have opened —
// `unknown`, and the use stays spent, explained.
TEST_F(Doors, AKillBetweenDecisionAndAnswerIsSettledAtRestart) {
  ASSERT_EQ(c().patch("/v1/grants/" + grant_, json::object{{"max_uses", 3}}, owner_).status, 200);
  start_unit();
  unit_proc_->signal(SIGSTOP);  // slow: the command waits in its socket
  auto pending = std::async(std::launch::async, [&] {
    try {
      return open(maria_token_).status;
    } catch (const std::exception&) {
      return -1;  // the server died under the request
    }
  });
  auto uses = [&] { return c().get("/v1/grants/" + grant_, owner_).obj().at("uses").as_int64(); };
  ASSERT_TRUE(eventually([&] { return uses() == 1; }));  // decided: the use is reserved
  auto granted = audit("door.open_granted");
  ASSERT_EQ(granted.size(), 1u) << "the decision is not in the log before the unit answers";
  const auto& decision = granted[0].at("after");
  EXPECT_EQ(decision.at("result"), "granted");
  EXPECT_EQ(decision.at("grant_id"), json::value(grant_));
  EXPECT_EQ(decision.at("use_reserved"), true);
  std::string cmd(decision.at("command_id").as_string());
  EXPECT_EQ(cmd.rfind("cmd_", 0), 0u);
  EXPECT_TRUE(audit("door.open").empty());  // no outcome yet
  // The kill comes once the command has left (marked sent just before): a kill between the
  // decision and that mark is the not_sent case (doors_test.cpp).
  ASSERT_TRUE(eventually([&] { return marked_sent(cmd); }));
  server_.kill();
  EXPECT_EQ(pending.get(), -1);
  server_.restart();
  // Settled at start: sent to the unit, so it may have run.
  auto log = audit("door.open");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].at("after").at("result"), "unknown");
  EXPECT_EQ(log[0].at("after").at("command_id"), json::value(cmd));
  EXPECT_EQ(log[0].at("after").at("grant_id"), json::value(grant_));
  EXPECT_EQ(log[0].at("actor_id"), json::value(maria_));
  EXPECT_EQ(uses(), 1);
  // Settled once: another restart adds nothing.
  server_.kill();
  server_.restart();
  EXPECT_EQ(audit("door.open").size(), 1u);
  // The unit, resumed after the command's expiry, drops it and serves the next open.
  std::string expires(decision.at("expires_at").as_string());
  ASSERT_TRUE(eventually([&] {
    auto now =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    char buf[32];
    auto t = std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(now));
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(now.time_since_epoch().count() % 1000));
    return std::string(buf) + ms > expires;  // same format: text order is time order
  }));
  unit_proc_->signal(SIGCONT);
  ASSERT_TRUE(eventually([&] { return unit_connected(); }));
  auto again = open(maria_token_);
  EXPECT_EQ(again.status, 200) << again.raw;
  auto p = pulses();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].find(cmd), std::string::npos);
  EXPECT_EQ(uses(), 2);
}

TEST_F(Doors, MaxUsesIsExactUnderConcurrentOpens) {
  ASSERT_EQ(c().patch("/v1/grants/" + grant_, json::object{{"max_uses", 3}}, owner_).status, 200);
  start_unit();
  std::vector<int> status(12);
  std::vector<std::thread> threads;
  for (auto& s : status) threads.emplace_back([this, &s] { s = open(maria_token_).status; });
  for (auto& t : threads) t.join();
  EXPECT_EQ(std::count(status.begin(), status.end(), 200), 3);
  EXPECT_EQ(std::count(status.begin(), status.end(), 403), 9);
  EXPECT_EQ(pulses().size(), 3u);
  auto g = c().get("/v1/grants/" + grant_, owner_);
  EXPECT_EQ(g.obj().at("uses"), 3);
  auto denied = open(maria_token_);
  EXPECT_EQ(denied.obj().at("error").at("reason"), "uses_exhausted");
}

TEST_F(Doors, AUseIsCountedOnlyWhenTheDoorOpened) {
  ASSERT_EQ(c().patch("/v1/grants/" + grant_, json::object{{"max_uses", 1}}, owner_).status, 200);
  // No unit connected: the open fails and the one use is still there.
  EXPECT_EQ(open(maria_token_).status, 409);
  EXPECT_EQ(c().get("/v1/grants/" + grant_, owner_).obj().at("uses"), 0);
  start_unit();
  EXPECT_EQ(open(maria_token_).status, 200);
  EXPECT_EQ(c().get("/v1/grants/" + grant_, owner_).obj().at("uses"), 1);
}

TEST_F(Doors, RevocationBetweenTwoOpensDeniesTheSecondAndLeavesTheUnitsList) {
  start_unit();
  ASSERT_TRUE(eventually([&] { return lists(show(), "users", maria_); }));
  EXPECT_EQ(open(maria_token_).status, 200);
  ASSERT_EQ(c().del("/v1/grants/" + grant_, owner_).status, 204);
  auto r = open(maria_token_);
  EXPECT_EQ(r.status, 403) << r.raw;
  EXPECT_EQ(r.obj().at("error").at("reason"), "no_grant");
  EXPECT_EQ(pulses().size(), 1u);
  // The unit's offline access list (its local replica) no longer has her.
  EXPECT_TRUE(eventually([&] { return !lists(show(), "users", maria_); }));
  EXPECT_FALSE(lists(show(), "grants", grant_));
}

TEST_F(Doors, LockdownDeniesEveryoneButAnOwnerWhoOverridesAndIsPushedToTheUnit) {
  std::string owner_id(c().get("/v1/me", owner_).obj().at("user").at("id").as_string());
  create("grants", {{"user_id", owner_id}, {"door_id", door_}});
  start_unit();
  ASSERT_EQ(c().patch("/v1/sites/" + site_, json::object{{"lockdown", true}}, owner_).status, 200);
  auto r = open(maria_token_);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.obj().at("error").at("reason"), "lockdown");
  EXPECT_EQ(open(owner_).obj().at("error").at("reason"), "lockdown");
  // The same answer from the access check and from her list of doors.
  auto check = c().get("/v1/access/check?door_id=" + door_, maria_token_);
  EXPECT_EQ(check.obj().at("allowed"), false);
  EXPECT_EQ(check.obj().at("reason"), "lockdown");
  auto mine = c().get("/v1/me/doors", maria_token_);
  ASSERT_EQ(mine.obj().at("items").as_array().size(), 1u) << mine.raw;
  EXPECT_EQ(mine.obj().at("items").at(0).at("reason"), "lockdown");
  // Members cannot override; owners can, and the log says so.
  auto member_override = c().post("/v1/doors/" + door_ + "/open",
                                  json::object{{"override_lockdown", true}}, maria_token_);
  EXPECT_EQ(member_override.status, 403);
  auto owner_override =
      c().post("/v1/doors/" + door_ + "/open", json::object{{"override_lockdown", true}}, owner_);
  EXPECT_EQ(owner_override.status, 200) << owner_override.raw;
  EXPECT_EQ(audit("door.open").back().at("after").at("lockdown_override"), true);
  EXPECT_EQ(pulses().size(), 1u);
  // The unit holds the lockdown in its replica.
  auto locked = [&](bool want) {
    auto s = show();
    for (const auto& site : s.at("sites").as_array())
      if (site.at("id") == json::value(site_)) return site.at("lockdown").as_bool() == want;
    return false;
  };
  EXPECT_TRUE(eventually([&] { return locked(true); }));
  ASSERT_EQ(c().patch("/v1/sites/" + site_, json::object{{"lockdown", false}}, owner_).status, 200);
  EXPECT_EQ(open(maria_token_).status, 200);
  EXPECT_TRUE(eventually([&] { return locked(false); }));
}

TEST_F(Doors, EventsDuringAnOutageArriveOnceEachAfterReconnectAcrossAUnitKill) {
  std::string door_file = state_ + "/sim/" + door_ + ".door";
  auto set_door = [&](const char* s) { std::ofstream(door_file, std::ios::trunc) << s << "\n"; };
  std::filesystem::create_directories(state_ + "/sim");
  set_door("closed");  // the state it starts from (read before it connects)
  start_unit({"--held-open-after", "1"});
  server_.stop();
  set_door("open");  // forced: no command, and held open
  ASSERT_TRUE(eventually([&] { return show().at("pending_events").as_int64() == 2; }))
      << json::serialize(show());
  set_door("closed");
  ASSERT_TRUE(eventually([&] { return show().at("pending_events").as_int64() == 3; }))
      << json::serialize(show());
  // The unit dies before it could upload anything; its buffer survives on disk.
  unit_proc_->signal(SIGKILL);
  unit_proc_->wait(5s);
  server_.restart();
  start_unit({"--held-open-after", "1"});
  ASSERT_TRUE(eventually([&] { return show().at("pending_events").as_int64() == 0; }));
  auto forced = audit("door.forced"), held = audit("door.held_open"), shut = audit("door.closed");
  ASSERT_EQ(forced.size(), 1u);
  ASSERT_EQ(held.size(), 1u);
  ASSERT_EQ(shut.size(), 1u);
  // In the order they happened.
  EXPECT_LT(forced[0].at("seq").as_int64(), held[0].at("seq").as_int64());
  EXPECT_LT(held[0].at("seq").as_int64(), shut[0].at("seq").as_int64());
  EXPECT_EQ(shut[0].at("after").at("unit_id"), json::value(unit_));
}

// Issue 10 §6: a sim sensor file that did not exist when the unit started, then written
// `open`, gave no opening but a `door_closed` later. It was closed until it appeared.
TEST_F(Doors, ASensorFileWrittenAfterStartReportsTheOpeningAndTheClosing) {
  std::string door_file = state_ + "/sim/" + door_ + ".door";
  auto set_door = [&](const char* s) { std::ofstream(door_file, std::ios::trunc) << s << "\n"; };
  ASSERT_FALSE(std::filesystem::exists(door_file));
  start_unit();
  ASSERT_EQ(open(maria_token_).status, 200);
  set_door("open");
  ASSERT_TRUE(eventually([&] { return audit("door.opened").size() == 1; }));
  set_door("closed");
  ASSERT_TRUE(eventually([&] { return audit("door.closed").size() == 1; }));
  auto opened = audit("door.opened");
  EXPECT_EQ(opened[0].at("after").at("command_id"),
            audit("door.open").back().at("after").at("command_id"));
  EXPECT_TRUE(audit("door.forced").empty());
}

TEST_F(Doors, ARevokedUnitStopsAndCannotReconnect) {
  start_unit();
  // Revoked, the unit keeps its record (and its doors) but its credential is dead.
  ASSERT_EQ(c().del("/v1/units/" + unit_ + "/credentials", owner_).status, 204);
  EXPECT_EQ(unit_proc_->wait(10s), 3);
  auto [rc, out] = run({unit_bin(), "run", "--state", state_}, "", 20s);
  EXPECT_EQ(rc, 3) << out;
  EXPECT_EQ(open(maria_token_).code(), "unit_offline");
  EXPECT_EQ(c().get("/v1/units/" + unit_, owner_).status, 200);
  // Re-enrolled with a new code, it works again; deleting the unit ends it for good.
  enroll(unit_, state_);
  start_unit();
  EXPECT_EQ(open(maria_token_).status, 200);
  ASSERT_EQ(c().del("/v1/units/" + unit_, owner_).status, 204);
  EXPECT_EQ(unit_proc_->wait(10s), 3);
}

TEST_F(Doors, ARestartedUnitResumesFromItsCursorAndCatchesUp) {
  start_unit();
  ASSERT_TRUE(unit_proc_->wait_for_line("(snapshot)", 10s));
  unit_proc_->signal(SIGTERM);
  ASSERT_EQ(unit_proc_->wait(10s), 0);
  // Changed while the unit was down.
  ASSERT_EQ(c().patch("/v1/doors/" + door_, json::object{{"name", "Renamed"}}, owner_).status, 200);
  start_unit();
  EXPECT_TRUE(unit_proc_->wait_for_line("(resumed from its cursor)", 10s));
  EXPECT_TRUE(eventually([&] {
    auto state = show();
    for (const auto& d : state.at("doors").as_array())
      if (d.at("name") == "Renamed") return true;
    return false;
  }));
}

TEST_F(Doors, EnrollmentCodesFailClearlyFromTheUnit) {
  auto r = c().post("/v1/units/" + unit_ + "/enrollment", json::object{}, owner_);
  std::string code(r.obj().at("code").as_string());
  std::string other = dir_.path() + "/other";
  EXPECT_EQ(run({unit_bin(), "enroll", "--server", url(), "--code", code, "--state", other}).first,
            0);
  EXPECT_EQ(run({unit_bin(), "enroll", "--server", url(), "--code", code, "--state", other}).first,
            1);
  EXPECT_EQ(
      run({unit_bin(), "enroll", "--server", url(), "--code", "garbage", "--state", other}).first,
      1);
  EXPECT_EQ(run({unit_bin(), "run", "--state", dir_.path() + "/never-enrolled"}).first, 1);
}

TEST_F(Doors, TheCommandDriverRunsAnExecutableConfiguredInATomlFile) {
  std::string script = dir_.path() + "/relay.sh", log = dir_.path() + "/relay-calls.log";
  auto write_script = [&](int exit_code) {
    std::ofstream(script, std::ios::trunc) << "#!/bin/sh\necho \"$1 $2 $3 $PORTIER_COMMAND_ID\" >> "
                                           << log << "\nexit " << exit_code << "\n";
    std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  };
  write_script(0);
  std::string config = dir_.path() + "/unit.toml";
  std::ofstream(config) << "[run]\nstate = \"" << state_ << "\"\ndriver = \"command\"\ncommand = \""
                        << script << "\"\n";
  start_unit_argv({unit_bin(), "--config", config, "run"});
  auto r = open(maria_token_);
  ASSERT_EQ(r.status, 200) << r.raw;
  auto calls = read_lines(log);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0],
            "pulse " + door_ + " 1000 " + std::string(r.obj().at("command_id").as_string()));
  // Hardware that fails: 502, and the log says so.
  write_script(3);
  auto failed = open(maria_token_);
  EXPECT_EQ(failed.status, 502) << failed.raw;
  EXPECT_EQ(failed.code(), "unit_failed");
  EXPECT_EQ(audit("door.open").back().at("after").at("result"), "failed");
}

TEST_F(Doors, AMisconfiguredDriverStopsTheUnitWithAClearError) {
  EXPECT_EQ(run({unit_bin(), "run", "--state", state_, "--driver", "gpio", "--relay",
                 door_ + "=gpiochip99:1"})
                .first,
            1);
  EXPECT_EQ(
      run({unit_bin(), "run", "--state", state_, "--driver", "gpio", "--relay", "nonsense"}).first,
      2);
  EXPECT_EQ(run({unit_bin(), "run", "--state", state_, "--driver", "command", "--command",
                 "/nonexistent"})
                .first,
            1);
}

// Apps open over their WebSocket too, and consoles see every attempt live.
TEST_F(Doors, OpenOverTheStreamAndTheConsoleSeesItLive) {
  start_unit();
  RawWs console(server_.port());
  std::string org(c().get("/v1/me", owner_).obj().at("org").at("id").as_string());
  console.send_json({{"type", "hello"},
                     {"token", owner_},
                     {"feeds", json::array{json::object{{"feed", "org/" + org}}}}});
  ASSERT_EQ(console.read_json().at("type"), "ready");
  // An admin scoped to the site watches her site's feed; one scoped elsewhere, his.
  auto [site_admin, site_admin_token] =
      person("site-admin@one.test", "admin", {{"site_ids", json::array{site_}}});
  auto other_site = create("sites", {{"name", "Elsewhere"}, {"timezone", "UTC"}});
  auto [other_admin, other_admin_token] =
      person("other-admin@one.test", "admin", {{"site_ids", json::array{other_site}}});
  RawWs site_console(server_.port()), other_console(server_.port());
  for (auto [ws, token, feed] :
       {std::tuple{&site_console, site_admin_token, "site/" + site_},
        std::tuple{&other_console, other_admin_token, "site/" + other_site}}) {
    ws->send_json({{"type", "hello"},
                   {"token", token},
                   {"feeds", json::array{json::object{{"feed", feed}}}}});
    ASSERT_EQ(ws->read_json().at("type"), "ready");
  }
  RawWs app(server_.port());
  app.send_json({{"type", "hello"}, {"token", maria_token_}});
  ASSERT_EQ(app.read_json().at("type"), "ready");
  ASSERT_EQ(app.read_json().at("type"), "snapshot");
  app.send_json({{"type", "open"}, {"request_id", "r1"}, {"door_id", 42}});
  EXPECT_EQ(app.read_json().at("code"), "bad_message");
  app.send_json({{"type", "result"}, {"id", "cmd_x"}, {"result", "opened"}});
  EXPECT_EQ(app.read_json().at("code"), "bad_message");  // only units send results
  app.send_json({{"type", "open"}, {"request_id", "r1"}, {"door_id", door_}});
  json::value res;
  do res = app.read_json();
  while (!res.is_null() && res.at("type") != "open_result");
  ASSERT_FALSE(res.is_null());
  EXPECT_EQ(res.at("request_id"), "r1");
  EXPECT_EQ(res.at("status"), 200);
  EXPECT_EQ(res.at("result"), "opened");
  EXPECT_EQ(pulses().size(), 1u);
  auto sees_the_open = [](RawWs& ws, const std::string& feed, std::chrono::milliseconds wait) {
    for (int i = 0; i < 50; ++i) {
      auto m = ws.read_json(wait);
      if (m.is_null()) return false;
      if (m.at("type") == "event" && m.at("event").at("action") == "door.open" &&
          m.at("event").at("after").at("result") == "opened")
        return m.at("feed") == json::value(feed);
    }
    return false;
  };
  EXPECT_TRUE(sees_the_open(console, "org/" + org, 5s));
  EXPECT_TRUE(sees_the_open(site_console, "site/" + site_, 5s));
  EXPECT_FALSE(sees_the_open(other_console, "site/" + other_site, 500ms));
}

// A unit's event is logged once however often it is sent (a lost event_saved).
TEST_F(Doors, AReSentEventIsLoggedOnce) {
  auto cred =
      json::parse(
          std::string(std::istreambuf_iterator<char>(std::ifstream(state_ + "/unit.json").rdbuf()),
                      {}))
          .at("credential");
  RawWs unit(server_.port());
  unit.send_json({{"type", "hello"}, {"token", cred}});
  ASSERT_EQ(unit.read_json().at("type"), "ready");
  json::object ev{{"type", "event"},
                  {"id", "evt_once"},
                  {"event", "door_forced"},
                  {"door", door_},
                  {"at", "2026-11-27T10:00:00.000Z"}};
  auto saved = [&] {
    for (;;) {
      auto m = unit.read_json();
      if (m.is_null() || m.at("type") == "event_saved" || m.at("type") == "error") return m;
    }
  };
  unit.send_json(ev);
  EXPECT_EQ(saved().at("id"), "evt_once");
  unit.send_json(ev);
  EXPECT_EQ(saved().at("id"), "evt_once");
  EXPECT_EQ(audit("door.forced").size(), 1u);
  // A door of another unit, or an unknown event, is refused and logged nowhere.
  ev["id"] = "evt_2";
  ev["door"] = "door_elsewhere";
  unit.send_json(ev);
  EXPECT_EQ(saved().at("code"), "bad_door");
  ev["door"] = door_;
  ev["event"] = "door_exploded";
  unit.send_json(ev);
  EXPECT_EQ(saved().at("code"), "bad_event");
  EXPECT_EQ(audit("door.forced").size(), 1u);
  // Malformed messages get errors; the session goes on.
  ev["event"] = "door_forced";
  ev["at"] = "yesterday";
  unit.send_json(ev);
  EXPECT_EQ(saved().at("code"), "bad_message");
  unit.send_json({{"type", "result"}, {"id", "cmd_x"}, {"result", "exploded"}});
  EXPECT_EQ(saved().at("code"), "bad_message");
  unit.send_json({{"type", "open"}, {"door_id", door_}});  // units do not open doors
  EXPECT_EQ(saved().at("code"), "bad_message");
  ev["id"] = "evt_3";
  ev["at"] = "2026-11-27T10:00:01Z";
  unit.send_json(ev);
  EXPECT_EQ(saved().at("id"), "evt_3");
  EXPECT_EQ(audit("door.forced").size(), 2u);
}

}  // namespace
}  // namespace portier::testing
