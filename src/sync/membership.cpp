#include "sync/membership.hpp"

#include <algorithm>

#include "core/fields.hpp"

namespace portier::sync {
namespace {

using T = FeedId::Type;

std::string feed_name(T type, const std::string& id) {
  const char* prefix = type == T::user   ? "user/"
                       : type == T::unit ? "unit/"
                       : type == T::site ? "site/"
                                         : "org/";
  std::string out;
  out.reserve(5 + id.size());
  out += prefix;
  out += id;
  return out;
}

GrantRef grant_ref(const Record& r) {
  return GrantRef{r.id,
                  str_field(r.body, "user_id"),
                  str_field(r.body, "group_id"),
                  str_field(r.body, "door_id"),
                  str_field(r.body, "site_id"),
                  str_field(r.body, "schedule_id")};
}

// A record's id list (unit.door_ids, user.group_ids) as a set; empty for a null record.
std::set<std::string> id_list(const Record* r, const char* field) {
  if (!r) return {};
  auto ids = str_list_field(r->body, field);
  return {std::make_move_iterator(ids.begin()), std::make_move_iterator(ids.end())};
}

// The ids in one set and not the other.
std::set<std::string> changed(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::set<std::string> out;
  std::set_symmetric_difference(a.begin(), a.end(), b.begin(), b.end(),
                                std::inserter(out, out.end()));
  return out;
}

}  // namespace

bool Membership::moves(const Record* before, const Record* after) {
  if (!before || !after) return true;
  auto differ = [&](const char* f) {
    return str_field(before->body, f) != str_field(after->body, f);
  };
  switch (after->kind) {
    case Kind::grant:
      return differ("user_id") || differ("group_id") || differ("door_id") || differ("site_id") ||
             differ("schedule_id");
    case Kind::door:
      return differ("site_id");
    case Kind::unit:
      return id_list(before, "door_ids") != id_list(after, "door_ids");
    case Kind::user:
      return id_list(before, "group_ids") != id_list(after, "group_ids");
    default:
      return false;
  }
}

// --- memoized lookups ---

Result<std::vector<std::string>> Membership::doors_of_site(const std::string& site) {
  if (auto it = site_doors_.find(site); it != site_doors_.end()) return it->second;
  auto r = tx_.ids_by(Kind::door, "site_id", site);
  if (!r) return r.error();
  return site_doors_[site] = std::move(*r);
}

Result<std::vector<std::string>> Membership::units_of_door(const std::string& door) {
  if (auto it = door_units_.find(door); it != door_units_.end()) return it->second;
  auto r = tx_.ids_by(Kind::unit, "door_ids", door);
  if (!r) return r.error();
  return door_units_[door] = std::move(*r);
}

Result<std::string> Membership::site_of_door(const std::string& door) {
  if (door.empty()) return std::string();
  if (auto it = door_site_.find(door); it != door_site_.end()) return it->second;
  auto r = tx_.ref_of(Kind::door, door, "site_id");
  if (!r) return r.error();
  return door_site_[door] = r->value_or("");
}

Result<std::vector<std::string>> Membership::members(const std::string& group) {
  if (auto it = group_members_.find(group); it != group_members_.end()) return it->second;
  auto r = tx_.ids_by(Kind::user, "group_ids", group);
  if (!r) return r.error();
  return group_members_[group] = std::move(*r);
}

Result<std::vector<std::string>> Membership::groups_of(const std::string& user) {
  if (auto it = user_groups_.find(user); it != user_groups_.end()) return it->second;
  auto r = tx_.refs_of(Kind::user, user, "group_ids");
  if (!r) return r.error();
  return user_groups_[user] = std::move(*r);
}

Result<std::vector<std::string>> Membership::doors_of_unit(const std::string& unit) {
  if (auto it = unit_doors_.find(unit); it != unit_doors_.end()) return it->second;
  auto r = tx_.refs_of(Kind::unit, unit, "door_ids");
  if (!r) return r.error();
  return unit_doors_[unit] = std::move(*r);
}

Result<bool> Membership::exists(Kind kind, const std::string& id) {
  if (id.empty()) return false;
  if (auto it = exists_.find({kind, id}); it != exists_.end()) return it->second;
  auto r = tx_.exists(kind, id);
  if (!r) return r.error();
  return exists_[{kind, id}] = *r;
}

Result<bool> Membership::principal_grant(const std::string& user, GrantMatch m) {
  m.user_id = user;
  auto direct = tx_.grant_exists(m);
  if (!direct || *direct) return direct;
  m.user_id.clear();
  auto groups = groups_of(user);
  if (!groups) return groups.error();
  for (const auto& g : *groups) {
    m.group_id = g;
    auto r = tx_.grant_exists(m);
    if (!r || *r) return r;
  }
  return false;
}

Result<Membership::Grant> Membership::expand(const GrantRef& ref) {
  Grant g{ref, {}, {}, ref.site_id};
  if (!ref.user_id.empty()) {
    g.users.push_back(ref.user_id);
  } else if (!ref.group_id.empty()) {
    auto m = members(ref.group_id);
    if (!m) return m.error();
    g.users = *m;
  }
  if (!ref.door_id.empty()) {
    g.doors.push_back(ref.door_id);
    auto s = site_of_door(ref.door_id);
    if (!s) return s.error();
    g.site = *s;
  } else if (!ref.site_id.empty()) {
    auto d = doors_of_site(ref.site_id);
    if (!d) return d.error();
    g.doors = *d;
  }
  return g;
}

Status Membership::target_feeds(const Grant& g, std::set<std::string>& out) {
  if (!g.site.empty()) out.insert(feed_name(T::site, g.site));
  for (const auto& d : g.doors) {
    auto units = units_of_door(d);
    if (!units) return units.error();
    for (const auto& u : *units) out.insert(feed_name(T::unit, u));
  }
  return ok();
}

// --- holders ---

Status Membership::grant_holders(const GrantMatch& m, bool users, std::vector<std::string>& out) {
  auto t = tx_.grant_targets(m);
  if (!t) return t.error();
  if (users) {
    out.reserve(out.size() + t->users.size());
    for (const auto& u : t->users) out.push_back(feed_name(T::user, u));
    for (const auto& g : t->groups) {
      auto ms = members(g);
      if (!ms) return ms.error();
      for (const auto& u : *ms) out.push_back(feed_name(T::user, u));
    }
  }
  std::set<std::string> doors(t->doors.begin(), t->doors.end());
  std::set<std::string> sites(t->sites.begin(), t->sites.end());
  for (const auto& s : t->sites) {
    auto ds = doors_of_site(s);
    if (!ds) return ds.error();
    doors.insert(ds->begin(), ds->end());
  }
  for (const auto& d : doors) {
    auto site = site_of_door(d);
    if (!site) return site.error();
    if (!site->empty()) sites.insert(*site);
    auto units = units_of_door(d);
    if (!units) return units.error();
    for (const auto& u : *units) out.push_back(feed_name(T::unit, u));
  }
  for (const auto& s : sites) out.push_back(feed_name(T::site, s));
  return ok();
}

Status Membership::holders(const Record& r, std::vector<std::string>& out) {
  // Only the users' feeds of the grants matching m.
  auto users_of = [&](const GrantMatch& m) -> Status {
    auto gs = grants(m);
    if (!gs) return gs.error();
    for (const auto& ref : *gs) {
      if (!ref.user_id.empty()) {
        out.push_back(feed_name(T::user, ref.user_id));
        continue;
      }
      auto ms = members(ref.group_id);
      if (!ms) return ms.error();
      for (const auto& u : *ms) out.push_back(feed_name(T::user, u));
    }
    return ok();
  };
  switch (r.kind) {
    case Kind::grant: {
      auto g = expand(grant_ref(r));
      if (!g) return g.error();
      for (const auto& u : g->users) out.push_back(feed_name(T::user, u));
      std::set<std::string> feeds;
      if (auto s = target_feeds(*g, feeds); !s) return s;
      out.insert(out.end(), feeds.begin(), feeds.end());
      return ok();
    }
    case Kind::schedule:
      return grant_holders(GrantMatch{.schedule_id = r.id}, true, out);
    case Kind::door: {
      auto site = str_field(r.body, "site_id");
      out.push_back(feed_name(T::site, site));
      auto units = units_of_door(r.id);
      if (!units) return units.error();
      for (const auto& u : *units) out.push_back(feed_name(T::unit, u));
      if (auto s = users_of(GrantMatch{.door_id = r.id}); !s) return s;
      return users_of(GrantMatch{.site_id = site});
    }
    case Kind::site: {
      out.push_back(feed_name(T::site, r.id));
      auto doors = doors_of_site(r.id);
      if (!doors) return doors.error();
      for (const auto& d : *doors) {
        auto units = units_of_door(d);
        if (!units) return units.error();
        for (const auto& u : *units) out.push_back(feed_name(T::unit, u));
      }
      if (auto s = users_of(GrantMatch{.site_id = r.id}); !s) return s;
      return users_of(GrantMatch{.door_site = r.id});
    }
    case Kind::unit: {
      out.push_back(feed_name(T::unit, r.id));
      for (const auto& d : id_list(&r, "door_ids")) {
        auto site = site_of_door(d);
        if (!site) return site.error();
        if (!site->empty()) out.push_back(feed_name(T::site, *site));
      }
      return ok();
    }
    case Kind::user: {
      out.push_back(feed_name(T::user, r.id));
      if (auto s = grant_holders(GrantMatch{.user_id = r.id}, false, out); !s) return s;
      for (const auto& g : id_list(&r, "group_ids"))
        if (auto s = grant_holders(GrantMatch{.group_id = g}, false, out); !s) return s;
      return ok();
    }
    case Kind::group: {
      auto ms = members(r.id);
      if (!ms) return ms.error();
      for (const auto& u : *ms) out.push_back(feed_name(T::user, u));
      return grant_holders(GrantMatch{.group_id = r.id}, false, out);
    }
  }
  return ok();
}

// --- contains ---

Result<bool> Membership::contains(const FeedId& feed, Kind kind, const std::string& id) {
  switch (feed.type) {
    case T::org:
      return exists(kind, id);
    case T::user: {
      const std::string& u = feed.id;
      switch (kind) {
        case Kind::user:
          return id == u ? exists(kind, id) : Result<bool>(false);
        case Kind::group: {
          auto gs = groups_of(u);
          if (!gs) return gs.error();
          return std::find(gs->begin(), gs->end(), id) != gs->end();
        }
        case Kind::grant: {
          auto gs = grants(GrantMatch{.id = id});
          if (!gs) return gs.error();
          if (gs->empty()) return false;
          const auto& g = gs->front();
          if (g.user_id == u) return true;
          if (g.group_id.empty()) return false;
          auto mine = groups_of(u);
          if (!mine) return mine.error();
          return std::find(mine->begin(), mine->end(), g.group_id) != mine->end();
        }
        case Kind::schedule:
          return principal_grant(u, GrantMatch{.schedule_id = id});
        case Kind::door: {
          auto site = site_of_door(id);
          if (!site) return site.error();
          if (site->empty()) return false;
          auto r = principal_grant(u, GrantMatch{.door_id = id});
          if (!r || *r) return r;
          return principal_grant(u, GrantMatch{.site_id = *site});
        }
        case Kind::site: {
          auto e = exists(Kind::site, id);
          if (!e || !*e) return e;
          auto r = principal_grant(u, GrantMatch{.site_id = id});
          if (!r || *r) return r;
          return principal_grant(u, GrantMatch{.door_site = id});
        }
        case Kind::unit:
          return false;
      }
      return false;
    }
    case T::unit: {
      auto alive = exists(Kind::unit, feed.id);
      if (!alive || !*alive) return alive;
      auto doors = doors_of_unit(feed.id);
      if (!doors) return doors.error();
      std::set<std::string> sites;
      for (const auto& d : *doors) {
        auto s = site_of_door(d);
        if (!s) return s.error();
        if (!s->empty()) sites.insert(*s);
      }
      // Whether a grant matching m names one of the unit's doors or sites.
      auto on_unit = [&](const GrantMatch& m, bool user_principal) -> Result<bool> {
        for (const auto& d : *doors) {
          GrantMatch x = m;
          x.door_id = d;
          auto r = user_principal ? principal_grant(m.user_id, x) : tx_.grant_exists(x);
          if (!r || *r) return r;
        }
        for (const auto& s : sites) {
          GrantMatch x = m;
          x.site_id = s;
          auto r = user_principal ? principal_grant(m.user_id, x) : tx_.grant_exists(x);
          if (!r || *r) return r;
        }
        return false;
      };
      switch (kind) {
        case Kind::unit:
          return id == feed.id;
        case Kind::door:
          return std::find(doors->begin(), doors->end(), id) != doors->end();
        case Kind::site:
          return sites.count(id) > 0;
        case Kind::grant: {
          auto gs = grants(GrantMatch{.id = id});
          if (!gs) return gs.error();
          if (gs->empty()) return false;
          const auto& g = gs->front();
          return std::find(doors->begin(), doors->end(), g.door_id) != doors->end() ||
                 sites.count(g.site_id) > 0;
        }
        case Kind::user: {
          auto e = exists(Kind::user, id);
          if (!e || !*e) return e;
          return on_unit(GrantMatch{.user_id = id}, true);
        }
        case Kind::schedule:
          return on_unit(GrantMatch{.schedule_id = id}, false);
        case Kind::group:
          return on_unit(GrantMatch{.group_id = id}, false);
      }
      return false;
    }
    case T::site: {
      const std::string& s = feed.id;
      auto alive = exists(Kind::site, s);
      if (!alive || !*alive) return alive;
      // Whether a grant matching m names the site or one of its doors.
      auto on_site = [&](const GrantMatch& m, const std::string& user) -> Result<bool> {
        GrantMatch a = m, b = m;
        a.site_id = s;
        b.door_site = s;
        auto r = user.empty() ? tx_.grant_exists(a) : principal_grant(user, a);
        if (!r || *r) return r;
        return user.empty() ? tx_.grant_exists(b) : principal_grant(user, b);
      };
      switch (kind) {
        case Kind::site:
          return id == s;
        case Kind::door: {
          auto site = site_of_door(id);
          if (!site) return site.error();
          return *site == s;
        }
        case Kind::unit: {
          auto doors = doors_of_unit(id);
          if (!doors) return doors.error();
          for (const auto& d : *doors) {
            auto site = site_of_door(d);
            if (!site) return site.error();
            if (*site == s) return true;
          }
          return false;
        }
        case Kind::grant: {
          auto gs = grants(GrantMatch{.id = id});
          if (!gs) return gs.error();
          if (gs->empty()) return false;
          if (gs->front().site_id == s) return true;
          auto site = site_of_door(gs->front().door_id);
          if (!site) return site.error();
          return *site == s;
        }
        case Kind::user: {
          auto e = exists(Kind::user, id);
          if (!e || !*e) return e;
          return on_site(GrantMatch{}, id);
        }
        case Kind::schedule:
          return on_site(GrantMatch{.schedule_id = id}, "");
        case Kind::group:
          return on_site(GrantMatch{.group_id = id}, "");
      }
      return false;
    }
  }
  return false;
}

// --- candidates ---

Status Membership::grant_candidates(const GrantRef& ref, std::set<FeedKey>& out) {
  auto g = expand(ref);
  if (!g) return g.error();
  for (const auto& u : g->users) {
    auto f = feed_name(T::user, u);
    out.insert({f, {Kind::grant, ref.id}});
    if (!ref.schedule_id.empty()) out.insert({f, {Kind::schedule, ref.schedule_id}});
    for (const auto& d : g->doors) out.insert({f, {Kind::door, d}});
    if (!g->site.empty()) out.insert({f, {Kind::site, g->site}});
  }
  std::set<std::string> feeds;
  if (auto s = target_feeds(*g, feeds); !s) return s;
  for (const auto& f : feeds) {
    out.insert({f, {Kind::grant, ref.id}});
    for (const auto& u : g->users) out.insert({f, {Kind::user, u}});
    if (!ref.schedule_id.empty()) out.insert({f, {Kind::schedule, ref.schedule_id}});
    if (!ref.group_id.empty()) out.insert({f, {Kind::group, ref.group_id}});
  }
  return ok();
}

Status Membership::candidates(const Record* before, const Record* after, std::set<FeedKey>& out) {
  const Record& r = after ? *after : *before;
  // The grants matching m, with what each names, in the feeds that hold them.
  auto grants_of = [&](const GrantMatch& m) -> Status {
    auto gs = grants(m);
    if (!gs) return gs.error();
    for (const auto& g : *gs)
      if (auto s = grant_candidates(g, out); !s) return s;
    return ok();
  };
  switch (r.kind) {
    case Kind::grant:
      for (const Record* s : {before, after})
        if (s)
          if (auto st = grant_candidates(grant_ref(*s), out); !st) return st;
      return ok();
    case Kind::door:
      // The door enters or leaves its site's feed, its units' feeds and the feeds of users with
      // grants on it or its site; moving it also moves its grants between site feeds and the
      // site's grants in and out of its units' feeds.
      for (const Record* st : {before, after}) {
        if (!st) continue;
        auto site = str_field(st->body, "site_id");
        auto site_feed = feed_name(T::site, site);
        out.insert({site_feed, {Kind::door, r.id}});
        auto units = units_of_door(r.id);
        if (!units) return units.error();
        for (const auto& u : *units) {
          out.insert({site_feed, {Kind::unit, u}});
          out.insert({feed_name(T::unit, u), {Kind::door, r.id}});
          out.insert({feed_name(T::unit, u), {Kind::site, site}});
        }
        // Adds a grant's pairs in the feed f: the grant and what it names.
        auto grant_in = [&](const std::string& f, const GrantRef& g, const Grant& x) {
          out.insert({f, {Kind::grant, g.id}});
          for (const auto& m : x.users) out.insert({f, {Kind::user, m}});
          if (!g.schedule_id.empty()) out.insert({f, {Kind::schedule, g.schedule_id}});
          if (!g.group_id.empty()) out.insert({f, {Kind::group, g.group_id}});
        };
        auto direct = grants(GrantMatch{.door_id = r.id});
        if (!direct) return direct.error();
        for (const auto& g : *direct) {
          auto x = expand(g);
          if (!x) return x.error();
          for (const auto& m : x->users) {
            out.insert({feed_name(T::user, m), {Kind::door, r.id}});
            out.insert({feed_name(T::user, m), {Kind::site, site}});
          }
          grant_in(site_feed, g, *x);
        }
        auto on_site = grants(GrantMatch{.site_id = site});
        if (!on_site) return on_site.error();
        for (const auto& g : *on_site) {
          auto x = expand(g);
          if (!x) return x.error();
          for (const auto& m : x->users) out.insert({feed_name(T::user, m), {Kind::door, r.id}});
          for (const auto& u : *units) grant_in(feed_name(T::unit, u), g, *x);
        }
      }
      return ok();
    case Kind::unit: {
      auto unit_feed = feed_name(T::unit, r.id);
      out.insert({unit_feed, {Kind::unit, r.id}});
      std::set<std::string> sites;
      for (const auto& d : changed(id_list(before, "door_ids"), id_list(after, "door_ids"))) {
        out.insert({unit_feed, {Kind::door, d}});
        auto site = site_of_door(d);
        if (!site) return site.error();
        if (site->empty()) continue;
        sites.insert(*site);
        out.insert({feed_name(T::site, *site), {Kind::unit, r.id}});
        auto gs = grants(GrantMatch{.door_id = d});
        if (!gs) return gs.error();
        auto more = grants(GrantMatch{.site_id = *site});
        if (!more) return more.error();
        gs->insert(gs->end(), more->begin(), more->end());
        for (const auto& g : *gs) {
          auto x = expand(g);
          if (!x) return x.error();
          out.insert({unit_feed, {Kind::grant, g.id}});
          for (const auto& u : x->users) out.insert({unit_feed, {Kind::user, u}});
          if (!g.schedule_id.empty()) out.insert({unit_feed, {Kind::schedule, g.schedule_id}});
          if (!g.group_id.empty()) out.insert({unit_feed, {Kind::group, g.group_id}});
        }
      }
      for (const auto& s : sites) out.insert({unit_feed, {Kind::site, s}});
      return ok();
    }
    case Kind::user: {
      auto user_feed = feed_name(T::user, r.id);
      out.insert({user_feed, {Kind::user, r.id}});
      for (const auto& group : changed(id_list(before, "group_ids"), id_list(after, "group_ids"))) {
        out.insert({user_feed, {Kind::group, group}});
        auto gs = grants(GrantMatch{.group_id = group});
        if (!gs) return gs.error();
        for (const auto& g : *gs) {
          auto x = expand(g);
          if (!x) return x.error();
          out.insert({user_feed, {Kind::grant, g.id}});
          if (!g.schedule_id.empty()) out.insert({user_feed, {Kind::schedule, g.schedule_id}});
          for (const auto& d : x->doors) out.insert({user_feed, {Kind::door, d}});
          if (!x->site.empty()) out.insert({user_feed, {Kind::site, x->site}});
          std::set<std::string> feeds;
          if (auto s = target_feeds(*x, feeds); !s) return s;
          for (const auto& f : feeds) out.insert({f, {Kind::user, r.id}});
        }
      }
      return ok();
    }
    case Kind::group: {
      auto ms = members(r.id);
      if (!ms) return ms.error();
      for (const auto& u : *ms) out.insert({feed_name(T::user, u), {Kind::group, r.id}});
      return grants_of(GrantMatch{.group_id = r.id});
    }
    case Kind::site:
      out.insert({feed_name(T::site, r.id), {Kind::site, r.id}});
      return ok();
    case Kind::schedule:
      return ok();
  }
  return ok();
}

}  // namespace portier::sync
