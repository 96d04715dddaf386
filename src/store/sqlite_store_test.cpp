#include "store/sqlite_store.hpp"
#include "store/sqlite_schema.hpp"

#include <gtest/gtest.h>

#include <sqlite3.h>
#include <unistd.h>
#include <thread>

#include <boost/json.hpp>
#include <filesystem>

namespace portier {
namespace {
namespace json = boost::json;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portier-store-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/portier.db";
    store_ = open_store();
    ASSERT_TRUE(write([](WriteTx& tx) {
      if (auto s = tx.insert_org({"org1", "One", "2026-01-01T00:00:00Z"}); !s) return s;
      return tx.insert_org({"org2", "Two", "2026-01-01T00:00:00Z"});
    }));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::unique_ptr<SqliteStore> open_store() {
    auto s = SqliteStore::open(path_);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(*s) : nullptr;
  }
  Status write(const std::function<Status(WriteTx&)>& fn) { return store_->write(fn); }
  Status insert(Kind k, const std::string& id, const char* body, const std::string& org = "org1") {
    return write([&](WriteTx& tx) {
      return tx.insert(Record{k, id, org, json::parse(body).as_object(), 1, "t", "t"});
    });
  }
  size_t count(Kind k, const std::string& org = "org1") {
    size_t n = 0;
    EXPECT_TRUE(store_->read([&](ReadTx& tx) {
      auto l = tx.list(k, org);
      if (!l) return Status(l.error());
      n = l->size();
      return ok();
    }));
    return n;
  }
  // Runs raw SQL on a side connection, returning the sqlite result code.
  int raw(const char* sql) {
    sqlite3* db;
    sqlite3_open(path_.c_str(), &db);
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    sqlite3_close(db);
    return rc;
  }

  // Stores one change and lists it in each of `feeds`; their seqs.
  static Result<std::vector<std::int64_t>> append_change(WriteTx& tx,
                                                         const std::vector<std::string>& feeds,
                                                         const std::string& body) {
    auto c = tx.add_change(body, 100);
    if (!c) return c.error();
    std::vector<FeedAppend> entries;
    for (const auto& f : feeds) entries.push_back({f, *c});
    return tx.append(entries);
  }
  // Lists one change in one feed; its seq.
  static Result<std::int64_t> append(WriteTx& tx, const std::string& feed, std::int64_t change) {
    auto seqs = tx.append({FeedAppend{feed, change}});
    if (!seqs) return seqs.error();
    return (*seqs)[0];
  }
  FeedHead head(const std::string& feed) {
    FeedHead h;
    EXPECT_TRUE(store_->read([&](ReadTx& tx) {
      h = *tx.feed_head(feed);
      return ok();
    }));
    return h;
  }

  std::string dir_, path_;
  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteStoreTest, MigratesOnceToTheCurrentVersion) {
  ASSERT_TRUE(insert(Kind::site, "s1", R"({"name":"HQ","timezone":"UTC"})"));
  store_.reset();
  store_ = open_store();  // reopening applies nothing again and keeps the data
  ASSERT_TRUE(store_);
  EXPECT_EQ(count(Kind::site), 1u);
  sqlite3* db;
  sqlite3_open(path_.c_str(), &db);
  sqlite3_stmt* s;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(s, 0), SqliteStore::schema_version());
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST_F(SqliteStoreTest, RefusesDataFromANewerVersion) {
  store_.reset();
  ASSERT_EQ(raw("PRAGMA user_version = 999"), SQLITE_OK);
  auto s = SqliteStore::open(path_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "store_too_new");
}

TEST_F(SqliteStoreTest, RoundTripsARecord) {
  ASSERT_TRUE(insert(Kind::site, "s1", R"({"name":"HQ","timezone":"Europe/Madrid"})"));
  std::optional<Record> got;
  ASSERT_TRUE(store_->read([&](ReadTx& tx) {
    auto r = tx.get(Kind::site, "org1", "s1");
    if (!r) return Status(r.error());
    got = *r;
    return ok();
  }));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->body.at("timezone").as_string(), "Europe/Madrid");
  EXPECT_EQ(got->version, 1);
}

