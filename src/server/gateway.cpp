#include "server/gateway.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <deque>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "crypto/crypto.hpp"
#include "server/doors.hpp"
#include "server/metrics.hpp"
#include "server/stream_auth.hpp"
#include "server/upgrade.hpp"

namespace portier {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;

namespace {

constexpr std::uint16_t kSlowConsumer = 4001;
constexpr std::uint16_t kRevoked = 4003;

std::string error_message(const std::string& code, const std::string& message) {
  return json::serialize(json::object{{"type", "error"}, {"code", code}, {"message", message}});
}

}  // namespace

// A session's send queue: a FIFO that holds no memory while empty (std::deque keeps a 512-byte
// block even then, in every one of thousands of idle sessions).
template <class T>
class OutQueue {
 public:
  void push_back(T v) { items_.push_back(std::move(v)); }
  T& front() { return items_[head_]; }
  T& back() { return items_.back(); }
  void pop_front() {
    if (++head_ == items_.size()) {
      items_ = {};
      head_ = 0;
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {  // a queue that never drains
      items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void pop_back() {
    items_.pop_back();
    if (head_ == items_.size()) {
      items_ = {};
      head_ = 0;
    }
  }
  std::size_t size() const { return items_.size() - head_; }
  bool empty() const { return size() == 0; }

 private:
  std::vector<T> items_;
  std::size_t head_ = 0;
};

// What the hub needs of a session of any stream type (plain or TLS).
class WsBase {
 public:
  virtual ~WsBase() = default;
  // A committed change of a feed this session reads (from the bus, any thread).
  virtual void deliver(std::shared_ptr<const std::vector<sync::FeedChange>> batch,
                       std::size_t index) = 0;
  // Ends the session with a final message and a close code (any thread).
  virtual void end(std::string final_message, std::uint16_t code, std::string reason) = 0;
  virtual std::shared_ptr<WsBase> base_ptr() = 0;
  // Sends a message outside any feed's sequence (device events) (any thread).
  virtual void push(std::shared_ptr<const std::string> message) = 0;
  virtual net::any_io_executor executor() = 0;
};

struct Gateway::Impl : std::enable_shared_from_this<Gateway::Impl> {
  Impl(Store& store, net::thread_pool& workers, DeviceRegistry& devices, GatewayOptions options,
       std::function<Instant()> clock)
      : store(store),
        workers(workers),
        devices(devices),
        options(options),
        clock(std::move(clock)) {}

  Store& store;
  net::thread_pool& workers;
  DeviceRegistry& devices;
  GatewayOptions options;
  std::function<Instant()> clock;  // the server clock, to the second
  std::atomic<bool> stopping{false};
  std::atomic<Metrics*> metrics{nullptr};
  std::atomic<Doors*> doors{nullptr};
  void count(const char* name, const std::string& labels = "") {
    if (auto* m = metrics.load()) m->count(name, labels);
  }

  // Who listens to what. Sessions register after their hello and leave when they close.
  mutable std::mutex mu;
  std::unordered_map<WsBase*, std::shared_ptr<WsBase>> all;  // O(1) to leave
  std::map<std::string, std::set<WsBase*>> by_feed;
  std::map<std::string, std::set<WsBase*>> by_user, by_unit, by_token;
  // Each unit's newest session: commands go there (an older one may be a dead link not yet
  // timed out).
  std::map<std::string, WsBase*> unit_latest;

  void subscribe(WsBase* s, const std::vector<std::string>& feeds, const StreamIdentity& who);
  // Drops a closed session (and its subscriptions, when it had any).
  // The newest seq of each feed this node knows (from hellos and commits), for receipts.
  std::map<std::string, std::int64_t> heads;
  void note_head(const std::string& feed, std::int64_t seq) {
    auto& h = heads[feed];
    h = std::max(h, seq);
  }
  // Tells the organization's consoles (org/ feed sessions) what a device now holds.
  void device_event(const std::string& org_id, const std::string& device_id);
  // Sends a message outside any feed's sequence to every session reading the feed.
  void push_to_feed(const std::string& feed, const std::shared_ptr<const std::string>& message);

  void forget(WsBase* s, bool subscribed, const std::vector<std::string>& feeds,
              const StreamIdentity& who);

  // Changes (and revocations) on their way to sessions, in order, a step at a time.
  struct End {
    std::string message;
    std::uint16_t code;
    std::string reason;
  };
  struct Delivery {
    std::shared_ptr<WsBase> session;
    std::shared_ptr<const std::vector<sync::FeedChange>> batch;  // a change: batch[index]
    std::size_t index = 0;
    std::shared_ptr<const End> end;  // or the end of the session
  };
  net::any_io_executor executor;
  std::mutex pump_mu;
  std::deque<Delivery> to_deliver;
  bool pumping = false;
  void enqueue(std::vector<Delivery> deliveries);
  void pump();

  // Commands sent to units on this node, waiting for their result or their timeout.
  struct PendingCommand {
    std::string unit_id;
    CommandDone done;
    std::shared_ptr<net::steady_timer> timer;
  };
  std::mutex commands_mu;
  std::map<std::string, PendingCommand> pending;
  // Completes a pending command once; a result from another unit than the addressee is
  // ignored (unit_id empty: the timeout, from this node).
  void resolve(const std::string& command_id, const std::string& unit_id, CommandResult r);
};

// One push connection. Every member is touched on the session's strand only, except where a
// store read is posted to the worker pool (it captures what it needs by value).
template <class Inner>
class WsSession : public WsBase, public std::enable_shared_from_this<WsSession<Inner>> {
 public:
  WsSession(Inner&& stream, std::shared_ptr<Gateway::Impl> gw)
      : ws_(std::move(stream)),
        gw_(std::move(gw)),
        hello_timer_(std::make_unique<net::steady_timer>(ws_.get_executor())) {}

  void start(beast::http::request<beast::http::string_body> req) {
    beast::get_lowest_layer(ws_).expires_never();  // the websocket's own timeouts take over
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = gw_->options.idle_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(gw_->options.max_message_bytes);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, "portierd"); }));
    ws_.async_accept(req,
                     beast::bind_front_handler(&WsSession::on_accept, this->shared_from_this()));
  }

