#include "client/feed_session.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>

#include "client/tls.hpp"
#include "client/url.hpp"

namespace portier::client {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;

namespace {
constexpr std::uint16_t kRevoked = 4003;
constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr auto kCloseTimeout = std::chrono::seconds(2);
}  // namespace

// One connection attempt and, once open, the WebSocket on it. Handlers hold it alive; the
// session holds only the current one, so a handler of a connection already replaced sees
// that and returns.
struct FeedSession::Conn {
  using Plain = websocket::stream<beast::tcp_stream>;
  using Tls = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;
  std::unique_ptr<Plain> plain;
  std::unique_ptr<Tls> tls;
  beast::flat_buffer buffer;
  std::deque<std::string> queue;  // to send; the front is being written while `writing`
  std::size_t queued_bytes = 0;
  // Feed: newest seq stored, not yet acked. Not empty: the session's ack timer runs for it.
  std::map<std::string, std::int64_t> acks_due;
  std::function<void()> after_writes;  // stopping: closes once the queue is written
  bool writing = false;
  bool open = false;     // the WebSocket handshake completed
  bool ready = false;    // the server accepted the hello
  bool closing = false;  // closed or closing: its handlers do nothing more

  template <class F>
  void with_ws(F&& f) {
    if (plain)
      f(*plain);
    else
      f(*tls);
  }
  beast::tcp_stream& tcp() {
    return plain ? beast::get_lowest_layer(*plain) : beast::get_lowest_layer(*tls);
  }
  void cut() {
    closing = true;
    beast::error_code ignore;
    tcp().socket().shutdown(tcp::socket::shutdown_both, ignore);
    tcp().close();
  }
};

struct FeedSession::Impl {
  explicit Impl(net::io_context& ioc)
      : strand(net::make_strand(ioc)), resolver(strand), backoff(strand), ack_timer(strand) {}
  net::strand<net::io_context::executor_type> strand;
  tcp::resolver resolver;
  net::steady_timer backoff;
  net::steady_timer ack_timer;  // the current connection's acks due
  std::optional<Url> url;
  std::shared_ptr<net::ssl::context> tls;
  std::shared_ptr<Conn> conn;
  // On the strand only.
  bool started = false, stopping = false;
  int attempt = 0;         // failed attempts since the last ready
  int local_failures = 0;  // reconnects because the replica store failed, since one worked
  std::mt19937_64 rng{std::random_device{}()};
  std::vector<std::function<void()>> on_stopped;
  // Any thread.
  std::atomic<bool> ready{false};
  mutable std::mutex mu;
  bool connected = false, stopped = false;
  std::string stopped_reason;
  int connections = 0;
  int last_close_code = 0;
};

std::shared_ptr<FeedSession> FeedSession::create(net::io_context& ioc, ClientOptions options,
                                                 std::function<void(const Event&)> on_event) {
  return std::shared_ptr<FeedSession>(
      new FeedSession(ioc, std::move(options), std::move(on_event)));
}

FeedSession::FeedSession(net::io_context& ioc, ClientOptions options,
                         std::function<void(const Event&)> on_event)
    : impl_(std::make_unique<Impl>(ioc)),
      options_(std::move(options)),
      on_event_(std::move(on_event)),
      protocol_(options_.feeds, options_.replica_store) {
  impl_->url = parse_url(options_.url);
  if (impl_->url && impl_->url->tls) impl_->tls = options_.tls_context;
}

FeedSession::~FeedSession() = default;

bool FeedSession::connected() const {
  std::lock_guard lock(impl_->mu);
  return impl_->connected;
}
std::string FeedSession::stopped_reason() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stopped_reason;
}
bool FeedSession::stopped() const {
  std::lock_guard lock(impl_->mu);
  return impl_->stopped;
}
int FeedSession::connections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->connections;
}
int FeedSession::last_close_code() const {
  std::lock_guard lock(impl_->mu);
  return impl_->last_close_code;
}

void FeedSession::log(const std::string& line) const {
  if (options_.log)
    options_.log(line);
  else
    std::cerr << "portier client (" << options_.url << "): " << line << std::endl;
}

void FeedSession::notify(const Event& e) {
  if (!on_event_) return;
  // A callback is the caller's code: what it throws must not end the session.
  try {
    on_event_(e);
  } catch (const std::exception& ex) {
    log("the event handler failed on a " + e.type + " message: " + ex.what());
  }
}

bool FeedSession::current(const std::shared_ptr<Conn>& c) const {
  return c == impl_->conn && !c->closing && !impl_->stopping;
}

