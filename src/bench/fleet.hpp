#pragma once
// The bench's side of its worker processes: starts them (this executable, `worker`), spreads
// sessions over them and gathers what their sessions saw. Every call goes to the workers at
// once and waits for all their answers.

#include <array>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/proc.hpp"

namespace portier::bench {

struct ConnectResult {
  std::size_t ok = 0, failed = 0, pending = 0;
  std::string error;  // the first failure
  double ms = 0;      // until the slowest worker was done
};

struct WorkerTotals {
  std::int64_t cpu_us = 0, rss_kb = 0, reconnects = 0, resumed = 0, snapshots = 0, gaps = 0,
               errors = 0;
  std::string error;
  boost::json::object closes;    // close code -> count (0: the transport failed)
  boost::json::object failures;  // what failed ("connect: Connection refused") -> count
};

class Fleet {
 public:
  Fleet(const std::string& exe, int workers, int threads);
  ~Fleet();
  int size() const { return static_cast<int>(workers_.size()); }

  // Connects sessions of `kind` (ws, mqtt, floor) to host:port, split in contiguous chunks
  // over the workers from `first_worker` on (only_worker >= 0: all on that one). Device
  // sessions of a phase must come in one call, so that wait() and records() answer in the
  // order given here.
  ConnectResult connect(const std::string& kind, const std::string& host, unsigned short port,
                        std::vector<boost::json::object> sessions,
                        std::chrono::milliseconds timeout, int only_worker = -1,
                        int first_worker = 0, int concurrency = 256);
  // From now on, count device sessions receiving `tag`.
  void arm(std::int64_t tag);
  struct Times {
    std::vector<std::int64_t> at;      // receipt time per device session, -1 when not received
    std::vector<std::int64_t> synced;  // when each last held its feed again (-1: never)
    std::size_t bytes = 0;             // the frame's size
  };
  // Waits until every device session has the armed tag, or the timeout.
  Times wait(std::chrono::milliseconds timeout);
  // Every (tag, time) each device session recorded since the last call.
  std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> records();
  WorkerTotals stats(bool reset = false);
  // resume: reconnect with cursors (warm) or without (cold).
  void mode(bool resume, int backoff_ms, int ack_delay_ms, int ack_spread_ms);
  // Closes every session (gracefully) and forgets them.
  void close();
  void open_start(double rate, const std::vector<std::string>& doors, int worker = 0);
  // [sent, answered (-1: never), status] per open.
  std::vector<std::array<std::int64_t, 3>> open_stop(std::chrono::milliseconds timeout,
                                                     int worker = 0);

 private:
  boost::json::object ask(std::size_t w, const boost::json::object& cmd,
                          std::chrono::milliseconds timeout);
  void send(std::size_t w, const boost::json::object& cmd);
  boost::json::object answer(std::size_t w, std::chrono::milliseconds timeout);
  std::vector<boost::json::object> all(const boost::json::object& cmd,
                                       std::chrono::milliseconds timeout);
  std::vector<std::unique_ptr<Child>> workers_;
};

}  // namespace portier::bench