TEST_F(SqliteStoreTest, OneOrganizationNeverSeesAnother) {
  ASSERT_TRUE(insert(Kind::site, "s1", R"({"name":"HQ"})", "org1"));
  EXPECT_EQ(count(Kind::site, "org2"), 0u);
  ASSERT_TRUE(store_->read([&](ReadTx& tx) {
    auto r = tx.get(Kind::site, "org2", "s1");
    EXPECT_TRUE(r.ok() && !r->has_value());
    return ok();
  }));
}

TEST_F(SqliteStoreTest, EmailIsUniqueIgnoringCase) {
  ASSERT_TRUE(insert(Kind::user, "u1", R"({"email":"maria@example.com"})"));
  auto s = insert(Kind::user, "u2", R"({"email":"MARIA@example.com"})", "org2");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().status, 409);
  EXPECT_EQ(s.error().code, "email_taken");
}

TEST_F(SqliteStoreTest, DanglingReferencesAreRejected) {
  auto s = insert(Kind::door, "d1", R"({"site_id":"nope","name":"Front"})");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, "invalid_reference");
  EXPECT_EQ(count(Kind::door), 0u);
}

TEST_F(SqliteStoreTest, ReferencedRecordsCannotBeDeleted) {
  ASSERT_TRUE(insert(Kind::site, "s1", R"({"name":"HQ"})"));
  ASSERT_TRUE(insert(Kind::door, "d1", R"({"site_id":"s1","name":"Front"})"));
  auto s = write([](WriteTx& tx) { return tx.remove(Kind::site, "s1"); });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, "in_use");
  EXPECT_EQ(count(Kind::site), 1u);
}

TEST_F(SqliteStoreTest, ADoorHasOneUnit) {
  ASSERT_TRUE(insert(Kind::site, "s1", R"({"name":"HQ"})"));
  ASSERT_TRUE(insert(Kind::door, "d1", R"({"site_id":"s1"})"));
  ASSERT_TRUE(insert(Kind::unit, "n1", R"({"door_ids":["d1"]})"));
  auto s = insert(Kind::unit, "n2", R"({"door_ids":["d1"]})");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, "door_has_unit");
  EXPECT_EQ(count(Kind::unit), 1u);  // the failed insert left nothing behind
  ASSERT_TRUE(store_->read([&](ReadTx& tx) {
    auto units = tx.list_by(Kind::unit, "org1", "door_ids", "d1");
    EXPECT_TRUE(units.ok() && units->size() == 1 && units->front().id == "n1");
    return ok();
  }));
}

TEST_F(SqliteStoreTest, AUnitEventIdIsClaimedOnceAndOnlyWithItsTransaction) {
  ASSERT_TRUE(insert(Kind::unit, "unit_a", R"({"name":"A","door_ids":[]})"));
  auto claim = [&](const std::string& unit, const std::string& id) {
    bool fresh = false;
    auto s = write([&](WriteTx& tx) -> Status {
      auto r = tx.claim_unit_event(unit, id, 100);
      if (!r) return r.error();
      fresh = *r;
      return ok();
    });
    EXPECT_TRUE(s);
    return fresh;
  };
  EXPECT_TRUE(claim("unit_a", "evt_1"));
  EXPECT_FALSE(claim("unit_a", "evt_1"));
  EXPECT_TRUE(claim("unit_a", "evt_2"));
  // A claim in a transaction that rolls back is no claim.
  EXPECT_FALSE(write([](WriteTx& tx) -> Status {
    if (auto r = tx.claim_unit_event("unit_a", "evt_3", 100); !r) return r.error();
    return Error{500, "boom", "boom", ""};
  }));
  EXPECT_TRUE(claim("unit_a", "evt_3"));
}