void FeedSession::start() {
  protocol_.load_from_store();
  net::post(impl_->strand, [self = shared_from_this()] {
    if (self->impl_->started || self->impl_->stopping) return;
    self->impl_->started = true;
    if (!self->impl_->url) return self->give_up("bad url: " + self->options_.url);
    self->do_connect();
  });
}

void FeedSession::stop(std::function<void()> done) {
  net::post(impl_->strand, [self = shared_from_this(), done = std::move(done)]() mutable {
    auto& im = *self->impl_;
    bool stopped;
    {
      std::lock_guard lock(im.mu);
      stopped = im.stopped;
    }
    if (stopped) {
      if (done) done();
      return;
    }
    if (done) im.on_stopped.push_back(std::move(done));
    self->shut_down();
  });
}

void FeedSession::when_stopped(std::function<void()> fn) {
  net::post(impl_->strand, [self = shared_from_this(), fn = std::move(fn)]() mutable {
    auto& im = *self->impl_;
    bool stopped;
    {
      std::lock_guard lock(im.mu);
      stopped = im.stopped;
    }
    if (stopped)
      fn();
    else
      im.on_stopped.push_back(std::move(fn));
  });
}

bool FeedSession::send(const json::object& message) {
  if (!impl_->ready) return false;
  net::post(impl_->strand, [self = shared_from_this(), m = json::serialize(message)]() mutable {
    auto c = self->impl_->conn;
    if (c && c->ready && self->current(c)) self->enqueue(c, std::move(m));
  });
  return true;
}

void FeedSession::do_connect() {
  impl_->resolver.async_resolve(
      impl_->url->host, impl_->url->port,
      [self = shared_from_this()](const beast::error_code& ec,
                                  const tcp::resolver::results_type& results) {
        self->on_resolve(ec, results);
      });
}

void FeedSession::on_resolve(const beast::error_code& ec,
                             const tcp::resolver::results_type& results) {
  auto& im = *impl_;
  if (im.stopping) return;
  if (ec) return reconnect("resolve " + im.url->host + ": " + ec.message());
  auto c = std::make_shared<Conn>();
  if (im.url->tls) {
    if (!im.tls) {
      auto ctx = tls_context(options_.ca_file);
      if (!ctx) return give_up(ctx.error().message);
      im.tls = *ctx;
    }
    c->tls = std::make_unique<Conn::Tls>(im.strand, *im.tls);
  } else {
    c->plain = std::make_unique<Conn::Plain>(im.strand);
  }
  im.conn = c;
  c->tcp().expires_after(kConnectTimeout);
  c->tcp().async_connect(
      results, [self = shared_from_this(), c](const beast::error_code& ec, const tcp::endpoint&) {
        self->on_connect(c, ec);
      });
}

void FeedSession::on_connect(const std::shared_ptr<Conn>& c, const beast::error_code& ec) {
  if (!current(c)) return;
  if (ec) return reconnect("connect: " + ec.message());
  beast::error_code ignore;
  c->tcp().socket().set_option(tcp::no_delay(true), ignore);  // acks and results go out at once
  if (!c->tls) return do_ws_handshake(c);
  if (auto s = verify_server(c->tls->next_layer(), impl_->url->host); !s)
    return give_up(s.error().message);
  c->tcp().expires_after(kConnectTimeout);
  c->tls->next_layer().async_handshake(net::ssl::stream_base::client,
                                       [self = shared_from_this(), c](const beast::error_code& ec) {
                                         self->on_tls_handshake(c, ec);
                                       });
}

void FeedSession::on_tls_handshake(const std::shared_ptr<Conn>& c, const beast::error_code& ec) {
  if (!current(c)) return;
  // A certificate we do not trust will not become trusted by retrying.
  if (ec && ec.category() == net::error::get_ssl_category()) return give_up("tls: " + ec.message());
  if (ec) return reconnect("tls handshake: " + ec.message());
  do_ws_handshake(c);
}

void FeedSession::do_ws_handshake(const std::shared_ptr<Conn>& c) {
  c->tcp().expires_never();  // the WebSocket's own timeouts take over
  websocket::stream_base::timeout t{};
  t.handshake_timeout = kConnectTimeout;
  t.idle_timeout = std::chrono::seconds(75);  // the server pings every 30 s
  t.keep_alive_pings = true;
  std::string host = impl_->url->host + ":" + impl_->url->port;
  c->with_ws([&](auto& ws) {
    ws.set_option(t);
    ws.read_message_max(256u << 20);
    ws.async_handshake(host, "/v1/stream",
                       [self = shared_from_this(), c](const beast::error_code& ec) {
                         self->on_ws_handshake(c, ec);
                       });
  });
}

