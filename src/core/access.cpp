#include "core/access.hpp"

#include <date/date.h>
#include <algorithm>

namespace portier {
namespace {

bool exhausted(const GrantRule& g) { return g.max_uses && g.uses >= *g.max_uses; }

// How far ahead next_change is looked for: schedules repeat weekly, but exceptions and
// validity dates can lie months ahead.
constexpr int kShortHorizonDays = 8;
constexpr int kLongHorizonDays = 400;

}  // namespace

std::vector<Interval> grant_intervals(const GrantRule& g, Zone zone, std::chrono::sys_days first,
                                      std::chrono::sys_days last) {
  if (exhausted(g)) return {};
  std::vector<Interval> v;
  if (g.schedule == nullptr) {
    v.push_back({kAlways, kNever});
  } else {
    v = schedule_intervals(*g.schedule, zone, first, last);
  }
  for (auto& iv : v) {
    iv.begin = std::max(iv.begin, g.valid_from);
    iv.end = std::min(iv.end, g.valid_until);
  }
  std::erase_if(v, [](const Interval& iv) { return iv.end <= iv.begin; });
  return v;
}

Decision decide(bool user_enabled, const std::vector<GrantRule>& grants, Zone zone, Instant at) {
  Decision d;
  if (!user_enabled) {
    d.reason = "user_disabled";
    return d;
  }
  if (grants.empty()) {
    d.reason = "no_grant";
    return d;
  }
  auto today = local_day(zone, at);
  for (int horizon : {kShortHorizonDays, kLongHorizonDays}) {
    // Start a day early: an overnight window from yesterday may cover `at`.
    auto first = today - date::days{1};
    auto last = today + date::days{horizon};
    // Past the last covered day, the schedule part is unknown: treat it as the horizon end.
    Instant horizon_end = to_instant(
        zone, std::chrono::local_seconds((last + date::days{1}).time_since_epoch()), false);
    std::vector<Interval> all;
    std::string allowing;
    for (const auto& g : grants) {
      auto v = grant_intervals(g, zone, first, last);
      for (const auto& iv : v)
        if (allowing.empty() && iv.begin <= at && at < iv.end) allowing = g.id;
      all.insert(all.end(), v.begin(), v.end());
    }
    merge_intervals(all);
    d.allowed = !allowing.empty();
    d.grant_id = allowing;
    d.next_change.reset();
    for (const auto& iv : all) {
      if (iv.begin <= at && at < iv.end) {
        if (iv.end != kNever) d.next_change = iv.end;
        break;
      }
      if (iv.begin > at) {
        d.next_change = iv.begin;
        break;
      }
    }
    // A boundary at or past the horizon may only be where we stopped looking.
    bool at_edge = d.next_change && *d.next_change >= horizon_end;
    bool maybe_later =
        !d.next_change && std::any_of(grants.begin(), grants.end(), [&](const GrantRule& g) {
          return g.schedule && !exhausted(g) && g.valid_until > at;
        });
    if (!at_edge && !maybe_later) break;
    if (horizon == kLongHorizonDays && at_edge) d.next_change.reset();
  }
  if (d.allowed) {
    d.reason = "granted";
    return d;
  }
  // Denied: the most hopeful reason among the grants.
  bool outside = false, not_yet = false, used_up = false;
  for (const auto& g : grants) {
    if (exhausted(g))
      used_up = true;
    else if (at < g.valid_from)
      not_yet = true;
    else if (at >= g.valid_until)
      continue;  // expired
    else
      outside = true;
  }
  d.reason = outside   ? "outside_schedule"
             : not_yet ? "not_yet_valid"
             : used_up ? "uses_exhausted"
                       : "expired";
  return d;
}

}  // namespace portier
