#pragma once
// The WebSocket push gateway at GET /v1/stream (protocol: docs/protocol.md). Sessions live on
// io-thread strands; store reads run on the worker pool; committed changes arrive from the
// bus already serialized and are shared by every session that gets them. One write in
// flight per session; a session whose queue passes its byte budget is closed (4001) and
// resumes from its cursor.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>

#include "bus/bus.hpp"
#include "core/time.hpp"
#include "server/clock.hpp"
#include "server/devices.hpp"
#include "store/store.hpp"

namespace boost::asio {
class thread_pool;
}

namespace portier {

struct Upgrade;
class Metrics;
class Doors;

struct GatewayOptions {
  std::size_t max_message_bytes = 64 * 1024;  // largest client message
  std::size_t queue_budget_bytes = 4 << 20;   // unsent bytes per session before 4001
  std::size_t max_feeds = 32;                 // feeds per session
  std::chrono::seconds hello_timeout{10};     // from upgrade to hello
  std::chrono::seconds idle_timeout{60};      // silence (pings unanswered) before closing
  int fetch_batch = 500;                      // changes read from the store per fetch
};

class Gateway final : public BusListener {
 public:
  // io: where changes are handed to sessions, a few hundred at a time (the io threads').
  // `clock` defaults to the system's.
  Gateway(Store& store, boost::asio::thread_pool& workers, boost::asio::any_io_executor io,
          DeviceRegistry& devices, GatewayOptions options = {}, Clock clock = {});
  ~Gateway() override;

  // Takes over an upgraded connection.
  void accept(std::unique_ptr<Upgrade> up);
  // Closes every session with 1001 (going away).
  void stop();
  // Live sessions now.
  std::size_t sessions() const;
  // Counts pushes, snapshots and closes (by code) into these metrics from now on.
  void set_metrics(Metrics* m);
  // Serves `open` messages of apps and the units' results and events with this (set before
  // serving).
  void set_doors(Doors* d);

  void on_changes(const std::vector<sync::FeedChange>& changes) override;
  void on_revocation(const Revocation& r) override;
  void on_event(const std::string& feed, std::shared_ptr<const std::string> message) override;
  bool on_command(const UnitCommand& cmd, const CommandDone& done) override;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace portier
