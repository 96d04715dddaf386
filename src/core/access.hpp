#pragma once
// Access decisions: may a user open a door at an instant, why not, and when the answer next
// changes. Pure: the caller passes the grants that name the door (or its site), the site's
// zone and the instant.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/schedule.hpp"

namespace portier {

struct GrantRule {
  std::string id;
  Instant valid_from = kAlways;  // inclusive
  Instant valid_until = kNever;  // exclusive
  std::optional<std::int64_t> max_uses = std::nullopt;
  std::int64_t uses = 0;
  const Schedule* schedule = nullptr;  // nullptr: at any time
};

struct Decision {
  bool allowed = false;
  // "granted", or why not: user_disabled, no_grant, outside_schedule, not_yet_valid,
  // uses_exhausted, expired.
  std::string reason;
  std::optional<Instant> next_change;  // absent: the answer does not change by time alone
  std::string grant_id;                // the grant that allows, when allowed
};

Decision decide(bool user_enabled, const std::vector<GrantRule>& grants, Zone zone, Instant at);

// The instants a grant allows within the local days [first, last], merged and sorted.
std::vector<Interval> grant_intervals(const GrantRule& g, Zone zone, std::chrono::sys_days first,
                                      std::chrono::sys_days last);

}  // namespace portier
