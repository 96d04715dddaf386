#pragma once
// The WebSocket push gateway at GET /v1/stream (protocol: docs/protocol.md), assembled from
// its parts: the hub (who reads what; fan-out), the sessions (transport), the protocol (one
// session's state) and the commands waiting for their units. It is the bus's listener on
// this node. Sessions live on io-thread strands; store reads run on the worker pool;
// committed changes arrive from the bus already serialized and are shared by every session
// that gets them.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <memory>

#include "bus/bus.hpp"
#include "server/clock.hpp"
#include "server/devices.hpp"
#include "server/door_service.hpp"
#include "store/store.hpp"

namespace boost::asio {
class thread_pool;
}

namespace portier {

struct Upgrade;
class Metrics;

namespace push {
struct Shared;
}

struct GatewayOptions {
  std::size_t max_message_bytes = 64 * 1024;  // largest client message
  std::size_t queue_budget_bytes = 4 << 20;   // unsent bytes per session before 4001
  std::size_t max_feeds = 32;                 // feeds per session
  std::size_t max_sessions_per_token = 32;    // live sessions per token; the oldest goes (4008)
  std::chrono::seconds hello_timeout{10};     // from upgrade to hello
  std::chrono::seconds idle_timeout{60};      // silence (pings unanswered) before closing
  int fetch_batch = 500;                      // changes read from the store per fetch
};

class Gateway final : public BusListener {
 public:
  // io: where changes are handed to sessions, a few dozen at a time (the io threads').
  // `doors` serves apps' opens and units' events; `metrics` (may be null) counts pushes,
  // snapshots, closes and evictions. `clock` defaults to the system's.
  Gateway(Store& store, boost::asio::thread_pool& workers, const boost::asio::any_io_executor& io,
          DeviceRegistry& devices, DoorService& doors, Metrics* metrics,
          GatewayOptions options = {}, Clock clock = {});
  ~Gateway() override;

  // Takes over an upgraded connection.
  void accept(std::unique_ptr<Upgrade> up);
  // Closes every session with 1001 (going away).
  void stop();
  // Live sessions now (from the upgrade on, also before their hello).
  std::size_t sessions() const;
  // Whether changes published to it are still being handed to sessions.
  bool delivering() const;

  void on_changes(const sync::FeedChanges& changes) override;
  void on_revocation(const Revocation& r) override;
  void on_event(const std::string& feed, std::shared_ptr<const std::string> message) override;
  bool on_command(const UnitCommand& cmd, const CommandDone& done) override;

 private:
  std::shared_ptr<push::Shared> shared_;
  std::atomic<bool> stopping_{false};
};

}  // namespace portier
