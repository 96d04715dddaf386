// The SDK's push client against a scripted server (the test plays the server): what it does
// with messages a real server never sends, and with a replica store that cannot write.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>

#include "client/feed_client.hpp"
#include "support/eventually.hpp"
#include "support/fake_push.hpp"
#include "support/faulty_vfs.hpp"
#include "support/process.hpp"
#include "unit/state.hpp"

namespace portier::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kFeed = "unit/unit_1";

json::object ready(bool resumed, std::int64_t seq) {
  return {{"type", "ready"},
          {"session", "sess_1"},
          {"server_time", "2030-01-07T10:00:00.000Z"},
          {"identity", {{"kind", "unit"}, {"id", "unit_1"}, {"org_id", "org_1"}}},
          {"feeds", json::array{json::object{
                        {"feed", kFeed}, {"epoch", "e1"}, {"seq", seq}, {"resumed", resumed}}}}};
}

json::object unit_record(const std::string& name) {
  return {{"id", "unit_1"}, {"name", name}, {"door_ids", json::array{"door_1"}}};
}

json::object snapshot(std::int64_t seq, const std::string& name) {
  return {{"type", "snapshot"},
          {"feed", kFeed},
          {"epoch", "e1"},
          {"seq", seq},
          {"records", json::array{json::object{{"kind", "unit"}, {"record", unit_record(name)}}}}};
}

json::object rename(std::int64_t seq, const std::string& name) {
  return {{"type", "change"},
          {"feed", kFeed},
          {"epoch", "e1"},
          {"seq", seq},
          {"change",
           {{"op", "put"}, {"kind", "unit"}, {"id", "unit_1"}, {"record", unit_record(name)}}}};
}

client::ClientOptions options(const FakePushServer& server) {
  client::ClientOptions o;
  o.url = server.url();
  o.token = "ptu_test";
  o.feeds = {kFeed};
  o.device_kind = "unit";
  o.min_backoff = 10ms;
  o.max_backoff = 100ms;
  return o;
}

// The cursor a hello carries for the feed: {epoch, seq}, or {"", -1} for none.
std::pair<std::string, std::int64_t> cursor(const json::value& hello) {
  if (!hello.is_object() || !hello.as_object().contains("feeds")) return {"", -1};
  for (const auto& f : hello.at("feeds").as_array())
    if (f.at("feed") == json::value(kFeed) && f.as_object().contains("seq"))
      return {std::string(f.at("epoch").as_string()), f.at("seq").as_int64()};
  return {"", -1};
}

// Issue 10 §5: on a full disk the unit acknowledged changes it had not stored, and left a
// transaction open. A change that cannot be stored is not acknowledged; the client drops the
// connection and resumes from the cursor it did store, and stores the change once it can.
TEST(ReplicaStore, AChangeNotStoredIsNotAckedAndTheClientResumesFromWhatItStored) {
  faulty_vfs::install();
  TempDir dir;
  auto state = unit::State::open(dir.path());
  ASSERT_TRUE(state.ok()) << state.error().message;
  FakePushServer server;
  auto o = options(server);
  o.replica_store = state->get();
  client::FeedClient client(o);
  client.start();
  ASSERT_TRUE(server.accept());
  EXPECT_EQ(cursor(server.read_type("hello")).second, -1);
  server.send(ready(false, 1));
  server.send(snapshot(1, "Unit"));
  auto ack = server.read_type("ack");
  ASSERT_FALSE(ack.is_null());
  EXPECT_EQ(ack.at("seq"), 1);

  faulty_vfs::fail_writes(true);
  server.send(rename(2, "Renamed"));
  // Not stored, so not acknowledged: the connection ends instead.
  auto after = server.read(5s);
  EXPECT_TRUE(after.is_null()) << "the client answered " << json::serialize(after);
  EXPECT_TRUE(server.closed());
  EXPECT_GT(faulty_vfs::refused(), 0);
  // It comes back with the cursor it stored.
  ASSERT_TRUE(server.accept());
  EXPECT_EQ(cursor(server.read_type("hello")), std::make_pair(std::string("e1"), std::int64_t{1}));
  faulty_vfs::fail_writes(false);
  server.send(ready(true, 2));
  server.send(rename(2, "Renamed"));
  ack = server.read_type("ack");
  ASSERT_FALSE(ack.is_null());
  EXPECT_EQ(ack.at("seq"), 2);
  server.drop();  // (the client's close frame would wait for an answer)
  client.stop();

  // On disk: the change and its cursor, and no transaction was left open (writes work).
  auto replicas = (*state)->load();
  ASSERT_TRUE(replicas.count(kFeed));
  EXPECT_EQ(replicas[kFeed].seq, 2);
  EXPECT_EQ(replicas[kFeed].records["unit:unit_1"].at("name"), "Renamed");
  EXPECT_TRUE((*state)
                  ->push_event(json::object{{"type", "event"},
                                            {"id", "evt_1"},
                                            {"event", "door_forced"},
                                            {"at", "2030-01-07T10:00:00Z"}})
                  .ok());
  EXPECT_EQ((*state)->pending_events(), 1);
}

