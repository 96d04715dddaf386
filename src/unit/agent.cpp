#include "unit/agent.hpp"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <mutex>
#include <optional>

#include "client/feed_client.hpp"
#include "core/fields.hpp"
#include "core/time.hpp"
#include "crypto/crypto.hpp"

namespace portier::unit {
namespace json = boost::json;

struct Agent::Impl {
  Identity id;
  State& state;
  Driver& driver;
  AgentOptions options;
  std::unique_ptr<client::FeedClient> client;
  DoorMonitor monitor;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<json::object> inbox;  // messages from the client thread, handled on run()'s thread
  std::string inflight;            // the outbox event sent and not yet saved
  bool outbox_checked = false;     // the outbox was found empty, and nothing was added since
  // The server's clock at our last ready, against our steady clock: commands expire by the
  // server's clock even when ours is off.
  std::optional<std::pair<InstantMs, std::chrono::steady_clock::time_point>> server_clock;

  Impl(Identity i, State& s, Driver& d, AgentOptions o)
      : id(std::move(i)),
        state(s),
        driver(d),
        options(std::move(o)),
        monitor(options.held_open_after) {}

  std::string feed() const { return "unit/" + id.unit_id; }

  // The doors this unit drives, from its replica.
  std::vector<std::string> doors() const {
    auto unit = client->record(feed(), "unit:" + id.unit_id);
    return unit ? str_list_field(*unit, "door_ids") : std::vector<std::string>{};
  }

  void result(const std::string& cmd, const std::string& r, const std::string& message) {
    json::object m{{"type", "result"}, {"id", cmd}, {"result", r}};
    if (!message.empty()) m["message"] = message;
    if (!client->send(m)) spdlog::warn("command {}: {} (not reported: disconnected)", cmd, r);
  }

  void command(const json::object& m) {
    auto str = [&](const char* k) {
      const auto* v = m.if_contains(k);
      return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    std::string cmd = str("id"), door = str("door"), expires = str("expires_at");
    const auto* pulse = m.if_contains("pulse_ms");
    if (cmd.empty() || door.empty() || !pulse || !pulse->is_int64()) {
      spdlog::warn("ignoring a malformed command");
      return;
    }
    auto now =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    // Claim the id before anything else: a command runs at most once, even across restarts.
    auto fresh = state.claim_command(
        cmd, std::chrono::floor<std::chrono::seconds>(now).time_since_epoch().count());
    if (!fresh) return result(cmd, "failed", fresh.error().message);
    if (!*fresh) {
      spdlog::warn("command {}: seen before, ignored", cmd);
      return result(cmd, "duplicate", "");
    }
    auto until = parse_rfc3339_ms(expires);
    // Expired by our clock, or by the server's as we reckon it from the last ready: a unit
    // whose clock runs behind must not pulse after the server gave up waiting.
    bool expired = !until || now >= *until;
    if (until && server_clock) {
      auto server_now =
          server_clock->first + std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - server_clock->second);
      expired = expired || server_now >= *until;
    }
    if (expired) {
      spdlog::warn("command {}: expired at {}, ignored", cmd, expires);
      return result(cmd, "expired", "");
    }
    auto mine = doors();
    if (std::find(mine.begin(), mine.end(), door) == mine.end())
      return result(cmd, "failed", "this unit does not drive door " + door);
    int ms = static_cast<int>(std::clamp<std::int64_t>(pulse->as_int64(), 1, 600000));
    auto st = driver.pulse(door, ms, cmd);
    if (!st) {
      spdlog::error("command {}: {}", cmd, st.error().message);
      return result(cmd, "failed", st.error().message);
    }
    monitor.pulsed(door, cmd, DoorMonitor::Clock::now(), ms);
    result(cmd, "opened", "");
  }

  // Sends the oldest unsaved event, one at a time, so the server logs them in order.
  void flush() {
    if (!inflight.empty() || outbox_checked) return;
    auto next = state.events(1);
    if (next.empty()) {
      outbox_checked = true;  // no query every poll while there is nothing to send
      return;
    }
    if (client->send(next[0].message)) inflight = str_field(next[0].message, "id");
  }

  void record(const DoorEvent& e) {
    auto now =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    json::object m{{"type", "event"},
                   {"id", new_id("evt")},
                   {"event", e.event},
                   {"door", e.door},
                   {"at", format_rfc3339_ms(now)}};
    if (!e.command_id.empty()) m["command_id"] = e.command_id;
    spdlog::info("door {}: {}", e.door, e.event);
    if (auto s = state.push_event(m); !s) spdlog::error("event lost: {}", s.error().message);
    outbox_checked = false;
  }

