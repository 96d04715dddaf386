#include "server/push/hub.hpp"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "core/time.hpp"
#include "server/metrics.hpp"

namespace portier::push {
namespace net = boost::asio;
namespace json = boost::json;

Hub::Hub(net::any_io_executor io, DeviceRegistry& devices, HubOptions options, Metrics* metrics)
    : io_(std::move(io)), devices_(devices), options_(options), metrics_(metrics) {}

void Hub::count(const char* name) {
  if (metrics_) metrics_->count(name);
}

void Hub::join(Subscriber* s, std::weak_ptr<Subscriber> self) {
  std::lock_guard lock(mu_);
  all_[s].self = std::move(self);
}

bool Hub::console_listing(const Index* index, const std::string& key) const {
  return index == &by_feed_ && key.compare(0, 4, "org/") == 0;
}

void Hub::list(Entry& e, Index& index, const std::string& key) {
  if (console_listing(&index, key)) org_listings_.fetch_add(1, std::memory_order_relaxed);
  auto& slot = *index.try_emplace(key).first;
  slot.second.push_back(&e);
  e.listed.push_back(Listing{&index, &slot, std::prev(slot.second.end())});
}

void Hub::unlist(Entry& e) {
  for (auto& l : e.listed) {
    if (console_listing(l.index, l.slot->first))
      org_listings_.fetch_sub(1, std::memory_order_relaxed);
    l.slot->second.erase(l.at);
    if (l.slot->second.empty()) l.index->erase(l.index->find(l.slot->first));
  }
  e.listed.clear();
}

void Hub::subscribe(Subscriber* s, const std::vector<std::string>& feeds, const Who& who) {
  std::shared_ptr<Subscriber> evicted;
  {
    std::lock_guard lock(mu_);
    auto it = all_.find(s);
    if (it == all_.end()) return;  // it left while its hello was checked
    auto& e = it->second;
    // Exactly what it will hold: thousands of idle sessions keep this vector.
    e.listed.reserve(e.listed.size() + feeds.size() + !who.user_id.empty() + !who.unit_id.empty() +
                     !who.token_hash.empty());
    for (const auto& f : feeds) list(e, by_feed_, f);
    if (!who.user_id.empty()) list(e, by_user_, who.user_id);
    if (!who.unit_id.empty()) list(e, by_unit_, who.unit_id);
    if (!who.token_hash.empty()) {
      list(e, by_token_, who.token_hash);
      // Oldest first: the newest session of a device that reconnected is the one that works;
      // an old one is more likely a dead link not yet timed out.
      auto& same = e.listed.back().slot->second;
      if (options_.max_sessions_per_token > 0 && same.size() > options_.max_sessions_per_token) {
        Entry* oldest = same.front();
        evicted = oldest->self.lock();
        unlist(*oldest);  // it gets nothing more, and no longer counts toward the cap
      }
    }
  }
  if (!evicted) return;
  count("portier_push_sessions_evicted_total");
  static const auto end = std::make_shared<const End>(
      End{json::serialize(json::object{
              {"type", "error"},
              {"code", "too_many_sessions"},
              {"message", "this token has too many live sessions; this one, the oldest, ends"}}),
          kTooManySessions, "too_many_sessions"});
  enqueue({Delivery{std::move(evicted), nullptr, 0, end}});
}

void Hub::leave(Subscriber* s) {
  std::lock_guard lock(mu_);
  auto it = all_.find(s);
  if (it == all_.end()) return;
  unlist(it->second);
  all_.erase(it);
}

std::size_t Hub::size() const {
  std::lock_guard lock(mu_);
  return all_.size();
}

void Hub::end_all(std::uint16_t code, const std::string& reason) {
  std::vector<std::shared_ptr<Subscriber>> live;
  {
    std::lock_guard lock(mu_);
    for (const auto& [raw, e] : all_)
      if (auto s = e.self.lock()) live.push_back(std::move(s));
  }
  for (auto& s : live) s->end("", code, reason);
}

void Hub::publish(sync::FeedChanges changes) {
  if (!changes || changes->empty()) return;
  // One item, however many sessions it reaches: the pump finds them a step at a time, so the
  // commit that publishes (under the store's write lock) never waits for 10,000 lookups.
  std::vector<Delivery> one;
  one.push_back(Delivery{nullptr, std::move(changes), 0, nullptr});
  enqueue(std::move(one));
}

void Hub::revoke(const Revocation& r) {
  std::vector<std::shared_ptr<Subscriber>> targets;
  {
    std::lock_guard lock(mu_);
    auto collect = [&](const Index& index, const std::string& key) {
      if (key.empty()) return;
      auto it = index.find(key);
      if (it == index.end()) return;
      for (auto* e : it->second)
        if (auto s = e->self.lock()) targets.push_back(std::move(s));
    };
    collect(by_user_, r.user_id);
    collect(by_unit_, r.unit_id);
    collect(by_token_, r.token_hash);
  }
  // Through the same queue as changes: a revocation never overtakes the change before it.
  auto end = std::make_shared<const End>(
      End{json::serialize(json::object{{"type", "revoked"}, {"reason", r.reason}}), kRevoked,
          r.reason});
  std::vector<Delivery> deliveries;
  for (auto& s : targets) deliveries.push_back(Delivery{std::move(s), nullptr, 0, end});
  enqueue(std::move(deliveries));
}

void Hub::push_to_feed(const std::string& feed, const std::shared_ptr<const std::string>& message) {
  std::vector<std::shared_ptr<Subscriber>> targets;
  {
    std::lock_guard lock(mu_);
    auto it = by_feed_.find(feed);
    if (it == by_feed_.end()) return;
    for (auto* e : it->second)
      if (auto s = e->self.lock()) targets.push_back(std::move(s));
  }
  for (auto& s : targets) s->push(message);
}

std::shared_ptr<Subscriber> Hub::unit_session(const std::string& unit_id) const {
  std::lock_guard lock(mu_);
  auto it = by_unit_.find(unit_id);
  if (it == by_unit_.end()) return nullptr;
  // Listed in the order they said hello: the newest is last.
  for (auto e = it->second.rbegin(); e != it->second.rend(); ++e)
    if (auto s = (*e)->self.lock()) return s;
  return nullptr;
}

void Hub::note_head_locked(const std::string& feed, std::int64_t seq) {
  auto& h = heads_[feed];
  h = std::max(h, seq);
}

void Hub::note_head(const std::string& feed, std::int64_t seq) {
  std::lock_guard lock(mu_);
  note_head_locked(feed, seq);
}

void Hub::device_event(const std::string& org_id, const std::string& device_key) {
  if (org_listings_.load(std::memory_order_relaxed) == 0) return;  // no console anywhere
  std::string org_feed = "org/" + org_id;
  {
    // Most acks have no console to tell: find that out before copying the device.
    std::lock_guard lock(mu_);
    if (!by_feed_.count(org_feed)) return;
  }
  auto d = devices_.get(device_key);
  if (!d) return;
  json::array feeds;
  {
    std::lock_guard lock(mu_);
    if (!by_feed_.count(org_feed)) return;  // no console is watching
    for (const auto& [name, f] : d->feeds) {
      auto h = heads_.find(name);
      std::int64_t latest = h == heads_.end() ? f.acked_seq : h->second;
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

void Hub::enqueue(std::vector<Delivery> deliveries) {
  if (deliveries.empty()) return;
  {
    std::lock_guard lock(pump_mu_);
    for (auto& d : deliveries) to_deliver_.push_back(std::move(d));
    if (pumping_) return;
    pumping_ = true;
  }
  net::post(io_, [self = shared_from_this()] { self->pump(); });
}

bool Hub::delivering() const {
  std::lock_guard lock(pump_mu_);
  return pumping_;
}

void Hub::pump() {
  // Sixty-four sessions at a time, then this goes to the back of the io queue: what came in
  // meanwhile (an open, a unit's answer) waits for one step, not for the whole fan-out.
  constexpr std::size_t kStep = 64;
  std::vector<Delivery> step;
  for (;;) {
    std::shared_ptr<const std::vector<sync::FeedChange>> batch;
    std::size_t from = 0;
    {
      std::lock_guard lock(pump_mu_);
      while (!to_deliver_.empty() && step.size() < kStep && to_deliver_.front().session) {
        step.push_back(std::move(to_deliver_.front()));
        to_deliver_.pop_front();
      }
      if (to_deliver_.empty() || step.size() >= kStep) break;
      batch = to_deliver_.front().batch;  // published changes: their sessions are found now
      from = to_deliver_.front().index;
    }
    std::size_t i = from;
    {
      std::lock_guard lock(mu_);
      for (; i < batch->size() && step.size() < kStep; ++i) {
        const auto& c = (*batch)[i];
        note_head_locked(c.feed, c.seq);
        auto it = by_feed_.find(c.feed);
        if (it == by_feed_.end()) continue;
        for (auto* e : it->second)
          if (auto s = e->self.lock()) step.push_back(Delivery{std::move(s), batch, i, {}});
      }
    }
    // Only the pump takes from the front, so it is still this batch.
    std::lock_guard lock(pump_mu_);
    if (i == batch->size())
      to_deliver_.pop_front();
    else
      to_deliver_.front().index = i;
  }
  for (auto& d : step) {
    if (d.batch)
      d.session->deliver(std::move(d.batch), d.index);
    else
      d.session->end(d.end->message, d.end->code, d.end->reason);
  }
  {
    std::lock_guard lock(pump_mu_);
    if (to_deliver_.empty()) {
      pumping_ = false;
      return;
    }
  }
  net::post(io_, [self = shared_from_this()] { self->pump(); });
}

}  // namespace portier::push
