#pragma once
// The client side of the push protocol (docs/protocol.md) without any I/O: the replicas and
// their cursors, the hello that resumes them, and what to do with each message the server
// sends. Anything the server sends is untrusted input: nothing here throws on it. A message
// that names no replica change and cannot be used is skipped (and logged); one that would
// leave a replica wrong if skipped (a change or snapshot that cannot be applied, or that the
// ReplicaStore could not save) makes the session reconnect and resume from its cursor, with
// nothing applied and nothing acknowledged.

#include <boost/json/object.hpp>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace portier::client {

struct Replica {
  std::string epoch;
  std::int64_t seq = -1;  // -1: nothing yet (the next connection asks for a snapshot)
  std::map<std::string, boost::json::object> records;  // "kind:id" -> record
};

// Keeps replicas durable (the unit agent's SQLite state). Called on the session's strand,
// before a change is applied in memory or acknowledged: an error leaves both as they were (the
// store rolls back), and the session reconnects and resumes from the stored cursor.
class ReplicaStore {
 public:
  virtual ~ReplicaStore() = default;
  // The replicas saved earlier (loaded at start()).
  virtual std::map<std::string, Replica> load() = 0;
  // A snapshot replaces the feed's replica.
  virtual Status snapshot(const std::string& feed, const Replica& r) = 0;
  // One change: key "kind:id", record null for a delete; the feed's cursor becomes (epoch, seq).
  virtual Status change(const std::string& feed, const std::string& epoch, std::int64_t seq,
                        const std::string& key, const boost::json::object* record) = 0;
};

// What one pushed message did, for callbacks.
struct Event {
  // snapshot | change | ready | revoked | error | closed, or any other message the server
  // sends (device, event, command, open_result, event_saved, …, or a type newer than this
  // client): its fields are the server's, unchecked.
  std::string type;
  std::string feed;
  std::int64_t seq = 0;
  boost::json::object message;  // the message as received (empty for "closed")
};

// An acknowledgement due: the newest seq of `feed` the client stored. One covers every seq
// before it, so acks of the same feed coalesce.
struct Ack {
  std::string feed;
  std::int64_t seq = 0;
};
// The ack message for the server.
std::string ack_message(const Ack& a);

// What the session does after a message.
struct Reaction {
  enum class Next {
    read,       // go on reading
    reconnect,  // close this connection; reconnect with backoff and resume
    stop,       // close and stop for good (refused: `why` says why)
  };
  Next next = Next::read;
  std::string why;             // reconnect / stop: the reason, for the log or stopped_reason
  bool local_failure = false;  // reconnect because the ReplicaStore failed: back off more
  bool ready = false;          // the server accepted the hello: sending is allowed
  std::vector<Ack> acks;       // to acknowledge (what the store took), in order
  std::optional<Event> event;  // for the callback
  std::string note;            // what to log: a message skipped, or why it reconnects
};

class FeedProtocol {
 public:
  // `feeds`: the feeds to read (empty: the identity's own); `store` may be null.
  FeedProtocol(std::vector<std::string> feeds, ReplicaStore* store);

  // Loads the store's replicas (of the feeds asked for). Call before the first hello.
  void load_from_store();
  // Replicas read from a saved state (FeedClient::load).
  void set_replica(const std::string& feed, Replica r);

  // The hello for a new connection: the token, the device, and a cursor per replica.
  std::string hello(const std::string& token, const std::string& device_id,
                    const std::string& device_kind, const std::string& device_name) const;
  // One text message from the server.
  Reaction on_message(std::string_view text);

  // Any thread.
  Replica replica(const std::string& feed) const;
  std::optional<boost::json::object> record(const std::string& feed, const std::string& key) const;
  std::vector<std::string> feeds() const;
  std::map<std::string, Replica> replicas() const;

 private:
  Reaction on_ready(const boost::json::object& msg);
  Reaction on_snapshot(const boost::json::object& msg);
  Reaction on_change(const boost::json::object& msg);
  bool wanted(const std::string& feed) const;

  std::vector<std::string> asked_;
  ReplicaStore* store_;
  mutable std::mutex mu_;
  std::map<std::string, Replica> replicas_;
};

}  // namespace portier::client