void FeedSession::on_ws_handshake(const std::shared_ptr<Conn>& c, const beast::error_code& ec) {
  if (!current(c)) return;
  if (ec) return reconnect("websocket handshake: " + ec.message());
  c->open = true;
  enqueue(c, protocol_.hello(options_.token, options_.device_id, options_.device_kind,
                             options_.device_name));
  do_read(c);
}

void FeedSession::do_read(const std::shared_ptr<Conn>& c) {
  c->with_ws([&](auto& ws) {
    ws.async_read(c->buffer, [self = shared_from_this(), c](const beast::error_code& ec,
                                                            std::size_t) { self->on_read(c, ec); });
  });
}

void FeedSession::on_read(const std::shared_ptr<Conn>& c, const beast::error_code& ec) {
  if (!current(c)) return;
  auto& im = *impl_;
  if (ec) {
    std::uint16_t code = 0;
    c->with_ws([&](auto& ws) { code = ws.reason().code; });
    if (code) {  // the server sent a close frame (the teardown may still fail)
      std::lock_guard lock(im.mu);
      im.last_close_code = code;
    }
    if (code == kRevoked) return give_up("revoked");
    return reconnect("connection closed: " + ec.message());
  }
  std::string text = beast::buffers_to_string(c->buffer.data());
  c->buffer.consume(c->buffer.size());
  Reaction r = protocol_.on_message(text);
  if (!r.note.empty() && r.next == Reaction::Next::read) log(r.note);
  if (r.ready) {
    c->ready = true;
    im.ready = true;
    im.attempt = 0;
    std::lock_guard lock(im.mu);
    im.connected = true;
    ++im.connections;
  }
  if (!r.acks.empty()) im.local_failures = 0;  // the replica store took what it acknowledges
  for (const auto& a : r.acks) acknowledge(c, a);
  switch (r.next) {
    case Reaction::Next::read:
      if (r.event) notify(*r.event);
      if (current(c)) do_read(c);  // (a callback may have stopped the session)
      return;
    case Reaction::Next::reconnect:
      return close_then(c, [self = shared_from_this(), why = r.why, local = r.local_failure] {
        self->reconnect(why, local);
      });
    case Reaction::Next::stop:
      // Refused: hear the server's close (4003 after a revocation) before saying so.
      return close_then(c, [self = shared_from_this(), why = r.why, event = r.event] {
        auto& im = *self->impl_;
        {
          std::lock_guard lock(im.mu);
          if (im.stopped_reason.empty()) im.stopped_reason = why;
          im.connected = false;
        }
        if (im.stopping) return;  // stopped meanwhile: no more callbacks
        self->log("stopped: " + why);
        if (event) self->notify(*event);
        self->shut_down();
      });
  }
}

void FeedSession::close_then(const std::shared_ptr<Conn>& c, std::function<void()> then) {
  c->closing = true;
  impl_->ready = false;
  c->with_ws([&](auto& ws) {
    websocket::stream_base::timeout t{};
    t.handshake_timeout = kCloseTimeout;
    t.idle_timeout = websocket::stream_base::none();
    ws.set_option(t);
    ws.async_close(
        websocket::close_code::normal,
        [self = shared_from_this(), c, then = std::move(then)](const beast::error_code&) {
          std::uint16_t code = 0;
          c->with_ws([&](auto& w) { code = w.reason().code; });
          if (code) {  // the server's close code, when it closed too
            std::lock_guard lock(self->impl_->mu);
            self->impl_->last_close_code = code;
          }
          c->cut();
          then();
        });
  });
}

void FeedSession::enqueue(const std::shared_ptr<Conn>& c, std::string message) {
  c->queued_bytes += message.size();
  // A server that does not read for this long is as good as gone; the next connection
  // resumes from the cursor (acks are re-sent as the changes come again).
  if (c->queued_bytes > options_.max_queued_bytes)
    return reconnect("over " + std::to_string(options_.max_queued_bytes) +
                     " bytes wait to be sent");
  c->queue.push_back(std::move(message));
  if (!c->writing) do_write(c);
}

void FeedSession::acknowledge(const std::shared_ptr<Conn>& c, const Ack& a) {
  if (options_.ack_delay.count() <= 0) return enqueue(c, ack_message(a));
  bool first = c->acks_due.empty();
  auto& due = c->acks_due[a.feed];
  due = std::max(due, a.seq);
  if (!first) return;  // the timer already runs
  // Between the delay and twice it, at random: the thousands of devices a change reached at
  // the same moment do not all answer at the same moment either.
  std::uniform_int_distribution<std::int64_t> wait(options_.ack_delay.count(),
                                                   2 * options_.ack_delay.count());
  impl_->ack_timer.expires_after(std::chrono::milliseconds(wait(impl_->rng)));
  impl_->ack_timer.async_wait([self = shared_from_this(), c](const beast::error_code& ec) {
    if (!ec && self->current(c)) self->send_acks(c);
  });
}

