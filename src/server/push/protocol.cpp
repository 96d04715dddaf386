#include "server/push/protocol.hpp"

#include <spdlog/spdlog.h>
#include <boost/json.hpp>
#include <optional>

#include "crypto/crypto.hpp"
#include "server/metrics.hpp"
#include "server/push/commands.hpp"
#include "server/push/hub.hpp"

namespace portier::push {
namespace json = boost::json;

namespace {

constexpr std::uint16_t kPolicyError = 1008;
constexpr std::uint16_t kTryAgainLater = 1013;

}  // namespace

Instant Protocol::now() const { return whole_seconds(svc_.clock()); }

void Protocol::count(const char* name, const std::string& labels) {
  if (svc_.metrics) svc_.metrics->count(name, labels);
}

bool Protocol::queue_half_full() const {
  return sink_.queued_bytes() > svc_.options.queue_budget_bytes / 2;
}

void Protocol::send_text(std::string text) {
  sink_.send(Frame{"", std::make_shared<const std::string>(std::move(text)), ""});
}

void Protocol::send_error(const std::string& code, const std::string& message,
                          const std::string& id) {
  json::object e{{"type", "error"}, {"code", code}, {"message", message}};
  if (!id.empty()) e["id"] = id;
  send_text(json::serialize(e));
}

void Protocol::on_message(std::string_view data, bool text) {
  if (!text) return send_error("bad_message", "messages are JSON text frames");
  json::parse_options opt;
  opt.max_depth = 16;
  boost::system::error_code ec;
  // Client messages are small: parse them on the stack (the resource falls back to the heap
  // past the buffer).
  unsigned char scratch[2048];
  json::monotonic_resource mr(scratch, sizeof scratch);
  json::value v = json::parse(data, ec, &mr, opt);
  if (ec || !v.is_object()) return send_error("bad_message", "a message is a JSON object");
  const auto& o = v.as_object();
  const auto* type = o.if_contains("type");
  if (!type || !type->is_string())
    return send_error("bad_message", "a message has a string \"type\"");
  if (*type == "hello") return on_hello(o);
  if (!hello_done_) return send_error("hello_first", "send hello first");
  if (*type == "ack") return on_ack(o);
  if (*type == "ping") return send_text(R"({"type":"pong"})");
  if (*type == "open") return on_open(o);
  if (*type == "result") return on_result(o);
  if (*type == "event") return on_unit_event(o);
  send_error("unknown_type", "unknown message type " + json::serialize(*type));
}

void Protocol::on_hello_timeout() {
  if (hello_done_ || hello_pending_ || closed_) return;
  send_error("hello_timeout", "send hello first");
  sink_.close(kPolicyError, "hello_timeout");
}

void Protocol::on_hello(const json::object& o) {
  if (hello_done_ || hello_pending_) return send_error("bad_message", "hello was already sent");
  const auto* token = o.if_contains("token");
  if (!token || !token->is_string()) return send_error("bad_message", "hello needs a token");
  std::vector<Want> wants;
  if (const auto* feeds = o.if_contains("feeds")) {
    if (!feeds->is_array()) return send_error("bad_message", "feeds is a list");
    if (feeds->as_array().size() > svc_.options.max_feeds)
      return send_error("too_many_feeds",
                        "at most " + std::to_string(svc_.options.max_feeds) + " feeds");
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
        if (prev.feed == w.feed) return send_error("bad_feed", "feed " + w.feed + " listed twice");
      wants.push_back(std::move(w));
    }
  }
  Device dev;
  if (const auto* d = o.if_contains("device"); d && !d->is_null()) {
    if (!d->is_object()) return send_error("bad_message", "device is {id?, kind?, name?}");
    // Refused, never cut or replaced: a device that names itself differently from what it
    // asked would see receipts under another name.
    std::string bad;
    auto get = [&](const char* k) -> std::string {
      const auto* x = d->as_object().if_contains(k);
      if (!x || x->is_null()) return "";
      if (!x->is_string() || x->as_string().size() > 100) {
        if (bad.empty()) bad = k;
        return "";
      }
      return std::string(x->as_string());
    };
    dev.id = get("id");
    dev.kind = get("kind");
    dev.name = get("name");
    if (!bad.empty())
      return send_error("bad_message", "device." + bad + " is a string of up to 100 characters");
    if (!dev.kind.empty() && dev.kind != "app" && dev.kind != "unit" && dev.kind != "console")
      return send_error("bad_message", "device.kind is app, unit or console");
  }
  hello_pending_ = true;
  auto who = std::make_shared<Result<Principal>>(Error{});
  auto heads = std::make_shared<std::vector<std::pair<std::string, FeedHead>>>();
  auto st = std::make_shared<Status>(ok());
  auto shared_wants = std::make_shared<std::vector<Want>>(std::move(wants));
  sink_.offload(
      [this, who, heads, st, shared_wants, token = std::string(token->as_string())] {
        // On a worker: only what was captured, and the shared services.
        auto& wants = *shared_wants;
        *who = authenticate(svc_.store, token, now());
        if (!*who) {
          *st = Status((*who).error());
          return;
        }
        const auto& id = **who;
        if (wants.empty()) wants.push_back({(id.is_unit ? "unit/" : "user/") + id.id, "", -1});
        *st = svc_.store.read([&](ReadTx& tx) -> Status {
          for (const auto& w : wants) {
            if (auto s = may_read(id, *sync::FeedId::parse(w.feed), tx); !s) return s;
            auto head = tx.feed_head(w.feed);
            if (!head) return head.error();
            heads->emplace_back(w.feed, *head);
          }
          return ok();
        });
      },
      [this, who, heads, st, shared_wants, dev] {
        hello_pending_ = false;
        if (!*st) {
          send_error(st->error().code, st->error().message);
          return sink_.close(kPolicyError, st->error().code);
        }
        begin(std::move(**who), *shared_wants, *heads, dev);
      });
}

