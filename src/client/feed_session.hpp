#pragma once
// One push session on a caller's io_context (docs/protocol.md): it resolves, connects (TCP,
// TLS, WebSocket), says hello with its cursors, applies and acknowledges what the server
// sends (FeedProtocol), and reconnects with exponential backoff and jitter until it is
// stopped or refused for good. Asynchronous do_/on_ steps on the session's strand, so
// thousands of sessions share a few threads; no call blocks. FeedClient (feed_client.hpp)
// wraps one in a thread of its own for simple programs.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/feed_protocol.hpp"

namespace boost::asio::ssl {
class context;
}

namespace portier::client {

struct ClientOptions {
  std::string url = "http://127.0.0.1:8080";  // the server (http:// or ws://)
  std::string token;                          // a user token or a unit credential
  std::vector<std::string> feeds;             // empty: the identity's own feed
  std::string device_id;                      // stable per installation
  std::string device_kind = "app";            // app | unit | console
  std::string device_name;
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{10000};
  std::string state_file;  // FeedClient: loaded at start and saved at stop (and by save())
  std::string ca_file;     // wss://: trust this CA (PEM) instead of the system's
  // wss://: use this context (shared by many sessions) instead of building one from ca_file.
  std::shared_ptr<boost::asio::ssl::context> tls_context;
  ReplicaStore* replica_store = nullptr;  // when set: replicas loaded at start, kept durable
  // Acks wait this long after the first change not yet acknowledged, and up to as long again
  // at random, then go out as one per feed (the newest seq stored): a burst costs one ack, and
  // a change reaching thousands of devices is not followed by thousands of acks competing
  // with its delivery, nor by all of them in the same moment after it. 0: each at once. A
  // graceful stop sends what is due first.
  std::chrono::milliseconds ack_delay{250};
  // Bytes waiting to be sent before the connection counts as stuck and is replaced.
  std::size_t max_queued_bytes = 4 << 20;
  // What the client skipped and why it reconnected (default: standard error).
  std::function<void(const std::string&)> log;
};

class FeedSession : public std::enable_shared_from_this<FeedSession> {
 public:
  // `on_event` runs on the session's strand after each message is applied (and "closed" when
  // a connection ends and another will be tried). An exception it throws is logged, not
  // propagated.
  static std::shared_ptr<FeedSession> create(boost::asio::io_context& ioc, ClientOptions options,
                                             std::function<void(const Event&)> on_event = {});
  ~FeedSession();
  FeedSession(const FeedSession&) = delete;
  FeedSession& operator=(const FeedSession&) = delete;

  // Loads the ReplicaStore's replicas and starts connecting. Once.
  void start();
  // Closes the connection (a close frame, at most 2 s) and stops reconnecting; any thread.
  // `done` runs on the strand once it has stopped: no callback runs after it.
  void stop(std::function<void()> done = {});
  // Runs `fn` on the strand once the session has stopped, whether by stop() or because it
  // was refused for good (at once when it already has); it does not stop the session.
  void when_stopped(std::function<void()> fn);
  // Sends a message on the live connection, after the server's ready (any thread). False
  // when there is none (nothing was sent); true means queued, not that it arrived.
  bool send(const boost::json::object& message);

  // Any thread.
  const FeedProtocol& protocol() const { return protocol_; }
  FeedProtocol& protocol() { return protocol_; }
  bool connected() const;
  // Why the session stopped trying ("revoked: user_disabled", "unauthorized"), or "".
  std::string stopped_reason() const;
  bool stopped() const;
  int connections() const;
  int last_close_code() const;

 private:
  struct Conn;
  FeedSession(boost::asio::io_context& ioc, ClientOptions options,
              std::function<void(const Event&)> on_event);

  void do_connect();
  void on_resolve(const boost::system::error_code& ec,
                  const boost::asio::ip::tcp::resolver::results_type& results);
  void on_connect(const std::shared_ptr<Conn>& c, const boost::system::error_code& ec);
  void on_tls_handshake(const std::shared_ptr<Conn>& c, const boost::system::error_code& ec);
  void do_ws_handshake(const std::shared_ptr<Conn>& c);
  void on_ws_handshake(const std::shared_ptr<Conn>& c, const boost::system::error_code& ec);
  void do_read(const std::shared_ptr<Conn>& c);
  void on_read(const std::shared_ptr<Conn>& c, const boost::system::error_code& ec);
  void enqueue(const std::shared_ptr<Conn>& c, std::string message);
  // Acknowledges now, or within options_.ack_delay together with what follows.
  void acknowledge(const std::shared_ptr<Conn>& c, const Ack& a);
  void send_acks(const std::shared_ptr<Conn>& c);
  void do_write(const std::shared_ptr<Conn>& c);
  void on_write(const std::shared_ptr<Conn>& c, const boost::system::error_code& ec);
  // Closes the connection with a close frame (at most 2 s), then runs `then` on the strand.
  void close_then(const std::shared_ptr<Conn>& c, std::function<void()> then);
  // This connection is over; another is tried after a backoff.
  void reconnect(const std::string& why, bool local_failure = false);
  void on_backoff(const boost::system::error_code& ec);
  // No more connections: closes the current one (gracefully when it is open) and stops.
  void shut_down();
  void finish_stop();
  void give_up(const std::string& why);
  void notify(const Event& e);
  void log(const std::string& line) const;
  bool current(const std::shared_ptr<Conn>& c) const;

  struct Impl;
  std::unique_ptr<Impl> impl_;
  ClientOptions options_;
  std::function<void(const Event&)> on_event_;
  FeedProtocol protocol_;
};

}  // namespace portier::client
