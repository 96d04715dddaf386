// The hub in-process: fake sessions that record what reaches them, and an io_context the test
// runs to drain the delivery queue.
#include "server/push/hub.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <random>

#include "server/metrics.hpp"

namespace portier::push {
namespace {
namespace json = boost::json;
using namespace std::chrono_literals;

// A session that writes down what the hub hands it, in order.
class Recorder final : public Subscriber {
 public:
  void deliver(std::shared_ptr<const std::vector<sync::FeedChange>> batch,
               std::size_t index) override {
    const auto& c = (*batch)[index];
    got.push_back(c.feed + "#" + std::to_string(c.seq));
  }
  void push(std::shared_ptr<const std::string> message) override { got.push_back(*message); }
  void end(std::string message, std::uint16_t code, std::string reason) override {
    got.push_back("end " + std::to_string(code) + " " + reason);
    if (!message.empty()) ended_with = json::parse(message).as_object();
  }
  std::vector<std::string> got;
  json::object ended_with;
};

sync::FeedChange change(const std::string& feed, std::int64_t seq) {
  sync::FeedChange c;
  c.feed = feed;
  c.seq = seq;
  c.body = std::make_shared<const std::string>("{}");
  return c;
}

class HubTest : public ::testing::Test {
 protected:
  std::shared_ptr<Recorder> session(const std::vector<std::string>& feeds, const Who& who) {
    auto s = std::make_shared<Recorder>();
    hub_->join(s.get(), s);
    hub_->subscribe(s.get(), feeds, who);
    return s;
  }
  void drain() {
    ioc_.restart();
    ioc_.run();
  }

  void publish(std::vector<sync::FeedChange> changes) {
    hub_->publish(sync::share(std::move(changes)));
  }

