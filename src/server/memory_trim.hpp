#pragma once
// Gives freed heap back to the OS after the process grew. glibc keeps what a burst of work
// freed (an import's parsed rows, a fan-out's change lists, sign-ins) for later allocations
// and returns only the top of each arena: after the bench's import of 19,000 users portierd
// held ~130 MB it no longer used. malloc_trim(0) hands whole free pages back (the memory
// stays reusable: a later allocation faults a page in again).
//
// A thread looks at the resident set every `period` and trims once it grew by `growth` since
// the last trim and then stopped growing (the burst is over) while the process is quiet
// (under 10% of a core since the look before): the trim holds each malloc arena's lock in
// turn (24-63 ms after the bench's seeding of 19,000 users), so allocations elsewhere wait
// meanwhile. Rare: a steady server does not grow.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace portier {

class Metrics;

class MemoryTrim {
 public:
  explicit MemoryTrim(std::chrono::milliseconds period = std::chrono::seconds(2),
                      std::int64_t growth = std::int64_t{64} << 20, Metrics* metrics = nullptr);
  ~MemoryTrim();
  MemoryTrim(const MemoryTrim&) = delete;
  MemoryTrim& operator=(const MemoryTrim&) = delete;

  void start();
  void stop();
  // One look: trims if the resident set grew by `growth` since the last trim (or since the
  // first look), by less than 1 MiB since the look before, and the process used under 10% of
  // a core since then. Returns the bytes it shrank by (0 when it did not trim).
  std::int64_t check();

 private:
  static constexpr std::int64_t kSteady = std::int64_t{1} << 20;
  std::chrono::milliseconds period_;
  std::int64_t growth_;
  Metrics* metrics_;
  std::int64_t baseline_ = -1;  // the resident set after the last trim
  std::int64_t last_ = -1;      // at the look before
  std::chrono::steady_clock::time_point last_at_{};
  std::chrono::microseconds last_cpu_{};  // the process's CPU time then
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// The process's resident set now, in bytes (/proc/self/statm; 0 where there is none).
std::int64_t resident_bytes();

}  // namespace portier
