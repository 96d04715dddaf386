#include "server/memory_trim.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "server/metrics.hpp"

namespace portier {
namespace {

// 64 MB in 4 KiB blocks, touched, then all freed but every 64th: free() alone cannot give the
// pages back (kept blocks sit between them); a trim can.
[[maybe_unused]] std::vector<std::unique_ptr<char[]>> fragmented_heap() {
  std::vector<std::unique_ptr<char[]>> blocks(16384);
  for (auto& b : blocks) {
    b.reset(new char[4096]);
    std::memset(b.get(), 1, 4096);
  }
  std::vector<std::unique_ptr<char[]>> kept;
  for (std::size_t i = 0; i < blocks.size(); i += 64) kept.push_back(std::move(blocks[i]));
  return kept;
}

[[maybe_unused]] void busy_for(std::chrono::milliseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  volatile std::uint64_t spin = 0;
  while (std::chrono::steady_clock::now() < until) spin = spin + 1;
}

TEST(MemoryTrim, GivesFreedPagesBackOnceAGrowthIsOver) {
#if defined(__SANITIZE_ADDRESS__) || !defined(__GLIBC__)
  GTEST_SKIP() << "glibc's malloc only";
#else
  Metrics metrics;
  MemoryTrim trim(std::chrono::hours(1), std::int64_t{32} << 20, &metrics);
  EXPECT_EQ(trim.check(), 0);  // the first look sets the baseline
  auto kept = fragmented_heap();
  EXPECT_EQ(trim.check(), 0);  // it grew since the last look: a burst may be under way
  busy_for(std::chrono::milliseconds(200));
  EXPECT_EQ(trim.check(), 0);  // it stopped growing, but it is busy
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_GT(trim.check(), std::int64_t{32} << 20);  // quiet now: trimmed
  EXPECT_NE(metrics.render().find("portier_memory_trims_total 1"), std::string::npos);
  // Nothing grew since: no trim.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(trim.check(), 0);
  EXPECT_NE(metrics.render().find("portier_memory_trims_total 1"), std::string::npos);
#endif
}

TEST(MemoryTrim, ReadsTheResidentSet) { EXPECT_GT(resident_bytes(), 1 << 20); }

}  // namespace
}  // namespace portier
