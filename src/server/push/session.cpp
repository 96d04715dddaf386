#include "server/push/session.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <optional>
#include <variant>

#include "server/http/upgrade.hpp"
#include "server/metrics.hpp"
#include "server/push/hub.hpp"
#include "server/push/ws_frame.hpp"

namespace portier::push {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

constexpr std::uint16_t kGoingAway = 1001;

namespace {

// A session's send queue: a FIFO that holds no memory while empty (std::deque keeps a
// 512-byte block even then, in every one of thousands of idle sessions).
template <class T>
class OutQueue {
 public:
  void push_back(T v) { items_.push_back(std::move(v)); }
  T& front() { return items_[head_]; }
  void pop_front() {
    if (++head_ == items_.size()) {
      items_ = {};
      head_ = 0;
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {  // a queue that never drains
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    items_ = {};
    head_ = 0;
  }
  std::size_t size() const { return items_.size() - head_; }
  bool empty() const { return size() == 0; }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

// Plain TCP after the handshake: a read waits until the socket is readable and takes what
// is there into a per-thread buffer (an idle session holds no read buffer); a write goes
// straight to the socket (non-blocking) and waits for room only when the socket is full.
class PlainIo {
 public:
  explicit PlainIo(beast::tcp_stream&& s) : sock_(std::move(s.socket())) {
    beast::error_code ec;
    sock_.non_blocking(true, ec);
  }
  // f(error, data, size): data is scratch, valid during the call.
  template <class F>
  void read(F&& f) {
    sock_.async_wait(tcp::socket::wait_read,
                     [this, f = std::forward<F>(f)](beast::error_code ec) mutable {
                       thread_local std::array<char, 16 * 1024> buf;
                       std::size_t n = 0;
                       if (!ec) n = sock_.read_some(net::buffer(buf), ec);
                       if (ec == net::error::would_block || ec == net::error::try_again) ec = {};
                       f(ec, buf.data(), n);
                     });
  }
  // Writes what fits now; fewer bytes than asked (even none) without an error means full.
  template <class Buffers>
  std::size_t write_now(const Buffers& b, beast::error_code& ec) {
    std::size_t n = sock_.write_some(b, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) ec = {};
    return n;
  }
  template <class Buffers, class F>
  void write(const Buffers& b, F&& f) {
    net::async_write(sock_, b, std::forward<F>(f));
  }
  void cut() {
    beast::error_code ignore;
    sock_.shutdown(tcp::socket::shutdown_both, ignore);
    sock_.close(ignore);
  }

 private:
  tcp::socket sock_;
};

// TLS: Asio's composed reads and writes (OpenSSL's state cannot be written to half-way).
class TlsIo {
 public:
  explicit TlsIo(beast::ssl_stream<beast::tcp_stream>&& s) : s_(std::move(s)) {}
  template <class F>
  void read(F&& f) {
    if (!buf_) buf_ = std::make_unique<std::array<char, 4096>>();
    s_.async_read_some(net::buffer(*buf_),
                       [this, f = std::forward<F>(f)](beast::error_code ec, std::size_t n) mutable {
                         f(ec, buf_->data(), n);
                       });
  }
  template <class Buffers>
  std::size_t write_now(const Buffers&, beast::error_code&) {
    return 0;
  }
  template <class Buffers, class F>
  void write(const Buffers& b, F&& f) {
    net::async_write(s_, b, std::forward<F>(f));
  }
  void cut() {
    beast::error_code ignore;
    beast::get_lowest_layer(s_).socket().shutdown(tcp::socket::shutdown_both, ignore);
    beast::get_lowest_layer(s_).close();
  }

 private:
  beast::ssl_stream<beast::tcp_stream> s_;
  std::unique_ptr<std::array<char, 4096>> buf_;
};

template <class Inner>
struct IoFor;
template <>
struct IoFor<beast::tcp_stream> {
  using type = PlainIo;
};
template <>
struct IoFor<beast::ssl_stream<beast::tcp_stream>> {
  using type = TlsIo;
};

// One push connection: Beast's websocket::stream for the handshake only, then our own framing
// (ws_frame.hpp) on the bare stream. Every member is touched on the session's strand only.
template <class Inner>
class Session final : public Subscriber,
                      public Sink,
                      public ws::FrameHandler,
                      public std::enable_shared_from_this<Session<Inner>> {
  using Io = typename IoFor<Inner>::type;

 public:
  Session(Inner&& stream, std::shared_ptr<Shared> shared)
      : timer_(stream.get_executor()),
        handshake_(std::make_unique<websocket::stream<Inner>>(std::move(stream))),
        shared_(std::move(shared)),
        reader_(shared_->options.max_message_bytes),
        protocol_(shared_->services, *this, *this) {}

  // However it ends (closed, a failed or timed-out handshake, the io_context going away), it
  // leaves the hub.
  ~Session() override { shared_->hub->leave(this); }

  void start(beast::http::request<beast::http::string_body> req) {
    shared_->hub->join(this, this->weak_from_this());
    beast::get_lowest_layer(*handshake_).expires_never();  // the handshake's own timeout
    websocket::stream_base::timeout t{};
    t.handshake_timeout = shared_->options.handshake_timeout;
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    handshake_->set_option(t);
    handshake_->set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, "portierd"); }));
    handshake_->async_accept(
        req, beast::bind_front_handler(&Session::on_accept, this->shared_from_this()));
  }

