#include "store/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

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

TEST_F(SqliteStoreTest, FeedsAreGaplessAndShareChanges) {
  std::vector<std::int64_t> seqs;
  int hooks = 0;
  ASSERT_TRUE(write([&](WriteTx& tx) {
    auto c = tx.add_change(R"({"op":"put"})", 100);
    if (!c) return Status(c.error());
    for (const char* feed : {"user/a", "user/b", "user/a"}) {
      auto seq = tx.append_to_feed(feed, *c);
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
    (void)tx.append_to_feed("user/a", *c);
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
      (void)tx.append_to_feed("f", *c);
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
    EXPECT_TRUE(tx.read_feed("f", 0, 100)->empty());
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

}  // namespace
}  // namespace portier
