#pragma once
// The C++ client of the push protocol (docs/protocol.md): connects, authenticates, keeps a
// replica of each feed (a snapshot, then every change in seq order), acknowledges what it
// applied, reconnects with exponential backoff and jitter, and resumes from its cursor.
// Replicas and cursors can be saved to a file and loaded at the next start.

#include <boost/json/object.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/result.hpp"

namespace portier::client {

struct Replica {
  std::string epoch;
  std::int64_t seq = -1;  // -1: nothing yet (the next connection asks for a snapshot)
  std::map<std::string, boost::json::object> records;  // "kind:id" -> record
};

// Keeps replicas durable (the unit agent's SQLite state). Called on the client's thread, and
// before the client acknowledges what it applied.
class ReplicaStore {
 public:
  virtual ~ReplicaStore() = default;
  // The replicas saved earlier (loaded at start()).
  virtual std::map<std::string, Replica> load() = 0;
  // A snapshot replaced the feed's replica.
  virtual void snapshot(const std::string& feed, const Replica& r) = 0;
  // One change applied: key "kind:id", record null for a delete.
  virtual void change(const std::string& feed, const std::string& epoch, std::int64_t seq,
                      const std::string& key, const boost::json::object* record) = 0;
};

struct ClientOptions {
  std::string url = "http://127.0.0.1:8080";  // the server (http:// or ws://)
  std::string token;                          // a user token or a unit credential
  std::vector<std::string> feeds;             // empty: the identity's own feed
  std::string device_id;                      // stable per installation
  std::string device_kind = "app";            // app | unit | console
  std::string device_name;
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{10000};
  std::string state_file;  // when set: loaded at start and saved at stop (and by save())
  std::string ca_file;     // wss://: trust this CA (PEM) instead of the system's
  ReplicaStore* replica_store = nullptr;  // when set: replicas loaded at start, kept durable
};

// What one pushed message did, for callbacks.
struct Event {
  // snapshot | change | ready | revoked | error | closed, or any other message the server
  // sends (device, event, command, open_result, event_saved, …)
  std::string type;
  std::string feed;
  std::int64_t seq = 0;
  boost::json::object message;  // the message as received (empty for "closed")
};

class FeedClient {
 public:
  explicit FeedClient(ClientOptions options);
  ~FeedClient();
  FeedClient(const FeedClient&) = delete;
  FeedClient& operator=(const FeedClient&) = delete;

  // Called on the client's thread after each message is applied. Set before start().
  void on_event(std::function<void(const Event&)> fn) { on_event_ = std::move(fn); }
  // Starts the connection thread.
  void start();
  // Stops it and closes the connection.
  void stop();

  // Sends a message on the live connection, after the server's ready (any thread). False
  // when there is none (nothing was sent); true means queued, not that it arrived.
  bool send(const boost::json::object& message);

  Replica replica(const std::string& feed) const;
  // One record of a feed's replica ("kind:id"), without copying the rest.
  std::optional<boost::json::object> record(const std::string& feed, const std::string& key) const;
  std::vector<std::string> feeds() const;
  bool connected() const;
  // Why the client stopped trying ("revoked: user_disabled", "unauthorized"), or "".
  std::string stopped_reason() const;
  // Connections made so far.
  int connections() const;
  // The close code of the last connection that ended with one (0: none yet).
  int last_close_code() const;

  // Waits until pred holds (checked after every event) or the timeout passes.
  bool wait_for(const std::function<bool(const FeedClient&)>& pred,
                std::chrono::milliseconds timeout) const;

  Status save(const std::string& path) const;
  Status load(const std::string& path);

 private:
  void run();
  // One connection: returns when it ends; false when the client must stop retrying.
  bool session();
  // The protocol on an open WebSocket (plain or TLS).
  template <class Ws>
  bool talk(Ws& ws, const std::string& host_port);
  void apply(const boost::json::object& msg, std::string& ack_feed, std::int64_t& ack_seq);
  void notify(const Event& e);

  ClientOptions options_;
  std::function<void(const Event&)> on_event_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, Replica> replicas_;
  bool connected_ = false;
  bool stopping_ = false;
  std::string stopped_reason_;
  int connections_ = 0;
  int last_close_code_ = 0;
  int native_socket_ = -1;                   // to wake a blocked read on stop()
  std::function<void(std::string)> sender_;  // set while a connection is ready
  std::thread thread_;
};

}  // namespace portier::client