// Issue 10 §5: a malformed or newer-protocol message never ends the client. What it can skip
// it skips; what would leave its replica wrong makes it reconnect and resume.
TEST(FeedClientInput, MalformedAndNewerMessagesNeverEndTheClient) {
  FakePushServer server;
  client::FeedClient client(options(server));
  std::atomic<int> events{0};
  client.on_event([&](const client::Event&) { ++events; });
  client.start();
  ASSERT_TRUE(server.accept());
  server.read_type("hello");
  server.send(ready(false, 1));
  server.send(snapshot(1, "Unit"));
  ASSERT_FALSE(server.read_type("ack").is_null());
  // Skipped: nothing here names a replica change.
  for (const char* text :
       {"not json", "[1,2]", "42", "{}", R"({"type":7})", R"({"type":null})",
        R"({"type":"hologram","feed":"unit/unit_1"})", R"({"type":"ready"})",
        R"({"type":"ready","feeds":"all"})", R"({"type":"ready","feeds":[7,{"feed":9}]})",
        R"({"type":"error"})", R"({"type":"error","code":{"x":1}})", R"({"type":"event_saved"})",
        R"({"type":"device","device":null})", R"({"type":"pong","extra":[1]})",
        R"({"type":"command","id":5})", R"({"type":"open_result"})"})
    server.send_text(text);
  server.send(rename(2, "Renamed"));
  auto ack = server.read_type("ack");
  ASSERT_FALSE(ack.is_null()) << "the client stopped answering";
  EXPECT_EQ(ack.at("seq"), 2);
  EXPECT_EQ(client.replica(kFeed).seq, 2);
  // A change of its feed it cannot apply (fields missing, wrong types, an op from a newer
  // protocol): nothing applied, nothing acknowledged; it reconnects with its cursor.
  for (
      const char* text :
      {R"({"type":"change","feed":"unit/unit_1"})",
       R"({"type":"change","feed":"unit/unit_1","epoch":"e1","seq":"3"})",
       R"({"type":"change","feed":"unit/unit_1","epoch":"e1","seq":3})",
       R"({"type":"change","feed":"unit/unit_1","epoch":"e1","seq":3,"change":{"op":"merge","kind":"unit","id":"unit_1","record":{}}})",
       R"({"type":"change","feed":"unit/unit_1","epoch":"e1","seq":3,"change":{"op":"put","kind":"unit","id":"unit_1"}})",
       R"({"type":"snapshot","feed":"unit/unit_1","epoch":"e1","seq":3,"records":[{"kind":"unit"}]})",
       R"({"type":"snapshot","feed":"unit/unit_1"})"}) {
    server.send_text(text);
    EXPECT_TRUE(server.read(5s).is_null()) << text;  // no ack: the connection ends
    ASSERT_TRUE(server.accept()) << "no reconnect after " << text;
    EXPECT_EQ(cursor(server.read_type("hello")), std::make_pair(std::string("e1"), std::int64_t{2}))
        << text;
    server.send(ready(true, 2));
  }
  EXPECT_EQ(client.replica(kFeed).records["unit:unit_1"].at("name"), "Renamed");
  EXPECT_TRUE(client.stopped_reason().empty());
  EXPECT_GT(events.load(), 0);
  server.drop();
}

// Acks wait for ack_delay and then cover the newest seq stored: a burst of changes costs one
// ack (a fan-out to thousands of devices is not answered by thousands of acks at once). A
// stop acknowledges what is due before its close frame, however long the delay.
TEST(FeedClientAcks, ABurstIsAcknowledgedOnceAndAStopSendsWhatIsDue) {
  FakePushServer server;
  auto o = options(server);
  o.ack_delay = 1500ms;
  client::FeedClient client(o);
  client.start();
  ASSERT_TRUE(server.accept());
  server.read_type("hello");
  server.send(ready(false, 1));
  server.send(snapshot(1, "Unit"));
  auto ack = server.read_type("ack");
  ASSERT_FALSE(ack.is_null());
  EXPECT_EQ(ack.at("seq"), 1);
  server.send(rename(2, "Two"));
  server.send(rename(3, "Three"));
  server.send(rename(4, "Four"));
  ack = server.read();
  ASSERT_FALSE(ack.is_null());
  EXPECT_EQ(ack.at("type"), "ack");
  EXPECT_EQ(ack.at("seq"), 4) << "one ack for the burst, of its newest seq";

  // The next message is the ack of the next change (no ack of 2 or 3 follows), and it waits
  // for the stop.
  server.send(rename(5, "Five"));
  ASSERT_TRUE(
      client.wait_for([](const client::FeedClient& c) { return c.replica(kFeed).seq == 5; }, 5s));
  auto stopped = std::async(std::launch::async, [&] { client.stop(); });
  ack = server.read(1000ms);  // well before the delay is over
  ASSERT_FALSE(ack.is_null()) << "the stop dropped the ack that was due";
  EXPECT_EQ(ack.at("type"), "ack");
  EXPECT_EQ(ack.at("seq"), 5);
  server.read(1000ms);  // the close frame, answered
  stopped.get();
}

// A session that stops by itself (here: the server closes with 4003, revoked) wakes a
// wait_for at once, not at its deadline.
TEST(FeedClientStop, ASessionRefusedForGoodWakesItsWaitersAtOnce) {
  FakePushServer server;
  client::FeedClient client(options(server));
  client.start();
  ASSERT_TRUE(server.accept());
  server.read_type("hello");
  server.send(ready(false, 1));
  ASSERT_TRUE(client.wait_for([](const client::FeedClient& c) { return c.connected(); }, 5s));
  // Already waiting when the session stops.
  auto start = std::chrono::steady_clock::now();
  auto stopped = std::async(std::launch::async, [&] {
    return client.wait_for([](const client::FeedClient& c) { return !c.stopped_reason().empty(); },
                           20s);
  });
  server.close(4003);
  ASSERT_TRUE(stopped.get());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(client.stopped_reason(), "revoked");
  EXPECT_EQ(client.last_close_code(), 4003);
  EXPECT_FALSE(server.accept(500ms)) << "it reconnected after a revocation";
}

}  // namespace
}  // namespace portier::testing
