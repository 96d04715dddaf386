// The push client's message handling, fuzzed: every field of every message the server sends,
// missing or of each wrong type, messages of unknown types, and random corruptions. Nothing
// may throw; a replica changes only with an acknowledgement, and only to what is acknowledged.
#include "client/feed_protocol.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <functional>
#include <random>

namespace portier::client {
namespace {
namespace json = boost::json;

const std::string kFeed = "user/u1";

// A store that records what it was given and fails on demand.
class FakeStore final : public ReplicaStore {
 public:
  std::map<std::string, Replica> load() override { return {}; }
  Status snapshot(const std::string&, const Replica& r) override {
    if (fail) return Error{507, "store_full", "disk full", ""};
    saved_seq = r.seq;
    return ok();
  }
  Status change(const std::string&, const std::string&, std::int64_t seq, const std::string&,
                const json::object*) override {
    if (fail) return Error{507, "store_full", "disk full", ""};
    saved_seq = seq;
    return ok();
  }
  bool fail = false;
  std::int64_t saved_seq = -1;
};

// Valid messages of every type the server sends (docs/protocol.md).
std::vector<json::object> valid_messages() {
  auto door = json::object{{"id", "door_1"}, {"name", "Front"}};
  return {
      json::parse(R"({"type":"ready","session":"s","server_time":"2030-01-07T10:00:00Z",
        "identity":{"kind":"user","id":"u1","org_id":"o1","role":"member"},
        "feeds":[{"feed":"user/u1","epoch":"e1","seq":1,"resumed":true}]})")
          .as_object(),
      json::object{{"type", "snapshot"},
                   {"feed", kFeed},
                   {"epoch", "e1"},
                   {"seq", 1},
                   {"records", json::array{json::object{{"kind", "door"}, {"record", door}}}}},
      json::object{
          {"type", "change"},
          {"feed", kFeed},
          {"epoch", "e1"},
          {"seq", 2},
          {"change", {{"op", "put"}, {"kind", "door"}, {"id", "door_1"}, {"record", door}}}},
      json::object{{"type", "change"},
                   {"feed", kFeed},
                   {"epoch", "e1"},
                   {"seq", 2},
                   {"change", {{"op", "delete"}, {"kind", "door"}, {"id", "door_1"}}}},
      json::parse(R"({"type":"revoked","reason":"user_disabled"})").as_object(),
      json::parse(R"({"type":"revoked","reason":"rights_changed"})").as_object(),
      json::parse(R"({"type":"error","code":"bad_ack","message":"m"})").as_object(),
      json::parse(R"({"type":"error","code":"unauthorized","message":"m"})").as_object(),
      json::parse(R"({"type":"device","feed":"org/o1","device":{"id":"d","kind":"app",
        "name":null,"connected":true,"feeds":[{"feed":"user/u1","acked_seq":1,"behind":0}]}})")
          .as_object(),
      json::parse(R"({"type":"event","feed":"org/o1","event":{"at":"x","action":"door.open",
        "after":{"result":"opened"}}})")
          .as_object(),
      json::parse(R"({"type":"command","id":"cmd_1","door":"door_1","pulse_ms":1000,
        "expires_at":"2030-01-07T10:00:05Z"})")
          .as_object(),
      json::parse(R"({"type":"open_result","request_id":"r","status":200,"result":"opened"})")
          .as_object(),
      json::parse(R"({"type":"event_saved","id":"evt_1"})").as_object(),
      json::parse(R"({"type":"pong"})").as_object(),
  };
}

// Every value a field could wrongly hold.
std::vector<json::value> wrong_values() {
  return {nullptr,
          true,
          0,
          -1,
          3.5,
          json::value(std::uint64_t(-1)),
          "",
          "x",
          "7",
          json::array{},
          json::array{1, "a"},
          json::object{},
          json::object{{"seq", 1}}};
}

// Calls fn with every variant of `root`: each field (at any depth, array items included)
// removed, or replaced by each wrong value.
void variants(const json::value& root, const std::function<void(const json::value&)>& fn) {
  std::function<void(json::value&, const std::function<void()>&)> walk =
      [&](json::value& v, const std::function<void()>& emit) {
        if (v.is_object()) {
          auto& o = v.as_object();
          std::vector<std::string> keys;
          for (const auto& kv : o) keys.emplace_back(kv.key());
          for (const auto& k : keys) {
            json::value saved = o.at(k);
            o.erase(k);
            emit();
            for (const auto& w : wrong_values()) {
              o[k] = w;
              emit();
            }
            o[k] = saved;
            walk(o[k], emit);
          }
        } else if (v.is_array()) {
          auto& a = v.as_array();
          for (auto& e : a) {
            json::value saved = e;
            for (const auto& w : wrong_values()) {
              e = w;
              emit();
            }
            e = saved;
            walk(e, emit);
          }
        }
      };
  json::value copy = root;
  walk(copy, [&] { fn(copy); });
}

// A protocol holding the feed at seq 1 (from a snapshot).
std::unique_ptr<FeedProtocol> at_seq_1(FakeStore& store) {
  auto p = std::make_unique<FeedProtocol>(std::vector<std::string>{kFeed}, &store);
  auto r = p->on_message(json::serialize(valid_messages()[1]));
  EXPECT_EQ(r.acks.size(), 1u);
  EXPECT_EQ(p->replica(kFeed).seq, 1);
  return p;
}

