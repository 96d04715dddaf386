// The simulated devices: portier push sessions (Beast's handshake, then their own framing;
// do_/on_ handlers), Mosquitto subscribers (MQTT 3.1.1 over raw TCP) and floor sockets. Each
// session runs on one io thread (one io_context per thread: no strands needed); every socket
// binds its own loopback source address first and runs with TCP_NODELAY.
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <optional>
#include <random>

#include "bench/wire.hpp"
#include "bench/worker.hpp"

namespace portier::bench {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;

void Session::on_frame(std::string_view frame, std::int64_t t) {
  if (frame.find(kTagPrefix) == std::string_view::npos) return;
  for (auto tag : find_tags(frame)) {
    bool seen = false;
    for (const auto& r : records) seen = seen || r.first == tag;
    if (seen) continue;
    records.emplace_back(tag, t);
    if (armed_bytes == 0) armed_bytes = frame.size();
    w_.tag_seen(tag);
  }
}

void Session::initial_result(bool ok, const std::string& error) {
  if (initial_reported_) return;
  initial_reported_ = true;
  w_.initial_done(ok, error);
}

namespace {

// Opens `sock` bound to `src` with the port left to connect(), so one source address serves
// ~28k connections per destination instead of one port per socket forever.
boost::system::error_code open_bound(tcp::socket& sock, const net::ip::address_v4& src) {
  boost::system::error_code ec;
  sock.open(tcp::v4(), ec);
  if (ec) return ec;
  int one = 1;
  ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  sock.bind(tcp::endpoint(src, 0), ec);
  return ec;
}

thread_local std::minstd_rand rng{std::random_device{}()};

class WsSession;

// One connection of a push session; a reconnect makes a new one. Beast does the handshake;
// then the connection frames by itself on the bare socket (as the server does): messages are
// read in chunks and parsed in place, and a frame (an ack, above all) is written with one
// non-blocking send, waiting for the socket only when it is full.
class WsConn : public std::enable_shared_from_this<WsConn> {
 public:
  WsConn(WsSession& s, net::io_context& ioc);
  ~WsConn();
  void start(const Spec& spec, std::string hello);
  void send(std::string_view text);
  void ack(std::int64_t seq);
  void close();
  void abort() {
    boost::system::error_code ec;
    if (ws_) beast::get_lowest_layer(*ws_).close(ec);
    sock_.close(ec);
    ack_timer_.cancel();
  }

 private:
  void on_connect(boost::system::error_code ec);
  void on_handshake(boost::system::error_code ec);
  void do_read();
  void on_read(boost::system::error_code ec, std::size_t n);
  // Handles the whole frames at the front of in_; false once the connection is done.
  bool parse(std::int64_t t);
  void write_frame(std::uint8_t opcode, std::string_view payload);
  void write_next();
  void on_write(boost::system::error_code ec, std::size_t);
  void fail(const std::string& what, boost::system::error_code ec, int code = 0);

  WsSession& s_;
  std::optional<websocket::stream<tcp::socket>> ws_;  // until the handshake is done
  tcp::socket sock_;
  std::string host_, hello_, in_, message_, out_;
  std::size_t filled_ = 0;
  std::vector<std::pair<std::uint8_t, std::string>> queue_;  // frames waiting for out_
  std::int64_t ack_pending_ = -1;
  net::steady_timer ack_timer_;
  bool ack_armed_ = false;
  bool writing_ = false, dead_ = false, closing_ = false, close_after_write_ = false;
};

class WsSession final : public Session {
 public:
  WsSession(Worker& w, net::io_context& ioc, Spec spec)
      : Session(w, ioc, std::move(spec)), retry_(ioc) {}
  void start() override { connect(); }
  void shutdown() override {
    stopped_ = true;
    retry_.cancel();
    if (conn_) conn_->close();
  }
  void abort() override {
    stopped_ = true;
    retry_.cancel();
    if (conn_) conn_->abort();
  }
  void send_open(std::int64_t k, const std::string& door) override {
    if (!conn_ || !synced_) return w_.open_answered(k, now_ns(), -1);
    conn_->send(R"({"type":"open","request_id":"o)" + std::to_string(k) + R"(","door_id":")" +
                door + R"("})");
  }