TEST_F(SqliteStoreTest, RevokingAUnitKillsItsCredentialAndCodes) {
  ASSERT_TRUE(insert(Kind::unit, "unit_a", R"({"name":"A","door_ids":[]})"));
  ASSERT_TRUE(store_->set_unit_credential("unit_a", "hash1", 100));
  ASSERT_TRUE(store_->create_enrollment_code("unit_a", "code1", 1000));
  ASSERT_TRUE(store_->find_unit_credential("hash1")->has_value());
  ASSERT_TRUE(store_->revoke_unit_credential("unit_a"));
  EXPECT_FALSE(store_->find_unit_credential("hash1")->has_value());
  auto redeemed = store_->redeem_enrollment_code("code1", "hash2", 200);
  ASSERT_FALSE(redeemed);
  EXPECT_EQ(redeemed.error().code, "code_invalid");
  // The unit record stays.
  ASSERT_TRUE(store_->read([](ReadTx& tx) -> Status {
    auto u = tx.get(Kind::unit, "org1", "unit_a");
    if (!u) return u.error();
    return u->has_value() ? ok() : Status(Error{404, "gone", "gone", ""});
  }));
}

TEST_F(SqliteStoreTest, AFailedTransactionLeavesNothing) {
  auto s = write([](WriteTx& tx) {
    if (auto st = tx.insert(Record{Kind::site, "s1", "org1", {{"name", "HQ"}}, 1, "t", "t"}); !st)
      return st;
    return Status(Error{422, "nope", "rejected after a write", ""});
  });
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, "nope");
  EXPECT_EQ(count(Kind::site), 0u);
}

TEST_F(SqliteStoreTest, UpdateBumpsAndSyncsMirrors) {
  ASSERT_TRUE(insert(Kind::site, "s1", R"({"name":"HQ"})"));
  ASSERT_TRUE(insert(Kind::site, "s2", R"({"name":"Annex"})"));
  ASSERT_TRUE(insert(Kind::door, "d1", R"({"site_id":"s1"})"));
  ASSERT_TRUE(write([](WriteTx& tx) {
    return tx.update(Record{Kind::door, "d1", "org1", {{"site_id", "s2"}}, 2, "t", "t2"});
  }));
  ASSERT_TRUE(store_->read([&](ReadTx& tx) {
    EXPECT_EQ(tx.list_by(Kind::door, "org1", "site_id", "s1")->size(), 0u);
    EXPECT_EQ(tx.list_by(Kind::door, "org1", "site_id", "s2")->size(), 1u);
    return ok();
  }));
  // The old site is free now.
  EXPECT_TRUE(write([](WriteTx& tx) { return tx.remove(Kind::site, "s1"); }));
}

TEST_F(SqliteStoreTest, AuditIsAppendOnly) {
  ASSERT_TRUE(write([](WriteTx& tx) {
    return tx.append_audit(AuditEntry{0,
                                      "org1",
                                      "2026-01-01T00:00:00Z",
                                      1767225600,
                                      "u1",
                                      "site.created",
                                      "s1",
                                      "s1",
                                      nullptr,
                                      {{"name", "HQ"}}});
  }));
  EXPECT_NE(raw("UPDATE audit SET action = 'x'"), SQLITE_OK);
  EXPECT_NE(raw("DELETE FROM audit"), SQLITE_OK);
  auto entries = store_->list_audit(AuditQuery{.org_id = "org1"});
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(entries->front().action, "site.created");
  EXPECT_TRUE(entries->front().before.is_null());
  EXPECT_EQ(entries->front().after.at("name").as_string(), "HQ");
  EXPECT_EQ(store_->list_audit(AuditQuery{.org_id = "org1", .kind = "site"})->size(), 1u);
  EXPECT_EQ(store_->list_audit(AuditQuery{.org_id = "org1", .kind = "sit"})->size(), 0u);
  EXPECT_EQ(store_->list_audit(AuditQuery{.org_id = "org1", .from_unix = 1767225601})->size(), 0u);
  EXPECT_EQ(store_->list_audit(AuditQuery{.org_id = "org2"})->size(), 0u);
}

