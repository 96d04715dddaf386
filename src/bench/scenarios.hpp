#pragma once
// The scenarios (docs/benchmarks.md): fanout, edits, open, idle, storm. A Run owns what the
// scenarios share — the worker fleet, Mosquitto, the floor, the loopback source addresses —
// and starts a fresh portierd with a freshly seeded organization for each measurement.

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bench/stats.hpp"

namespace portier::bench {

struct Options {
  std::string portierd, mosquitto;
  std::vector<std::string> portierd_flags;  // extra `serve` flags
  int workers = 0;                          // 0: from the fd limit and the cores
  int threads = 1;                          // io threads per worker
  int repeat = 5;
  double loss_timeout_s = 60;  // a delivery later than this (after the write answered) is lost
  // Sessions per loopback source address: under portierd's default cap of 512 connections per
  // address even when all of them reconnect at once (phones come from many addresses).
  std::size_t per_address = 256;
  int backoff_ms = 100;    // the reconnect backoff's base (the protocol's 100 ms)
  int ack_delay_ms = 250;  // device sessions ack this long after a change (the SDK's default)
  int ack_spread_ms = -1;  // and up to this much longer, at random (-1: ack_delay_ms, the SDK's)
  int ack_spread() const { return ack_spread_ms < 0 ? ack_delay_ms : ack_spread_ms; }
  bool api_seed = false;  // never use POST /v1/import
  bool keep = false;      // keep the temporary directory (data, logs)
  bool smoke = false;

  std::vector<std::size_t> fanout_n{1000, 5000, 10000, 19000};
  std::vector<std::string> targets{"portier", "mosquitto", "floor"};  // what fanout measures
  std::size_t bytes = 0;  // the peers' payload without portier (0: portier's frame size, or 430)
  std::size_t edits_n = 1000;
  double edits_rate = 50, edits_seconds = 10;
  std::size_t open_units = 10, open_apps = 20, open_during_n = 10000;
  double open_rate = 500, open_seconds = 5;
  int open_edits = 5;  // schedule edits the opens run during, a second apart
  std::vector<std::size_t> idle_n{19000};
  double idle_seconds = 30, settle_seconds = 2;  // 30 s: one keep-alive ping per session
  std::size_t storm_n = 10000;
};

class Run {
 public:
  // `max_sessions`: the most sessions any scenario of this run holds at once.
  Run(Options o, std::size_t max_sessions);
  ~Run();
  boost::json::object setup() const;
  boost::json::object fanout(std::size_t n);
  boost::json::object edits();
  boost::json::object open();
  boost::json::object idle(std::size_t n);
  boost::json::object storm();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A latency summary as JSON: {count, lost, p50_ms, p90_ms, p99_ms, max_ms}.
boost::json::object to_json(const Summary& s);

}  // namespace portier::bench
