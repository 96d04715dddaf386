#include "server/policy.hpp"
#include "core/fields.hpp"

namespace portier::api {

Result<View> View::load(const Actor& actor, ReadTx& tx) {
  View v;
  v.actor_ = &actor;
  if (actor.is_admin() && !actor.scoped()) {
    v.all_ = true;
    return v;
  }
  if (actor.scoped()) {
    auto doors = tx.list(Kind::door, actor.org_id);
    if (!doors) return doors.error();
    for (const auto& d : *doors) v.door_site_[d.id] = str_field(d.body, "site_id");
    return v;
  }
  // A member: her groups, her grants and her groups' grants, and what they name.
  auto grants = tx.list_by(Kind::grant, actor.org_id, "user_id", actor.id);
  if (!grants) return grants.error();
  for (const auto& group : str_list_field(actor.user.body, "group_ids")) {
    v.groups_.insert(group);
    auto more = tx.list_by(Kind::grant, actor.org_id, "group_id", group);
    if (!more) return more.error();
    grants->insert(grants->end(), more->begin(), more->end());
  }
  for (const auto& g : *grants) {
    v.grants_.insert(g.id);
    if (auto s = str_field(g.body, "schedule_id"); !s.empty()) v.schedules_.insert(s);
    if (auto d = str_field(g.body, "door_id"); !d.empty()) {
      auto door = tx.get(Kind::door, actor.org_id, d);
      if (!door) return door.error();
      v.doors_.insert(d);
      if (*door) v.sites_.insert(str_field((*door)->body, "site_id"));
    }
    if (auto s = str_field(g.body, "site_id"); !s.empty()) {
      v.sites_.insert(s);
      auto doors = tx.list_by(Kind::door, actor.org_id, "site_id", s);
      if (!doors) return doors.error();
      for (const auto& d : *doors) v.doors_.insert(d.id);
    }
  }
  return v;
}

const std::string& View::site_of_door(const std::string& door_id) const {
  static const std::string none;
  auto it = door_site_.find(door_id);
  return it == door_site_.end() ? none : it->second;
}

bool View::visible(const Record& r) const {
  if (all_) return true;
  const Actor& a = *actor_;
  if (a.scoped()) {
    switch (r.kind) {
      case Kind::site:
        return a.manages_site(r.id);
      case Kind::door:
        return a.manages_site(str_field(r.body, "site_id"));
      case Kind::unit: {
        auto doors = str_list_field(r.body, "door_ids");
        if (doors.empty()) return false;
        for (const auto& d : doors)
          if (!a.manages_site(site_of_door(d))) return false;
        return true;
      }
      case Kind::user:
      case Kind::schedule:
      case Kind::group:
        return true;
      case Kind::grant: {
        auto site = str_field(r.body, "site_id");
        if (site.empty()) site = site_of_door(str_field(r.body, "door_id"));
        return a.manages_site(site);
      }
    }
    return false;
  }
  switch (r.kind) {
    case Kind::site:
      return sites_.count(r.id) > 0;
    case Kind::door:
      return doors_.count(r.id) > 0;
    case Kind::unit:
      return false;
    case Kind::user:
      return r.id == a.id;
    case Kind::schedule:
      return schedules_.count(r.id) > 0;
    case Kind::grant:
      return grants_.count(r.id) > 0;
    case Kind::group:
      return groups_.count(r.id) > 0;
  }
  return false;
}

namespace {

// A scoped admin's check of one version of a record (before or after the change).
Status scoped_may(const Actor& a, Kind kind, const json::object& body, bool creating_or_deleting,
                  ReadTx& tx) {
  auto door_site = [&](const std::string& door_id) -> std::string {
    auto d = tx.get(Kind::door, a.org_id, door_id);
    return d.ok() && d->has_value() ? str_field((*d)->body, "site_id") : "";
  };
  switch (kind) {
    case Kind::site:
      if (creating_or_deleting)
        return forbidden("only an organization-wide admin can add or remove sites");
      return ok();  // updates: the record's own id is checked by the caller
    case Kind::door:
      if (!a.manages_site(str_field(body, "site_id")))
        return forbidden("you manage doors of your sites only");
      return ok();
    case Kind::unit: {
      auto doors = str_list_field(body, "door_ids");
      if (doors.empty()) return forbidden("a unit you manage must drive doors of your sites");
      for (const auto& d : doors)
        if (!a.manages_site(door_site(d))) return forbidden("you manage units of your sites only");
      return ok();
    }
    case Kind::schedule:
      return forbidden("schedules are shared by the organization: ask an organization-wide admin");
    case Kind::group:
      return forbidden("groups are shared by the organization: ask an organization-wide admin");
    case Kind::grant: {
      auto site = str_field(body, "site_id");
      if (site.empty()) site = door_site(str_field(body, "door_id"));
      if (!a.manages_site(site)) return forbidden("you manage grants on your sites only");
      return ok();
    }
    case Kind::user:
      if (str_field(body, "role") != "member") return forbidden("you manage members only");
      return ok();
  }
  return forbidden("not allowed");
}

}  // namespace

Status check_write(const Actor& a, Kind kind, const json::object* before, const json::object* after,
                   ReadTx& tx) {
  if (!a.is_admin()) return forbidden("members cannot change the organization");
  if (kind == Kind::user && !a.is_owner()) {
    for (const auto* b : {before, after})
      if (b && str_field(*b, "role") == "owner")
        return forbidden("only an owner can manage owners");
  }
  if (!a.scoped()) return ok();
  // A group may hold grants on any site: joining one is not a scoped admin's to decide.
  if (kind == Kind::user && str_list_field(before ? *before : json::object(), "group_ids") !=
                                str_list_field(after ? *after : json::object(), "group_ids"))
    return forbidden("group membership is managed by an organization-wide admin");
  bool create_or_delete = !before || !after;
  for (const auto* b : {before, after})
    if (b) {
      if (auto s = scoped_may(a, kind, *b, create_or_delete, tx); !s) return s;
    }
  return ok();
}

Status check_user_change(const Actor& a, const std::string& user_id, bool sets_password,
                         ReadTx& tx) {
  if (!a.scoped()) return ok();
  if (sets_password && user_id != a.id)
    return forbidden("only an organization-wide admin sets another user's password");
  // Her grants and her groups' grants: changing or removing her changes those too.
  auto grants = tx.list_by(Kind::grant, a.org_id, "user_id", user_id);
  if (!grants) return grants.error();
  auto groups = tx.refs_of(Kind::user, user_id, "group_ids");
  if (!groups) return groups.error();
  for (const auto& group : *groups) {
    auto more = tx.list_by(Kind::grant, a.org_id, "group_id", group);
    if (!more) return more.error();
    grants->insert(grants->end(), more->begin(), more->end());
  }
  for (const auto& g : *grants) {
    auto site = str_field(g.body, "site_id");
    if (site.empty()) {
      auto d = tx.get(Kind::door, a.org_id, str_field(g.body, "door_id"));
      if (!d) return d.error();
      if (*d) site = str_field((**d).body, "site_id");
    }
    if (!a.manages_site(site))
      return forbidden(
          "this member has grants on sites you do not manage; ask an "
          "organization-wide admin");
  }
  return ok();
}

}  // namespace portier::api
