#pragma once
// The bus tells every server node what committed: feed changes to push, and sessions to
// revoke. LocalBus serves one node in-process; a NATS bus will serve a cluster.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sync/feed.hpp"

namespace portier {

// Sessions to end: every session of a user, of a unit, or of one token.
struct Revocation {
  std::string user_id;
  std::string unit_id;
  std::string token_hash;
  std::string reason;  // user_disabled, user_deleted, logged_out, credentials_changed, …
};

class BusListener {
 public:
  virtual ~BusListener() = default;
  // Changes committed together, in seq order per feed. Must not block.
  virtual void on_changes(const std::vector<sync::FeedChange>& changes) = 0;
  // Must not block.
  virtual void on_revocation(const Revocation& r) = 0;
};

class Bus {
 public:
  virtual ~Bus() = default;
  // Publishes committed changes; called in commit order.
  virtual void publish_changes(const std::vector<sync::FeedChange>& changes) = 0;
  // Publishes a revocation.
  virtual void publish_revocation(const Revocation& r) = 0;
  // Adds a listener (the gateway); it must outlive the bus's use.
  virtual void subscribe(BusListener* listener) = 0;
};

// One node: hands every message straight to the listeners.
class LocalBus final : public Bus {
 public:
  void publish_changes(const std::vector<sync::FeedChange>& changes) override;
  void publish_revocation(const Revocation& r) override;
  void subscribe(BusListener* listener) override;

 private:
  std::mutex mu_;
  std::vector<BusListener*> listeners_;
};

}  // namespace portier
