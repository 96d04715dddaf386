#pragma once
// The C++ client of the push protocol (docs/protocol.md) for simple programs: one FeedSession
// (feed_session.hpp) on an io_context and a thread of its own. It connects, authenticates,
// keeps a replica of each feed (a snapshot, then every change in seq order), acknowledges
// what it applied, reconnects with exponential backoff and jitter, and resumes from its
// cursor. Replicas and cursors can be saved to a file and loaded at the next start, or kept
// durable by a ReplicaStore. Programs with many sessions (the benchmark) run FeedSessions on
// their own io_context instead.

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/feed_session.hpp"
#include "core/result.hpp"

namespace portier::client {

class FeedClient {
 public:
  explicit FeedClient(ClientOptions options);
  ~FeedClient();  // NOLINT(bugprone-exception-escape): see the definition
  FeedClient(const FeedClient&) = delete;
  FeedClient& operator=(const FeedClient&) = delete;

  // Called on the client's thread after each message is applied. Set before start().
  void on_event(std::function<void(const Event&)> fn) { on_event_ = std::move(fn); }
  // Loads the state file (if any) and starts the connection thread.
  void start();
  // Stops it and closes the connection; saves the state file (if any). Not from a callback.
  void stop();

  // Sends a message on the live connection, after the server's ready (any thread). False
  // when there is none (nothing was sent); true means queued, not that it arrived.
  bool send(const boost::json::object& message) { return session_->send(message); }

  Replica replica(const std::string& feed) const { return session_->protocol().replica(feed); }
  // One record of a feed's replica ("kind:id"), without copying the rest.
  std::optional<boost::json::object> record(const std::string& feed, const std::string& key) const {
    return session_->protocol().record(feed, key);
  }
  std::vector<std::string> feeds() const { return session_->protocol().feeds(); }
  bool connected() const { return session_->connected(); }
  // Why the client stopped trying ("revoked: user_disabled", "unauthorized"), or "".
  std::string stopped_reason() const { return session_->stopped_reason(); }
  // Connections made so far.
  int connections() const { return session_->connections(); }
  // The close code of the last connection that ended with one (0: none yet).
  int last_close_code() const { return session_->last_close_code(); }

  // Waits until pred holds (checked after every event) or the timeout passes.
  bool wait_for(const std::function<bool(const FeedClient&)>& pred,
                std::chrono::milliseconds timeout) const;

  Status save(const std::string& path) const;
  Status load(const std::string& path);

 private:
  ClientOptions options_;
  std::function<void(const Event&)> on_event_;
  boost::asio::io_context ioc_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::shared_ptr<FeedSession> session_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace portier::client