  std::shared_ptr<WsBase> base_ptr() override { return this->shared_from_this(); }
  net::any_io_executor executor() override { return ws_.get_executor(); }

  void push(std::shared_ptr<const std::string> message) override {
    net::post(ws_.get_executor(),
              [self = this->shared_from_this(), m = std::move(message)]() mutable {
                if (self->hello_done_) self->send(std::move(m));
              });
  }

  void deliver(std::shared_ptr<const std::vector<sync::FeedChange>> batch,
               std::size_t index) override {
    net::post(ws_.get_executor(), [self = this->shared_from_this(), b = std::move(batch), index] {
      self->on_live((*b)[index]);
    });
  }

  void end(std::string final_message, std::uint16_t code, std::string reason) override {
    net::post(ws_.get_executor(), [self = this->shared_from_this(), m = std::move(final_message),
                                   code, reason = std::move(reason)]() mutable {
      if (!m.empty()) self->send(std::make_shared<const std::string>(std::move(m)));
      self->close(code, reason);
    });
  }

 private:
  struct FeedState {
    std::string epoch;
    std::int64_t next = 1;       // the next seq to send
    std::int64_t live_high = 0;  // the highest seq heard live while fetching
    bool fetching = false;
  };
  struct Out {
    std::string head;
    std::shared_ptr<const std::string> body;
    std::string tail;
    std::size_t size() const { return head.size() + body->size() + tail.size(); }
  };

