#pragma once
// The push hub: which session reads which feed, and who each session is (user, unit, token);
// it hands committed changes, revocations and live events to the sessions concerned. A change
// is serialized once and shared; deliveries go through one paced queue (64 per step on the io
// threads), revocations through the same queue so they never overtake a change. Sessions are
// listed when they connect and leave on close or in their destructor, in O(1) whatever the
// number of sessions. Transport-free: a session is anything that implements Subscriber.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "bus/bus.hpp"
#include "server/devices.hpp"
#include "sync/feed.hpp"

namespace portier {
class Metrics;
}

namespace portier::push {

// Close codes of the protocol (docs/protocol.md).
constexpr std::uint16_t kSlowConsumer = 4001;
constexpr std::uint16_t kRevoked = 4003;
constexpr std::uint16_t kTooManySessions = 4008;

// What the hub needs of a session. Every method may be called from any thread; the session
// does the work on its own strand.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  // A committed change of a feed the session reads: (*batch)[index].
  virtual void deliver(std::shared_ptr<const std::vector<sync::FeedChange>> batch,
                       std::size_t index) = 0;
  // A message outside any feed's sequence (device and audit events, commands, answers).
  virtual void push(std::shared_ptr<const std::string> message) = 0;
  // Sends `message` (unless empty), then closes with `code`.
  virtual void end(std::string message, std::uint16_t code, std::string reason) = 0;
};

// Who a session is, for revocations, commands and the cap per token.
struct Who {
  std::string user_id;  // a user's session …
  std::string unit_id;  // … or a unit's
  std::string token_hash;
};

struct HubOptions {
  // Live sessions per token (a user token or a unit credential); past it the oldest is ended
  // with kTooManySessions. 0: no cap.
  std::size_t max_sessions_per_token = 32;
};

class Hub : public std::enable_shared_from_this<Hub> {
 public:
  // `io`: where the delivery queue runs. `metrics` may be null.
  Hub(boost::asio::any_io_executor io, DeviceRegistry& devices, HubOptions options = {},
      Metrics* metrics = nullptr);

  // A new connection (before its hello): counted in size() and ended by end_all().
  void join(Subscriber* s, std::weak_ptr<Subscriber> self);
  // After its hello: the feeds it reads and who it is. May end the token's oldest session.
  void subscribe(Subscriber* s, const std::vector<std::string>& feeds, const Who& who);
  // The session is gone (closed, or being destroyed): O(1) in the number of sessions, and
  // harmless when repeated.
  void leave(Subscriber* s);
  // Live connections now (also those before their hello).
  std::size_t size() const;
  // Ends every session (server shutdown).
  void end_all(std::uint16_t code, const std::string& reason);

  // Committed changes, in commit order: each to the sessions reading its feed.
  void publish(sync::FeedChanges changes);
  // Ends the sessions of a user, a unit or a token, after what was published before.
  void revoke(const Revocation& r);
  // A message outside any feed's sequence, to every session reading the feed.
  void push_to_feed(const std::string& feed, const std::shared_ptr<const std::string>& message);
  // The unit's newest session (commands go there: an older one may be a dead link), or null.
  std::shared_ptr<Subscriber> unit_session(const std::string& unit_id) const;

  // Whether published changes or revocations wait in the delivery queue.
  bool delivering() const;

  // The newest seq of a feed this node knows (from hellos and commits), for receipts.
  void note_head(const std::string& feed, std::int64_t seq);
  // Tells the organization's consoles (org/ feed sessions) what a device now holds.
  void device_event(const std::string& org_id, const std::string& device_key);

 private:
  struct Entry;
  using List = std::list<Entry*>;
  using Index = std::unordered_map<std::string, List>;
  // Where an entry is listed: the index, its list there, and its place in it (so leaving
  // touches nothing else).
  struct Listing {
    Index* index;
    Index::value_type* slot;  // stable: unordered_map nodes do not move on rehash
    List::iterator at;
  };
  struct Entry {
    std::weak_ptr<Subscriber> self;
    std::vector<Listing> listed;
  };
  struct End {
    std::string message;
    std::uint16_t code;
    std::string reason;
  };
  // One queued item: a change for a session (batch[index]), the end of a session, or (no
  // session) published changes whose sessions the pump has yet to find, from batch[index] on.
  struct Delivery {
    std::shared_ptr<Subscriber> session;
    std::shared_ptr<const std::vector<sync::FeedChange>> batch;
    std::size_t index = 0;
    std::shared_ptr<const End> end;
  };

  void list(Entry& e, Index& index, const std::string& key);
  bool console_listing(const Index* index, const std::string& key) const;  // an org/ feed
  void unlist(Entry& e);                                                   // under mu_
  void note_head_locked(const std::string& feed, std::int64_t seq);
  void enqueue(std::vector<Delivery> deliveries);
  void pump();
  void count(const char* name);

  boost::asio::any_io_executor io_;
  DeviceRegistry& devices_;
  HubOptions options_;
  Metrics* metrics_;

  mutable std::mutex mu_;
  std::unordered_map<Subscriber*, Entry> all_;
  Index by_feed_, by_user_, by_unit_, by_token_;
  std::unordered_map<std::string, std::int64_t> heads_;
  // Listings of org/ feeds (consoles): an ack looks at it before taking mu_, which the pump
  // holds while it expands a fan-out.
  std::atomic<std::size_t> org_listings_{0};

  mutable std::mutex pump_mu_;
  std::deque<Delivery> to_deliver_;
  bool pumping_ = false;
};

}  // namespace portier::push
