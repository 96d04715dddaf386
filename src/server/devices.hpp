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
#include <string_view>
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
  // Registry key, "<identity>/<id>" (set by the registry): the identity and the device id
  // together, so that no one can pose as, or merge into, another identity's (or
  // organization's) device by reusing its id.
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
// devices reading the feed of one of `site_ids` and those of `user_id`.
struct DeviceFilter {
  bool everything = true;
  std::vector<std::string> site_ids;
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
  // last_seen: now). Returns its key ("<identity>/<id>"; d.key is not read).
  std::string connected(const Device& d);
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
  // Thousands of idle sessions each hold one: what can be found elsewhere is not stored
  // twice. The id and the identity are the two halves of the key; the organization's id is
  // by_org_'s.
  struct Entry {
    const std::string* org_id = nullptr;  // by_org_'s key (it lives while this device does)
    bool unit = false;                    // the identity is a unit (else a user)
    int connections = 0;                  // live sessions now
    Instant last_seen{};
    std::string kind, name;
    std::vector<std::pair<std::string, DeviceFeed>> feeds;  // ordered by feed
  };
  using Key = std::string;
  // Ordered by key, which begins with the identity: an identity's devices are one range.
  using Devices = std::map<Key, Entry, std::less<>>;
  struct ByKey {
    using is_transparent = void;
    bool operator()(const Key* a, const Key* b) const { return *a < *b; }
    bool operator()(const Key* a, const Key& b) const { return *a < b; }
    bool operator()(const Key& a, const Key* b) const { return a < *b; }
  };
  using Keys = std::set<const Key*, ByKey>;  // pointing at devices_'s keys

  static Device to_device(const Devices::value_type& kv);
  static std::string_view identity(const Key& key) {
    return std::string_view(key).substr(0, key.find('/'));
  }
  static bool site_feed(const std::string& feed) { return feed.compare(0, 5, "site/") == 0; }
  void forget_expired(Instant now);
  void trim(const std::string& identity);
  void erase(Devices::iterator it);
  void index(const Devices::value_type& kv);
  void unindex(const Devices::value_type& kv);
  void set_idle(const Devices::value_type& kv);
  void clear_idle(const Devices::value_type& kv);

  DeviceLimits limits_;
  std::mutex mu_;
  Devices devices_;
  std::unordered_map<std::string, Keys> by_org_;  // org id → its devices
  // site/ feed → devices reading it: the only feeds a listing filters on (a user's or a
  // unit's own feed is its identity's range of devices_).
  std::unordered_map<std::string, Keys> by_site_feed_;
  std::set<std::pair<Instant, Key>> idle_;  // not connected, by last seen
  std::unordered_map<std::string, std::set<std::pair<Instant, Key>>> idle_by_identity_;
};

}  // namespace portier