  void on_accept(beast::error_code ec) {
    if (ec) return;  // handshake failed or timed out: nothing was ever open
    hello_timer_->expires_after(gw_->options.hello_timeout);
    hello_timer_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec || self->hello_done_ || self->hello_pending_) return;
      self->send(
          std::make_shared<const std::string>(error_message("hello_timeout", "send hello first")));
      self->close(static_cast<std::uint16_t>(websocket::close_code::policy_error), "hello_timeout");
    });
    do_read();
  }

  // Reads a message a little at a time: a whole-message read sets aside a 1.5 KiB buffer while
  // it waits, in every idle session; client messages are a few hundred bytes.
  void do_read() {
    ws_.async_read_some(in_, 256,
                        beast::bind_front_handler(&WsSession::on_read, this->shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return on_closed();  // closed, reset, too big (Beast answered 1009), idle timeout
    if (!ws_.is_message_done()) return do_read();
    std::string text = beast::buffers_to_string(in_.data());
    in_.consume(in_.size());
    in_.shrink_to_fit();  // an idle session keeps no read buffer
    bool was_text = ws_.got_text();
    do_read();  // keep reading: a bad message gets an error, never ends the session
    if (!was_text) return send_error("bad_message", "messages are JSON text frames");
    handle(text);
  }

  void handle(const std::string& text) {
    json::parse_options opt;
    opt.max_depth = 16;
    boost::system::error_code ec;
    json::value v = json::parse(text, ec, {}, opt);
    if (ec || !v.is_object()) return send_error("bad_message", "a message is a JSON object");
    const auto& o = v.as_object();
    const auto* type = o.if_contains("type");
    if (!type || !type->is_string())
      return send_error("bad_message", "a message has a string \"type\"");
    if (*type == "hello") return on_hello(o);
    if (!hello_done_) return send_error("hello_first", "send hello first");
    if (*type == "ack") return on_ack(o);
    if (*type == "ping") return send(std::make_shared<const std::string>(R"({"type":"pong"})"));
    if (*type == "open") return on_open(o);
    if (*type == "result") return on_result(o);
    if (*type == "event") return on_unit_event(o);
    send_error("unknown_type", "unknown message type " + json::serialize(*type));
  }

  void on_hello(const json::object& o) {
    if (hello_done_ || hello_pending_) return send_error("bad_message", "hello was already sent");
    const auto* token = o.if_contains("token");
    if (!token || !token->is_string()) return send_error("bad_message", "hello needs a token");
    struct Want {
      std::string feed;
      std::string epoch;
      std::int64_t seq = -1;  // -1: no cursor, send a snapshot
    };
    std::vector<Want> wants;
    if (const auto* feeds = o.if_contains("feeds")) {
      if (!feeds->is_array()) return send_error("bad_message", "feeds is a list");
      if (feeds->as_array().size() > gw_->options.max_feeds)
        return send_error("too_many_feeds",
                          "at most " + std::to_string(gw_->options.max_feeds) + " feeds");
      for (const auto& f : feeds->as_array()) {
        const auto* fo = f.if_object();
        const auto* name = fo ? fo->if_contains("feed") : nullptr;
        if (!name || !name->is_string() || !sync::FeedId::parse(name->as_string()))
          return send_error("bad_feed", "each feed is {feed: \"user/<id>\", epoch?, seq?}");
        Want w{std::string(name->as_string()), "", -1};
        const auto* epoch = fo->if_contains("epoch");
        const auto* seq = fo->if_contains("seq");
        if (epoch && epoch->is_string() && seq && seq->is_int64() && seq->as_int64() >= 0) {
          w.epoch = epoch->as_string();
          w.seq = seq->as_int64();
        }
        for (const auto& prev : wants)
          if (prev.feed == w.feed)
            return send_error("bad_feed", "feed " + w.feed + " listed twice");
        wants.push_back(std::move(w));
      }
    }
    Device dev;
    if (const auto* d = o.if_contains("device"); d && d->is_object()) {
      auto get = [&](const char* k) {
        const auto* x = d->as_object().if_contains(k);
        return x && x->is_string() && x->as_string().size() <= 100 ? std::string(x->as_string())
                                                                   : "";
      };
      dev.id = get("id");
      dev.kind = get("kind");
      dev.name = get("name");
      if (!dev.kind.empty() && dev.kind != "app" && dev.kind != "unit" && dev.kind != "console")
        return send_error("bad_message", "device.kind is app, unit or console");
    }
    hello_pending_ = true;
    auto self = this->shared_from_this();
    net::post(gw_->workers, [self, token = std::string(token->as_string()), wants, dev]() mutable {
      auto gw = self->gw_;
      auto who = authenticate_stream(gw->store, token, gw->clock());
      std::vector<std::pair<std::string, FeedHead>> heads;
      Status st = who ? ok() : Status(who.error());
      if (who) {
        if (wants.empty()) wants.push_back({(who->is_unit ? "unit/" : "user/") + who->id, "", -1});
        st = gw->store.read([&](ReadTx& tx) -> Status {
          for (const auto& w : wants) {
            if (auto s = may_read(*who, *sync::FeedId::parse(w.feed), tx); !s) return s;
            auto head = tx.feed_head(w.feed);
            if (!head) return head.error();
            heads.emplace_back(w.feed, *head);
          }
          return ok();
        });
      }
      net::post(self->ws_.get_executor(),
                [self, st, who = who ? std::optional<StreamIdentity>(*who) : std::nullopt, wants,
                 heads, dev]() mutable {
                  self->hello_pending_ = false;
                  if (!st) {
                    self->send(std::make_shared<const std::string>(
                        error_message(st.error().code, st.error().message)));
                    return self->close(
                        static_cast<std::uint16_t>(websocket::close_code::policy_error),
                        st.error().code);
                  }
                  self->begin(std::move(*who), wants, heads, dev);
                });
    });
  }

  template <class Want>
  void begin(StreamIdentity who, const std::vector<Want>& wants,
             const std::vector<std::pair<std::string, FeedHead>>& heads, Device dev) {
    // The connection may have ended while the hello was checked: then never subscribe, or
    // the hub would keep a session that is gone.
    if (closing_ || finished_) return;
    hello_done_ = true;
    hello_timer_.reset();  // cancels it; an idle session keeps no timer of its own
    who_ = std::move(who);
    session_id_ = new_id("sess");
    json::array feeds;
    for (std::size_t i = 0; i < wants.size(); ++i) {
      const auto& w = wants[i];
      const auto& head = heads[i].second;
      feed_names_.push_back(w.feed);
      auto& f = feeds_[w.feed];
      f.epoch = head.epoch;
      // A cursor from this epoch, still within the retained history, resumes; anything else
      // gets a snapshot.
      bool resumable =
          w.seq >= 0 && w.epoch == head.epoch && w.seq <= head.seq && w.seq + 1 >= head.first_seq;
      f.next = resumable ? w.seq + 1 : -1;
      feeds.push_back(json::object{
          {"feed", w.feed}, {"epoch", head.epoch}, {"seq", head.seq}, {"resumed", resumable}});
      dev.feeds[w.feed] = DeviceFeed{resumable ? w.seq : 0, head.epoch};
    }
    dev.id = dev.id.empty() ? session_id_ : dev.id;
    if (dev.kind.empty()) dev.kind = who_.is_unit ? "unit" : "app";
    dev.org_id = who_.org_id;
    (who_.is_unit ? dev.unit_id : dev.user_id) = who_.id;
    if (dev.name.empty()) dev.name = who_.name;
    dev.last_seen = gw_->clock();
    dev.key = who_.id + "/" + dev.id;
    device_id_ = dev.key;
    gw_->devices.connected(dev);
    {
      std::lock_guard lock(gw_->mu);
      for (const auto& [feed, head] : heads) gw_->note_head(feed, head.seq);
    }
    registered_ = true;
    gw_->subscribe(this, feed_names_, who_);
    gw_->device_event(who_.org_id, device_id_);
    presence(true);
    send(std::make_shared<const std::string>(json::serialize(json::object{
        {"type", "ready"},
        {"session", session_id_},
        {"server_time", format_rfc3339_ms(std::chrono::time_point_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now()))},
        {"identity", json::object{{"kind", who_.is_unit ? "unit" : "user"},
                                  {"id", who_.id},
                                  {"org_id", who_.org_id},
                                  {"role", who_.role}}},
        {"feeds", std::move(feeds)}})));
    for (const auto& name : feed_names_) {
      if (feeds_[name].next < 0)
        snapshot(name);
      else
        fetch(name);
    }
  }

  // Reads the feed's whole current state and its head in one transaction.
  void snapshot(const std::string& feed) {
    auto& f = feeds_[feed];
    f.fetching = true;
    auto self = this->shared_from_this();
    net::post(gw_->workers, [self, feed, org = who_.org_id] {
      std::string text;
      std::int64_t seq = 0;
      auto st = self->gw_->store.read([&](ReadTx& tx) -> Status {
        auto head = tx.feed_head(feed);
        if (!head) return head.error();
        auto contents = sync::feed_contents(tx, org, *sync::FeedId::parse(feed));
        if (!contents) return contents.error();
        json::array records;
        for (const auto& [key, r] : *contents)
          records.push_back(
              json::object{{"kind", kind_name(key.first)}, {"record", sync::record_json(r)}});
        seq = head->seq;
        text = json::serialize(json::object{{"type", "snapshot"},
                                            {"feed", feed},
                                            {"epoch", head->epoch},
                                            {"seq", seq},
                                            {"records", std::move(records)}});
        return ok();
      });
      net::post(self->ws_.get_executor(), [self, feed, st, seq, text = std::move(text)]() mutable {
        if (!st) return self->fail_store(st.error());
        auto& f = self->feeds_[feed];
        f.fetching = false;
        f.next = seq + 1;
        self->gw_->count("portier_push_snapshots_sent_total");
        self->send(std::make_shared<const std::string>(std::move(text)));
        if (f.live_high >= f.next) self->fetch(feed);
      });
    });
  }

  // Reads the changes after what was sent, then keeps reading while there are more.
  void fetch(const std::string& feed) {
    auto& f = feeds_[feed];
    f.fetching = true;
    auto self = this->shared_from_this();
    std::int64_t after = f.next - 1;
    int batch = gw_->options.fetch_batch;
    net::post(gw_->workers, [self, feed, after, batch] {
      std::vector<FeedEntry> entries;
      auto st = self->gw_->store.read([&](ReadTx& tx) -> Status {
        auto e = tx.read_feed(feed, after, batch);
        if (!e) return e.error();
        entries = std::move(*e);
        return ok();
      });
      net::post(self->ws_.get_executor(), [self, feed, st, entries = std::move(entries),
                                           batch]() mutable {
        if (!st) return self->fail_store(st.error());
        auto& f = self->feeds_[feed];
        f.fetching = false;
        for (auto& e : entries) {
          // Pruned history under a resuming cursor: start over from a snapshot.
          if (e.seq != f.next) return self->snapshot(feed);
          // Catching up is paced by the socket: past half the budget, wait for writes to drain
          // (what was read and not sent is read again then).
          if (self->queue_half_full()) {
            f.fetching = true;  // live changes wait too
            self->stalled_.insert(feed);
            return;
          }
          self->send_change(feed, f, e.seq, std::make_shared<const std::string>(std::move(e.body)));
        }
        if (static_cast<int>(entries.size()) == batch || f.live_high >= f.next) self->fetch(feed);
      });
    });
  }

  void on_live(const sync::FeedChange& c) {
    if (!hello_done_ || closing_) return;
    auto it = feeds_.find(c.feed);
    if (it == feeds_.end()) return;
    auto& f = it->second;
    if (f.fetching || f.next < 0) {
      f.live_high = std::max(f.live_high, c.seq);
      return;
    }
    if (c.seq < f.next) return;  // already sent from the store
    if (c.seq > f.next) {        // a gap (another node's commit, or a race): read it
      f.live_high = std::max(f.live_high, c.seq);
      return fetch(c.feed);
    }
    send_change(c.feed, f, c.seq, c.body);
  }

  void send_change(const std::string& feed, FeedState& f, std::int64_t seq,
                   std::shared_ptr<const std::string> body) {
    f.next = seq + 1;
    gw_->count("portier_push_changes_sent_total");
    Out out{R"({"type":"change","feed":")" + feed + R"(","epoch":")" + f.epoch + R"(","seq":)" +
                std::to_string(seq) + R"(,"change":)",
            std::move(body), "}"};
    enqueue(std::move(out));
  }

  void on_ack(const json::object& o) {
    const auto* feed = o.if_contains("feed");
    const auto* seq = o.if_contains("seq");
    if (!feed || !feed->is_string() || !seq || !seq->is_int64())
      return send_error("bad_message", "ack is {type: \"ack\", feed, seq}");
    auto it = feeds_.find(std::string(feed->as_string()));
    if (it == feeds_.end()) return send_error("bad_feed", "not a feed of this session");
    if (seq->as_int64() < 0 || seq->as_int64() >= it->second.next)
      return send_error("bad_ack", "ack a seq you received");
    gw_->devices.acked(device_id_, it->first, seq->as_int64(), gw_->clock());
    gw_->device_event(who_.org_id, device_id_);
  }

  // An app asks to open a door: the same decision and path as POST /v1/doors/{id}/open.
  void on_open(const json::object& o) {
    if (who_.is_unit) return send_error("bad_message", "units do not open doors");
    const auto* door = o.if_contains("door_id");
    const auto* rid = o.if_contains("request_id");
    const auto* override = o.if_contains("override_lockdown");
    if (!door || !door->is_string() || door->as_string().empty() || door->as_string().size() > 100)
      return send_error("bad_message", "open is {type: \"open\", request_id, door_id}");
    if (rid && (!rid->is_string() || rid->as_string().size() > 100))
      return send_error("bad_message", "request_id is a string of up to 100 characters");
    if (override && !override->is_bool())
      return send_error("bad_message", "override_lockdown is true or false");
    auto* doors = gw_->doors.load();
    if (!doors) return send_error("unavailable", "opening is not served here");
    OpenRequest req{who_.org_id, who_.id, std::string(door->as_string()),
                    override && override->as_bool(), "stream"};
    std::string request_id = rid ? std::string(rid->as_string()) : "";
    auto self = this->shared_from_this();
    net::post(gw_->workers, [self, doors, req, request_id] {
      doors->open(req, [self, request_id](OpenOutcome out) {
        json::object msg{
            {"type", "open_result"}, {"request_id", request_id}, {"status", out.status}};
        for (auto& [k, v] : out.body) msg[k] = v;
        self->push(std::make_shared<const std::string>(json::serialize(msg)));
      });
    });
  }

  // A unit answers a command.
  void on_result(const json::object& o) {
    if (!who_.is_unit) return send_error("bad_message", "only units send results");
    const auto* id = o.if_contains("id");
    const auto* result = o.if_contains("result");
    if (!id || !id->is_string() || !result || !result->is_string())
      return send_error("bad_message", "result is {type: \"result\", id, result}");
    std::string r(result->as_string());
    if (r != "opened" && r != "failed" && r != "expired" && r != "duplicate")
      return send_error("bad_message", "result is opened, failed, expired or duplicate");
    std::string message;
    if (const auto* m = o.if_contains("message");
        m && m->is_string() && m->as_string().size() < 500)
      message = m->as_string();
    gw_->resolve(std::string(id->as_string()), who_.id, CommandResult{r, message});
  }

  // A unit reports a door event (live, or buffered while it was offline); it keeps it until
  // event_saved comes back, and may send it again: the server logs it once.
  void on_unit_event(const json::object& o) {
    if (!who_.is_unit) return send_error("bad_message", "only units send events");
    auto text = [&](const char* k, bool required) -> std::optional<std::string> {
      const auto* v = o.if_contains(k);
      if (!v || v->is_null()) return required ? std::nullopt : std::optional<std::string>("");
      if (!v->is_string() || v->as_string().size() > 100 || (required && v->as_string().empty()))
        return std::nullopt;
      return std::string(v->as_string());
    };
    auto id = text("id", true), event = text("event", true), door = text("door", false),
         at = text("at", true), command = text("command_id", false);
    if (!id || !event || !door || !at || !command || !parse_rfc3339(*at))
      return send_error("bad_message",
                        "event is {type: \"event\", id, event, door?, at, command_id?}");
    if (std::find_if(std::begin(Doors::kEvents), std::end(Doors::kEvents),
                     [&](const char* e) { return *event == e; }) == std::end(Doors::kEvents))
      return send_error("bad_event",
                        "event is door_opened, door_closed, door_held_open or door_forced");
    auto* doors = gw_->doors.load();
    if (!doors) return send_error("unavailable", "events are not served here");
    UnitEvent e{who_.org_id, who_.id, *id, *event, *door, *at, *command};
    auto self = this->shared_from_this();
    net::post(gw_->workers, [self, doors, e] {
      auto st = doors->unit_event(e);
      std::string msg = st ? json::serialize(json::object{{"type", "event_saved"}, {"id", e.id}})
                           : json::serialize(json::object{{"type", "error"},
                                                          {"code", st.error().code},
                                                          {"message", st.error().message},
                                                          {"id", e.id}});
      self->push(std::make_shared<const std::string>(std::move(msg)));
    });
  }

  // Logs a unit's connection and disconnection (off the network threads).
  void presence(bool connected) {
    auto* doors = gw_->doors.load();
    if (!doors || !who_.is_unit) return;
    net::post(gw_->workers, [doors, org = who_.org_id, unit = who_.id, connected] {
      if (auto s = doors->unit_presence(org, unit, connected); !s)
        spdlog::warn("unit {}: logging presence: {}", unit, s.error().message);
    });
  }

  bool queue_half_full() const { return queued_bytes_ > gw_->options.queue_budget_bytes / 2; }

  void send_error(const std::string& code, const std::string& message) {
    send(std::make_shared<const std::string>(error_message(code, message)));
  }

  void send(std::shared_ptr<const std::string> text) { enqueue(Out{"", std::move(text), ""}); }

  void enqueue(Out out) {
    if (closing_) return;
    queued_bytes_ += out.size();
    queue_.push_back(std::move(out));
    // One message larger than the budget (a big snapshot) may pass alone.
    if (queued_bytes_ > gw_->options.queue_budget_bytes && queue_.size() + (writing_ ? 1 : 0) > 1) {
      // Durability lives in the feed: drop what is queued, close, let the client resume.
      while (!queue_.empty()) {
        queued_bytes_ -= queue_.back().size();
        queue_.pop_back();
      }
      return close(kSlowConsumer, "slow_consumer");
    }
    if (!writing_) do_write();
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
    ws_.async_write(bufs,
                    beast::bind_front_handler(&WsSession::on_write, this->shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) return on_closed();
    queued_bytes_ -= sending_.size();
    sending_ = Out{};
    if (!stalled_.empty() && !queue_half_full() && !closing_) {
      auto feeds = std::move(stalled_);
      stalled_.clear();
      for (const auto& f : feeds) fetch(f);
    }
    if (!queue_.empty()) return do_write();
    if (closing_ && !close_sent_) do_close();
  }

  // Sends what is queued, then the close frame; cuts the connection if that takes too long.
  void close(std::uint16_t code, std::string reason) {
    if (closing_) return;
    closing_ = true;
    close_code_ = code;
    gw_->count("portier_push_closes_total", "code=\"" + std::to_string(code) + "\"");
    close_reason_ = std::move(reason);
    close_timer_ = std::make_unique<net::steady_timer>(ws_.get_executor());
    close_timer_->expires_after(std::chrono::seconds(5));
    close_timer_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (ec) return;
      beast::get_lowest_layer(self->ws_).close();
    });
    if (!writing_) do_close();
  }

  void do_close() {
    close_sent_ = true;
    ws_.async_close(
        websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_reason_),
        [self = this->shared_from_this()](beast::error_code) { self->on_closed(); });
  }

  void fail_store(const Error& e) {
    spdlog::warn("stream {}: store: {}", session_id_, e.message);
    send_error("unavailable", "the server could not read the feed; reconnect");
    close(static_cast<std::uint16_t>(websocket::close_code::try_again_later), "unavailable");
  }

  void on_closed() {
    if (finished_) return;
    finished_ = true;
    hello_timer_.reset();
    close_timer_.reset();
    beast::error_code ignore;
    beast::get_lowest_layer(ws_).socket().close(ignore);
    if (registered_) gw_->devices.disconnected(device_id_, gw_->clock());
    gw_->forget(this, registered_, feed_names_, who_);
    if (registered_) gw_->device_event(who_.org_id, device_id_);
    if (registered_) presence(false);
  }

  websocket::stream<Inner> ws_;
  std::shared_ptr<Gateway::Impl> gw_;
  std::unique_ptr<net::steady_timer> hello_timer_;  // until the hello
  std::unique_ptr<net::steady_timer> close_timer_;  // once closing
  beast::flat_buffer in_;
  bool hello_done_ = false, hello_pending_ = false, registered_ = false;
  bool writing_ = false, closing_ = false, close_sent_ = false, finished_ = false;
  std::uint16_t close_code_ = 1000;
  std::string close_reason_;
  OutQueue<Out> queue_;
  Out sending_;  // the message being written (counted in queued_bytes_)
  std::size_t queued_bytes_ = 0;
  StreamIdentity who_;
  std::string session_id_, device_id_;
  std::vector<std::string> feed_names_;
  std::map<std::string, FeedState> feeds_;
  std::set<std::string> stalled_;  // feeds whose catch-up waits for the queue to drain

  friend struct Gateway::Impl;
};

