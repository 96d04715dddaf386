#include "sync/recorder.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include <sqlite3.h>

#include "store/sqlite_store.hpp"
#include "sync/fanout.hpp"

namespace portier::sync {
namespace {
namespace json = boost::json;

class RecorderTest : public ::testing::Test {
 protected:
  void SetUp() override { open(SqliteOptions{}); }
  void open(SqliteOptions options) {
    char tmpl[] = "/tmp/portier-sync-XXXXXX";
    dir_ = mkdtemp(tmpl);
    store_ = std::move(SqliteStore::open(dir_ + "/db", 2, options).value());
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

  // One write of a record through the recorder, as the API does it.
  struct Write {
    Kind kind;
    std::string id;
    json::object body;
    bool remove = false;
  };

  // Runs writes in one transaction; returns the changes (written as rows at once, or queued),
  // applied to the replicas. A failed transaction must change nothing. What is queued is
  // written as rows a batch at a time, and whole every third run, so feeds are read while part
  // of them is still queued.
  std::vector<FeedChange> run(const std::vector<Write>& writes, bool expect_ok = true,
                              std::optional<Prefetched> prefetched = std::nullopt) {
    std::vector<FeedChange> out;
    // A single write uses holders looked up before its transaction, as the API does.
    if (!prefetched && writes.size() == 1) {
      auto p = prefetch_holders(*store_, "o", writes[0].kind, writes[0].id);
      EXPECT_TRUE(p.ok());
      if (p.ok()) prefetched = std::move(*p);
    }
    auto st = store_->write([&](WriteTx& tx) -> Status {
      ChangeRecorder rec(tx, "o", 0);
      if (prefetched) rec.use(*prefetched);
      for (const auto& w : writes) {
        auto before = tx.get(w.kind, "o", w.id);
        if (!before) return before.error();
        if (!*before && w.remove) continue;  // nothing to delete
        std::optional<Record> after;
        if (!w.remove)
          after = Record{w.kind, w.id, "o", w.body, *before ? (*before)->version + 1 : 1, "t", "t"};
        if (auto s = rec.write(*before ? &**before : nullptr, after ? &*after : nullptr); !s)
          return s;
      }
      auto changes = rec.finish();
      if (!changes) return changes.error();
      out = std::move(*changes);
      return ok();
    });
    if (expect_ok) {
      EXPECT_TRUE(st) << (st ? "" : st.error().message);
    }
    if (!st) out.clear();
    bool drain = ++runs_ % 3 == 0;
    for (; fan_out_here_;) {
      auto more = store_->fan_out(7);
      EXPECT_TRUE(more.ok());
      if (!drain || !more.ok() || !*more) break;
    }
    for (const auto& c : out) apply(c);
    return out;
  }

  // n users (u0 …), each with a grant on door d1 under schedule sc, in one transaction.
  void add_members_of_sc(int n) {
    std::vector<Write> writes;
    for (int i = 0; i < n; ++i) {
      std::string u = "u" + std::to_string(i);
      writes.push_back({Kind::user, u, {{"email", u + "@x.y"}, {"name", u}}});
      writes.push_back({Kind::grant,
                        "g" + std::to_string(i),
                        {{"user_id", u}, {"door_id", "d1"}, {"schedule_id", "sc"}}});
    }
    run(writes);
  }

  std::vector<FeedChange> put(Kind k, const std::string& id, json::object body,
                              bool remove = false) {
    return run({Write{k, id, std::move(body), remove}});
  }

  // A replica per feed, built only from changes, as a client would.
  void apply(const FeedChange& c) {
    auto& f = replicas_[c.feed];
    EXPECT_EQ(c.seq, f.seq + 1) << c.feed << " has a gap";
    f.seq = c.seq;
    f.log.push_back(std::to_string(c.seq) + "=" + *c.body);
    auto v = json::parse(*c.body).as_object();
    std::string key = std::string(v["kind"].as_string()) + ":" + std::string(v["id"].as_string());
    if (v["op"] == "put")
      f.records[key] = v["record"];
    else
      f.records.erase(key);
  }

  // The replica of a feed equals what the feed holds now (read whole: the oracle), the
  // feed's head is the replica's seq, and the feed's entries (rows and queued) are the changes
  // published.
  void expect_converged(const std::string& feed) {
    std::map<std::string, json::value> truth;
    std::int64_t head = -1;
    std::vector<std::string> entries;
    ASSERT_TRUE(store_->read([&](ReadTx& tx) {
      auto c = feed_contents(tx, "o", *FeedId::parse(feed));
      for (const auto& [key, r] : *c)
        truth[std::string(kind_name(key.first)) + ":" + key.second] = record_json(r);
      head = tx.feed_head(feed)->seq;
      auto e = tx.read_feed(feed, 0, 100000);
      for (const auto& x : *e) entries.push_back(std::to_string(x.seq) + "=" + x.body);
      return ok();
    }));
    EXPECT_EQ(replicas_[feed].records, truth) << feed;
    EXPECT_EQ(replicas_[feed].seq, head) << feed;
    EXPECT_EQ(replicas_[feed].log, entries) << feed;
  }

  std::set<std::string> feeds_of(const std::vector<FeedChange>& cs) {
    std::set<std::string> out;
    for (const auto& c : cs) out.insert(c.feed);
    return out;
  }

  struct Replica {
    std::int64_t seq = 0;
    std::map<std::string, json::value> records;
    std::vector<std::string> log;  // "seq=body" of every change applied
  };
  int runs_ = 0;
  bool fan_out_here_ = true;  // false: a FanOut thread does it
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

TEST_F(RecorderTest, AGroupGrantReachesEveryMemberAndTheUnitLearnsThem) {
  put(Kind::group, "night", {{"name", "Night staff"}});
  put(Kind::user, "maria",
      {{"email", "m@x.y"}, {"name", "Maria"}, {"group_ids", json::array{"night"}}});
  auto changes = put(Kind::grant, "g1", {{"group_id", "night"}, {"door_id", "d1"}});
  EXPECT_EQ(feeds_of(changes),
            (std::set<std::string>{"org/o", "user/maria", "unit/n1", "site/s1"}));
  EXPECT_EQ(replicas_["user/maria"].records.count("grant:g1"), 1u);
  EXPECT_EQ(replicas_["unit/n1"].records.count("user:maria"), 1u);
  EXPECT_EQ(replicas_["unit/n1"].records.count("group:night"), 1u);
  // Joan joins: the group's grant, door and site come to her; the unit learns her.
  put(Kind::user, "joan",
      {{"email", "j@x.y"}, {"name", "Joan"}, {"group_ids", json::array{"night"}}});
  EXPECT_EQ(replicas_["user/joan"].records.count("door:d1"), 1u);
  EXPECT_EQ(replicas_["unit/n1"].records.count("user:joan"), 1u);
  // Maria leaves: the unit forgets her.
  put(Kind::user, "maria", {{"email", "m@x.y"}, {"name", "Maria"}, {"group_ids", json::array{}}});
  EXPECT_EQ(replicas_["unit/n1"].records.count("user:maria"), 0u);
  EXPECT_EQ(replicas_["user/maria"].records.count("grant:g1"), 0u);
  for (const char* f : {"user/maria", "user/joan", "unit/n1", "site/s1", "org/o"})
    expect_converged(f);
}

TEST_F(RecorderTest, HoldersLookedUpBeforeAnotherWriteMovedFeedsAreNotUsed) {
  put(Kind::grant, "g1", {{"user_id", "maria"}, {"door_id", "d1"}, {"schedule_id", "sc"}});
  auto stale = prefetch_holders(*store_, "o", Kind::schedule, "sc");
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(std::count(stale->feeds.begin(), stale->feeds.end(), "user/joan"), 0);
  // Meanwhile Joan gets the schedule too: the holders above are stale.
  put(Kind::grant, "g2", {{"user_id", "joan"}, {"site_id", "s1"}, {"schedule_id", "sc"}});
  auto changes =
      run({Write{Kind::schedule, "sc", {{"name", "Renamed"}, {"windows", json::array{}}}}}, true,
          *stale);
  EXPECT_TRUE(feeds_of(changes).count("user/joan"));
  for (const char* f : {"user/maria", "user/joan", "unit/n1", "site/s1", "org/o"})
    expect_converged(f);
}

TEST_F(RecorderTest, ALargeFanOutIsQueuedAndKeepsEveryFeedGapless) {
  TearDown();
  replicas_.clear();
  open(SqliteOptions{.inline_fanout = 3});
  add_members_of_sc(40);
  // A rename reaches 40 user feeds, the unit, the site and the organization: queued.
  auto changes = put(Kind::schedule, "sc", {{"name", "Office hours"}, {"windows", json::array{}}});
  EXPECT_EQ(changes.size(), 43u);
  for (int i = 0; i < 40; ++i) expect_converged("user/u" + std::to_string(i));
  for (const char* f : {"unit/n1", "site/s1", "org/o"}) expect_converged(f);
}

// A queued job is stored in feed id order (a feed's own entries in theirs), so the fan-out
// writes each slice's rows next to each other in feed_entries.
TEST_F(RecorderTest, AQueuedJobListsItsEntriesInFeedIdOrder) {
  TearDown();
  replicas_.clear();
  fan_out_here_ = false;
  open(SqliteOptions{.inline_fanout = 3});
  add_members_of_sc(40);
  // Its holders come by name (user/u0, user/u1, user/u10 …); the feeds were numbered as the
  // writes above first reached them.
  put(Kind::schedule, "sc", {{"name", "Office hours"}, {"windows", json::array{}}});
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/db").c_str(), &db), SQLITE_OK);
  std::map<std::string, std::int64_t> ids;
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "SELECT name, id FROM feed_names", -1, &s, nullptr);
  while (sqlite3_step(s) == SQLITE_ROW)
    ids[reinterpret_cast<const char*>(sqlite3_column_text(s, 0))] = sqlite3_column_int64(s, 1);
  sqlite3_finalize(s);
  sqlite3_prepare_v2(db, "SELECT entries FROM fanout_jobs ORDER BY id DESC LIMIT 1", -1, &s,
                     nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  std::string entries = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  sqlite3_close(db);
  std::vector<std::int64_t> order;
  for (std::size_t at = 0, nl; (nl = entries.find('\n', at)) != std::string::npos; at = nl + 1) {
    auto line = entries.substr(at, nl - at);
    order.push_back(ids.at(line.substr(line.find(' ') + 1)));
  }
  EXPECT_EQ(order.size(), 43u);  // 40 users, the unit, the site, the organization
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end())) << testing::PrintToString(order);
  for (const char* f : {"user/u7", "unit/n1", "org/o"}) expect_converged(f);
}

// The fan-out thread turns what is queued into rows once the gateway has handed the changes
// out (or after its longest wait), and reads are the same before and after.
TEST_F(RecorderTest, TheFanOutWritesQueuedEntriesAsRowsOnceTheSessionsHaveThem) {
  TearDown();
  replicas_.clear();
  fan_out_here_ = false;
  open(SqliteOptions{.inline_fanout = 1});
  auto count = [&](const char* sql) {
    sqlite3* db = nullptr;
    sqlite3_open_v2((dir_ + "/db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
    int n = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
  };
  auto jobs = [&] { return count("SELECT COUNT(*) FROM fanout_jobs"); };
  auto rows = [&] { return count("SELECT COUNT(*) FROM feed_entries"); };
  auto wait_until_no_jobs = [&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (jobs() != 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  };
  // SetUp's writes were queued (one entry each is over the limit of 1): a restart's backlog.
  ASSERT_GT(jobs(), 0);
  std::atomic<bool> busy{true};
  FanOut fanout(
      *store_, [&] { return busy.load(); }, std::chrono::milliseconds(800));
  fanout.start();
  wait_until_no_jobs();  // a backlog goes at once, busy or not
  ASSERT_EQ(jobs(), 0);
  auto before = rows();

  // Published with their seqs at the commit; no rows while the gateway is busy.
  auto changes = put(Kind::door, "d1", {{"site_id", "s1"}, {"name", "Front, renamed"}});
  ASSERT_GT(changes.size(), 1u);  // more than the limit of 1: queued
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(rows(), before);
  EXPECT_EQ(jobs(), 1);
  for (const auto& c : changes) expect_converged(c.feed);
  busy = false;
  wait_until_no_jobs();
  EXPECT_EQ(jobs(), 0);
  EXPECT_EQ(rows(), before + static_cast<int>(changes.size()));
  for (const auto& c : changes) expect_converged(c.feed);

  // A gateway that stays busy does not hold the rows back past the longest wait.
  busy = true;
  before = rows();
  auto started = std::chrono::steady_clock::now();
  changes = put(Kind::door, "d2", {{"site_id", "s1"}, {"name", "Back, renamed"}});
  ASSERT_GT(changes.size(), 1u);
  wait_until_no_jobs();
  EXPECT_EQ(jobs(), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(800));
  EXPECT_EQ(rows(), before + static_cast<int>(changes.size()));
  fanout.stop();
}

// Random histories over a small organization: after every transaction, every feed's replica
// (built only from the changes) equals the feed read whole, and its head. The oracle is the
// whole-feed read the recorder used to diff; the recorder under test never reads a feed whole.
class RecorderRandomTest : public RecorderTest, public ::testing::WithParamInterface<int> {
 protected:
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng_)];
  }
  bool coin(int percent) { return std::uniform_int_distribution<int>(0, 99)(rng_) < percent; }
  json::array some(const std::vector<std::string>& from, int max) {
    std::set<std::string> ids;
    int n = std::uniform_int_distribution<int>(0, max)(rng_);
    for (int i = 0; i < n; ++i) ids.insert(pick(from));
    json::array out;
    for (const auto& id : ids) out.emplace_back(id);
    return out;
  }
  // A random write of some kind; ids are reused so records get updated and deleted.
  Write random_write(int n) {
    std::string i = std::to_string(std::uniform_int_distribution<int>(1, n)(rng_));
    switch (std::uniform_int_distribution<int>(0, 9)(rng_)) {
      case 0:
        return {Kind::site, "s" + i, {{"name", "S" + i}, {"timezone", "UTC"}}, coin(15)};
      case 1:
        return {Kind::door, "d" + i, {{"site_id", pick(sites_)}, {"name", "D" + i}}, coin(15)};
      case 2:
        return {Kind::unit, "n" + i, {{"name", "N" + i}, {"door_ids", some(doors_, 2)}}, coin(15)};
      case 3:
        return {
            Kind::group, "p" + i, {{"name", "P" + i + "-" + std::to_string(rng_() % 3)}}, coin(15)};
      case 4:
      case 5:
        return {Kind::user,
                "u" + i,
                {{"email", "u" + i + "@x.y"},
                 {"name", "U" + std::to_string(rng_() % 5)},
                 {"group_ids", some(groups_, 2)}},
                coin(10)};
      case 6:
        return {Kind::schedule, "c" + i, {{"name", "C" + std::to_string(rng_() % 5)}}, coin(10)};
      default: {
        json::object g;
        if (coin(70))
          g["user_id"] = pick(users_);
        else
          g["group_id"] = pick(groups_);
        if (coin(70))
          g["door_id"] = pick(doors_);
        else
          g["site_id"] = pick(sites_);
        if (coin(60)) g["schedule_id"] = pick(schedules_);
        return {Kind::grant, "g" + i, g, coin(25)};
      }
    }
  }
  std::mt19937 rng_;
  std::vector<std::string> sites_{"s1", "s2", "s3"}, doors_{"d1", "d2", "d3", "d4", "d5"},
      groups_{"p1", "p2", "p3"}, users_{"u1", "u2", "u3", "u4", "u5", "u6"},
      schedules_{"c1", "c2", "c3"};
};

TEST_P(RecorderRandomTest, EveryFeedEqualsItsWholeReadAfterEveryTransaction) {
  TearDown();
  replicas_.clear();
  // Even seeds list every change at once; odd ones queue most of them for the fan-out.
  open(SqliteOptions{.inline_fanout = GetParam() % 2 ? 2u : 256u});
  rng_.seed(static_cast<unsigned>(GetParam()));
  std::vector<std::string> feeds = {"org/o"};
  for (const auto& s : sites_) feeds.push_back("site/" + s);
  for (const auto& u : users_) feeds.push_back("user/" + u);
  for (const char* n : {"n1", "n2", "n3", "n4"}) feeds.push_back(std::string("unit/") + n);
  feeds.emplace_back("user/maria");
  feeds.emplace_back("site/s1");
  int committed = 0;
  for (int step = 0; step < 400; ++step) {
    std::vector<Write> writes;
    int n = coin(70) ? 1 : std::uniform_int_distribution<int>(2, 6)(rng_);
    for (int k = 0; k < n; ++k) writes.push_back(random_write(k % 2 ? 4 : 6));
    // Rejected transactions (a dangling reference, a door still in use) change nothing.
    auto out = run(writes, false);
    committed += out.empty() ? 0 : 1;
    for (const auto& f : feeds) expect_converged(f);
    if (HasFailure()) {
      ADD_FAILURE() << "seed " << GetParam() << " step " << step;
      return;
    }
  }
  EXPECT_GT(committed, 100);  // the history was not all rejections
}

INSTANTIATE_TEST_SUITE_P(Seeds, RecorderRandomTest, ::testing::Range(1, 9));

}  // namespace
}  // namespace portier::sync

