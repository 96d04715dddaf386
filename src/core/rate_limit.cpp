#include "core/rate_limit.hpp"

namespace portier {

void RateLimiter::expire(std::deque<Clock::time_point>& q, Clock::time_point now) const {
  while (!q.empty() && q.front() + window_ <= now) q.pop_front();
}

RateLimiter::Clock::duration RateLimiter::retry_after(const std::string& key,
                                                      Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  if (it == failures_.end()) return {};
  expire(it->second, now);
  if (static_cast<int>(it->second.size()) < max_) {
    if (it->second.empty()) failures_.erase(it);
    return {};
  }
  return it->second.front() + window_ - now;
}

void RateLimiter::forget_idle(Clock::time_point now) {
  // Now and then, so the map cannot grow without bound.
  if (failures_.size() <= 100000) return;
  for (auto i = failures_.begin(); i != failures_.end();) {
    expire(i->second, now);
    i = i->second.empty() ? failures_.erase(i) : std::next(i);
  }
}

RateLimiter::Admission RateLimiter::admit(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto& q = failures_[key];
  expire(q, now);
  if (static_cast<int>(q.size()) >= max_) return {q.front() + window_ - now, 0};
  q.push_back(now);
  Admission a{{}, max_ - static_cast<int>(q.size())};
  forget_idle(now);
  return a;
}

void RateLimiter::forgive(const std::string& key, Clock::time_point at) {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  if (it == failures_.end()) return;
  auto& q = it->second;
  for (auto i = q.rbegin(); i != q.rend(); ++i)
    if (*i == at) {
      q.erase(std::next(i).base());
      break;
    }
  if (q.empty()) failures_.erase(it);
}

void RateLimiter::record_failure(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto& q = failures_[key];
  expire(q, now);
  q.push_back(now);
  // Memory stays bounded by the limit per key, whatever an attacker sends.
  while (static_cast<int>(q.size()) > max_) q.pop_front();
  forget_idle(now);
}

void RateLimiter::reset(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

}  // namespace portier
