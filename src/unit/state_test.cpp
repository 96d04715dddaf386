// The unit's state directory: replica, outbox and command ids in SQLite.
#include "unit/state.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>

#include "support/faulty_vfs.hpp"

namespace portier::unit {
namespace {

class StateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portier-unit-state-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<State> open() {
    auto s = State::open(dir_);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
    return s.ok() ? std::move(*s) : nullptr;
  }
  // Runs SQL on a side connection to state.db.
  void raw(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir_ + "/state.db").c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  std::string dir_;
};

// Issue 8: forgetting old command ids scanned the whole table on every command (2 ms per
// command at 29k ids). A claim now reads only what its indexes lead to.
TEST_F(StateTest, ClaimingACommandDoesNotScanTheIdsOfAWeek) {
  const std::int64_t now = 1'900'000'000;
  open().reset();  // creates the tables
  // A busy week: 30,000 ids, a day old or more.
  std::string fill = "BEGIN;";
  for (int i = 0; i < 30000; ++i)
    fill += "INSERT INTO commands(id, at_unix) VALUES('cmd_old" + std::to_string(i) + "', " +
            std::to_string(now - 86400 - i) + ");";
  raw(fill + "COMMIT;");
  auto state = open();
  for (int i = 0; i < 3; ++i) {  // the first claim may clean up; the rest must not even look
    auto fresh = state->claim_command("cmd_new" + std::to_string(i), now + i);
    ASSERT_TRUE(fresh.ok());
    EXPECT_TRUE(*fresh);
  }
  auto before = state->scanned_rows();
  for (int i = 3; i < 200; ++i)
    ASSERT_TRUE(state->claim_command("cmd_new" + std::to_string(i), now + i).ok());
  EXPECT_EQ(state->scanned_rows() - before, 0) << "claims scan the command table";
  EXPECT_FALSE(*state->claim_command("cmd_new7", now + 300));  // still remembered
  EXPECT_FALSE(*state->claim_command("cmd_old5", now + 300));
}

// Ids are kept a week, then forgotten (their commands expired long before).
TEST_F(StateTest, CommandIdsAreForgottenAfterAWeek) {
  const std::int64_t now = 1'900'000'000;
  auto state = open();
  ASSERT_TRUE(*state->claim_command("cmd_a", now));
  EXPECT_FALSE(*state->claim_command("cmd_a", now + 6 * 86400));
  // Over a week later the cleanup has run and the id is gone: claiming it again is new.
  ASSERT_TRUE(*state->claim_command("cmd_b", now + 8 * 86400));
  EXPECT_TRUE(*state->claim_command("cmd_a", now + 8 * 86400 + 1));
}

// Issue 10 §5: on a full disk the state ignored failed steps and left a transaction open on a
// failed COMMIT. A write that fails is reported and rolled back whole; the next one works.
TEST_F(StateTest, AFailedReplicaWriteIsReportedAndRolledBackWhole) {
  testing::faulty_vfs::install();
  auto state = open();
  namespace json = boost::json;
  json::object door{{"id", "door_1"}, {"name", "Front"}};
  client::Replica r;
  r.epoch = "e1";
  r.seq = 1;
  r.records["door:door_1"] = door;
  ASSERT_TRUE(state->snapshot("unit/u1", r).ok());
  json::object renamed{{"id", "door_1"}, {"name", "Renamed"}};
  testing::faulty_vfs::fail_writes(true);
  auto failed = state->change("unit/u1", "e1", 2, "door:door_1", &renamed);
  auto failed_snapshot = state->snapshot("unit/u1", r);
  testing::faulty_vfs::fail_writes(false);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, "store_full");
  EXPECT_FALSE(failed_snapshot.ok());
  // Nothing of it stayed, and no transaction was left open: the state takes writes again.
  auto loaded = state->load();
  EXPECT_EQ(loaded["unit/u1"].seq, 1);
  EXPECT_EQ(loaded["unit/u1"].records["door:door_1"].at("name"), "Front");
  ASSERT_TRUE(state->change("unit/u1", "e1", 2, "door:door_1", &renamed).ok());
  EXPECT_EQ(state->load()["unit/u1"].records["door:door_1"].at("name"), "Renamed");
  // And a fresh connection to the file sees it (it was committed, not left pending).
  state.reset();
  EXPECT_EQ(open()->load()["unit/u1"].seq, 2);
}

}  // namespace
}  // namespace portier::unit