namespace portier::sync {
namespace {

// Every statement the recorder, the snapshots and the access paths ran against a large
// organization keeps to an index: no full scan of grants (the O(K^2) write of issue 8).
TEST_F(RecorderTest, EveryGrantLookupUsesAnIndexOnALargeStore) {
  std::vector<Write> writes;
  writes.push_back({Kind::group, "crew", {{"name", "Crew"}}});
  writes.push_back({Kind::site, "s2", {{"name", "Annex"}, {"timezone", "UTC"}}});
  for (int d = 0; d < 40; ++d)
    writes.push_back({Kind::door,
                      "x" + std::to_string(d),
                      {{"site_id", d % 2 ? "s1" : "s2"}, {"name", "D" + std::to_string(d)}}});
  for (int i = 0; i < 4000; ++i) {
    std::string u = "u" + std::to_string(i);
    json::object user{{"email", u + "@x.y"}, {"name", u}};
    if (i % 10 == 0) user["group_ids"] = json::array{"crew"};
    writes.push_back({Kind::user, u, user});
    writes.push_back({Kind::grant,
                      "g" + std::to_string(i),
                      {{"user_id", u},
                       {"door_id", i % 3 ? "d1" : "x" + std::to_string(i % 40)},
                       {"schedule_id", "sc"}}});
  }
  writes.push_back({Kind::grant, "gs", {{"group_id", "crew"}, {"site_id", "s2"}}});
  run(writes);
  ASSERT_TRUE(store_->optimize());
  // The hot paths, each once: renames (fan-out), grants in and out, a unit's doors, a door's
  // site, group membership, snapshots of every kind of feed.
  run({{Kind::schedule, "sc", {{"name", "Renamed"}, {"windows", json::array{}}}}});
  run({{Kind::door, "d1", {{"site_id", "s1"}, {"name", "Front 2"}}}});
  run({{Kind::site, "s1", {{"name", "HQ 2"}, {"timezone", "UTC"}}}});
  run({{Kind::grant, "gnew", {{"user_id", "u7"}, {"site_id", "s1"}, {"schedule_id", "sc"}}}});
  run({{Kind::grant, "gnew", {}, true}});
  run({{Kind::unit, "n1", {{"name", "U"}, {"door_ids", json::array{"d1", "x1"}}}}});
  run({{Kind::door, "x3", {{"site_id", "s1"}, {"name", "Moved"}}}});
  run({{Kind::user,
        "u5",
        {{"email", "u5@x.y"}, {"name", "u5"}, {"group_ids", json::array{"crew"}}}}});
  run({{Kind::group, "crew", {{"name", "Crew 2"}}}});
  for (const char* f : {"user/u5", "unit/n1", "site/s1", "org/o"}) expect_converged(f);
  std::vector<std::string> scans;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ + "/db").c_str(), &db), SQLITE_OK);
  int grant_statements = 0;
  for (const auto& sql : store_->statements()) {
    if (sql.find("grants") == std::string::npos) continue;
    ++grant_statements;
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &s, nullptr),
              SQLITE_OK)
        << sql;
    while (sqlite3_step(s) == SQLITE_ROW) {
      std::string detail = reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
      // "SCAN g" / "SCAN grants": every grant read; "SEARCH … USING INDEX" is the good kind.
      if (detail.rfind("SCAN g", 0) == 0 && detail.find("USING") == std::string::npos)
        scans.push_back(detail + "  <-  " + sql);
      // A lookup by reference walking the organization's grants in id order instead.
      if (detail.find("grants_org") != std::string::npos && sql.find("= ?2") != std::string::npos)
        scans.push_back(detail + "  <-  " + sql);
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  EXPECT_GT(grant_statements, 10);
  EXPECT_TRUE(scans.empty()) << testing::PrintToString(scans);
}

}  // namespace
}  // namespace portier::sync