void Protocol::begin(Principal who, const std::vector<Want>& wants,
                     const std::vector<std::pair<std::string, FeedHead>>& heads, Device dev) {
  // The connection may have ended while the hello was checked: then never subscribe, or the
  // hub would keep a session that is gone.
  if (closed_ || sink_.closing()) return;
  hello_done_ = true;
  sink_.hello_accepted();
  who_ = Speaker{who.is_unit, who.id, who.org_id};
  session_id_ = new_id("sess");
  json::array feeds;
  std::vector<std::string> names;
  feeds_.reserve(wants.size());
  for (std::size_t i = 0; i < wants.size(); ++i) {
    const auto& w = wants[i];
    const auto& head = heads[i].second;
    names.push_back(w.feed);
    // A cursor from this epoch, still within the retained history, resumes; anything else
    // gets a snapshot.
    bool resumable =
        w.seq >= 0 && w.epoch == head.epoch && w.seq <= head.seq && w.seq + 1 >= head.first_seq;
    feeds_.push_back(FeedState{w.feed, head.epoch, resumable ? w.seq + 1 : -1});
    feeds.push_back(json::object{
        {"feed", w.feed}, {"epoch", head.epoch}, {"seq", head.seq}, {"resumed", resumable}});
    dev.feeds[w.feed] = DeviceFeed{resumable ? w.seq : 0, head.epoch};
  }
  dev.id = dev.id.empty() ? session_id_ : dev.id;
  if (dev.kind.empty()) dev.kind = who.is_unit ? "unit" : "app";
  dev.org_id = who.org_id;
  (who.is_unit ? dev.unit_id : dev.user_id) = who.id;
  if (dev.name.empty()) dev.name = who.name;
  dev.last_seen = now();
  device_id_ = svc_.devices.connected(dev);
  for (const auto& [feed, head] : heads) svc_.hub.note_head(feed, head.seq);
  registered_ = true;
  svc_.hub.subscribe(&self_, names,
                     Who{who.is_unit ? "" : who.id, who.is_unit ? who.id : "", who.token_hash});
  svc_.hub.device_event(who_.org_id, device_id_);
  presence(true);
  send_text(json::serialize(
      json::object{{"type", "ready"},
                   {"session", session_id_},
                   {"server_time", format_rfc3339_ms(svc_.clock())},
                   {"identity", json::object{{"kind", who_.is_unit ? "unit" : "user"},
                                             {"id", who_.id},
                                             {"org_id", who_.org_id},
                                             {"role", who.role}}},
                   {"feeds", std::move(feeds)}}));
  for (const auto& f : feeds_) {
    if (f.next < 0)
      snapshot(f.name);
    else
      fetch(f.name);
  }
}

