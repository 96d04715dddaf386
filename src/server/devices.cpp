#include "server/devices.hpp"

#include <algorithm>

namespace portier {
namespace {

// Takes `value` out of index[name], and the entry when it empties.
template <typename Index, typename Name, typename Value>
void drop(Index& index, const Name& name, const Value& value) {
  auto i = index.find(name);
  if (i == index.end()) return;
  if (auto at = i->second.find(value); at != i->second.end()) i->second.erase(at);
  if (i->second.empty()) index.erase(i);
}

// The devices_ range of an identity's devices: keys "<identity>/…" ('0' follows '/').
template <typename Map>
auto identity_range(Map& m, std::string_view identity) {
  std::string from(identity);
  from += '/';
  auto first = m.lower_bound(from);
  from.back() = '0';
  return std::make_pair(first, m.lower_bound(from));
}

}  // namespace

std::string DeviceRegistry::connected(const Device& d) {
  const std::string& who = d.user_id.empty() ? d.unit_id : d.user_id;
  Key key = who + "/" + d.id;
  std::lock_guard lock(mu_);
  forget_expired(d.last_seen);
  auto [it, inserted] = devices_.try_emplace(key);
  auto& cur = it->second;
  if (!inserted) {
    if (cur.connections == 0) clear_idle(*it);
    // Keys begin with the identity, so org and identity stay; unindexed anyway, so the
    // indexes hold whatever the caller sends.
    unindex(*it);
  }
  ++cur.connections;
  cur.unit = d.user_id.empty();
  cur.last_seen = d.last_seen;
  cur.kind = d.kind;
  cur.name = d.name;
  // The feeds it reads now, with the cursors it sent; those it read before stay.
  for (const auto& [feed, f] : d.feeds) {
    auto at = std::lower_bound(cur.feeds.begin(), cur.feeds.end(), feed,
                               [](const auto& e, const std::string& n) { return e.first < n; });
    if (at != cur.feeds.end() && at->first == feed)
      at->second = f;
    else
      cur.feeds.emplace(at, feed, f);
  }
  cur.feeds.shrink_to_fit();
  cur.org_id = &by_org_.try_emplace(d.org_id).first->first;
  index(*it);
  trim(who);
  return key;
}

void DeviceRegistry::acked(const std::string& key, const std::string& feed, std::int64_t seq,
                           Instant now) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(key);
  if (it == devices_.end()) return;
  auto& d = it->second;
  auto f = std::lower_bound(d.feeds.begin(), d.feeds.end(), feed,
                            [](const auto& e, const std::string& n) { return e.first < n; });
  if (f == d.feeds.end() || f->first != feed) {  // most acks are for a feed it already reads
    f = d.feeds.emplace(f, feed, DeviceFeed{});
    if (site_feed(feed)) by_site_feed_[feed].insert(&it->first);
  }
  f->second.acked_seq = std::max(f->second.acked_seq, seq);
  // An ack that crossed its session's end moves the device in the idle order.
  if (d.connections == 0) clear_idle(*it);
  d.last_seen = now;
  if (d.connections == 0) set_idle(*it);
}

void DeviceRegistry::disconnected(const std::string& key, Instant now) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(key);
  if (it == devices_.end() || it->second.connections == 0) return;
  auto& d = it->second;
  d.last_seen = now;
  if (--d.connections > 0) return;
  set_idle(*it);
  // An identity is over its cap only while idle devices are missing to evict: now one is not.
  trim(std::string(identity(key)));
  forget_expired(now);
}

Device DeviceRegistry::to_device(const Devices::value_type& kv) {
  const auto& [key, e] = kv;
  Device d;
  d.key = key;
  auto who = identity(key);
  d.id = key.substr(who.size() + 1);
  d.org_id = *e.org_id;
  d.kind = e.kind;
  d.name = e.name;
  (e.unit ? d.unit_id : d.user_id) = who;
  d.connections = e.connections;
  d.last_seen = e.last_seen;
  for (const auto& [feed, f] : e.feeds) d.feeds.emplace(feed, f);
  return d;
}

