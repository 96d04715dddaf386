#include "sync/feed.hpp"

#include <boost/json.hpp>
#include <set>
#include "core/fields.hpp"

namespace portier::sync {
namespace json = boost::json;
namespace {

// Builds feed contents, reading each record at most once.
class Collector {
 public:
  Collector(ReadTx& tx, const std::string& org) : tx_(tx), org_(org) {}

  Status add(Kind k, const std::string& id) {
    if (id.empty() || out_.count({k, id})) return ok();
    auto r = tx_.get(k, org_, id);
    if (!r) return r.error();
    if (*r) out_.emplace(RecordKey{k, id}, std::move(**r));
    return ok();
  }
  Status add_all(const std::vector<Record>& rs) {
    for (const auto& r : rs) out_.emplace(RecordKey{r.kind, r.id}, r);
    return ok();
  }
  Result<std::vector<Record>> by(Kind k, const char* field, const std::string& value) {
    return tx_.list_by(k, org_, field, value);
  }
  // A grant, the user (or the group and its members) and schedule it names.
  Status add_grant_refs(const Record& g) {
    if (auto s = add(Kind::user, str_field(g.body, "user_id")); !s) return s;
    if (auto group = str_field(g.body, "group_id"); !group.empty()) {
      if (auto s = add(Kind::group, group); !s) return s;
      auto members = by(Kind::user, "group_ids", group);
      if (!members) return members.error();
      (void)add_all(*members);
    }
    return add(Kind::schedule, str_field(g.body, "schedule_id"));
  }
  // The grants naming these doors or these sites.
  Result<std::vector<Record>> grants_on(const std::set<std::string>& doors,
                                        const std::set<std::string>& sites) {
    std::vector<Record> out;
    for (const auto& d : doors) {
      auto g = by(Kind::grant, "door_id", d);
      if (!g) return g.error();
      out.insert(out.end(), g->begin(), g->end());
    }
    for (const auto& s : sites) {
      auto g = by(Kind::grant, "site_id", s);
      if (!g) return g.error();
      out.insert(out.end(), g->begin(), g->end());
    }
    return out;
  }
  std::map<RecordKey, Record>& out() { return out_; }

 private:
  ReadTx& tx_;
  const std::string& org_;
  std::map<RecordKey, Record> out_;
};

}  // namespace

std::string FeedId::name() const {
  switch (type) {
    case Type::user:
      return "user/" + id;
    case Type::unit:
      return "unit/" + id;
    case Type::site:
      return "site/" + id;
    case Type::org:
      return "org/" + id;
  }
  return "";
}

std::optional<FeedId> FeedId::parse(std::string_view name) {
  auto slash = name.find('/');
  if (slash == std::string_view::npos || slash + 1 >= name.size() || name.size() > 100)
    return std::nullopt;
  auto type = name.substr(0, slash);
  std::string id(name.substr(slash + 1));
  for (char ch : id)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-'))
      return std::nullopt;
  if (type == "user") return FeedId{Type::user, id};
  if (type == "unit") return FeedId{Type::unit, id};
  if (type == "site") return FeedId{Type::site, id};
  if (type == "org") return FeedId{Type::org, id};
  return std::nullopt;
}

json::object record_json(const Record& r) {
  json::object o;
  o["id"] = r.id;
  for (const auto& kv : r.body) o[kv.key()] = kv.value();
  o["version"] = r.version;
  o["created_at"] = r.created_at;
  o["updated_at"] = r.updated_at;
  return o;
}

Result<std::map<RecordKey, Record>> org_contents(ReadTx& tx, const std::string& org_id) {
  std::map<RecordKey, Record> out;
  for (Kind k : kAllKinds) {
    auto all = tx.list(k, org_id);
    if (!all) return all.error();
    for (auto& r : *all) out.emplace(RecordKey{k, r.id}, std::move(r));
  }
  return out;
}

Result<std::map<RecordKey, Record>> feed_contents(ReadTx& tx, const std::string& org,
                                                  const FeedId& feed) {
  if (feed.type == FeedId::Type::org) {
    if (feed.id != org) return std::map<RecordKey, Record>();
    return org_contents(tx, org);
  }
  Collector c(tx, org);
  std::set<std::string> doors, sites;
  switch (feed.type) {
    case FeedId::Type::user: {
      if (auto s = c.add(Kind::user, feed.id); !s) return s.error();
      auto grants = c.by(Kind::grant, "user_id", feed.id);
      if (!grants) return grants.error();
      // Her groups, and their grants.
      auto groups = tx.refs_of(Kind::user, feed.id, "group_ids");
      if (!groups) return groups.error();
      for (const auto& g : *groups) {
        if (auto s = c.add(Kind::group, g); !s) return s.error();
        auto more = c.by(Kind::grant, "group_id", g);
        if (!more) return more.error();
        grants->insert(grants->end(), more->begin(), more->end());
      }
      for (const auto& g : *grants) {
        if (auto s = c.add(Kind::schedule, str_field(g.body, "schedule_id")); !s) return s.error();
        if (auto d = str_field(g.body, "door_id"); !d.empty()) doors.insert(d);
        if (auto site = str_field(g.body, "site_id"); !site.empty()) {
          sites.insert(site);
          auto ds = c.by(Kind::door, "site_id", site);
          if (!ds) return ds.error();
          for (const auto& d : *ds) doors.insert(d.id);
        }
      }
      (void)c.add_all(*grants);
      for (const auto& d : doors) {
        if (auto s = c.add(Kind::door, d); !s) return s.error();
        auto it = c.out().find({Kind::door, d});
        if (it != c.out().end()) sites.insert(str_field(it->second.body, "site_id"));
      }
      for (const auto& s : sites)
        if (auto st = c.add(Kind::site, s); !st) return st.error();
      return std::move(c.out());
    }
    case FeedId::Type::unit: {
      if (auto s = c.add(Kind::unit, feed.id); !s) return s.error();
      auto it = c.out().find({Kind::unit, feed.id});
      if (it == c.out().end()) return std::move(c.out());
      for (auto& d : str_list_field(it->second.body, "door_ids")) doors.emplace(std::move(d));
      for (const auto& d : doors) {
        if (auto s = c.add(Kind::door, d); !s) return s.error();
        auto di = c.out().find({Kind::door, d});
        if (di != c.out().end()) sites.insert(str_field(di->second.body, "site_id"));
      }
      for (const auto& s : sites)
        if (auto st = c.add(Kind::site, s); !st) return st.error();
      break;
    }
    case FeedId::Type::site: {
      if (auto s = c.add(Kind::site, feed.id); !s) return s.error();
      if (!c.out().count({Kind::site, feed.id})) return std::move(c.out());
      sites.insert(feed.id);
      auto ds = c.by(Kind::door, "site_id", feed.id);
      if (!ds) return ds.error();
      for (const auto& d : *ds) {
        doors.insert(d.id);
        auto units = c.by(Kind::unit, "door_ids", d.id);
        if (!units) return units.error();
        (void)c.add_all(*units);
      }
      (void)c.add_all(*ds);
      break;
    }
    case FeedId::Type::org:
      break;
  }
  // Units and sites: the grants on their doors and sites, and what those grants name.
  auto grants = c.grants_on(doors, sites);
  if (!grants) return grants.error();
  for (const auto& g : *grants)
    if (auto s = c.add_grant_refs(g); !s) return s.error();
  (void)c.add_all(*grants);
  return std::move(c.out());
}

}  // namespace portier::sync
