#include "sync/recorder.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>

#include "store/sqlite_store.hpp"

namespace portier::sync {
namespace {
namespace json = boost::json;

class RecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portier-sync-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = std::move(SqliteStore::open(dir_ + "/db").value());
    ASSERT_TRUE(store_->write([](WriteTx& tx) { return tx.insert_org({"o", "O", "t"}); }));
    put(Kind::site, "s1", {{"name", "HQ"}, {"timezone", "UTC"}});
    put(Kind::door, "d1", {{"site_id", "s1"}, {"name", "Front"}});
    put(Kind::door, "d2", {{"site_id", "s1"}, {"name", "Back"}});
    put(Kind::unit, "n1", {{"name", "U"}, {"door_ids", json::array{"d1"}}});
    put(Kind::user, "maria", {{"email", "m@x.y"}, {"name", "Maria"}});
    put(Kind::user, "joan", {{"email", "j@x.y"}, {"name", "Joan"}});
    put(Kind::schedule, "sc", {{"name", "Office"}, {"windows", json::array{}}});
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Writes one record through the recorder, as the API does; returns the changes.
  std::vector<FeedChange> put(Kind k, const std::string& id, json::object body,
                              bool remove = false) {
    std::vector<FeedChange> out;
    auto st = store_->write([&](WriteTx& tx) -> Status {
      auto before = tx.get(k, "o", id);
      if (!before) return before.error();
      std::optional<Record> after;
      if (!remove) after = Record{k, id, "o", body, *before ? (*before)->version + 1 : 1, "t", "t"};
      ChangeRecorder rec(tx, "o", 0);
      if (auto s = rec.plan(*before ? &**before : nullptr, after ? &*after : nullptr); !s) return s;
      Status s = remove ? tx.remove(k, id) : *before ? tx.update(*after) : tx.insert(*after);
      if (!s) return s;
      auto changes = rec.finish();
      if (!changes) return changes.error();
      out = std::move(*changes);
      return ok();
    });
    EXPECT_TRUE(st) << (st ? "" : st.error().message);
    for (const auto& c : out) apply(c);
    return out;
  }

  // A replica per feed, built only from changes, as a client would.
  void apply(const FeedChange& c) {
    auto& f = replicas_[c.feed];
    EXPECT_EQ(c.seq, f.seq + 1) << c.feed << " has a gap";
    f.seq = c.seq;
    auto v = json::parse(*c.body).as_object();
    std::string key = std::string(v["kind"].as_string()) + ":" + std::string(v["id"].as_string());
    if (v["op"] == "put")
      f.records[key] = v["record"];
    else
      f.records.erase(key);
  }

  // The replica of a feed equals what the feed holds now.
  void expect_converged(const std::string& feed) {
    std::map<std::string, json::value> truth;
    ASSERT_TRUE(store_->read([&](ReadTx& tx) {
      auto c = feed_contents(tx, "o", *FeedId::parse(feed));
      for (const auto& [key, r] : *c)
        truth[std::string(kind_name(key.first)) + ":" + key.second] = record_json(r);
      return ok();
    }));
    EXPECT_EQ(replicas_[feed].records, truth) << feed;
  }

  std::set<std::string> feeds_of(const std::vector<FeedChange>& cs) {
    std::set<std::string> out;
    for (const auto& c : cs) out.insert(c.feed);
    return out;
  }

  struct Replica {
    std::int64_t seq = 0;
    std::map<std::string, json::value> records;
  };
  std::map<std::string, Replica> replicas_;
  std::string dir_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(RecorderTest, AGrantBringsItsDoorSiteAndScheduleIntoTheUsersFeed) {
  auto changes =
      put(Kind::grant, "g1", {{"user_id", "maria"}, {"door_id", "d1"}, {"schedule_id", "sc"}});
  EXPECT_EQ(feeds_of(changes),
            (std::set<std::string>{"org/o", "user/maria", "unit/n1", "site/s1"}));
  // Maria's replica was empty of these: grant, door, site, schedule arrive (her own record
  // was already in her feed's history from her creation).
  EXPECT_EQ(replicas_["user/maria"].records.count("door:d1"), 1u);
  EXPECT_EQ(replicas_["user/maria"].records.count("site:s1"), 1u);
  EXPECT_EQ(replicas_["user/maria"].records.count("schedule:sc"), 1u);
  EXPECT_EQ(replicas_["user/maria"].records.count("door:d2"), 0u);
  // The unit learns who may pass.
  EXPECT_EQ(replicas_["unit/n1"].records.count("user:maria"), 1u);
  for (const char* f : {"user/maria", "unit/n1", "site/s1", "org/o"}) expect_converged(f);
}

TEST_F(RecorderTest, ASharedScheduleChangeReachesEveryHolder) {
  put(Kind::grant, "g1", {{"user_id", "maria"}, {"door_id", "d1"}, {"schedule_id", "sc"}});
  put(Kind::grant, "g2", {{"user_id", "joan"}, {"site_id", "s1"}, {"schedule_id", "sc"}});
  auto changes =
      put(Kind::schedule, "sc",
          {{"name", "Office"},
           {"windows", json::array{json::object{
                           {"days", json::array{"mon"}}, {"start", "08:00"}, {"end", "18:00"}}}}});
  EXPECT_EQ(feeds_of(changes),
            (std::set<std::string>{"org/o", "user/maria", "user/joan", "unit/n1", "site/s1"}));
  // One body, shared by every feed.
  for (const auto& c : changes) EXPECT_EQ(c.body, changes.front().body);
  EXPECT_EQ(replicas_["user/joan"].records["schedule:sc"].at("windows").as_array()[0].at("end"),
            "18:00");
  for (const char* f : {"user/maria", "user/joan", "unit/n1", "site/s1", "org/o"})
    expect_converged(f);
}

TEST_F(RecorderTest, RevokingAGrantTakesTheDoorAway) {
  put(Kind::grant, "g1", {{"user_id", "maria"}, {"door_id", "d1"}});
  put(Kind::grant, "g1", {}, true);
  EXPECT_EQ(replicas_["user/maria"].records.count("door:d1"), 0u);
  EXPECT_EQ(replicas_["user/maria"].records.count("grant:g1"), 0u);
  EXPECT_EQ(replicas_["unit/n1"].records.count("user:maria"), 0u);
  for (const char* f : {"user/maria", "unit/n1", "site/s1", "org/o"}) expect_converged(f);
}

TEST_F(RecorderTest, MovingDoorsBetweenUnitsAndRenamingReachesTheirFeeds) {
  put(Kind::grant, "g2", {{"user_id", "joan"}, {"site_id", "s1"}});
  put(Kind::unit, "n2", {{"name", "U2"}, {"door_ids", json::array{"d2"}}});
  put(Kind::unit, "n1", {{"name", "U"}, {"door_ids", json::array{}}});
  put(Kind::unit, "n2", {{"name", "U2"}, {"door_ids", json::array{"d1", "d2"}}});
  auto changes = put(Kind::door, "d1", {{"site_id", "s1"}, {"name", "Front (new)"}});
  EXPECT_EQ(feeds_of(changes), (std::set<std::string>{"org/o", "user/joan", "unit/n2", "site/s1"}));
  put(Kind::site, "s1", {{"name", "HQ"}, {"timezone", "Europe/Madrid"}});
  EXPECT_EQ(replicas_["user/joan"].records["site:s1"].at("timezone"), "Europe/Madrid");
  for (const char* f : {"user/joan", "unit/n1", "unit/n2", "site/s1", "org/o"}) expect_converged(f);
}

}  // namespace
}  // namespace portier::sync