  boost::asio::io_context ioc_;
  DeviceRegistry devices_;
  Metrics metrics_;
  std::shared_ptr<Hub> hub_ =
      std::make_shared<Hub>(ioc_.get_executor(), devices_, HubOptions{2}, &metrics_);
};

TEST_F(HubTest, ChangesReachTheirFeedsInOrderAndARevocationNeverOvertakesThem) {
  auto a = session({"user/a"}, {"a", "", "ta"});
  auto b = session({"user/b", "org/o"}, {"b", "", "tb"});
  publish({change("user/a", 1), change("org/o", 7), change("user/a", 2)});
  hub_->revoke(Revocation{"a", "", "", "user_disabled"});
  publish({change("user/a", 3), change("user/b", 1)});
  drain();
  // Past 64 deliveries a step, the order still holds (the queue is one FIFO).
  EXPECT_EQ(a->got, (std::vector<std::string>{"user/a#1", "user/a#2", "end 4003 user_disabled",
                                              "user/a#3"}));
  EXPECT_EQ(a->ended_with.at("type"), "revoked");
  EXPECT_EQ(b->got, (std::vector<std::string>{"org/o#7", "user/b#1"}));
}

TEST_F(HubTest, AQueueLongerThanAStepKeepsItsOrder) {
  auto a = session({"user/a"}, {"a", "", "ta"});
  std::vector<sync::FeedChange> many;
  for (int i = 1; i <= 300; ++i) many.push_back(change("user/a", i));
  publish(many);
  hub_->revoke(Revocation{"", "", "ta", "logged_out"});
  drain();
  ASSERT_EQ(a->got.size(), 301u);
  for (int i = 1; i <= 300; ++i) EXPECT_EQ(a->got[i - 1], "user/a#" + std::to_string(i));
  EXPECT_EQ(a->got.back(), "end 4003 logged_out");
}

TEST_F(HubTest, ASessionThatLeftOrDiedGetsNothing) {
  auto a = session({"user/a"}, {"a", "", "ta"});
  auto b = session({"user/a"}, {"a", "", "tb"});
  EXPECT_EQ(hub_->size(), 2u);
  hub_->leave(a.get());
  hub_->leave(a.get());  // again: harmless
  EXPECT_EQ(hub_->size(), 1u);
  // b is destroyed without leaving (its destructor would): the hub never touches it.
  b.reset();
  publish({change("user/a", 1)});
  drain();
  EXPECT_TRUE(a->got.empty());
}

TEST_F(HubTest, ASessionThatLeftBeforeItsHelloWasCheckedIsNeverSubscribed) {
  auto s = std::make_shared<Recorder>();
  hub_->join(s.get(), s);
  hub_->leave(s.get());
  hub_->subscribe(s.get(), {"user/a"}, {"a", "", "ta"});
  EXPECT_EQ(hub_->size(), 0u);
  publish({change("user/a", 1)});
  drain();
  EXPECT_TRUE(s->got.empty());
}

// Issue 10 §6: past the cap of sessions per token (2 here), the oldest is ended, once, with
// 4008 and an error saying why; the next one over ends the next oldest.
TEST_F(HubTest, Issue10_PastTheCapPerTokenTheOldestSessionEnds) {
  auto s1 = session({"user/a"}, {"a", "", "t"});
  auto s2 = session({"user/a"}, {"a", "", "t"});
  auto other = session({"user/a"}, {"a", "", "t-other"});
  drain();
  EXPECT_TRUE(s1->got.empty());
  auto s3 = session({"user/a"}, {"a", "", "t"});
  drain();
  EXPECT_EQ(s1->got, (std::vector<std::string>{"end 4008 too_many_sessions"}));
  EXPECT_EQ(s1->ended_with.at("code"), "too_many_sessions");
  // Until it closes it is still a connection, but gets no more changes.
  EXPECT_EQ(hub_->size(), 4u);
  publish({change("user/a", 1)});
  drain();
  EXPECT_EQ(s1->got.size(), 1u);
  EXPECT_EQ(s2->got, (std::vector<std::string>{"user/a#1"}));
  auto s4 = session({"user/a"}, {"a", "", "t"});
  drain();
  EXPECT_EQ(s2->got.back(), "end 4008 too_many_sessions");
  EXPECT_EQ(s1->got.size(), 1u);
  EXPECT_TRUE(s3->got.back() == "user/a#1");
  EXPECT_EQ(other->got, (std::vector<std::string>{"user/a#1"}));
  EXPECT_NE(metrics_.render().find("portier_push_sessions_evicted_total 2"), std::string::npos);
}

TEST_F(HubTest, CommandsGoToAUnitsNewestSession) {
  auto old_link = session({"unit/u"}, {"", "u", "tu"});
  auto fresh = session({"unit/u"}, {"", "u", "tu"});
  EXPECT_EQ(hub_->unit_session("u").get(), fresh.get());
  hub_->leave(fresh.get());
  EXPECT_EQ(hub_->unit_session("u").get(), old_link.get());
  hub_->leave(old_link.get());
  EXPECT_EQ(hub_->unit_session("u"), nullptr);
}

// Issue 10 §2: a session leaves the hub in O(1), whatever the number of sessions: a reconnect
// storm of 100,000 sessions on one organization's feeds joins and leaves in well under a
// second of work, where a scan of every session per leave would take minutes.
TEST_F(HubTest, Issue10_LeavingIsConstantTimeInAReconnectStorm) {
  hub_ = std::make_shared<Hub>(ioc_.get_executor(), devices_, HubOptions{0}, &metrics_);
  constexpr int kSessions = 100000;
  std::vector<std::shared_ptr<Recorder>> sessions;
  sessions.reserve(kSessions);
  auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kSessions; ++i) {
    // Many on the same feed, user and token, as a storm of one console's reconnects.
    auto s = std::make_shared<Recorder>();
    hub_->join(s.get(), s);
    hub_->subscribe(s.get(), {"org/o", "user/u" + std::to_string(i % 100)},
                    {"u" + std::to_string(i % 100), "", "t"});
    sessions.push_back(std::move(s));
  }
  std::shuffle(sessions.begin(), sessions.end(), std::mt19937(7));
  for (auto& s : sessions) hub_->leave(s.get());
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(hub_->size(), 0u);
  EXPECT_LT(took, 10s) << "joining and leaving took "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                       << " ms";
  publish({change("org/o", 1)});
  drain();
  for (const auto& s : sessions) ASSERT_TRUE(s->got.empty());
}

}  // namespace
}  // namespace portier::push