TEST_F(SqliteStoreTest, TokensExpireAndDieWithTheirUser) {
  ASSERT_TRUE(insert(Kind::user, "u1", R"({"email":"a@example.com"})"));
  ASSERT_TRUE(store_->create_token("h1", "u1", 1000));
  EXPECT_TRUE(store_->find_token("h1", 999)->has_value());
  EXPECT_FALSE(store_->find_token("h1", 1000)->has_value());
  ASSERT_TRUE(store_->create_token("h2", "u1", 5000));
  ASSERT_TRUE(write([](WriteTx& tx) { return tx.remove(Kind::user, "u1"); }));
  EXPECT_FALSE(store_->find_token("h2", 0)->has_value());
}

// Readers plan with the statistics of the last optimize, not of when they opened: a token
// table analyzed at one row and grown to thousands was scanned whole on every request (every
// hello of a reconnect storm) because the readers never reloaded the statistics.
TEST_F(SqliteStoreTest, ReadersPlanWithTheLatestStatistics) {
  ASSERT_TRUE(insert(Kind::user, "u1", R"({"email":"a@example.com"})"));
  ASSERT_TRUE(store_->create_token("h0", "u1", 5000));
  ASSERT_TRUE(store_->optimize());  // tokens: one row
  ASSERT_TRUE(store_->find_token("h0", 0)->has_value());
  for (int i = 1; i <= 2000; ++i)
    ASSERT_TRUE(store_->create_token("h" + std::to_string(i), "u1", 5000));
  ASSERT_TRUE(store_->optimize());  // tokens: 2,001 rows
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->find_token("h1999", 0)->has_value());
  EXPECT_EQ(store_->full_scan_steps(), 0) << "a token lookup scanned the table";
}

TEST_F(SqliteStoreTest, GuestsWithATokenOrALiveCodeAreFoundThroughTheirIndex) {
  ASSERT_TRUE(insert(Kind::user, "g1", R"({"email":"g1@x.y","guest":true})"));
  ASSERT_TRUE(insert(Kind::user, "g2", R"({"email":"g2@x.y","guest":true})", "org2"));
  ASSERT_TRUE(insert(Kind::user, "g3", R"({"email":"g3@x.y","guest":true})"));
  ASSERT_TRUE(insert(Kind::user, "m1", R"({"email":"m1@x.y"})"));
  auto guests = [&] {
    std::vector<std::pair<std::string, std::string>> out;
    EXPECT_TRUE(store_->read([&](ReadTx& tx) {
      auto g = tx.guests_signed_in(100);
      if (!g) return Status(g.error());
      out = *g;
      std::sort(out.begin(), out.end());
      return ok();
    }));
    return out;
  };
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(guests(), Pairs{});
  // A member's token is not a guest's; g1 has a token, g2 an unused live code, g3 a used one.
  ASSERT_TRUE(store_->create_token("hm", "m1", 5000));
  ASSERT_TRUE(store_->create_token("h1", "g1", 5000));
  ASSERT_TRUE(write([](WriteTx& tx) {
    if (auto s = tx.add_signin_code("c2", "g2", 1000); !s) return s;
    return tx.add_signin_code("c3", "g3", 1000);
  }));
  ASSERT_TRUE(store_->redeem_signin_code("c3", "h3", 5000, 50));
  EXPECT_EQ(guests(), (Pairs{{"org1", "g1"}, {"org1", "g3"}, {"org2", "g2"}}));
  // g2's code expires now: redeeming it says so, and she is no longer found.
  ASSERT_TRUE(write([](WriteTx& tx) { return tx.expire_signin_codes("g2", 100); }));
  auto late = store_->redeem_signin_code("c2", "h2", 5000, 100);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, "code_expired");
  EXPECT_EQ(guests(), (Pairs{{"org1", "g1"}, {"org1", "g3"}}));
  // A token's expiry moves; revoked tokens leave no guest behind.
  ASSERT_TRUE(write([](WriteTx& tx) { return tx.set_token_expiry("h1", 9000); }));
  EXPECT_TRUE(store_->find_token("h1", 8999)->has_value());
  ASSERT_TRUE(write([](WriteTx& tx) {
    if (auto s = tx.revoke_tokens("g1"); !s) return s;
    return tx.revoke_tokens("g3");
  }));
  EXPECT_EQ(guests(), Pairs{});
  // The query reads the guests through their partial index, not every user.
  std::string plan;
  for (const auto& sql : store_->statements()) {
    if (sql.find("$.guest") == std::string::npos) continue;
    sqlite3* db;
    sqlite3_open(path_.c_str(), &db);
    sqlite3_stmt* st;
    ASSERT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &st, nullptr),
              SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW)
      plan += reinterpret_cast<const char*>(sqlite3_column_text(st, 3)) + std::string("\n");
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  EXPECT_NE(plan.find("USING INDEX users_guests"), std::string::npos) << plan;
}