Protocol::FeedState* Protocol::find(std::string_view feed) {
  for (auto& f : feeds_)
    if (f.name == feed) return &f;
  return nullptr;
}

// Reads the feed's whole current state and its head in one transaction.
void Protocol::snapshot(const std::string& feed) {
  state(feed).fetching = true;
  struct Read {
    Status st = ok();
    std::string text;
    std::int64_t seq = 0;
  };
  auto r = std::make_shared<Read>();
  sink_.offload(
      [this, r, feed, org = who_.org_id] {
        r->st = svc_.store.read([&](ReadTx& tx) -> Status {
          auto head = tx.feed_head(feed);
          if (!head) return head.error();
          auto contents = sync::feed_contents(tx, org, *sync::FeedId::parse(feed));
          if (!contents) return contents.error();
          json::array records;
          for (const auto& [key, rec] : *contents)
            records.push_back(
                json::object{{"kind", kind_name(key.first)}, {"record", sync::record_json(rec)}});
          r->seq = head->seq;
          r->text = json::serialize(json::object{{"type", "snapshot"},
                                                 {"feed", feed},
                                                 {"epoch", head->epoch},
                                                 {"seq", r->seq},
                                                 {"records", std::move(records)}});
          return ok();
        });
      },
      [this, r, feed] {
        if (!r->st) return fail_store(r->st.error());
        auto& f = state(feed);
        f.fetching = false;
        f.next = r->seq + 1;
        count("portier_push_snapshots_sent_total");
        send_text(std::move(r->text));
        if (f.live_high >= f.next) fetch(feed);
      });
}

// Reads the changes after what was sent, then keeps reading while there are more.
void Protocol::fetch(const std::string& feed) {
  auto& f = state(feed);
  f.fetching = true;
  struct Read {
    Status st = ok();
    std::vector<FeedEntry> entries;
  };
  auto r = std::make_shared<Read>();
  int batch = svc_.options.fetch_batch;
  sink_.offload(
      [this, r, feed, after = f.next - 1, batch] {
        r->st = svc_.store.read([&](ReadTx& tx) -> Status {
          auto e = tx.read_feed(feed, after, batch);
          if (!e) return e.error();
          r->entries = std::move(*e);
          return ok();
        });
      },
      [this, r, feed, batch] {
        if (!r->st) return fail_store(r->st.error());
        if (closed_) return;
        auto& f = state(feed);
        f.fetching = false;
        for (auto& e : r->entries) {
          // Pruned history under a resuming cursor: start over from a snapshot.
          if (e.seq != f.next) return snapshot(feed);
          // Catching up is paced by the socket: past half the budget, wait for writes to drain
          // (what was read and not sent is read again then).
          if (queue_half_full()) {
            f.fetching = true;  // live changes wait too
            f.stalled = true;
            return;
          }
          send_change(feed, f, e.seq, std::make_shared<const std::string>(std::move(e.body)));
        }
        if (static_cast<int>(r->entries.size()) == batch || f.live_high >= f.next) fetch(feed);
      });
}

void Protocol::on_drained() {
  if (queue_half_full() || sink_.closing()) return;
  for (auto& f : feeds_)
    if (f.stalled) {
      f.stalled = false;
      fetch(f.name);
    }
}

void Protocol::on_live(const sync::FeedChange& c) {
  if (!hello_done_ || sink_.closing()) return;
  auto* found = find(c.feed);
  if (!found) return;
  auto& f = *found;
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

void Protocol::send_change(const std::string& feed, FeedState& f, std::int64_t seq,
                           std::shared_ptr<const std::string> body) {
  f.next = seq + 1;
  count("portier_push_changes_sent_total");
  sink_.send(Frame{R"({"type":"change","feed":")" + feed + R"(","epoch":")" + f.epoch +
                       R"(","seq":)" + std::to_string(seq) + R"(,"change":)",
                   std::move(body), "}"});
}