void Gateway::Impl::subscribe(WsBase* s, const std::vector<std::string>& feeds,
                              const StreamIdentity& who) {
  std::lock_guard lock(mu);
  for (const auto& f : feeds) by_feed[f].insert(s);
  (who.is_unit ? by_unit : by_user)[who.id].insert(s);
  if (!who.is_unit) by_token[who.token_hash].insert(s);
  if (who.is_unit) unit_latest[who.id] = s;
}

void Gateway::Impl::device_event(const std::string& org_id, const std::string& device_id) {
  std::string org_feed = "org/" + org_id;
  {
    // Most acks have no console to tell: find that out before copying the device.
    std::lock_guard lock(mu);
    if (!by_feed.count(org_feed)) return;
  }
  auto d = devices.get(device_id);
  if (!d) return;
  json::array feeds;
  {
    std::lock_guard lock(mu);
    if (!by_feed.count(org_feed)) return;  // no console is watching
    for (const auto& [name, f] : d->feeds) {
      auto h = heads.find(name);
      std::int64_t latest = h == heads.end() ? f.acked_seq : h->second;
      feeds.push_back(json::object{{"feed", name},
                                   {"acked_seq", f.acked_seq},
                                   {"latest_seq", latest},
                                   {"behind", std::max<std::int64_t>(0, latest - f.acked_seq)}});
    }
  }
  auto msg = std::make_shared<const std::string>(json::serialize(json::object{
      {"type", "device"},
      {"feed", org_feed},
      {"device",
       json::object{
           {"id", d->id},
           {"kind", d->kind},
           {"name", d->name},
           {"user_id", d->user_id.empty() ? json::value(nullptr) : json::value(d->user_id)},
           {"unit_id", d->unit_id.empty() ? json::value(nullptr) : json::value(d->unit_id)},
           {"connected", d->connections > 0},
           {"last_seen", format_rfc3339(d->last_seen)},
           {"feeds", std::move(feeds)}}}}));
  push_to_feed(org_feed, msg);
}