TEST_F(SqliteStoreTest, FeedsAreGaplessAndShareChanges) {
  std::vector<std::int64_t> seqs;
  int hooks = 0;
  ASSERT_TRUE(write([&](WriteTx& tx) {
    auto c = tx.add_change(R"({"op":"put"})", 100);
    if (!c) return Status(c.error());
    for (const char* feed : {"user/a", "user/b", "user/a"}) {
      auto seq = append(tx, feed, *c);
      if (!seq) return Status(seq.error());
      seqs.push_back(*seq);
    }
    tx.on_commit([&] { ++hooks; });
    return ok();
  }));
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 1, 2}));
  EXPECT_EQ(hooks, 1);
  // A rolled-back write assigns nothing and runs no hook.
  auto failed = write([&](WriteTx& tx) {
    auto c = tx.add_change("{}", 100);
    (void)append(tx, "user/a", *c);
    tx.on_commit([&] { ++hooks; });
    return Status(Error{422, "nope", "", ""});
  });
  EXPECT_FALSE(failed);
  EXPECT_EQ(hooks, 1);
  ASSERT_TRUE(store_->read([&](ReadTx& tx) {
    auto head = tx.feed_head("user/a");
    EXPECT_EQ(head->seq, 2);
    EXPECT_EQ(head->first_seq, 1);
    EXPECT_EQ(head->epoch.size(), 16u);
    auto entries = tx.read_feed("user/a", 0, 10);
    EXPECT_EQ(entries->size(), 2u);
    EXPECT_EQ(entries->at(1).seq, 2);
    EXPECT_EQ(entries->at(1).body, R"({"op":"put"})");
    EXPECT_EQ(tx.feed_head("user/none")->seq, 0);
    return ok();
  }));
}

TEST_F(SqliteStoreTest, PruningKeepsTheNewestAndMovesTheFloor) {
  ASSERT_TRUE(write([&](WriteTx& tx) {
    for (int i = 0; i < 10; ++i) {
      auto c = tx.add_change("{\"n\":" + std::to_string(i) + "}", 100 + i);
      (void)append(tx, "f", *c);
    }
    return ok();
  }));
  ASSERT_TRUE(store_->prune_feeds(4, 0));
  ASSERT_TRUE(store_->read([&](ReadTx& tx) {
    EXPECT_EQ(tx.feed_head("f")->first_seq, 7);
    EXPECT_EQ(tx.feed_head("f")->seq, 10);
    EXPECT_EQ(tx.read_feed("f", 0, 100)->size(), 4u);
    return ok();
  }));
  ASSERT_TRUE(store_->prune_feeds(100, 1000));  // everything is older than that
  ASSERT_TRUE(store_->read([&](ReadTx& tx) {
    EXPECT_EQ(tx.feed_head("f")->first_seq, 11);
    EXPECT_EQ(tx.feed_head("f")->seq, 10);  // an empty feed keeps its head
    EXPECT_TRUE(tx.read_feed("f", 0, 100)->empty());
    return ok();
  }));
  // and goes on from it.
  ASSERT_TRUE(write([&](WriteTx& tx) -> Status {
    auto c = tx.add_change("{}", 2000);
    if (!c) return c.error();
    auto seq = append(tx, "f", *c);
    EXPECT_EQ(seq.ok() ? *seq : 0, 11);
    return ok();
  }));
  // The epoch survives reopening.
  std::string epoch;
  (void)store_->read([&](ReadTx& tx) {
    epoch = tx.feed_head("f")->epoch;
    return ok();
  });
  store_.reset();
  store_ = open_store();
  (void)store_->read([&](ReadTx& tx) {
    EXPECT_EQ(tx.feed_head("f")->epoch, epoch);
    return ok();
  });
}

