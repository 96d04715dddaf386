#include "sync/fanout.hpp"

#include <chrono>

namespace portier::sync {

FanOut::FanOut(Store& store, Publish publish, std::size_t batch)
    : store_(store), publish_(std::move(publish)), batch_(batch) {}

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
  auto publish = [this](std::vector<Appended> batch) {
    std::vector<FeedChange> changes;
    changes.reserve(batch.size());
    for (auto& a : batch)
      changes.push_back(FeedChange{std::move(a.feed), a.seq, std::move(a.body)});
    publish_(std::move(changes));
  };
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return pending_ || stopping_; });
    if (stopping_) return;
    pending_ = false;
    lock.unlock();
    for (;;) {
      auto more = store_.fan_out(batch_, publish);
      if (!more) {
        // The store failed (disk full, busy): what is queued stays queued; try again soon.
        std::unique_lock wait(mu_);
        cv_.wait_for(wait, std::chrono::seconds(1), [&] { return stopping_; });
        if (stopping_) return;
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