  // Subscriber: from any thread, onto the strand.
  void deliver(std::shared_ptr<const std::vector<sync::FeedChange>> batch,
               std::size_t index) override {
    net::post(strand(), [self = this->shared_from_this(), b = std::move(batch), index] {
      self->protocol_.on_live((*b)[index]);
    });
  }
  void push(std::shared_ptr<const std::string> message) override {
    net::post(strand(), [self = this->shared_from_this(), m = std::move(message)] {
      if (self->protocol_.ready()) self->send(Frame{"", m, ""});
    });
  }
  void end(std::string message, std::uint16_t code, std::string reason) override {
    net::post(strand(), [self = this->shared_from_this(), m = std::move(message), code,
                         reason = std::move(reason)]() mutable {
      if (!m.empty()) self->send(Frame{"", std::make_shared<const std::string>(std::move(m)), ""});
      self->close(code, std::move(reason));
    });
  }

  // Sink: on the strand.
  void send(Frame out) override {
    if (closing_ || finished_) return;
    queued_bytes_ += out.size();
    queue_.push_back(Out{std::move(out), ws::Op::kText});
    // One message larger than the budget (a big snapshot) may pass alone.
    if (queued_bytes_ > shared_->options.queue_budget_bytes &&
        queue_.size() + (writing_ ? 1 : 0) > 1) {
      // Durability lives in the feed: drop what is queued, close, let the client resume.
      queue_.clear();
      queued_bytes_ = writing_ ? sending_.frame.size() : 0;
      return close(kSlowConsumer, "slow_consumer");
    }
    if (!writing_) flush();
  }
  // Sends what is queued, then the close frame; cuts the connection if the client does not
  // answer with its own close frame in time.
  void close(std::uint16_t code, std::string reason) override {
    if (closing_ || finished_) return;
    closing_ = true;
    if (shared_->metrics)
      shared_->metrics->count("portier_push_closes_total", "code=\"" + std::to_string(code) + "\"");
    if (handshake_) {  // still in the handshake: nothing to say goodbye on
      beast::get_lowest_layer(*handshake_).close();
      return;
    }
    // A server going away does not wait for the answers: the sooner it is gone, the sooner
    // its successor listens and the clients' first reconnects succeed.
    if (code == kGoingAway) cut_after_close_ = true;
    arm(std::chrono::seconds(5));
    queue_control(ws::Op::kClose, ws::close_payload(code, reason));
  }
  bool closing() const override { return closing_ || finished_; }
  std::size_t queued_bytes() const override { return queued_bytes_; }
  void offload(std::function<void()> work, std::function<void()> then) override {
    net::post(shared_->workers, [self = this->shared_from_this(), work = std::move(work),
                                 then = std::move(then)]() mutable {
      work();
      if (then) net::post(self->strand(), [self, then = std::move(then)] { then(); });
    });
  }
  // From now on the ticks keep the connection alive.
  void hello_accepted() override { arm(tick_period()); }
  std::function<void(std::shared_ptr<const std::string>)> sender() override {
    return [self = this->shared_from_this()](std::shared_ptr<const std::string> m) {
      self->push(std::move(m));
    };
  }

  // FrameHandler: what the client sent, from on_read.
  void on_ws_message(std::string_view data, bool text) override {
    if (closing_) return;  // a close is under way: nothing more is answered
    protocol_.on_message(data, text);
  }
  void on_ws_ping(std::string_view payload) override {
    if (!closing_) queue_control(ws::Op::kPong, std::string(payload));
  }
  void on_ws_pong() override {}
  void on_ws_close(std::uint16_t code) override {
    if (close_sent_) return cut();  // the answer to ours
    // The client's: answer it (after what is queued), then cut.
    cut_after_close_ = true;
    if (!closing_) {
      closing_ = true;
      arm(std::chrono::seconds(5));
      queue_control(ws::Op::kClose,
                    code == ws::kNoStatus ? std::string() : ws::close_payload(code, ""));
    }
  }
  void on_ws_fail(std::uint16_t code, std::string_view why) override {
    cut_after_close_ = true;  // nothing more can be read: no answer to wait for
    if (close_sent_) return cut();
    if (!closing_) close(code, std::string(why));
  }

 private:
  net::any_io_executor strand() { return timer_.get_executor(); }

  struct Out {
    Frame frame;
    ws::Op op = ws::Op::kText;
  };

  void on_accept(beast::error_code ec) {
    // Handshake failed or timed out: nothing holds the session now, and its destructor
    // leaves the hub and closes the socket.
    if (ec) return;
    io_.emplace(std::move(handshake_->next_layer()));
    handshake_.reset();
    if (closing_) return cut();  // ended during the handshake
    arm(shared_->options.hello_timeout);
    do_read();
  }