// One big transaction grows the write-ahead log; once it is copied back, the next write starts
// the log over and cuts the file back to the limit instead of keeping it for good.
TEST_F(SqliteStoreTest, TheLogFileShrinksBackAfterABigTransaction) {
  store_.reset();
  auto opened = SqliteStore::open(
      path_, 2, SqliteOptions{.checkpoint_pages = 16, .wal_limit_bytes = 256 << 10});
  ASSERT_TRUE(opened.ok());
  store_ = std::move(*opened);
  std::string filler(1000, 'x');
  ASSERT_TRUE(write([&](WriteTx& tx) -> Status {
    for (int i = 0; i < 3000; ++i) {
      json::object body{{"email", "u" + std::to_string(i) + "@x.y"}, {"note", filler}};
      if (auto s =
              tx.insert(Record{Kind::user, "u" + std::to_string(i), "org1", body, 1, "t", "t"});
          !s)
        return s;
    }
    return ok();
  }));
  auto wal_size = [&] { return std::filesystem::file_size(path_ + "-wal"); };
  EXPECT_GT(wal_size(), 2u << 20) << "the big transaction did not grow the log";
  // Small writes until one starts the log over (after the checkpointer copied it back).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int n = 0;
  while (wal_size() > (256u << 10) + (64u << 10) && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(insert(Kind::site, "s" + std::to_string(n++), R"({"name":"S"})"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_LE(wal_size(), (256u << 10) + (64u << 10)) << "the log file kept its size";
}

TEST_F(SqliteStoreTest, ALargeFanOutIsQueuedReadAsListedAndWrittenInOrder) {
  store_.reset();
  auto opened = SqliteStore::open(path_, 2, SqliteOptions{.inline_fanout = 2});
  ASSERT_TRUE(opened.ok());
  store_ = std::move(*opened);
  int queued_calls = 0;
  store_->on_queued([&] { ++queued_calls; });
  auto append_many = [&](const std::vector<std::string>& feeds, const std::string& body) {
    std::vector<std::int64_t> seqs;
    EXPECT_TRUE(write([&](WriteTx& tx) -> Status {
      auto r = append_change(tx, feeds, body);
      if (!r) return r.error();
      seqs = *r;
      return ok();
    }));
    return seqs;
  };
  // A feed read whole, as "seq=body" items.
  auto feed = [&](const std::string& name, std::int64_t after = 0, int limit = 100) {
    std::vector<std::string> out;
    EXPECT_TRUE(store_->read([&](ReadTx& tx) -> Status {
      auto entries = tx.read_feed(name, after, limit);
      if (!entries) return entries.error();
      for (const auto& e : *entries) out.push_back(std::to_string(e.seq) + "=" + e.body);
      return ok();
    }));
    return out;
  };
  using V = std::vector<std::string>;
  // Two entries: written at once.
  EXPECT_EQ(append_many({"a", "b"}, "1"), (std::vector<std::int64_t>{1, 1}));
  EXPECT_EQ(queued_calls, 0);
  // Three: queued, with their final seqs; heads and reads show them already.
  EXPECT_EQ(append_many({"a", "b", "c"}, "2"), (std::vector<std::int64_t>{2, 2, 1}));
  EXPECT_EQ(queued_calls, 1);
  EXPECT_EQ(head("a").seq, 2);
  EXPECT_EQ(head("c").seq, 1);
  // While something is queued, even a small write queues behind it: order holds.
  EXPECT_EQ(append_many({"a"}, "3"), (std::vector<std::int64_t>{3}));
  EXPECT_EQ(queued_calls, 2);
  EXPECT_EQ(head("a").seq, 3);
  EXPECT_EQ(feed("a"), (V{"1=1", "2=2", "3=3"}));
  EXPECT_EQ(feed("a", 1, 1), (V{"2=2"}));
  EXPECT_EQ(feed("a", 2), (V{"3=3"}));
  EXPECT_EQ(feed("c"), (V{"1=2"}));
  // Pruning while queued keeps the queued changes.
  ASSERT_TRUE(store_->prune_feeds(0, 1000));
  EXPECT_EQ(feed("c"), (V{"1=2"}));
  // Written as rows two at a time: the reads do not change on the way.
  int transactions = 0;
  for (;;) {
    auto more = store_->fan_out(2);
    ASSERT_TRUE(more.ok());
    ++transactions;
    EXPECT_EQ(feed("a", 1), (V{"2=2", "3=3"}));
    EXPECT_EQ(feed("b", 1), (V{"2=2"}));
    EXPECT_EQ(feed("c"), (V{"1=2"}));
    if (!*more) break;
  }
  EXPECT_EQ(transactions, 2);
  EXPECT_EQ(head("a").seq, 3);
  // Nothing queued any more: small writes are written at once again.
  EXPECT_EQ(append_many({"a"}, "4"), (std::vector<std::int64_t>{4}));
  EXPECT_EQ(queued_calls, 2);
  EXPECT_EQ(feed("a", 1), (V{"2=2", "3=3", "4=4"}));
}

TEST_F(SqliteStoreTest, QueuedSeqsSurviveARestartAndARolledBackJob) {
  store_.reset();
  auto reopen = [&] {
    store_.reset();
    auto opened = SqliteStore::open(path_, 2, SqliteOptions{.inline_fanout = 1});
    ASSERT_TRUE(opened.ok());
    store_ = std::move(*opened);
  };
  reopen();
  auto append = [&](const std::vector<std::string>& feeds, const std::string& body,
                    bool fail = false) {
    std::vector<std::int64_t> seqs;
    auto st = write([&](WriteTx& tx) -> Status {
      auto r = append_change(tx, feeds, body);
      if (!r) return r.error();
      seqs = *r;
      if (!fail) return ok();
      auto h = tx.feed_head("z");  // parses the job about to roll back
      EXPECT_TRUE(h.ok() && h->seq == 1);
      return Error{409, "conflict", "rolled back", ""};
    });
    EXPECT_EQ(static_cast<bool>(st), !fail);
    return seqs;
  };
  EXPECT_EQ(append({"x", "y"}, "1"), (std::vector<std::int64_t>{1, 1}));
  // A job that rolls back leaves no seq taken and nothing parsed under its id.
  append({"x", "z"}, "lost", true);
  EXPECT_EQ(head("x").seq, 1);
  // Queued, then the server restarts before they are written as rows: the next job's seqs
  // follow them (the cache of heads is rebuilt from the rows and the queue).
  EXPECT_EQ(append({"x", "y"}, "2"), (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(head("z").seq, 0) << "the rolled-back job is still read";
  reopen();
  EXPECT_EQ(head("x").seq, 2);
  EXPECT_EQ(append({"y", "x"}, "3"), (std::vector<std::int64_t>{3, 3}));
  for (;;) {
    auto more = store_->fan_out(1);
    ASSERT_TRUE(more.ok());
    if (!*more) break;
  }
  ASSERT_TRUE(store_->read([&](ReadTx& tx) -> Status {
    auto e = tx.read_feed("x", 0, 10);
    EXPECT_TRUE(e.ok());
    std::vector<std::string> got;
    for (const auto& x : *e) got.push_back(std::to_string(x.seq) + "=" + x.body);
    EXPECT_EQ(got, (std::vector<std::string>{"1=1", "2=2", "3=3"}));
    return ok();
  }));
}

TEST_F(SqliteStoreTest, AStoreFromSchema5KeepsItsGrantsAndFeedHeads) {
  store_.reset();
  std::filesystem::remove(path_);
  sqlite3* db;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  for (int v = 0; v < 5; ++v)
    ASSERT_EQ(
        sqlite3_exec(db, sqlite::migrations()[static_cast<size_t>(v)], nullptr, nullptr, nullptr),
        SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, R"sql(
    PRAGMA user_version = 5;
    INSERT INTO orgs VALUES('o', 'O', 't');
    INSERT INTO sites VALUES('s', 'o', '{"name":"S","timezone":"UTC"}', 1, 't', 't');
    INSERT INTO doors VALUES('d', 'o', 's', '{"site_id":"s","name":"D"}', 1, 't', 't');
    INSERT INTO users VALUES('u', 'o', 'u@x.y', NULL, '{"email":"u@x.y","name":"U"}', 1, 't', 't');
    INSERT INTO grants VALUES('g', 'o', 'u', 'd', NULL, NULL, '{"user_id":"u","door_id":"d"}', 1, 't', 't');
    INSERT INTO changes VALUES(1, 100, '{"x":1}');
    INSERT INTO feeds VALUES('user/u', 3, 2);
    INSERT INTO feeds VALUES('user/pruned', 7, 8);
    INSERT INTO feed_log VALUES('user/u', 2, 1);
    INSERT INTO feed_log VALUES('user/u', 3, 1);
  )sql",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  store_ = open_store();
  ASSERT_TRUE(store_);
  EXPECT_EQ(head("user/u").seq, 3);
  EXPECT_EQ(head("user/u").first_seq, 2);
  EXPECT_EQ(head("user/pruned").seq, 7);
  EXPECT_EQ(head("user/pruned").first_seq, 8);
  ASSERT_TRUE(store_->read([&](ReadTx& tx) {
    auto g = tx.grant_refs(GrantMatch{.user_id = "u"});
    EXPECT_EQ(g->size(), 1u);
    EXPECT_EQ(g->at(0).door_id, "d");
    EXPECT_EQ(tx.read_feed("user/u", 0, 10)->size(), 2u);
    return ok();
  }));
  ASSERT_TRUE(write([&](WriteTx& tx) -> Status {
    auto seq = append(tx, "user/pruned", 1);
    EXPECT_EQ(seq.ok() ? *seq : 0, 8);
    return ok();
  }));
}

TEST_F(SqliteStoreTest, GroupsHaveUniqueNamesAndMembersThroughUsers) {
  ASSERT_TRUE(insert(Kind::group, "p", R"({"name":"Night staff"})"));
  auto dup = insert(Kind::group, "q", R"({"name":"night STAFF"})");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, "name_taken");
  ASSERT_TRUE(insert(Kind::user, "u", R"({"email":"u@x.y","name":"U","group_ids":["p"]})"));
  EXPECT_FALSE(insert(Kind::user, "v", R"({"email":"v@x.y","name":"V","group_ids":["nope"]})"));
  ASSERT_TRUE(store_->read([&](ReadTx& tx) {
    EXPECT_EQ(*tx.ids_by(Kind::user, "group_ids", "p"), std::vector<std::string>{"u"});
    EXPECT_EQ(*tx.refs_of(Kind::user, "u", "group_ids"), std::vector<std::string>{"p"});
    return ok();
  }));
  // A group with members cannot go (the API takes them out first).
  auto gone = write([&](WriteTx& tx) { return tx.remove(Kind::group, "p"); });
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, "in_use");
}

}  // namespace
}  // namespace portier
