// A full disk under the real REST API and HTTP transport. In-process, so that a faulty SQLite
// VFS (tests/support/faulty_vfs.*) can make the store's writes fail with SQLITE_FULL, as a
// full disk does, without root or a tiny file system.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <thread>

#include "bus/local_bus.hpp"
#include "crypto/crypto.hpp"
#include "server/api.hpp"
#include "server/bootstrap.hpp"
#include "server/http/http_server.hpp"
#include "store/sqlite_store.hpp"
#include "support/faulty_vfs.hpp"
#include "support/process.hpp"
#include "support/server.hpp"

namespace portier::testing {
namespace {

class DiskFull : public ::testing::Test {
 protected:
  void SetUp() override {
    faulty_vfs::install();
    faulty_vfs::fail_writes(false);
    ASSERT_TRUE(crypto_init());
    auto s = SqliteStore::open(dir_.path() + "/portier.db");
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
    auto owner = create_org(*store_, "One", "owner@one.test", "Owner", "correct horse 1",
                            whole_seconds(system_clock()()));
    ASSERT_TRUE(owner.ok()) << owner.error().message;
    api_ = std::make_unique<Api>(*store_, bus_, metrics_);
    server_ = std::make_unique<HttpServer>(ioc_, workers_, [this](const Request& r, Respond done) {
      api_->handle(r, std::move(done));
    });
    auto port = server_->listen("127.0.0.1", "0");
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
    io_ = std::thread([this] { ioc_.run(); });
    auto login = client().post("/v1/auth/login", json::object{{"email", "owner@one.test"},
                                                              {"password", "correct horse 1"}});
    ASSERT_EQ(login.status, 200) << login.raw;
    token_ = std::string(login.obj().at("token").as_string());
  }
  void TearDown() override {
    faulty_vfs::fail_writes(false);
    if (server_) server_->stop();
    if (io_.joinable()) io_.join();
    workers_.join();
  }
  Client client() const { return Client("127.0.0.1", port_); }
  // The organization feed's last seq.
  std::int64_t org_head() {
    auto me = client().get("/v1/me", token_);
    EXPECT_EQ(me.status, 200) << me.raw;
    if (me.status != 200) return -1;
    std::string feed = "org/" + std::string(me.obj().at("org").at("id").as_string());
    std::int64_t seq = -1;
    auto st = store_->read([&](ReadTx& tx) -> Status {
      auto head = tx.feed_head(feed);
      if (!head) return head.error();
      seq = head->seq;
      return ok();
    });
    EXPECT_TRUE(st.ok());
    return seq;
  }
  std::vector<std::string> names(const std::string& plural) {
    auto r = client().get("/v1/" + plural + "?limit=500", token_);
    EXPECT_EQ(r.status, 200) << r.raw;
    std::vector<std::string> out;
    if (r.status == 200)
      for (const auto& s : r.obj().at("items").as_array())
        out.emplace_back(s.at(plural == "audit" ? "action" : "name").as_string());
    return out;
  }

  TempDir dir_;
  std::unique_ptr<SqliteStore> store_;
  LocalBus bus_;
  Metrics metrics_;
  std::unique_ptr<Api> api_;
  boost::asio::io_context ioc_;
  boost::asio::thread_pool workers_{4};
  std::unique_ptr<HttpServer> server_;
  std::thread io_;
  unsigned short port_ = 0;
  std::string token_;
};

// Issue 10 §6: a COMMIT's SQLITE_FULL answered 500 store_error.
TEST_F(DiskFull, AWriteAnswers507StoreFullLeavesNothingWrittenAndTheServerGoesOn) {
  auto sites = names("sites");
  auto audit = names("audit");
  auto head = org_head();
  long refused = faulty_vfs::refused();
  faulty_vfs::fail_writes(true);
  auto r = client().post("/v1/sites", json::object{{"name", "Full"}, {"timezone", "UTC"}}, token_);
  EXPECT_EQ(r.status, 507) << r.raw;
  EXPECT_EQ(r.code(), "store_full") << r.raw;
  EXPECT_GT(faulty_vfs::refused(), refused);  // the disk was written to, and refused
  // Reads go on while the disk is full.
  EXPECT_EQ(names("sites"), sites);
  faulty_vfs::fail_writes(false);
  // Nothing half-written: no site, no audit entry, no change in the feeds.
  EXPECT_EQ(names("sites"), sites);
  EXPECT_EQ(names("audit"), audit);
  EXPECT_EQ(org_head(), head);
  // Space is back: the same write works.
  auto again =
      client().post("/v1/sites", json::object{{"name", "Full"}, {"timezone", "UTC"}}, token_);
  EXPECT_EQ(again.status, 201) << again.raw;
  auto now = names("sites");
  EXPECT_EQ(std::count(now.begin(), now.end(), "Full"), 1);
}

}  // namespace
}  // namespace portier::testing