void Protocol::on_ack(const json::object& o) {
  const auto* feed = o.if_contains("feed");
  const auto* seq = o.if_contains("seq");
  if (!feed || !feed->is_string() || !seq || !seq->is_int64())
    return send_error("bad_message", "ack is {type: \"ack\", feed, seq}");
  const auto* f = find(feed->as_string());
  if (!f) return send_error("bad_feed", "not a feed of this session");
  if (seq->as_int64() < 0 || seq->as_int64() >= f->next)
    return send_error("bad_ack", "ack a seq you received");
  svc_.devices.acked(device_id_, f->name, seq->as_int64(), now());
  svc_.hub.device_event(who_.org_id, device_id_);
}

// An app asks to open a door: the same decision and path as POST /v1/doors/{id}/open.
void Protocol::on_open(const json::object& o) {
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
  OpenRequest req{who_.org_id, who_.id, std::string(door->as_string()),
                  override && override->as_bool(), "stream"};
  std::string request_id = rid ? std::string(rid->as_string()) : "";
  auto& doors = svc_.doors;
  sink_.offload(
      [&doors, req, request_id, send = sink_.sender()] {
        doors.open(req, [send, request_id](OpenOutcome out) {
          json::object msg{
              {"type", "open_result"}, {"request_id", request_id}, {"status", out.status}};
          for (auto& [k, v] : out.body) msg[k] = v;
          send(std::make_shared<const std::string>(json::serialize(msg)));
        });
      },
      {});
}

// A unit answers a command.
void Protocol::on_result(const json::object& o) {
  if (!who_.is_unit) return send_error("bad_message", "only units send results");
  const auto* id = o.if_contains("id");
  const auto* result = o.if_contains("result");
  if (!id || !id->is_string() || !result || !result->is_string())
    return send_error("bad_message", "result is {type: \"result\", id, result}");
  std::string r(result->as_string());
  if (r != "opened" && r != "failed" && r != "expired" && r != "duplicate")
    return send_error("bad_message", "result is opened, failed, expired or duplicate");
  std::string message;
  if (const auto* m = o.if_contains("message"); m && m->is_string() && m->as_string().size() < 500)
    message = m->as_string();
  svc_.commands.resolve(std::string(id->as_string()), who_.id, CommandResult{r, message});
}

// A unit reports a door event (live, or buffered while it was offline); it keeps it until
// event_saved comes back, and may send it again: the server logs it once. Every error about
// it carries its id (when it has a usable one), so the unit knows which event to drop.
void Protocol::on_unit_event(const json::object& o) {
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
  std::string echo = id ? *id : "";
  if (!id || !event || !door || !at || !command || !parse_rfc3339(*at))
    return send_error("bad_message",
                      "event is {type: \"event\", id, event, door?, at, command_id?}", echo);
  if (!is_unit_event(*event))
    return send_error("bad_event",
                      "event is door_opened, door_closed, door_held_open or door_forced", echo);
  UnitEvent e{who_.org_id, who_.id, *id, *event, *door, *at, *command};
  auto st = std::make_shared<Status>(ok());
  sink_.offload(
      [this, e, st] { *st = svc_.doors.unit_event(e); },
      [this, e, st] {
        if (*st)
          return send_text(json::serialize(json::object{{"type", "event_saved"}, {"id", e.id}}));
        send_error(st->error().code, st->error().message, e.id);
      });
}

// Logs a unit's connection and disconnection (off the network threads).
void Protocol::presence(bool connected) {
  if (!who_.is_unit) return;
  auto& doors = svc_.doors;
  sink_.offload(
      [&doors, org = who_.org_id, unit = who_.id, connected] {
        if (auto s = doors.unit_presence(org, unit, connected); !s)
          spdlog::warn("unit {}: logging presence: {}", unit, s.error().message);
      },
      {});
}

void Protocol::fail_store(const Error& e) {
  spdlog::warn("stream {}: store: {}", session_id_, e.message);
  send_error("unavailable", "the server could not read the feed; reconnect");
  sink_.close(kTryAgainLater, "unavailable");
}

void Protocol::on_closed() {
  if (closed_) return;
  closed_ = true;
  svc_.hub.leave(&self_);
  if (!registered_) return;
  svc_.devices.disconnected(device_id_, now());
  // Commands sent through this session and unanswered may have run: say so now rather than
  // at their timeout.
  if (who_.is_unit) svc_.commands.session_lost(&self_);
  svc_.hub.device_event(who_.org_id, device_id_);
  presence(false);
}

}  // namespace portier::push