  const std::string& feed() const { return spec_.feed; }
  void handle(WsConn& c, std::string_view frame, std::int64_t t);
  void lost(WsConn& c, const std::string& why, int close_code);

 private:
  void connect() {
    conn_ = std::make_shared<WsConn>(*this, ioc_);
    conn_->start(spec_, hello());
  }
  std::string hello() const {
    json::object feed{{"feed", spec_.feed}};
    if (w_.resume() && seq_ >= 0) {
      feed["epoch"] = epoch_;
      feed["seq"] = seq_;
    }
    json::object o{{"type", "hello"},
                   {"token", spec_.token},
                   {"device", json::object{{"id", spec_.device},
                                           {"kind", spec_.role == Role::unit ? "unit" : "app"}}},
                   {"feeds", json::array{feed}}};
    return json::serialize(o);
  }
  void synced(bool resumed, std::int64_t t) {
    if (synced_) return;
    synced_ = true;
    synced_at = t;
    w_.count_sync(resumed);
    initial_result(true, "");
  }
  void schedule_retry() {
    // The protocol's backoff: a random wait between half and all of min(10 s, base × 2^n).
    auto cap =
        std::min<std::int64_t>(10'000, std::int64_t{w_.backoff_ms()} << std::min(attempt_, 16));
    ++attempt_;
    std::uniform_int_distribution<std::int64_t> d(cap / 2, cap);
    retry_.expires_after(std::chrono::milliseconds(d(rng)));
    w_.live_ops++;
    retry_.async_wait([this](boost::system::error_code ec) {
      if (!ec && !stopped_) {
        w_.count_reconnect();
        connect();
      }
      w_.live_ops--;
    });
  }

  std::shared_ptr<WsConn> conn_;
  net::steady_timer retry_;
  std::string epoch_;
  std::int64_t seq_ = -1;
  int attempt_ = 0, initial_failures_ = 0;
  bool synced_ = false, stopped_ = false;
};

WsConn::WsConn(WsSession& s, net::io_context& ioc)
    : s_(s), ws_(std::in_place, ioc), sock_(ioc), ack_timer_(ioc) {
  s.worker().live_ops++;
}
WsConn::~WsConn() { s_.worker().live_ops--; }

void WsConn::start(const Spec& spec, std::string hello) {
  host_ = spec.server.address().to_string() + ":" + std::to_string(spec.server.port());
  hello_ = std::move(hello);
  if (auto ec = open_bound(ws_->next_layer(), spec.src)) return fail("bind", ec);
  ws_->next_layer().async_connect(
      spec.server, beast::bind_front_handler(&WsConn::on_connect, shared_from_this()));
}

void WsConn::on_connect(boost::system::error_code ec) {
  if (ec) return fail("connect", ec);
  ws_->next_layer().set_option(tcp::no_delay(true), ec);
  websocket::stream_base::timeout t{};
  t.handshake_timeout = std::chrono::seconds(30);
  t.idle_timeout = websocket::stream_base::none();
  t.keep_alive_pings = false;
  ws_->set_option(t);
  ws_->async_handshake(host_, "/v1/stream",
                       beast::bind_front_handler(&WsConn::on_handshake, shared_from_this()));
}

void WsConn::on_handshake(boost::system::error_code ec) {
  if (ec) return fail("handshake", ec);
  // The server says nothing before the hello, so Beast holds no bytes of ours: take the socket.
  sock_ = std::move(ws_->next_layer());
  ws_.reset();
  in_.resize(2048);
  send(hello_);
  do_read();
}

void WsConn::do_read() {
  if (filled_ == in_.size()) in_.resize(in_.size() * 2);
  sock_.async_read_some(net::buffer(in_.data() + filled_, in_.size() - filled_),
                        beast::bind_front_handler(&WsConn::on_read, shared_from_this()));
}

void WsConn::on_read(boost::system::error_code ec, std::size_t n) {
  auto t = now_ns();
  if (ec) return fail("read", ec);
  filled_ += n;
  if (parse(t) && !dead_) do_read();
}

bool WsConn::parse(std::int64_t t) {
  constexpr std::size_t kMax = 64u << 20;
  std::size_t used = 0;
  bool alive = true;
  while (alive && !dead_) {
    ws::Frame f;
    auto r = ws::next_frame(std::string_view(in_.data() + used, filled_ - used), f,
                            kMax - message_.size());
    if (r == ws::Parse::incomplete) break;
    if (r == ws::Parse::malformed) {
      fail("read", websocket::error::bad_opcode);
      return false;
    }
    used += f.size;
    switch (f.opcode) {
      case ws::kText:
      case ws::kBinary:
        if (f.fin && message_.empty()) {
          s_.handle(*this, f.payload, t);
        } else {
          message_.assign(f.payload);
        }
        break;
      case ws::kContinuation:
        message_.append(f.payload);
        if (f.fin) {
          s_.handle(*this, message_, t);
          message_.clear();
        }
        break;
      case ws::kPing:
        write_frame(ws::kPong, f.payload);
        break;
      case ws::kClose: {
        int code = f.payload.size() >= 2 ? (static_cast<std::uint8_t>(f.payload[0]) << 8) |
                                               static_cast<std::uint8_t>(f.payload[1])
                                         : 1005;
        if (!closing_) write_frame(ws::kClose, f.payload.substr(0, 2));  // the answer
        fail("read", websocket::error::closed, closing_ ? 0 : code);
        alive = false;
        break;
      }
      default:  // a pong
        break;
    }
  }
  if (dead_) return false;
  std::memmove(in_.data(), in_.data() + used, filled_ - used);
  filled_ -= used;
  return alive;
}

void WsConn::send(std::string_view text) {
  if (dead_ || closing_) return;
  write_frame(ws::kText, text);
}

void WsConn::ack(std::int64_t seq) {
  if (dead_ || closing_) return;
  ack_pending_ = seq;  // while a write waits, acks coalesce: the newest covers the ones before
  // As the SDK does: the ack waits, and covers what arrives meanwhile.
  if (int delay = s_.worker().ack_delay_ms(); delay > 0) {
    if (ack_armed_) return;
    ack_armed_ = true;
    // As the SDK does: between the delay and twice it, at random (--ack-spread-ms).
    int spread = s_.worker().ack_spread_ms();
    ack_timer_.expires_after(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(delay, delay + spread)(rng)));
    ack_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      self->ack_armed_ = false;
      if (!ec && !self->writing_) self->write_next();
    });
    return;
  }
  if (!writing_) write_next();
}