  void handle(const json::object& m) {
    auto type = str_field(m, "type");
    if (type == "command") return command(m);
    if (type == "ready") {
      if (const auto* t = m.if_contains("server_time"); t && t->is_string())
        if (auto at = parse_rfc3339_ms(t->as_string())) {
          server_clock.emplace(*at, std::chrono::steady_clock::now());
          auto skew = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now() - *at);
          if (std::chrono::abs(skew) > std::chrono::seconds(2))
            spdlog::warn("this unit's clock is {} ms {} the server's{}; synchronize it (NTP)",
                         std::chrono::abs(skew).count(), skew.count() > 0 ? "ahead of" : "behind",
                         skew.count() > 0 ? ": commands may be refused as expired" : "");
        }
      bool resumed = false;
      if (const auto* feeds = m.if_contains("feeds"); feeds && feeds->is_array())
        for (const auto& f : feeds->as_array())
          if (f.is_object() && f.as_object().if_contains("resumed"))
            resumed = f.at("resumed") == true;
      // One line on standard output per connection, for supervisors and tests.
      std::cout << "connected to " << id.server << " as unit " << id.unit_id << " ("
                << (resumed ? "resumed from its cursor" : "snapshot") << ")" << std::endl;
      inflight.clear();  // whatever was in flight is sent again
      return;
    }
    if (type == "closed") {
      inflight.clear();
      return;
    }
    if (type == "event_saved") {
      auto saved = str_field(m, "id");
      if (saved.empty()) return spdlog::warn("ignoring an event_saved without an id");
      (void)state.drop_event(saved);
      if (saved == inflight) inflight.clear();
      return;
    }
    if (type == "error" && !str_field(m, "id").empty()) {
      auto code = str_field(m, "code");
      std::string eid = str_field(m, "id");
      if (code != "store_error" && code != "unavailable" && code != "internal") {
        spdlog::error("event {} refused by the server ({}): dropped", eid, code);
        (void)state.drop_event(eid);
      }
      if (eid == inflight) inflight.clear();
    }
  }
};

Agent::Agent(Identity identity, State& state, Driver& driver, AgentOptions options)
    : impl_(std::make_unique<Impl>(std::move(identity), state, driver, std::move(options))) {
  client::ClientOptions o;
  o.url = impl_->id.server;
  o.token = impl_->id.credential;
  o.feeds = {impl_->feed()};
  // Its own id: receipts are per device, and each unit is one (a fixed name made every
  // unit of an organization look like the same device in GET /v1/devices).
  o.device_id = impl_->id.unit_id;
  o.device_kind = "unit";
  o.device_name = impl_->options.name;
  o.ca_file = impl_->id.ca_file;
  o.max_backoff = std::chrono::seconds(5);
  o.replica_store = &state;
  o.log = [](const std::string& line) { spdlog::warn("push: {}", line); };
  impl_->client = std::make_unique<client::FeedClient>(o);
  impl_->client->on_event([impl = impl_.get()](const client::Event& e) {
    if (e.type == "snapshot" || e.type == "change" || e.type == "device") return;
    json::object m = e.message;
    if (e.type == "closed") m = json::object{{"type", "closed"}};
    {
      std::lock_guard lock(impl->mu);
      impl->inbox.push_back(std::move(m));
    }
    impl->cv.notify_all();
  });
}

Agent::~Agent() { impl_->client->stop(); }

std::string Agent::run(const std::atomic<bool>& stop) {
  auto& im = *impl_;
  im.client->start();
  auto next_poll = DoorMonitor::Clock::now();
  while (!stop) {
    std::deque<json::object> work;
    {
      std::unique_lock lock(im.mu);
      im.cv.wait_until(lock, next_poll, [&] { return !im.inbox.empty() || stop; });
      work.swap(im.inbox);
    }
    for (const auto& m : work) im.handle(m);
    auto now = DoorMonitor::Clock::now();
    if (now >= next_poll) {
      for (const auto& e : im.monitor.observe(im.driver.door_states(), now)) im.record(e);
      next_poll = now + im.options.poll;
    }
    im.flush();
    if (auto why = im.client->stopped_reason(); !why.empty()) {
      im.client->stop();
      return why;
    }
  }
  im.client->stop();
  return "";
}

}  // namespace portier::unit
