#pragma once
// Delivery receipts: every connected or recently seen device, the feeds it reads, what it
// has acknowledged. Kept in memory by the node its sessions are on.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
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

class DeviceRegistry {
 public:
  // A session of the device began (feeds: the ones it reads, with the cursor it sent).
  void connected(const Device& d);
  void acked(const std::string& key, const std::string& feed, std::int64_t seq, Instant now);
  void disconnected(const std::string& key, Instant now);
  // The organization's devices, connected first, then by last seen; those unseen for
  // `forget_after` are dropped.
  std::vector<Device> list(const std::string& org_id, Instant now);
  // One device, if known.
  std::optional<Device> get(const std::string& key);

 private:
  std::chrono::hours forget_after_{24 * 7};
  std::mutex mu_;
  std::map<std::string, Device> devices_;
};

}  // namespace portier