void WsConn::write_frame(std::uint8_t opcode, std::string_view payload) {
  if (dead_) return;
  if (writing_) {
    queue_.emplace_back(opcode, std::string(payload));
    return;
  }
  out_ = ws::client_frame(opcode, payload, static_cast<std::uint32_t>(rng()));
  auto n = ::send(sock_.native_handle(), out_.data(), out_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n == static_cast<ssize_t>(out_.size())) {
    out_.clear();
    if (close_after_write_ && queue_.empty()) return close();
    return write_next();
  }
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    return fail("write", boost::system::error_code(errno, boost::system::system_category()));
  out_.erase(0, n > 0 ? static_cast<std::size_t>(n) : 0);
  writing_ = true;
  net::async_write(sock_, net::buffer(out_),
                   beast::bind_front_handler(&WsConn::on_write, shared_from_this()));
}

void WsConn::write_next() {
  if (writing_ || dead_) return;
  if (!queue_.empty()) {
    auto [op, payload] = std::move(queue_.front());
    queue_.erase(queue_.begin());
    return write_frame(op, payload);
  }
  if (ack_pending_ >= 0 && !closing_ && !ack_armed_) {
    std::string a = R"({"type":"ack","feed":")";
    a += s_.feed();
    a += R"(","seq":)" + std::to_string(ack_pending_) + "}";
    ack_pending_ = -1;
    write_frame(ws::kText, a);
  }
}