void Gateway::Impl::push_to_feed(const std::string& feed,
                                 const std::shared_ptr<const std::string>& message) {
  std::vector<std::shared_ptr<WsBase>> targets;
  {
    std::lock_guard lock(mu);
    auto it = by_feed.find(feed);
    if (it == by_feed.end()) return;
    for (auto* s : it->second) targets.push_back(s->base_ptr());
  }
  for (auto& s : targets) s->push(message);
}

void Gateway::Impl::forget(WsBase* s, bool subscribed, const std::vector<std::string>& feeds,
                           const StreamIdentity& who) {
  std::lock_guard lock(mu);
  all.erase(s);
  if (!subscribed) return;
  auto drop = [&](std::map<std::string, std::set<WsBase*>>& m, const std::string& key) {
    auto it = m.find(key);
    if (it == m.end()) return;
    it->second.erase(s);
    if (it->second.empty()) m.erase(it);
  };
  for (const auto& f : feeds) drop(by_feed, f);
  drop(who.is_unit ? by_unit : by_user, who.id);
  if (!who.is_unit) drop(by_token, who.token_hash);
  if (auto it = unit_latest.find(who.id);
      who.is_unit && it != unit_latest.end() && it->second == s) {
    auto rest = by_unit.find(who.id);
    if (rest == by_unit.end())
      unit_latest.erase(it);
    else
      it->second = *rest->second.begin();
  }
}

