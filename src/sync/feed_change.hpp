#pragma once
// A committed change of one feed, as the bus carries it and sessions send it. No store here:
// whoever only carries changes (the bus, the gateway) needs nothing else.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace portier::sync {

// The body is serialized once and shared by every feed and session that carries it.
struct FeedChange {
  std::string feed;
  std::int64_t seq = 0;
  std::shared_ptr<const std::string> body;
};

// The changes of one commit, in seq order per feed, shared as they are by the bus, the hub and
// the deliveries: a change reaching 10,000 feeds is never copied after its commit.
using FeedChanges = std::shared_ptr<const std::vector<FeedChange>>;
inline FeedChanges share(std::vector<FeedChange> changes) {
  return std::make_shared<const std::vector<FeedChange>>(std::move(changes));
}

}  // namespace portier::sync
