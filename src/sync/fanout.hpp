#pragma once
// The fan-out: lists queued changes in their feeds (Store::fan_out) in short transactions on
// its own thread, and publishes each batch as it commits. A write whose changes reach
// thousands of feeds queues them (WriteTx::append) and commits at once; the doors keep
// opening while its changes are listed, a few hundred per transaction.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "store/store.hpp"
#include "sync/feed_change.hpp"

namespace portier::sync {

class FanOut {
 public:
  // publish gets each batch right after it commits (under the store's write lock: it must not
  // block).
  using Publish = std::function<void(std::vector<FeedChange>)>;
  FanOut(Store& store, Publish publish, std::size_t batch = 20000);
  ~FanOut();
  FanOut(const FanOut&) = delete;
  FanOut& operator=(const FanOut&) = delete;

  // Starts the thread; it lists what was queued before (a restart), then what gets queued.
  void start();
  // Something was queued.
  void notify();
  // Stops after the current batch (what is left stays queued for the next start).
  void stop();

 private:
  void run();

  Store& store_;
  Publish publish_;
  std::size_t batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = true, stopping_ = false;
  std::thread thread_;
};

}  // namespace portier::sync
