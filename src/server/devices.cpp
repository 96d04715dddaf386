#include "server/devices.hpp"

#include <algorithm>

namespace portier {
namespace {

// Takes `value` out of index[name], and the entry when it empties.
template <typename Index, typename Value>
void drop(Index& index, const std::string& name, const Value& value) {
  auto i = index.find(name);
  if (i == index.end()) return;
  if (auto at = i->second.find(value); at != i->second.end()) i->second.erase(at);
  if (i->second.empty()) index.erase(i);
}

}  // namespace

void DeviceRegistry::connected(const Device& d) {
  std::lock_guard lock(mu_);
  forget_expired(d.last_seen);
  auto [it, inserted] = devices_.try_emplace(d.key);
  auto& cur = it->second;
  int connections = 0;
  std::map<std::string, DeviceFeed> feeds;
  if (!inserted) {
    connections = cur.connections;
    if (connections == 0) clear_idle(cur);
    // Keys begin with the identity, so org and identity stay; unindexed anyway, so the
    // indexes hold whatever the caller sends.
    unindex(cur);
    feeds = std::move(cur.feeds);
  }
  cur = d;
  cur.connections = connections + 1;
  for (auto& [feed, f] : feeds)
    if (!cur.feeds.count(feed)) cur.feeds[feed] = f;
  index(it->first, cur);
  trim(identity(cur));
}

void DeviceRegistry::acked(const std::string& key, const std::string& feed, std::int64_t seq,
                           Instant now) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(key);
  if (it == devices_.end()) return;
  auto& d = it->second;
  auto [f, added] = d.feeds.try_emplace(feed);
  f->second.acked_seq = std::max(f->second.acked_seq, seq);
  if (added) by_feed_[feed].insert(&it->first);  // most acks are for a feed it already reads
  // An ack that crossed its session's end moves the device in the idle order.
  if (d.connections == 0) clear_idle(d);
  d.last_seen = now;
  if (d.connections == 0) set_idle(d);
}

void DeviceRegistry::disconnected(const std::string& key, Instant now) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(key);
  if (it == devices_.end() || it->second.connections == 0) return;
  auto& d = it->second;
  d.last_seen = now;
  if (--d.connections > 0) return;
  set_idle(d);
  // An identity is over its cap only while idle devices are missing to evict: now one is not.
  trim(identity(d));
  forget_expired(now);
}

std::optional<Device> DeviceRegistry::get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(key);
  if (it == devices_.end()) return std::nullopt;
  return it->second;
}

std::size_t DeviceRegistry::size() {
  std::lock_guard lock(mu_);
  return devices_.size();
}

DevicePage DeviceRegistry::list(const std::string& org_id, const DeviceFilter& filter,
                                const std::string& after, std::size_t limit, Instant now) {
  std::lock_guard lock(mu_);
  forget_expired(now);
  // The sources to merge: the organization's devices, or a scoped admin's feeds and her own.
  std::vector<const Keys*> sources;
  auto add = [&](const auto& index, const std::string& name) {
    if (auto it = index.find(name); it != index.end()) sources.push_back(&it->second);
  };
  if (filter.everything) {
    add(by_org_, org_id);
  } else {
    for (const auto& feed : filter.feeds) add(by_feed_, feed);
    if (!filter.user_id.empty()) add(by_identity_, filter.user_id);
  }
  // Each source is ordered by key, so the page lies within the first limit + 1 keys after
  // `after` of each.
  std::set<Key> keys;
  for (const auto* s : sources) {
    std::size_t taken = 0;
    for (auto it = s->upper_bound(after); it != s->end() && taken <= limit; ++it) {
      if (devices_.at(**it).org_id != org_id) continue;
      keys.insert(**it);
      ++taken;
    }
  }
  DevicePage page;
  for (const auto& k : keys) {
    if (page.items.size() == limit) {
      page.more = true;
      break;
    }
    page.items.push_back(devices_.at(k));
  }
  return page;
}

void DeviceRegistry::forget_expired(Instant now) {
  while (!idle_.empty() && idle_.begin()->first + limits_.forget_after < now)
    erase(devices_.find(idle_.begin()->second));
}

// By value: callers pass identity(device) of a device this may erase.
void DeviceRegistry::trim(std::string who) {  // NOLINT(performance-unnecessary-value-param)
  // The one seen longest ago goes first; connected devices stay. (Looked up again each time:
  // erase() drops an index entry that empties.)
  for (;;) {
    auto all = by_identity_.find(who);
    auto idle = idle_by_identity_.find(who);
    if (all == by_identity_.end() || idle == idle_by_identity_.end()) return;
    if (all->second.size() <= limits_.per_identity) return;
    erase(devices_.find(idle->second.begin()->second));
  }
}

void DeviceRegistry::erase(std::unordered_map<Key, Device>::iterator it) {
  if (it->second.connections == 0) clear_idle(it->second);
  unindex(it->second);
  devices_.erase(it);
}

void DeviceRegistry::index(const Key& key, const Device& d) {
  by_org_[d.org_id].insert(&key);
  by_identity_[identity(d)].insert(&key);
  for (const auto& [feed, f] : d.feeds) by_feed_[feed].insert(&key);
}

void DeviceRegistry::unindex(const Device& d) {
  drop(by_org_, d.org_id, d.key);
  drop(by_identity_, identity(d), d.key);
  for (const auto& [feed, f] : d.feeds) drop(by_feed_, feed, d.key);
}

void DeviceRegistry::set_idle(const Device& d) {
  idle_.insert({d.last_seen, d.key});
  idle_by_identity_[identity(d)].insert({d.last_seen, d.key});
}

void DeviceRegistry::clear_idle(const Device& d) {
  idle_.erase({d.last_seen, d.key});
  drop(idle_by_identity_, identity(d), std::make_pair(d.last_seen, d.key));
}

}  // namespace portier