void FeedSession::send_acks(const std::shared_ptr<Conn>& c) {
  auto due = std::exchange(c->acks_due, {});
  for (auto& [feed, seq] : due) enqueue(c, ack_message(Ack{feed, seq}));
}

void FeedSession::do_write(const std::shared_ptr<Conn>& c) {
  c->writing = true;
  c->with_ws([&](auto& ws) {
    ws.text(true);
    ws.async_write(net::buffer(c->queue.front()),
                   [self = shared_from_this(), c](const beast::error_code& ec, std::size_t) {
                     self->on_write(c, ec);
                   });
  });
}

void FeedSession::on_write(const std::shared_ptr<Conn>& c, const beast::error_code& ec) {
  c->writing = false;
  if (c->after_writes) {  // stopping: the close frame follows the last of these
    if (!ec && !c->queue.empty()) c->queue.pop_front();
    if (!ec && !c->queue.empty()) return do_write(c);
    impl_->ack_timer.cancel();
    return std::exchange(c->after_writes, {})();
  }
  if (!current(c)) return;
  if (ec) return reconnect("write: " + ec.message());
  c->queued_bytes -= c->queue.front().size();
  c->queue.pop_front();
  if (!c->queue.empty()) do_write(c);
}

void FeedSession::reconnect(const std::string& why, bool local_failure) {
  auto& im = *impl_;
  if (im.stopping) return;
  log(why + "; reconnecting");
  if (auto c = std::exchange(im.conn, nullptr)) c->cut();
  im.ready = false;
  {
    std::lock_guard lock(im.mu);
    im.connected = false;
  }
  notify(Event{"closed", "", 0, {}});
  if (im.stopping) return;  // stopped by the callback
  // Exponential backoff with jitter, so a restarted server is not hit by every client at
  // once; longer each time the replica store failed, however the connections went.
  int attempt = local_failure ? ++im.local_failures : im.attempt++;
  auto cap = std::min<std::int64_t>(options_.max_backoff.count(), options_.min_backoff.count()
                                                                      << std::min(attempt, 16));
  std::uniform_int_distribution<std::int64_t> jitter(cap / 2, std::max<std::int64_t>(cap, 1));
  im.backoff.expires_after(std::chrono::milliseconds(jitter(im.rng)));
  im.backoff.async_wait(
      [self = shared_from_this()](const beast::error_code& ec) { self->on_backoff(ec); });
}

void FeedSession::on_backoff(const beast::error_code& ec) {
  if (ec || impl_->stopping) return;
  do_connect();
}

void FeedSession::give_up(const std::string& why) {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopped_reason.empty()) impl_->stopped_reason = why;
  }
  log("stopped: " + why);
  shut_down();
}

void FeedSession::shut_down() {
  auto& im = *impl_;
  if (im.stopping) return;
  im.stopping = true;
  im.ready = false;
  im.backoff.cancel();
  im.resolver.cancel();
  im.ack_timer.cancel();
  auto c = std::exchange(im.conn, nullptr);
  if (!c || !c->open || c->closing) {
    if (c) c->cut();
    return finish_stop();
  }
  // Say goodbye with a close frame, briefly: the server marks the device gone at once. What
  // the store took is acknowledged first: what is queued goes out before (at most 2 s).
  if (c->ready) send_acks(c);
  auto goodbye = [self = shared_from_this(), c] {
    self->close_then(c, [self] { self->finish_stop(); });
  };
  if (!c->writing) return goodbye();
  c->after_writes = std::move(goodbye);
  // A server that does not take them in time is cut (the stream's own timeout cannot be set
  // while a read and a write are under way).
  im.ack_timer.expires_after(kCloseTimeout);
  im.ack_timer.async_wait([c](const beast::error_code& ec) {
    if (ec || !c->after_writes) return;
    auto goodbye = std::exchange(c->after_writes, {});
    c->cut();
    goodbye();
  });
}

void FeedSession::finish_stop() {
  auto& im = *impl_;
  {
    std::lock_guard lock(im.mu);
    im.connected = false;
    im.stopped = true;
  }
  auto waiting = std::move(im.on_stopped);
  for (auto& fn : waiting) fn();
}

}  // namespace portier::client
