#pragma once
// The bus tells every server node what committed: feed changes to push, sessions to revoke
// and live events for consoles; and it routes a door command to the node that holds the
// unit's connection. LocalBus (local_bus.hpp) serves one node in-process; a NATS bus will
// serve a cluster.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sync/feed_change.hpp"

namespace portier {

// Sessions to end: every session of a user, of a unit, or of one token.
struct Revocation {
  std::string user_id;
  std::string unit_id;
  std::string token_hash;
  std::string reason;  // user_disabled, user_deleted, logged_out, credentials_changed, …
};

// A command for a door unit: pulse a door's relay. The unit ignores it after expires_at
// and ignores a command id it has seen before.
struct UnitCommand {
  std::string id;  // cmd_…
  std::string org_id;
  std::string unit_id;
  std::string door_id;
  int pulse_ms = 1000;
  std::string expires_at;                   // RFC 3339 with milliseconds, UTC
  std::chrono::milliseconds timeout{5000};  // how long the sender waits for the result
};

// What became of a command: the unit's answer ("opened", "failed", "expired", "duplicate"),
// or "unit_offline" (no node holds the unit's connection), "unit_lost" (the unit's session
// ended with the command sent to it and no answer: it may have run) or "unit_timeout" (no
// answer in time).
struct CommandResult {
  std::string result;
  std::string message;
};
using CommandDone = std::function<void(CommandResult)>;

class BusListener {
 public:
  virtual ~BusListener() = default;
  // Changes committed together, in seq order per feed. Must not block.
  virtual void on_changes(const sync::FeedChanges& changes) = 0;
  // Must not block.
  virtual void on_revocation(const Revocation& r) = 0;
  // A live event for the sessions reading a feed ("org/…" consoles, "site/…" scoped admins),
  // a serialized message. Must not block.
  virtual void on_event(const std::string& feed, std::shared_ptr<const std::string> message) = 0;
  // Takes the command when this node holds the unit's connection: then it calls done exactly
  // once (the result, unit_lost or unit_timeout) and returns true. Returns false otherwise. Must
  // not block.
  virtual bool on_command(const UnitCommand& cmd, const CommandDone& done) = 0;
};

class Bus {
 public:
  virtual ~Bus() = default;
  // Publishes committed changes; called in commit order.
  virtual void publish_changes(const sync::FeedChanges& changes) = 0;
  // Publishes a revocation.
  virtual void publish_revocation(const Revocation& r) = 0;
  // Publishes a live event for the sessions reading a feed.
  virtual void publish_event(const std::string& feed,
                             std::shared_ptr<const std::string> message) = 0;
  // Delivers a command to the node holding the unit; done is called exactly once, from any
  // thread (with unit_offline at once when no node holds it).
  virtual void send_command(const UnitCommand& cmd, CommandDone done) = 0;
  // Adds a listener (the gateway); it must outlive the bus's use.
  virtual void subscribe(BusListener* listener) = 0;
};

}  // namespace portier
