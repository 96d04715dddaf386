// The SQLite wrapper on its own: statements cached per connection, errors mapped to the
// stable codes the API answers with, full scans counted.
#include "sqlite/db.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace portier::sqlite {
namespace {

class DbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portier-sqlite-XXXXXX";
    dir_ = mkdtemp(tmpl);
    ASSERT_TRUE(db_.open(dir_ + "/t.db").ok());
    ASSERT_TRUE(db_.exec("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER, note TEXT);").ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  Db db_;
};

TEST_F(DbTest, PreparesEachStatementOnceAndResetsItAfterUse) {
  const std::string insert = "INSERT INTO t(k, v, note) VALUES(?, ?, ?)";
  auto first = db_.prepare(insert);
  ASSERT_TRUE(first.ok());
  for (int i = 0; i < 3; ++i) {
    auto again = db_.prepare(insert);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, *first) << "the cached statement is reused";
    Stmt s(*again);
    s.bind(1, "k" + std::to_string(i))
        .bind(2, std::int64_t{i})
        .bind_opt(3, std::optional<std::string>());
    // Steps again after the previous use: Stmt reset it when it went out of scope.
    ASSERT_EQ(s.step(), SQLITE_DONE);
  }
  EXPECT_EQ(db_.statements(), std::vector<std::string>{insert});

  auto sel = db_.prepare("SELECT v, note FROM t WHERE k = ?");
  ASSERT_TRUE(sel.ok());
  Stmt s(*sel);
  s.bind(1, "k2");
  ASSERT_EQ(s.step(), SQLITE_ROW);
  EXPECT_EQ(s.int64(0), 2);
  EXPECT_TRUE(s.is_null(1));
  EXPECT_EQ(s.text(1), "");
}

TEST_F(DbTest, MapsFailuresToStableCodes) {
  ASSERT_TRUE(db_.exec("INSERT INTO t(k, v) VALUES('a', 1);").ok());
  auto dup = db_.exec("INSERT INTO t(k, v) VALUES('a', 2);");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().status, 500);
  EXPECT_EQ(dup.error().code, "store_error");
  EXPECT_NE(dup.error().message.find("UNIQUE"), std::string::npos) << dup.error().message;

  auto bad = db_.prepare("SELECT nope FROM t");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "store_error");

  // A full disk and a busy store keep codes of their own (507, 503), extended codes included.
  EXPECT_EQ(db_.error(SQLITE_FULL, "commit").status, 507);
  EXPECT_EQ(db_.error(SQLITE_FULL, "commit").code, "store_full");
  EXPECT_EQ(db_.error(SQLITE_BUSY_SNAPSHOT, "begin").status, 503);
  EXPECT_EQ(db_.error(SQLITE_LOCKED, "begin").code, "store_busy");
}

TEST_F(DbTest, CountsRowsVisitedByFullScans) {
  ASSERT_TRUE(db_.exec("INSERT INTO t(k, v) VALUES('a', 1), ('b', 2), ('c', 3);").ok());
  auto by_key = db_.prepare("SELECT v FROM t WHERE k = ?");
  ASSERT_TRUE(by_key.ok());
  {
    Stmt s(*by_key);
    s.bind(1, "b");
    ASSERT_EQ(s.step(), SQLITE_ROW);
  }
  EXPECT_EQ(db_.full_scan_steps(), 0) << "a primary key lookup does not scan";
  auto by_value = db_.prepare("SELECT k FROM t WHERE v = ?");
  ASSERT_TRUE(by_value.ok());
  {
    Stmt s(*by_value);
    s.bind(1, std::int64_t{3});
    ASSERT_EQ(s.step(), SQLITE_ROW);
  }
  EXPECT_GT(db_.full_scan_steps(), 0) << "v has no index: the lookup scans";
}

TEST(DbOpen, ReportsAFileItCannotOpen) {
  Db db;
  auto s = db.open("/nonexistent-portier-dir/sub/t.db");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "store_error");
  EXPECT_NE(s.error().message.find("/nonexistent-portier-dir/sub/t.db"), std::string::npos)
      << s.error().message;
}

}  // namespace
}  // namespace portier::sqlite