// The invariants for one message: no throw; the replica changes only together with an ack of
// its new seq, which the store took first; a reconnect or stop acknowledges nothing.
void check(FakeStore& store, const std::string& text) {
  auto p = at_seq_1(store);
  auto before = p->replica(kFeed);
  store.saved_seq = -2;
  Reaction r;
  ASSERT_NO_THROW(r = p->on_message(text)) << text;
  auto after = p->replica(kFeed);
  if (r.next != Reaction::Next::read) {
    EXPECT_TRUE(r.acks.empty()) << text;
  }
  if (r.acks.empty()) {
    bool unchanged = after.seq == before.seq && after.records == before.records;
    // Out of order: the replica is dropped (a snapshot follows), never half-applied.
    bool dropped = after.seq == -1 && after.records.empty() && r.next == Reaction::Next::reconnect;
    EXPECT_TRUE(unchanged || dropped) << text;
  } else {
    ASSERT_EQ(r.acks.size(), 1u) << text;
    auto ack = json::parse(ack_message(r.acks[0]));
    EXPECT_EQ(ack.at("type"), "ack");
    EXPECT_EQ(ack.at("feed"), json::value(kFeed));
    EXPECT_EQ(ack.at("seq").as_int64(), after.seq) << text;
    EXPECT_EQ(store.saved_seq, after.seq) << text;
  }
}

TEST(FeedProtocolFuzz, EveryFieldMissingOrOfTheWrongTypeNeverThrowsNorHalfApplies) {
  FakeStore store;
  int cases = 0;
  for (const auto& m : valid_messages())
    variants(m, [&](const json::value& v) {
      check(store, json::serialize(v));
      ++cases;
    });
  EXPECT_GT(cases, 1000);
}

TEST(FeedProtocolFuzz, UnknownTypesAndNonObjectsAreSkippedOrPassedOn) {
  FakeStore store;
  for (const char* text :
       {"", "nul", "[", "[]", "\"ready\"", "1e999", "{\"type\":[\"ready\"]}",
        "{\"type\":\"teleport\"}", "{\"type\":\"change2\",\"feed\":\"user/u1\",\"seq\":2}"}) {
    check(store, text);
    auto p = at_seq_1(store);
    auto r = p->on_message(text);
    EXPECT_EQ(r.next, Reaction::Next::read) << text;  // nothing here ends the connection
  }
  // A newer message type reaches the caller as it came.
  auto p = at_seq_1(store);
  auto r = p->on_message(R"({"type":"teleport","to":"mars"})");
  ASSERT_TRUE(r.event);
  EXPECT_EQ(r.event->type, "teleport");
  EXPECT_EQ(r.event->message.at("to"), "mars");
}

TEST(FeedProtocolFuzz, RandomCorruptionsNeverThrow) {
  FakeStore store;
  std::mt19937 rng(20301107);
  auto messages = valid_messages();
  for (int i = 0; i < 20000; ++i) {
    std::string text = json::serialize(messages[rng() % messages.size()]);
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      auto at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[at] = static_cast<char>(rng() % 128);
          break;
        case 1:
          text.erase(at, 1 + rng() % 8);
          break;
        default:
          text.insert(at, 1, "{}[],:\"0-e"[rng() % 10]);
      }
    }
    check(store, text);
  }
}

TEST(FeedProtocol, AChangeTheStoreCannotSaveIsNeitherAppliedNorAcked) {
  FakeStore store;
  auto p = at_seq_1(store);
  store.fail = true;
  auto r = p->on_message(json::serialize(valid_messages()[2]));
  EXPECT_EQ(r.next, Reaction::Next::reconnect);
  EXPECT_TRUE(r.local_failure);
  EXPECT_TRUE(r.acks.empty());
  EXPECT_EQ(p->replica(kFeed).seq, 1);
  // The hello of the next connection resumes from seq 1.
  auto hello = json::parse(p->hello("t", "d", "app", ""));
  EXPECT_EQ(hello.at("feeds").at(0).at("seq"), 1);
  store.fail = false;
  r = p->on_message(json::serialize(valid_messages()[2]));
  EXPECT_EQ(r.acks.size(), 1u);
  EXPECT_EQ(p->replica(kFeed).seq, 2);
}

TEST(FeedProtocol, RevocationsAndRefusalsStopWithTheirReason) {
  FakeStore store;
  FeedProtocol p({kFeed}, &store);
  auto r = p.on_message(R"({"type":"revoked","reason":"user_disabled"})");
  EXPECT_EQ(r.next, Reaction::Next::stop);
  EXPECT_EQ(r.why, "revoked: user_disabled");
  EXPECT_EQ(p.on_message(R"({"type":"revoked"})").why, "revoked");
  EXPECT_EQ(p.on_message(R"({"type":"revoked","reason":"rights_changed"})").next,
            Reaction::Next::reconnect);
  EXPECT_EQ(p.on_message(R"({"type":"error","code":"forbidden_feed"})").next, Reaction::Next::stop);
  EXPECT_EQ(p.on_message(R"({"type":"error","code":"bad_ack"})").next, Reaction::Next::read);
}

}  // namespace
}  // namespace portier::client