Gateway::Gateway(Store& store, net::thread_pool& workers, net::any_io_executor io,
                 DeviceRegistry& devices, GatewayOptions options, Clock clock)
    : impl_(std::make_shared<Impl>(
          store, workers, devices, options,
          [clock = clock ? std::move(clock) : system_clock()] { return whole_seconds(clock()); })) {
  impl_->executor = std::move(io);
}

Gateway::~Gateway() = default;

void Gateway::accept(std::unique_ptr<Upgrade> up) {
  if (impl_->stopping) return;
  std::visit(
      [&](auto& stream) {
        using Inner = std::decay_t<decltype(stream)>;
        auto s = std::make_shared<WsSession<Inner>>(std::move(stream), impl_);
        {
          std::lock_guard lock(impl_->mu);
          impl_->all.emplace(s.get(), s);
        }
        s->start(std::move(up->request));
      },
      up->stream);
}

void Gateway::stop() {
  impl_->stopping = true;
  std::vector<std::shared_ptr<WsBase>> live;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& [raw, s] : impl_->all) live.push_back(s);
  }
  for (auto& s : live)
    s->end("", static_cast<std::uint16_t>(websocket::close_code::going_away), "shutting_down");
}

void Gateway::set_metrics(Metrics* m) { impl_->metrics = m; }

