#include "server/devices.hpp"

#include <algorithm>

namespace portier {

void DeviceRegistry::connected(const Device& d) {
  std::lock_guard lock(mu_);
  auto& cur = devices_[d.key];
  int connections = cur.connections;
  auto feeds = std::move(cur.feeds);
  cur = d;
  cur.connections = connections + 1;
  for (auto& [feed, f] : feeds)
    if (!cur.feeds.count(feed)) cur.feeds[feed] = f;
}

void DeviceRegistry::acked(const std::string& key, const std::string& feed, std::int64_t seq,
                           Instant now) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(key);
  if (it == devices_.end()) return;
  auto& f = it->second.feeds[feed];
  f.acked_seq = std::max(f.acked_seq, seq);
  it->second.last_seen = now;
}

void DeviceRegistry::disconnected(const std::string& key, Instant now) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(key);
  if (it == devices_.end()) return;
  it->second.connections = std::max(0, it->second.connections - 1);
  it->second.last_seen = now;
}

std::optional<Device> DeviceRegistry::get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = devices_.find(key);
  if (it == devices_.end()) return std::nullopt;
  return it->second;
}

std::vector<Device> DeviceRegistry::list(const std::string& org_id, Instant now) {
  std::lock_guard lock(mu_);
  std::vector<Device> out;
  for (auto it = devices_.begin(); it != devices_.end();) {
    if (it->second.connections == 0 && it->second.last_seen + forget_after_ < now) {
      it = devices_.erase(it);
      continue;
    }
    if (it->second.org_id == org_id) out.push_back(it->second);
    ++it;
  }
  std::sort(out.begin(), out.end(), [](const Device& a, const Device& b) {
    if ((a.connections > 0) != (b.connections > 0)) return a.connections > 0;
    if (a.last_seen != b.last_seen) return a.last_seen > b.last_seen;
    return a.id < b.id;
  });
  return out;
}

}  // namespace portier
