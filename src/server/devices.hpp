#pragma once
// Delivery receipts: every connected or recently seen device, the feeds it reads, what it
// has acknowledged. Kept in memory by the node its sessions are on, bounded: a device unseen
// for `forget_after` is forgotten, and an identity (a user or a unit) keeps at most
// `per_identity` devices besides the ones connected now (the one seen longest ago goes
// first). Indexed by organization, identity and feed, so no call scans all devices.

#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/time.hpp"

namespace portier {

struct DeviceFeed {
  std::int64_t acked_seq = 0;  // the last seq the device said it applied
  std::string epoch;
};

struct Device {
  // Registry key: the identity and the device id together, so that no one can pose as, or
  // merge into, another identity's (or organization's) device by reusing its id.
  std::string key;
  std::string id;  // as the device names itself
  std::string org_id;
  std::string kind;  // app | unit | console
  std::string name;
  std::string user_id;  // who: a user's device …
  std::string unit_id;  // … or a unit
  int connections = 0;  // live sessions now
  Instant last_seen{};
  std::map<std::string, DeviceFeed> feeds;
};

struct DeviceLimits {
  std::size_t per_identity = 50;  // remembered devices per user or unit, besides connected ones
  std::chrono::hours forget_after{24 * 7};
};

// Who a listing is for: everything of the organization, or (an admin scoped to sites) the
// devices reading one of `feeds` and those of `user_id`.
struct DeviceFilter {
  bool everything = true;
  std::vector<std::string> feeds;
  std::string user_id;
};

struct DevicePage {
  std::vector<Device> items;  // ordered by key
  bool more = false;          // devices follow the last item
};

class DeviceRegistry {
 public:
  explicit DeviceRegistry(DeviceLimits limits = {}) : limits_(limits) {}
  // A session of the device began (feeds: the ones it reads, with the cursor it sent; its
  // last_seen: now).
  void connected(const Device& d);
  void acked(const std::string& key, const std::string& feed, std::int64_t seq, Instant now);
  void disconnected(const std::string& key, Instant now);
  // Up to `limit` of the organization's devices the filter lets through, ordered by key,
  // starting after the key `after` ("" for the first page).
  DevicePage list(const std::string& org_id, const DeviceFilter& filter, const std::string& after,
                  std::size_t limit, Instant now);
  // One device, if known.
  std::optional<Device> get(const std::string& key);
  // Devices remembered now (connected or not), for tests and metrics.
  std::size_t size();

 private:
  using Key = std::string;
  void forget_expired(Instant now);
  void trim(std::string identity);
  void erase(std::unordered_map<Key, Device>::iterator it);
  void index(const Key& key, const Device& d);  // key: devices_'s own
  void unindex(const Device& d);
  void set_idle(const Device& d);
  void clear_idle(const Device& d);
  static const std::string& identity(const Device& d) {
    return d.user_id.empty() ? d.unit_id : d.user_id;
  }

  DeviceLimits limits_;
  std::mutex mu_;
  std::unordered_map<Key, Device> devices_;
  // The indexes point at the keys of devices_ (its nodes stay put, even on a rehash): one
  // copy of each key.
  struct ByKey {
    using is_transparent = void;
    bool operator()(const Key* a, const Key* b) const { return *a < *b; }
    bool operator()(const Key* a, const Key& b) const { return *a < b; }
    bool operator()(const Key& a, const Key* b) const { return a < *b; }
  };
  using Keys = std::set<const Key*, ByKey>;
  std::unordered_map<std::string, Keys> by_org_;       // org id → its devices
  std::unordered_map<std::string, Keys> by_identity_;  // user or unit id → its devices
  std::unordered_map<std::string, Keys> by_feed_;      // feed → devices reading it
  std::set<std::pair<Instant, Key>> idle_;             // not connected, by last seen
  std::unordered_map<std::string, std::set<std::pair<Instant, Key>>> idle_by_identity_;
};

}  // namespace portier