void Gateway::set_doors(Doors* d) { impl_->doors = d; }

void Gateway::Impl::resolve(const std::string& command_id, const std::string& unit_id,
                            CommandResult r) {
  CommandDone done;
  {
    std::lock_guard lock(commands_mu);
    auto it = pending.find(command_id);
    if (it == pending.end()) return;  // answered already, or timed out
    if (!unit_id.empty() && it->second.unit_id != unit_id) return;
    done = std::move(it->second.done);
    auto timer = it->second.timer;
    net::post(timer->get_executor(), [timer] { timer->cancel(); });
    pending.erase(it);
  }
  done(std::move(r));
}

void Gateway::on_event(const std::string& feed, std::shared_ptr<const std::string> message) {
  impl_->push_to_feed(feed, message);
}

bool Gateway::on_command(const UnitCommand& cmd, const CommandDone& done) {
  std::shared_ptr<WsBase> unit;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->unit_latest.find(cmd.unit_id);
    if (it == impl_->unit_latest.end()) return false;
    unit = it->second->base_ptr();
  }
  auto timer = std::make_shared<net::steady_timer>(unit->executor());
  {
    std::lock_guard lock(impl_->commands_mu);
    impl_->pending[cmd.id] = Impl::PendingCommand{cmd.unit_id, done, timer};
  }
  net::post(timer->get_executor(), [timer, impl = impl_, id = cmd.id, timeout = cmd.timeout] {
    timer->expires_after(timeout);
    timer->async_wait([impl, id](beast::error_code ec) {
      if (!ec) impl->resolve(id, "", CommandResult{"unit_timeout", "no answer in time"});
    });
  });
  unit->push(std::make_shared<const std::string>(
      json::serialize(json::object{{"type", "command"},
                                   {"id", cmd.id},
                                   {"door", cmd.door_id},
                                   {"pulse_ms", cmd.pulse_ms},
                                   {"expires_at", cmd.expires_at}})));
  return true;
}