void WsConn::on_write(boost::system::error_code ec, std::size_t) {
  writing_ = false;
  out_.clear();
  if (ec) return fail("write", ec);
  if (close_after_write_ && queue_.empty()) return close();
  write_next();
}

void WsConn::close() {
  if (dead_ || closing_) return;
  ack_timer_.cancel();
  if (ws_) return abort();  // not connected yet
  if (writing_) {
    close_after_write_ = true;
    return;
  }
  closing_ = true;
  // 1000, then the server's answer ends the connection (read).
  write_frame(ws::kClose, std::string_view("\x03\xe8", 2));
}

void WsConn::fail(const std::string& what, boost::system::error_code ec, int code) {
  if (dead_) return;
  dead_ = true;
  abort();
  s_.lost(*this, what + ": " + ec.message(), code);
}

void WsSession::handle(WsConn& c, std::string_view frame, std::int64_t t) {
  on_frame(frame, t);
  auto type = frame_type(frame);
  if (type == "change") {
    auto seq = scan_seq(frame);
    if (!seq) return w_.count_error(frame);
    if (seq_ >= 0 && *seq != seq_ + 1) w_.count_gap();
    seq_ = *seq;
    return c.ack(seq_);
  }
  if (type == "snapshot") {
    auto seq = scan_seq(frame);
    auto epoch = scan_epoch(frame);
    if (!seq || !epoch) return w_.count_error(frame);
    seq_ = *seq;
    epoch_ = std::string(*epoch);
    c.ack(seq_);
    return synced(false, t);
  }
  if (type == "pong" || type == "device" || type == "event" || type == "event_saved") return;
  boost::system::error_code ec;
  auto v = json::parse(frame, ec);
  const auto* o = ec ? nullptr : v.if_object();
  if (!o) return w_.count_error(frame);
  auto str = [&](const char* k) -> std::string {
    const auto* x = o->if_contains(k);
    return x && x->is_string() ? std::string(x->as_string()) : std::string();
  };
  if (type == "ready") {
    attempt_ = 0;
    const auto* feeds = o->if_contains("feeds");
    bool resumed = false;
    if (feeds && feeds->is_array() && !feeds->as_array().empty())
      if (const auto* r = feeds->as_array()[0].as_object().if_contains("resumed"))
        resumed = r->is_bool() && r->as_bool();
    if (resumed) synced(true, t);
    return;
  }
  if (type == "command") {
    return c.send(R"({"type":"result","id":")" + str("id") +
                  R"(","result":"opened","message":""})");
  }
  if (type == "open_result") {
    auto id = str("request_id");
    const auto* status = o->if_contains("status");
    if (id.size() < 2 || id[0] != 'o' || !status || !status->is_int64())
      return w_.count_error(frame);
    return w_.open_answered(std::stoll(id.substr(1)), t, static_cast<int>(status->as_int64()));
  }
  w_.count_error(frame);  // error, revoked, or a type the bench does not know
}

void WsSession::lost(WsConn& c, const std::string& why, int close_code) {
  if (&c != conn_.get()) return;
  conn_.reset();
  synced_ = false;
  if (stopped_) return;
  w_.count_close(close_code, why);
  // A first connection that keeps failing is a failed session, not a retry forever.
  if (!initial_reported_ && ++initial_failures_ >= 3) return initial_result(false, why);
  schedule_retry();
}

// A raw TCP connection for the MQTT and floor sessions: connect, one first write, then
// every byte read goes to the session.
class TcpSession : public Session {
 public:
  TcpSession(Worker& w, net::io_context& ioc, Spec spec)
      : Session(w, ioc, std::move(spec)), sock_(ioc) {
    buf_.resize(2048);
  }
  void start() override {
    if (auto ec = open_bound(sock_, spec_.src)) return fail("bind", ec);
    w_.live_ops++;
    sock_.async_connect(spec_.server, [this](boost::system::error_code ec) {
      if (ec) {
        fail("connect", ec);
      } else {
        sock_.set_option(tcp::no_delay(true), ec);
        connected();
        do_read();
      }
      w_.live_ops--;
    });
  }
  void shutdown() override {
    stopped_ = true;
    if (!out_.empty()) return;  // closed after the write
    goodbye();
  }
  void abort() override {
    stopped_ = true;
    boost::system::error_code ec;
    sock_.close(ec);
  }

