#include "server/devices.hpp"

#include <gtest/gtest.h>

namespace portier {
namespace {

using namespace std::chrono_literals;

Instant at(std::chrono::seconds s) { return Instant{} + s; }

Device device(const std::string& who, const std::string& id, std::chrono::seconds when,
              const std::string& org = "org_1", std::vector<std::string> feeds = {}) {
  Device d;
  d.id = id;
  d.key = who + "/" + id;
  d.org_id = org;
  (who.rfind("unit_", 0) == 0 ? d.unit_id : d.user_id) = who;
  d.last_seen = at(when);
  if (feeds.empty()) feeds.push_back("user/" + who);
  for (const auto& f : feeds) d.feeds[f] = DeviceFeed{0, "e1"};
  return d;
}

std::vector<std::string> ids(const DevicePage& p) {
  std::vector<std::string> out;
  for (const auto& d : p.items) out.push_back(d.id);
  return out;
}

// Issue 10 §6: 20,000 short sessions with new device ids left 20,001 devices in memory.
TEST(DeviceRegistry, RemembersABoundedNumberOfDevicesPerUser) {
  DeviceRegistry reg;
  for (int i = 0; i < 20000; ++i) {
    auto d = device("user_a", "phone-" + std::to_string(i), std::chrono::seconds(i));
    reg.connected(d);
    reg.disconnected(d.key, d.last_seen);
  }
  EXPECT_EQ(reg.size(), 50u);
  // The newest stay, the oldest went.
  EXPECT_TRUE(reg.get("user_a/phone-19999"));
  EXPECT_TRUE(reg.get("user_a/phone-19950"));
  EXPECT_FALSE(reg.get("user_a/phone-19949"));
  // Another user's devices do not count against her.
  reg.connected(device("user_b", "tablet", 20000s));
  EXPECT_EQ(reg.size(), 51u);
  EXPECT_TRUE(reg.get("user_a/phone-19950"));
}

TEST(DeviceRegistry, ConnectedDevicesAreNeverEvicted) {
  DeviceRegistry reg(DeviceLimits{2, 24h * 7});
  for (int i = 0; i < 4; ++i) reg.connected(device("user_a", "p" + std::to_string(i), 1s));
  EXPECT_EQ(reg.size(), 4u);  // all live
  reg.disconnected("user_a/p1", at(5s));
  reg.disconnected("user_a/p0", at(6s));
  // Over the cap by idle ones only as long as live ones fill it: both idle ones went.
  EXPECT_EQ(reg.size(), 2u);
  EXPECT_TRUE(reg.get("user_a/p2"));
  EXPECT_TRUE(reg.get("user_a/p3"));
  reg.disconnected("user_a/p2", at(7s));
  reg.disconnected("user_a/p3", at(8s));
  reg.connected(device("user_a", "p4", 9s));
  // p2 was seen longest ago.
  EXPECT_FALSE(reg.get("user_a/p2"));
  EXPECT_TRUE(reg.get("user_a/p3"));
  EXPECT_TRUE(reg.get("user_a/p4"));
}

TEST(DeviceRegistry, ADeviceReconnectingIsOneDeviceAndKeepsItsFeeds) {
  DeviceRegistry reg(DeviceLimits{1, 24h});
  auto d = device("user_a", "phone", 1s, "org_1", {"user/user_a", "site/site_a"});
  reg.connected(d);
  reg.acked(d.key, "user/user_a", 7, at(2s));
  reg.disconnected(d.key, at(3s));
  reg.connected(device("user_a", "phone", 4s));
  ASSERT_EQ(reg.size(), 1u);
  auto got = reg.get(d.key);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->connections, 1);
  EXPECT_EQ(got->feeds.at("user/user_a").acked_seq, 0);  // the cursor it sent now
  EXPECT_TRUE(got->feeds.count("site/site_a"));
  // Still listed once, under the feed it read before.
  DeviceFilter scoped{false, {"site_a"}, ""};
  EXPECT_EQ(ids(reg.list("org_1", scoped, "", 10, at(5s))), std::vector<std::string>{"phone"});
}

TEST(DeviceRegistry, ForgetsDevicesUnseenForAWeek) {
  DeviceRegistry reg;
  auto d = device("user_a", "old", 0s);
  reg.connected(d);
  reg.disconnected(d.key, at(0s));
  auto live = device("user_b", "live", 0s);
  reg.connected(live);
  EXPECT_EQ(reg.list("org_1", {}, "", 10, at(24h * 7)).items.size(), 2u);
  EXPECT_EQ(ids(reg.list("org_1", {}, "", 10, at(24h * 7 + 1s))), std::vector<std::string>{"live"});
  EXPECT_EQ(reg.size(), 1u);
}

TEST(DeviceRegistry, PagesAnOrganizationByKey) {
  DeviceRegistry reg;
  for (const char* who : {"user_c", "user_a", "user_b"})
    for (const char* id : {"y", "x"}) reg.connected(device(who, id, 1s));
  reg.connected(device("user_z", "other-org", 1s, "org_2"));
  std::vector<std::string> seen;
  std::string after;
  int pages = 0;
  for (;;) {
    auto p = reg.list("org_1", {}, after, 4, at(2s));
    ++pages;
    for (const auto& d : p.items) seen.push_back(d.key);
    if (!p.more) break;
    after = p.items.back().key;
  }
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(seen, (std::vector<std::string>{"user_a/x", "user_a/y", "user_b/x", "user_b/y",
                                            "user_c/x", "user_c/y"}));
  // Exactly a page full: no more.
  EXPECT_FALSE(reg.list("org_1", {}, "", 6, at(2s)).more);
}

TEST(DeviceRegistry, AScopedListingMergesHerFeedsAndHerOwnDevices) {
  DeviceRegistry reg;
  reg.connected(device("user_m", "console", 1s, "org_1", {"site/site_a"}));
  reg.connected(device("user_n", "console", 1s, "org_1", {"site/site_b"}));
  reg.connected(device("user_o", "console", 1s, "org_1", {"site/site_c", "site/site_a"}));
  reg.connected(device("user_s", "phone", 1s, "org_1", {"user/user_s"}));
  reg.connected(device("user_t", "phone", 1s, "org_1", {"user/user_t"}));
  DeviceFilter f{false, {"site_a", "site_c"}, "user_s"};
  auto first = reg.list("org_1", f, "", 2, at(2s));
  ASSERT_TRUE(first.more);
  EXPECT_EQ(first.items[0].key, "user_m/console");
  EXPECT_EQ(first.items[1].key, "user_o/console");  // listed once, though it reads both
  auto second = reg.list("org_1", f, first.items.back().key, 2, at(2s));
  EXPECT_FALSE(second.more);
  ASSERT_EQ(second.items.size(), 1u);
  EXPECT_EQ(second.items[0].key, "user_s/phone");
}

// Her own devices are found by their keys ("<identity>/<id>"): a page starts after `after`
// wherever it falls, an id may hold a slash, and an identity that begins with hers is not hers.
TEST(DeviceRegistry, AScopedListingPagesThroughHerOwnDevicesByKey) {
  DeviceRegistry reg(DeviceLimits{3, 24h});
  for (const char* id : {"phone", "my/tablet", "watch"}) reg.connected(device("user_s", id, 1s));
  reg.connected(device("user_sa", "phone", 1s));
  reg.connected(device("user_r", "phone", 1s));
  DeviceFilter mine{false, {}, "user_s"};
  std::vector<std::string> seen;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    auto p = reg.list("org_1", mine, after, 1, at(2s));
    for (const auto& d : p.items) seen.push_back(d.id);
    if (!p.more) break;
    after = p.items.back().key;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"my/tablet", "phone", "watch"}));
  auto got = reg.get("user_s/my/tablet");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, "my/tablet");
  EXPECT_EQ(got->user_id, "user_s");
  EXPECT_EQ(got->org_id, "org_1");
  // Before her keys, and past them.
  EXPECT_EQ(ids(reg.list("org_1", mine, "user_a", 10, at(2s))).size(), 3u);
  EXPECT_TRUE(reg.list("org_1", mine, "user_s/watch", 10, at(2s)).items.empty());
  EXPECT_TRUE(reg.list("org_1", mine, "user_z", 10, at(2s)).items.empty());
  // The cap (3) counts her devices only: user_sa's phone is not one of them.
  reg.disconnected("user_s/phone", at(3s));
  EXPECT_TRUE(reg.get("user_s/phone"));
  reg.connected(device("user_s", "laptop", 4s));  // a fourth: the idle one goes
  EXPECT_FALSE(reg.get("user_s/phone"));
  EXPECT_TRUE(reg.get("user_sa/phone"));
  EXPECT_EQ(reg.size(), 5u);
}

}  // namespace
}  // namespace portier
