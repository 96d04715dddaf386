#include "sync/fanout.hpp"

#include <chrono>

namespace portier::sync {

FanOut::FanOut(Store& store, std::function<bool()> busy, std::chrono::milliseconds max_wait,
               std::size_t batch)
    : store_(store), busy_(std::move(busy)), max_wait_(max_wait), batch_(batch) {}

FanOut::~FanOut() { stop(); }

void FanOut::start() {
  store_.on_queued([this] { notify(); });
  thread_ = std::thread([this] { run(); });
}

void FanOut::notify() {
  {
    std::lock_guard lock(mu_);
    pending_ = true;
  }
  cv_.notify_one();
}

void FanOut::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  store_.on_queued({});
}

void FanOut::run() {
  std::unique_lock lock(mu_);
  bool first = true;  // what a restart left queued is written at once
  for (;;) {
    cv_.wait(lock, [&] { return pending_ || stopping_; });
    if (stopping_) return;
    // The changes went out at their commit; their rows can wait until the sessions have them
    // (and until the rest of a burst is queued too: fewer, bigger transactions).
    if (!first && busy_) {
      auto until = std::chrono::steady_clock::now() + max_wait_;
      int quiet = 0;
      do {
        if (cv_.wait_for(lock, std::chrono::milliseconds(20), [&] { return stopping_; })) return;
        quiet = busy_() ? 0 : quiet + 1;
      } while (std::chrono::steady_clock::now() < until && quiet < 5);
    }
    first = false;
    pending_ = false;
    lock.unlock();
    for (;;) {
      auto more = store_.fan_out(batch_);
      if (!more) {
        // The store failed (disk full, busy): what is queued stays queued; try again soon.
        std::unique_lock wait(mu_);
        if (cv_.wait_for(wait, std::chrono::seconds(1), [&] { return stopping_; })) return;
        continue;
      }
      if (!*more) break;
      std::lock_guard check(mu_);
      if (stopping_) return;
    }
    lock.lock();
  }
}

}  // namespace portier::sync
