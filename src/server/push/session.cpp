#include "server/push/session.hpp"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <variant>

#include "server/http/upgrade.hpp"
#include "server/metrics.hpp"
#include "server/push/hub.hpp"

namespace portier::push {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

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

// One push connection. Every member is touched on the session's strand only.
template <class Inner>
class Session final : public Subscriber,
                      public Sink,
                      public std::enable_shared_from_this<Session<Inner>> {
 public:
  Session(Inner&& stream, std::shared_ptr<Shared> shared)
      : ws_(std::move(stream)),
        shared_(std::move(shared)),
        protocol_(shared_->services, *this, *this) {}

  // However it ends (closed, a failed or timed-out handshake, the io_context going away), it
  // leaves the hub.
  ~Session() override { shared_->hub->leave(this); }

  void start(beast::http::request<beast::http::string_body> req) {
    shared_->hub->join(this, this->weak_from_this());
    beast::get_lowest_layer(ws_).expires_never();  // the websocket's own timeouts take over
    websocket::stream_base::timeout t{};
    t.handshake_timeout = shared_->options.handshake_timeout;
    t.idle_timeout = shared_->options.idle_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(shared_->options.max_message_bytes);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, "portierd"); }));
    ws_.async_accept(req, beast::bind_front_handler(&Session::on_accept, this->shared_from_this()));
  }

  // Subscriber: from any thread, onto the strand.
  void deliver(std::shared_ptr<const std::vector<sync::FeedChange>> batch,
               std::size_t index) override {
    net::post(ws_.get_executor(), [self = this->shared_from_this(), b = std::move(batch), index] {
      self->protocol_.on_live((*b)[index]);
    });
  }
  void push(std::shared_ptr<const std::string> message) override {
    net::post(ws_.get_executor(), [self = this->shared_from_this(), m = std::move(message)] {
      if (self->protocol_.ready()) self->send(Frame{"", m, ""});
    });
  }
  void end(std::string message, std::uint16_t code, std::string reason) override {
    net::post(ws_.get_executor(), [self = this->shared_from_this(), m = std::move(message), code,
                                   reason = std::move(reason)]() mutable {
      if (!m.empty()) self->send(Frame{"", std::make_shared<const std::string>(std::move(m)), ""});
      self->close(code, std::move(reason));
    });
  }

  // Sink: on the strand.
  void send(Frame out) override {
    if (closing_) return;
    queued_bytes_ += out.size();
    queue_.push_back(std::move(out));
    // One message larger than the budget (a big snapshot) may pass alone.
    if (queued_bytes_ > shared_->options.queue_budget_bytes &&
        queue_.size() + (writing_ ? 1 : 0) > 1) {
      // Durability lives in the feed: drop what is queued, close, let the client resume.
      queue_.clear();
      queued_bytes_ = writing_ ? sending_.size() : 0;
      return close(kSlowConsumer, "slow_consumer");
    }
    if (!writing_) do_write();
  }
  // Sends what is queued, then the close frame; cuts the connection if that takes too long.
  void close(std::uint16_t code, std::string reason) override {
    if (closing_) return;
    closing_ = true;
    close_code_ = code;
    if (shared_->metrics)
      shared_->metrics->count("portier_push_closes_total", "code=\"" + std::to_string(code) + "\"");
    close_reason_ = std::move(reason);
    close_timer_ = std::make_unique<net::steady_timer>(ws_.get_executor());
    close_timer_->expires_after(std::chrono::seconds(5));
    close_timer_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return;
      beast::get_lowest_layer(self->ws_).close();
    });
    if (!writing_) do_close();
  }
  bool closing() const override { return closing_ || finished_; }
  std::size_t queued_bytes() const override { return queued_bytes_; }
  void offload(std::function<void()> work, std::function<void()> then) override {
    net::post(shared_->workers, [self = this->shared_from_this(), work = std::move(work),
                                 then = std::move(then)]() mutable {
      work();
      if (then) net::post(self->ws_.get_executor(), [self, then = std::move(then)] { then(); });
    });
  }
  // An idle session keeps no timer of its own once it said hello (this cancels it).
  void hello_accepted() override { hello_timer_.reset(); }
  std::function<void(std::shared_ptr<const std::string>)> sender() override {
    return [self = this->shared_from_this()](std::shared_ptr<const std::string> m) {
      self->push(std::move(m));
    };
  }

 private:
  void on_accept(beast::error_code ec) {
    // Handshake failed or timed out: nothing holds the session now, and its destructor
    // leaves the hub and closes the socket.
    if (ec) return;
    hello_timer_ = std::make_unique<net::steady_timer>(ws_.get_executor());
    hello_timer_->expires_after(shared_->options.hello_timeout);
    hello_timer_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->protocol_.on_hello_timeout();
    });
    do_read();
  }

  // Reads a message a little at a time: a whole-message read sets aside a 1.5 KiB buffer while
  // it waits, in every idle session; client messages are a few hundred bytes.
  void do_read() {
    ws_.async_read_some(in_, 256,
                        beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return on_closed();  // closed, reset, too big (Beast answered 1009), idle timeout
    if (!ws_.is_message_done()) return do_read();
    std::string text = beast::buffers_to_string(in_.data());
    in_.consume(in_.size());
    in_.shrink_to_fit();  // an idle session keeps no read buffer
    bool was_text = ws_.got_text();
    do_read();  // keep reading: a bad message gets an error, never ends the session
    protocol_.on_message(text, was_text);
  }

  void do_write() {
    writing_ = true;
    // The message being written leaves the queue: its buffers must not move while the queue
    // grows.
    sending_ = std::move(queue_.front());
    queue_.pop_front();
    std::array<net::const_buffer, 3> bufs{net::buffer(sending_.head), net::buffer(*sending_.body),
                                          net::buffer(sending_.tail)};
    ws_.text(true);
    ws_.async_write(bufs, beast::bind_front_handler(&Session::on_write, this->shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) return on_closed();
    queued_bytes_ -= sending_.size();
    sending_ = Frame{};
    if (!closing_) protocol_.on_drained();
    if (!queue_.empty()) return do_write();
    if (closing_ && !close_sent_) do_close();
  }

  void do_close() {
    close_sent_ = true;
    ws_.async_close(
        websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_reason_),
        [self = this->shared_from_this()](beast::error_code) { self->on_closed(); });
  }

  void on_closed() {
    if (finished_) return;
    finished_ = true;
    hello_timer_.reset();
    close_timer_.reset();
    beast::error_code ignore;
    beast::get_lowest_layer(ws_).socket().close(ignore);
    protocol_.on_closed();
  }

  websocket::stream<Inner> ws_;
  std::shared_ptr<Shared> shared_;
  Protocol protocol_;
  std::unique_ptr<net::steady_timer> hello_timer_;  // until the hello
  std::unique_ptr<net::steady_timer> close_timer_;  // once closing
  beast::flat_buffer in_;
  bool writing_ = false, closing_ = false, close_sent_ = false, finished_ = false;
  std::uint16_t close_code_ = 1000;
  std::string close_reason_;
  OutQueue<Frame> queue_;
  Frame sending_;  // the message being written (counted in queued_bytes_)
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