std::size_t Gateway::sessions() const {
  std::lock_guard lock(impl_->mu);
  return impl_->all.size();
}

void Gateway::on_changes(const std::vector<sync::FeedChange>& changes) {
  auto batch = std::make_shared<const std::vector<sync::FeedChange>>(changes);
  std::vector<Impl::Delivery> targets;
  {
    std::lock_guard lock(impl_->mu);
    for (std::size_t i = 0; i < batch->size(); ++i) {
      const auto& c = (*batch)[i];
      impl_->note_head(c.feed, c.seq);
      auto it = impl_->by_feed.find(c.feed);
      if (it == impl_->by_feed.end()) continue;
      for (auto* s : it->second) targets.push_back(Impl::Delivery{s->base_ptr(), batch, i, {}});
    }
  }
  impl_->enqueue(std::move(targets));
}

void Gateway::Impl::enqueue(std::vector<Delivery> deliveries) {
  if (deliveries.empty()) return;
  {
    std::lock_guard lock(pump_mu);
    for (auto& d : deliveries) to_deliver.push_back(std::move(d));
    if (pumping) return;
    pumping = true;
  }
  net::post(executor, [self = shared_from_this()] { self->pump(); });
}

void Gateway::Impl::pump() {
  // Sixty-four sessions at a time, then this goes to the back of the io queue: what came
  // in meanwhile (an open, a unit's answer) waits for one step, not for the whole fan-out.
  constexpr std::size_t kStep = 64;
  std::vector<Delivery> step;
  {
    std::lock_guard lock(pump_mu);
    while (!to_deliver.empty() && step.size() < kStep) {
      step.push_back(std::move(to_deliver.front()));
      to_deliver.pop_front();
    }
  }
  for (auto& d : step) {
    if (d.batch)
      d.session->deliver(std::move(d.batch), d.index);
    else
      d.session->end(d.end->message, d.end->code, d.end->reason);
  }
  {
    std::lock_guard lock(pump_mu);
    if (to_deliver.empty()) {
      pumping = false;
      return;
    }
  }
  net::post(executor, [self = shared_from_this()] { self->pump(); });
}

void Gateway::on_revocation(const Revocation& r) {
  std::vector<std::shared_ptr<WsBase>> targets;
  {
    std::lock_guard lock(impl_->mu);
    auto collect = [&](const std::map<std::string, std::set<WsBase*>>& m, const std::string& key) {
      if (key.empty()) return;
      auto it = m.find(key);
      if (it == m.end()) return;
      for (auto* s : it->second) targets.push_back(s->base_ptr());
    };
    collect(impl_->by_user, r.user_id);
    collect(impl_->by_unit, r.unit_id);
    collect(impl_->by_token, r.token_hash);
  }
  // Through the same queue as changes: a revocation never overtakes the change before it.
  auto end = std::make_shared<const Impl::End>(
      Impl::End{json::serialize(json::object{{"type", "revoked"}, {"reason", r.reason}}), kRevoked,
                r.reason});
  std::vector<Impl::Delivery> deliveries;
  for (auto& s : targets) deliveries.push_back(Impl::Delivery{std::move(s), nullptr, 0, end});
  impl_->enqueue(std::move(deliveries));
}

}  // namespace portier