std::optional<Device> DeviceRegistry::get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(key);
  if (it == devices_.end()) return std::nullopt;
  return to_device(*it);
}

std::size_t DeviceRegistry::size() {
  std::lock_guard lock(mu_);
  return devices_.size();
}

DevicePage DeviceRegistry::list(const std::string& org_id, const DeviceFilter& filter,
                                const std::string& after, std::size_t limit, Instant now) {
  std::lock_guard lock(mu_);
  forget_expired(now);
  // Each source is ordered by key, so the page lies within the first limit + 1 keys after
  // `after` of each: the organization's devices, or a scoped admin's sites' and her own.
  std::set<const Key*, ByKey> keys;
  auto take = [&](auto first, auto last, auto key_of) {
    std::size_t taken = 0;
    for (auto it = first; it != last && taken <= limit; ++it) {
      const Key* k = key_of(*it);
      if (*devices_.find(*k)->second.org_id != org_id) continue;
      keys.insert(k);
      ++taken;
    }
  };
  auto from_keys = [&](const auto& index, const std::string& name) {
    if (auto it = index.find(name); it != index.end())
      take(it->second.upper_bound(after), it->second.end(), [](const Key* k) { return k; });
  };
  if (filter.everything) {
    from_keys(by_org_, org_id);
  } else {
    for (const auto& site : filter.site_ids) from_keys(by_site_feed_, "site/" + site);
    if (!filter.user_id.empty()) {
      auto [first, last] = identity_range(devices_, filter.user_id);
      if (first != last && after >= first->first) {
        first = devices_.upper_bound(after);
        if (first == devices_.end() || (last != devices_.end() && !(first->first < last->first)))
          first = last;  // `after` is past her devices
      }
      take(first, last, [](const Devices::value_type& kv) { return &kv.first; });
    }
  }
  DevicePage page;
  for (const Key* k : keys) {
    if (page.items.size() == limit) {
      page.more = true;
      break;
    }
    page.items.push_back(to_device(*devices_.find(*k)));
  }
  return page;
}

void DeviceRegistry::forget_expired(Instant now) {
  while (!idle_.empty() && idle_.begin()->first + limits_.forget_after < now)
    erase(devices_.find(idle_.begin()->second));
}

void DeviceRegistry::trim(const std::string& who) {
  // The one seen longest ago goes first; connected devices stay.
  auto [first, last] = identity_range(devices_, who);
  auto count = static_cast<std::size_t>(std::distance(first, last));
  while (count > limits_.per_identity) {
    auto idle = idle_by_identity_.find(who);  // erase() drops the entry when it empties
    if (idle == idle_by_identity_.end()) return;
    erase(devices_.find(idle->second.begin()->second));
    --count;
  }
}

void DeviceRegistry::erase(Devices::iterator it) {
  if (it->second.connections == 0) clear_idle(*it);
  unindex(*it);
  devices_.erase(it);
}

void DeviceRegistry::index(const Devices::value_type& kv) {
  by_org_[*kv.second.org_id].insert(&kv.first);
  for (const auto& [feed, f] : kv.second.feeds)
    if (site_feed(feed)) by_site_feed_[feed].insert(&kv.first);
}

void DeviceRegistry::unindex(const Devices::value_type& kv) {
  for (const auto& [feed, f] : kv.second.feeds)
    if (site_feed(feed)) drop(by_site_feed_, feed, kv.first);
  // Last: the entry's org_id is by_org_'s key, gone when its last device leaves.
  drop(by_org_, *kv.second.org_id, kv.first);
}

void DeviceRegistry::set_idle(const Devices::value_type& kv) {
  idle_.insert({kv.second.last_seen, kv.first});
  idle_by_identity_[std::string(identity(kv.first))].insert({kv.second.last_seen, kv.first});
}

void DeviceRegistry::clear_idle(const Devices::value_type& kv) {
  idle_.erase({kv.second.last_seen, kv.first});
  drop(idle_by_identity_, std::string(identity(kv.first)),
       std::make_pair(kv.second.last_seen, kv.first));
}

}  // namespace portier
