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
};

// What one pushed message did, for callbacks.
struct Event {
  std::string type;  // snapshot | change | device | ready | revoked | error | closed
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

  Replica replica(const std::string& feed) const;
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
  int native_socket_ = -1;  // to wake a blocked read on stop()
  std::thread thread_;
};

}  // namespace portier::client
