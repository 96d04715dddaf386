#pragma once
// The push protocol of one session (docs/protocol.md) as plain code: the hello and who is
// speaking, each feed's cursor, resume or snapshot, catch-up paced by what waits unsent, live
// changes in seq order, acks and receipts, and the messages that reach the door side (open,
// result, event). No transport: it writes through a Sink, so tests drive it in-process. All
// calls come on the session's strand (one at a time).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/clock.hpp"
#include "server/devices.hpp"
#include "server/door_service.hpp"
#include "server/identity.hpp"
#include "store/store.hpp"
#include "sync/feed.hpp"

namespace portier {
class Metrics;
}

namespace boost::json {
class object;
}

namespace portier::push {

class Hub;
class PendingCommands;
class Subscriber;

// One text message: head + a body shared by every session that sends it + tail.
struct Frame {
  std::string head;
  std::shared_ptr<const std::string> body;
  std::string tail;
  std::size_t size() const { return head.size() + body->size() + tail.size(); }
};

// What the protocol needs of its connection.
class Sink {
 public:
  virtual ~Sink() = default;
  // Queues a message to write.
  virtual void send(Frame f) = 0;
  // Writes what is queued, then closes with `code`.
  virtual void close(std::uint16_t code, std::string reason) = 0;
  // Whether close() was called or the connection ended.
  virtual bool closing() const = 0;
  // Bytes queued and not yet written.
  virtual std::size_t queued_bytes() const = 0;
  // Runs `work` off the network threads (it may block on the store), then `then` back on the
  // session's strand; the session stays alive meanwhile.
  virtual void offload(std::function<void()> work, std::function<void()> then) = 0;
  // The hello was accepted: the hello timeout no longer applies.
  virtual void hello_accepted() = 0;
  // Sends a message from any thread, later (an open's answer); keeps the session alive.
  virtual std::function<void(std::shared_ptr<const std::string>)> sender() = 0;
};

struct ProtocolOptions {
  std::size_t queue_budget_bytes = 4 << 20;  // catch-up pauses past half of it
  std::size_t max_feeds = 32;                // feeds per session
  int fetch_batch = 500;                     // changes read from the store per fetch
};

// What every session of the server shares.
struct Services {
  Store& store;
  DeviceRegistry& devices;
  DoorService& doors;
  Hub& hub;
  PendingCommands& commands;
  Metrics* metrics;  // may be null
  ProtocolOptions options;
  Clock clock;  // the server's
};

class Protocol {
 public:
  // `self`: the session as the hub knows it.
  Protocol(Services& svc, Sink& sink, Subscriber& self) : svc_(svc), sink_(sink), self_(self) {}

  // A message from the client (`text`: it came in a text frame).
  void on_message(std::string_view data, bool text);
  // A committed change of a feed this session reads (from the hub).
  void on_live(const sync::FeedChange& c);
  // A write completed: catch-up that waited for the queue to drain may go on.
  void on_drained();
  // The hello did not come in time.
  void on_hello_timeout();
  // The connection ended: leaves the hub; receipts and presence say so.
  void on_closed();
  // Whether the hello was accepted (messages outside the feeds go only to such sessions).
  bool ready() const { return hello_done_; }
  // Whether a hello is being checked (the hello timer does not fire then).
  bool hello_pending() const { return hello_pending_; }
  const std::string& session_id() const { return session_id_; }

 private:
  struct Want {
    std::string feed;
    std::string epoch;
    std::int64_t seq = -1;  // -1: no cursor, send a snapshot
  };
  struct FeedState {
    std::string name;
    std::string epoch;
    std::int64_t next = 1;       // the next seq to send
    std::int64_t live_high = 0;  // the highest seq heard live while fetching
    bool fetching = false;
    bool stalled = false;  // its catch-up waits for the queue to drain
  };
  // Who is speaking, as far as the session needs it after the hello.
  struct Speaker {
    bool is_unit = false;
    std::string id;  // user or unit id
    std::string org_id;
  };

  void on_hello(const boost::json::object& o);
  void begin(Principal who, const std::vector<Want>& wants,
             const std::vector<std::pair<std::string, FeedHead>>& heads, Device dev);
  FeedState* find(std::string_view feed);
  FeedState& state(const std::string& feed) { return *find(feed); }  // one it reads
  void snapshot(const std::string& feed);
  void fetch(const std::string& feed);
  void send_change(const std::string& feed, FeedState& f, std::int64_t seq,
                   std::shared_ptr<const std::string> body);
  void on_ack(const boost::json::object& o);
  void on_open(const boost::json::object& o);
  void on_result(const boost::json::object& o);
  void on_unit_event(const boost::json::object& o);
  void presence(bool connected);
  void fail_store(const Error& e);
  bool queue_half_full() const;
  void send_text(std::string text);
  void send_error(const std::string& code, const std::string& message, const std::string& id = "");
  void count(const char* name, const std::string& labels = "");
  Instant now() const;

  Services& svc_;
  Sink& sink_;
  Subscriber& self_;
  bool hello_done_ = false, hello_pending_ = false, registered_ = false, closed_ = false;
  Speaker who_;
  std::string session_id_, device_id_;
  // The feeds it reads, in the hello's order (at most max_feeds: looked up by a scan). An
  // idle session holds thousands of these: every byte counts (docs/architecture.md).
  std::vector<FeedState> feeds_;
};

}  // namespace portier::push