 protected:
  virtual void connected() = 0;
  // Consumes what it can of `data`; returns how many bytes it used.
  virtual std::size_t consume(std::string_view data, std::int64_t t) = 0;
  virtual void goodbye() { abort(); }
  void write(std::string bytes) {
    out_ = std::move(bytes);
    w_.live_ops++;
    net::async_write(sock_, net::buffer(out_), [this](boost::system::error_code ec, std::size_t) {
      out_.clear();
      if (ec) fail("write", ec);
      if (stopped_) abort();
      w_.live_ops--;
    });
  }
  void fail(const std::string& what, boost::system::error_code ec) {
    if (!stopped_) {
      w_.count_close(0, what + ": " + ec.message());
      initial_result(false, what + ": " + ec.message());
    }
    abort();
  }

 private:
  void do_read() {
    if (filled_ == buf_.size()) buf_.resize(buf_.size() * 2);
    w_.live_ops++;
    sock_.async_read_some(net::buffer(buf_.data() + filled_, buf_.size() - filled_),
                          [this](boost::system::error_code ec, std::size_t n) {
                            auto t = now_ns();
                            if (ec) {
                              fail("read", ec);
                            } else {
                              filled_ += n;
                              auto used = consume(std::string_view(buf_.data(), filled_), t);
                              std::memmove(buf_.data(), buf_.data() + used, filled_ - used);
                              filled_ -= used;
                              if (!stopped_) do_read();
                            }
                            w_.live_ops--;
                          });
  }

  tcp::socket sock_;
  std::string buf_, out_;
  std::size_t filled_ = 0;
  bool stopped_ = false;
};

class MqttSession final : public TcpSession {
 public:
  using TcpSession::TcpSession;

 private:
  void connected() override {
    // A client may send SUBSCRIBE right behind CONNECT, without waiting for CONNACK.
    write(mqtt::connect_packet(spec_.client_id) + mqtt::subscribe_packet(spec_.topic));
  }
  std::size_t consume(std::string_view data, std::int64_t t) override {
    std::size_t used = 0;
    for (;;) {
      mqtt::Packet p;
      auto r = mqtt::next_packet(data.substr(used), p);
      if (r == mqtt::Parse::incomplete) return used;
      if (r == mqtt::Parse::malformed) {
        w_.count_error("malformed MQTT packet");
        return data.size();
      }
      used += p.size;
      if (p.type == 3) {
        if (auto payload = mqtt::publish_payload(p)) on_frame(*payload, t);
      } else if (p.type == 2 && (p.body.size() < 2 || p.body[1] != 0)) {
        w_.count_error("CONNACK refused");
        initial_result(false, "CONNACK refused");
      } else if (p.type == 9) {
        initial_result(true, "");
      }
    }
  }
  void goodbye() override { write(mqtt::disconnect_packet()); }
};

class FloorSession final : public TcpSession {
 public:
  using TcpSession::TcpSession;

 private:
  void connected() override { initial_result(true, ""); }
  std::size_t consume(std::string_view data, std::int64_t t) override {
    std::size_t used = 0;
    for (auto nl = data.find('\n'); nl != std::string_view::npos; nl = data.find('\n', used)) {
      on_frame(data.substr(used, nl - used), t);
      used = nl + 1;
    }
    return used;
  }
};

}  // namespace

std::unique_ptr<Session> make_session(Worker& w, net::io_context& ioc, Spec spec) {
  if (spec.kind == "mqtt") return std::make_unique<MqttSession>(w, ioc, std::move(spec));
  if (spec.kind == "floor") return std::make_unique<FloorSession>(w, ioc, std::move(spec));
  return std::make_unique<WsSession>(w, ioc, std::move(spec));
}

}  // namespace portier::bench