  void do_read() {
    io_->read([self = this->shared_from_this()](beast::error_code ec, char* data, std::size_t n) {
      self->on_read(ec, data, n);
    });
  }

  void on_read(beast::error_code ec, char* data, std::size_t n) {
    if (finished_) return;
    if (ec) return on_closed();  // closed, reset
    heard_ = true;
    reader_.feed(data, n, *this);
    // After the client's close frame or a broken frame nothing more is read; the close
    // handshake (or its timer) ends the connection.
    if (!finished_ && !reader_.done()) do_read();
  }

  // Ticks: first the hello's deadline, then every half idle timeout: a client that sent
  // nothing since the last tick gets a ping, and is cut at the next if still silent.
  void arm(std::chrono::steady_clock::duration after) {
    timer_.expires_after(after);
    timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec) self->on_tick();
    });
  }
  void on_tick() {
    if (finished_) return;
    if (closing_) return cut();  // the close handshake took too long
    if (!protocol_.ready()) {
      if (!protocol_.hello_pending()) return protocol_.on_hello_timeout();
      return arm(shared_->options.hello_timeout);
    }
    if (heard_) {
      heard_ = pinged_ = false;
    } else if (pinged_) {
      return cut();  // silent for a whole idle timeout
    } else {
      pinged_ = true;
      queue_control(ws::Op::kPing, "");
    }
    arm(tick_period());
  }
  std::chrono::steady_clock::duration tick_period() const {
    return std::max<std::chrono::steady_clock::duration>(shared_->options.idle_timeout / 2,
                                                         std::chrono::seconds(1));
  }

  void queue_control(ws::Op op, std::string payload) {
    if (finished_ || close_sent_ || !io_) return;
    auto body = std::make_shared<const std::string>(std::move(payload));
    queued_bytes_ += body->size();
    queue_.push_back(Out{Frame{"", std::move(body), ""}, op});
    if (!writing_) flush();
  }

  // Writes queued frames straight to the socket while it takes them; waits for room only when
  // it is full. writing_ is set throughout, so a send() from within (the protocol answering a
  // drained queue) only queues.
  void flush() {
    writing_ = true;
    while (!queue_.empty() && !finished_) {
      sending_ = std::move(queue_.front());
      queue_.pop_front();
      head_ = ws::frame_head(sending_.op, sending_.frame.size());
      std::array<net::const_buffer, 4> bufs{
          net::buffer(head_.bytes.data(), head_.size), net::buffer(sending_.frame.head),
          net::buffer(*sending_.frame.body), net::buffer(sending_.frame.tail)};
      beast::error_code ec;
      std::size_t n = io_->write_now(bufs, ec);
      if (ec) return on_closed();
      if (n < head_.size + sending_.frame.size()) {
        beast::buffers_suffix<std::array<net::const_buffer, 4>> rest(bufs);
        rest.consume(n);
        io_->write(rest, beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
        return;  // writing_ stays set
      }
      if (!wrote()) return;
    }
    writing_ = false;
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return on_closed();
    if (!wrote()) return;
    flush();
  }

  // One frame is out; false when that ended the connection.
  bool wrote() {
    queued_bytes_ -= sending_.frame.size();
    bool was_close = sending_.op == ws::Op::kClose;
    sending_ = Out{};
    if (was_close) {
      close_sent_ = true;
      queue_.clear();
      queued_bytes_ = 0;
      writing_ = false;
      if (cut_after_close_) cut();
      return false;  // then wait for the client's close frame (or the timer)
    }
    if (!closing_) protocol_.on_drained();
    return true;
  }

  void cut() {
    if (io_) io_->cut();
    on_closed();
  }

  void on_closed() {
    if (finished_) return;
    finished_ = true;
    writing_ = false;
    queue_.clear();
    timer_.cancel();
    if (io_) io_->cut();
    protocol_.on_closed();
  }

  // The hello's deadline, keep-alive ticks, the close's deadline; its executor is the
  // connection's strand (every handler of the session runs there).
  net::steady_timer timer_;
  std::unique_ptr<websocket::stream<Inner>> handshake_;  // until the handshake is done
  std::optional<Io> io_;                                 // after it
  std::shared_ptr<Shared> shared_;
  ws::FrameReader reader_;
  Protocol protocol_;
  bool writing_ = false, closing_ = false, close_sent_ = false, cut_after_close_ = false,
       finished_ = false, heard_ = false, pinged_ = false;
  OutQueue<Out> queue_;
  Out sending_;  // the frame being written (counted in queued_bytes_)
  ws::Head head_;
  std::size_t queued_bytes_ = 0;
};

}  // namespace

void start_session(std::unique_ptr<Upgrade> up, std::shared_ptr<Shared> shared) {
  std::visit(
      [&](auto& stream) {
        using Inner = std::decay_t<decltype(stream)>;
        auto s = std::make_shared<Session<Inner>>(std::move(stream), std::move(shared));
        s->start(std::move(up->request));
      },
      up->stream);
}

}  // namespace portier::push
