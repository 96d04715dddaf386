#pragma once
// The fan-out: writes queued feed entries as rows (Store::fan_out) in short transactions on
// its own thread. A write whose changes reach thousands of feeds queues them
// (WriteTx::append), commits at once and publishes them then: their seqs are final and
// readers see them as listed. This thread only turns the queue into rows: once the sessions
// have the change (`busy` says the gateway is still handing changes out; the rows wait until
// it has said no for 100 ms, at most `max_wait`), so the rows never compete with the sends
// for the CPU, and a burst's jobs go in together; in transactions of at most 25 ms that give
// way to any writer waiting (Store::fan_out), so doors keep opening meanwhile.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "store/store.hpp"

namespace portier::sync {

class FanOut {
 public:
  // busy: whether the changes just published are still being handed out (empty: never).
  explicit FanOut(Store& store, std::function<bool()> busy = {},
                  std::chrono::milliseconds max_wait = std::chrono::seconds(2),
                  std::size_t batch = 20000);
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
  std::function<bool()> busy_;
  std::chrono::milliseconds max_wait_;
  std::size_t batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = true, stopping_ = false;
  std::thread thread_;
};

}  // namespace portier::sync
