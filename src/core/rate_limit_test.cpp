#include "core/rate_limit.hpp"

#include <gtest/gtest.h>

namespace portier {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiter, RefusesPastTheLimitUntilTheWindowPasses) {
  RateLimiter rl(3, 60s);
  RateLimiter::Clock::time_point t0{};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(rl.retry_after("a", t0 + i * 1s), 0s);
    rl.record_failure("a", t0 + i * 1s);
  }
  EXPECT_EQ(rl.retry_after("a", t0 + 10s), 50s);
  EXPECT_EQ(rl.retry_after("b", t0 + 10s), 0s);  // keys are independent
  EXPECT_EQ(rl.retry_after("a", t0 + 60s), 0s);  // the first failure aged out
}

TEST(RateLimiter, ResetForgets) {
  RateLimiter rl(1, 60s);
  RateLimiter::Clock::time_point t0{};
  rl.record_failure("a", t0);
  EXPECT_GT(rl.retry_after("a", t0), 0s);
  rl.reset("a");
  EXPECT_EQ(rl.retry_after("a", t0), 0s);
}

TEST(RateLimiter, AdmitCountsTheAttemptBeforeItIsJudged) {
  RateLimiter rl(3, 60s);
  RateLimiter::Clock::time_point t0{};
  // Three attempts in flight at once: all admitted, the fourth refused before any is judged.
  EXPECT_EQ(rl.admit("a", t0).left, 2);
  EXPECT_EQ(rl.admit("a", t0).left, 1);
  auto third = rl.admit("a", t0 + 1s);
  EXPECT_EQ(third.retry_after, 0s);
  EXPECT_EQ(third.left, 0);
  EXPECT_EQ(rl.admit("a", t0 + 2s).retry_after, 58s);
  // One of them succeeded: it no longer counts.
  rl.forgive("a", t0 + 1s);
  EXPECT_EQ(rl.admit("a", t0 + 3s).retry_after, 0s);
  EXPECT_GT(rl.admit("a", t0 + 3s).retry_after, 0s);
  rl.forgive("b", t0);  // unknown keys are fine
  EXPECT_EQ(rl.retry_after("b", t0), 0s);
}

}  // namespace
}  // namespace portier
