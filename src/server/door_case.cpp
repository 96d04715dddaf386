#include "server/door_case.hpp"

#include "core/fields.hpp"

namespace portier {

bool DoorCase::lockdown() const { return bool_field(site.body, "lockdown"); }

Decision decide_case(const DoorCase& dc, bool user_enabled, Instant at, bool lockdown_overridden) {
  if (user_enabled && dc.lockdown() && !lockdown_overridden) {
    Decision d;
    d.reason = "lockdown";  // lifted by an admin, not by time: no next_change
    return d;
  }
  return decide(user_enabled, dc.rules, dc.zone, at);
}

Result<std::vector<Record>> grants_of_user(ReadTx& tx, const std::string& org,
                                           const std::string& user_id) {
  auto grants = tx.list_by(Kind::grant, org, "user_id", user_id);
  if (!grants) return grants.error();
  auto groups = tx.refs_of(Kind::user, user_id, "group_ids");
  if (!groups) return groups.error();
  for (const auto& g : *groups) {
    auto more = tx.list_by(Kind::grant, org, "group_id", g);
    if (!more) return more.error();
    grants->insert(grants->end(), more->begin(), more->end());
  }
  return grants;
}

Result<DoorCase> case_from(ReadTx& tx, const std::string& org, const std::vector<Record>& grants,
                           const Record& door) {
  DoorCase dc;
  dc.door = door;
  auto site = tx.get(Kind::site, org, str_field(door.body, "site_id"));
  if (!site) return site.error();
  if (!*site) return Error{500, "internal", "door without site", ""};
  dc.site = std::move(**site);
  dc.zone = find_zone(str_field(dc.site.body, "timezone"));
  if (!dc.zone) return Error{500, "internal", "site with an unknown time zone", ""};
  for (const auto& g : grants) {
    if (str_field(g.body, "door_id") != door.id && str_field(g.body, "site_id") != dc.site.id)
      continue;
    GrantRule rule;
    rule.id = g.id;
    if (auto t = parse_rfc3339(str_field(g.body, "valid_from"))) rule.valid_from = *t;
    if (auto t = parse_rfc3339(str_field(g.body, "valid_until"))) rule.valid_until = *t;
    if (auto m = g.body.find("max_uses"); m != g.body.end() && m->value().is_int64())
      rule.max_uses = m->value().as_int64();
    if (auto u = g.body.find("uses"); u != g.body.end() && u->value().is_int64())
      rule.uses = u->value().as_int64();
    if (auto sid = str_field(g.body, "schedule_id"); !sid.empty()) {
      auto s = tx.get(Kind::schedule, org, sid);
      if (!s) return s.error();
      if (!*s) return Error{500, "internal", "grant with a missing schedule", ""};
      auto parsed = parse_schedule((*s)->body);
      if (!parsed) return Error{500, "internal", "stored schedule does not parse", ""};
      dc.schedules.push_back(std::move(*parsed));
      rule.schedule = &dc.schedules.back();
      dc.schedule_records.emplace(sid, std::move(**s));
    }
    dc.rules.push_back(rule);
    dc.grants.push_back(g);
  }
  return dc;
}

Result<std::string> unit_site(ReadTx& tx, const std::string& org, const Record& unit) {
  auto doors = str_list_field(unit.body, "door_ids");
  if (doors.empty()) return std::string();
  auto door = tx.get(Kind::door, org, doors.front());
  if (!door) return door.error();
  return *door ? str_field((*door)->body, "site_id") : std::string();
}

Result<DoorCase> load_case(ReadTx& tx, const std::string& org, const std::string& user_id,
                           const Record& door) {
  // Only the grants that can decide: hers or her groups', on this door or its site.
  auto site = str_field(door.body, "site_id");
  std::vector<GrantMatch> matches = {GrantMatch{.user_id = user_id, .door_id = door.id},
                                     GrantMatch{.user_id = user_id, .site_id = site}};
  auto groups = tx.refs_of(Kind::user, user_id, "group_ids");
  if (!groups) return groups.error();
  for (const auto& g : *groups) {
    matches.push_back(GrantMatch{.group_id = g, .door_id = door.id});
    matches.push_back(GrantMatch{.group_id = g, .site_id = site});
  }
  std::vector<Record> grants;
  for (const auto& m : matches) {
    auto refs = tx.grant_refs(m);
    if (!refs) return refs.error();
    for (const auto& ref : *refs) {
      auto g = tx.get(Kind::grant, org, ref.id);
      if (!g) return g.error();
      if (*g) grants.push_back(std::move(**g));
    }
  }
  return case_from(tx, org, grants, door);
}

}  // namespace portier
