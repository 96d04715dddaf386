#pragma once
// Counts failures per key in a sliding window; a key over its limit is refused until its
// oldest counted failure ages out. Pure: the caller passes the instant. Thread-safe.

#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

namespace portier {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimiter(int max_failures, Clock::duration window) : max_(max_failures), window_(window) {}

  struct Admission {
    Clock::duration retry_after{};  // non-zero: refused, and how long until the key may try
    int left = 0;                   // admitted: attempts left in the window after this one
  };
  // Counts an attempt as a failure before it is judged, so that concurrent attempts cannot
  // all pass the check: exactly the limit get through. Take it back with forgive() if the
  // attempt succeeds.
  Admission admit(const std::string& key, Clock::time_point now);
  // Takes back one attempt admitted at `at`.
  void forgive(const std::string& key, Clock::time_point at);

  // Zero when the key may try now, else how long until it may.
  Clock::duration retry_after(const std::string& key, Clock::time_point now);
  void record_failure(const std::string& key, Clock::time_point now);
  void reset(const std::string& key);

 private:
  void expire(std::deque<Clock::time_point>& q, Clock::time_point now) const;
  void forget_idle(Clock::time_point now);

  int max_;
  Clock::duration window_;
  std::mutex mu_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> failures_;
};

}  // namespace portier
