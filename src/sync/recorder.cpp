#include "sync/recorder.hpp"

#include <boost/json.hpp>
#include "core/fields.hpp"

namespace portier::sync {
namespace json = boost::json;
namespace {

std::string put_body(const Record& r) {
  return json::serialize(json::object{
      {"op", "put"}, {"kind", kind_name(r.kind)}, {"id", r.id}, {"record", record_json(r)}});
}

std::string delete_body(Kind k, const std::string& id) {
  return json::serialize(json::object{{"op", "delete"}, {"kind", kind_name(k)}, {"id", id}});
}

}  // namespace

ChangeRecorder::ChangeRecorder(WriteTx& tx, std::string org_id, std::int64_t at_unix)
    : tx_(tx), org_(std::move(org_id)), at_(at_unix) {}

Status ChangeRecorder::add_feed(const FeedId& f) {
  auto name = f.name();
  if (feeds_.count(name)) return ok();
  feeds_.emplace(name, f);
  auto contents = feed_contents(tx_, org_, f);
  if (!contents) return contents.error();
  auto& versions = before_[name];
  for (const auto& [key, r] : *contents) versions[key] = r.version;
  return ok();
}

// The feeds (other than org/) whose contents involve this record, in the current state.
Status ChangeRecorder::add_feeds_of(const Record& r) {
  using T = FeedId::Type;
  // The unit and site feeds a grant reaches through its door or site.
  auto grant_targets = [&](const Record& g) -> Status {
    std::vector<std::string> doors;
    std::string site = str_field(g.body, "site_id");
    if (auto d = str_field(g.body, "door_id"); !d.empty()) {
      doors.push_back(d);
      auto door = tx_.get(Kind::door, org_, d);
      if (!door) return door.error();
      if (*door) site = str_field((*door)->body, "site_id");
    } else if (!site.empty()) {
      auto ds = tx_.list_by(Kind::door, org_, "site_id", site);
      if (!ds) return ds.error();
      for (const auto& d : *ds) doors.push_back(d.id);
    }
    if (!site.empty())
      if (auto s = add_feed({T::site, site}); !s) return s;
    for (const auto& d : doors) {
      auto units = tx_.list_by(Kind::unit, org_, "door_ids", d);
      if (!units) return units.error();
      for (const auto& u : *units)
        if (auto s = add_feed({T::unit, u.id}); !s) return s;
    }
    return ok();
  };
  auto grants_by = [&](const char* field, const std::string& value) -> Status {
    auto gs = tx_.list_by(Kind::grant, org_, field, value);
    if (!gs) return gs.error();
    for (const auto& g : *gs) {
      if (auto s = add_feed({T::user, str_field(g.body, "user_id")}); !s) return s;
      if (auto s = grant_targets(g); !s) return s;
    }
    return ok();
  };
  // The units driving these doors, and the users granted them.
  auto door_users_units = [&](const std::string& door_id) -> Status {
    auto units = tx_.list_by(Kind::unit, org_, "door_ids", door_id);
    if (!units) return units.error();
    for (const auto& u : *units)
      if (auto s = add_feed({T::unit, u.id}); !s) return s;
    auto gs = tx_.list_by(Kind::grant, org_, "door_id", door_id);
    if (!gs) return gs.error();
    for (const auto& g : *gs)
      if (auto s = add_feed({T::user, str_field(g.body, "user_id")}); !s) return s;
    return ok();
  };
  switch (r.kind) {
    case Kind::user:
      if (auto s = add_feed({T::user, r.id}); !s) return s;
      return grants_by("user_id", r.id);
    case Kind::grant:
      if (auto s = add_feed({T::user, str_field(r.body, "user_id")}); !s) return s;
      return grant_targets(r);
    case Kind::schedule:
      return grants_by("schedule_id", r.id);
    case Kind::door: {
      auto site = str_field(r.body, "site_id");
      if (auto s = add_feed({T::site, site}); !s) return s;
      if (auto s = door_users_units(r.id); !s) return s;
      auto gs = tx_.list_by(Kind::grant, org_, "site_id", site);
      if (!gs) return gs.error();
      for (const auto& g : *gs)
        if (auto s = add_feed({T::user, str_field(g.body, "user_id")}); !s) return s;
      return ok();
    }
    case Kind::site: {
      if (auto s = add_feed({T::site, r.id}); !s) return s;
      auto ds = tx_.list_by(Kind::door, org_, "site_id", r.id);
      if (!ds) return ds.error();
      for (const auto& d : *ds)
        if (auto s = door_users_units(d.id); !s) return s;
      auto gs = tx_.list_by(Kind::grant, org_, "site_id", r.id);
      if (!gs) return gs.error();
      for (const auto& g : *gs)
        if (auto s = add_feed({T::user, str_field(g.body, "user_id")}); !s) return s;
      return ok();
    }
    case Kind::unit: {
      if (auto s = add_feed({T::unit, r.id}); !s) return s;
      auto it = r.body.find("door_ids");
      if (it == r.body.end() || !it->value().is_array()) return ok();
      for (const auto& d : it->value().as_array()) {
        auto door = tx_.get(Kind::door, org_, std::string(d.as_string()));
        if (!door) return door.error();
        if (*door)
          if (auto s = add_feed({T::site, str_field((*door)->body, "site_id")}); !s) return s;
      }
      return ok();
    }
  }
  return ok();
}

Status ChangeRecorder::plan(const Record* before, const Record* after) {
  for (const Record* r : {before, after})
    if (r)
      if (auto s = add_feeds_of(*r); !s) return s;
  planned_.emplace_back(before ? std::optional<Record>(*before) : std::nullopt,
                        after ? std::optional<Record>(*after) : std::nullopt);
  return ok();
}

Result<std::vector<FeedChange>> ChangeRecorder::finish() {
  std::vector<FeedChange> out;
  // Each distinct change is stored and serialized once, whatever number of feeds it reaches.
  std::map<std::tuple<int, std::string, std::int64_t>,
           std::pair<std::int64_t, std::shared_ptr<const std::string>>>
      stored;
  auto emit = [&](const std::string& feed, Kind k, const std::string& id,
                  const Record* put) -> Status {
    auto key = std::make_tuple(static_cast<int>(k), id, put ? put->version : -1);
    auto it = stored.find(key);
    if (it == stored.end()) {
      auto body = std::make_shared<const std::string>(put ? put_body(*put) : delete_body(k, id));
      auto change_id = tx_.add_change(*body, at_);
      if (!change_id) return change_id.error();
      it = stored.emplace(key, std::make_pair(*change_id, std::move(body))).first;
    }
    auto seq = tx_.append_to_feed(feed, it->second.first);
    if (!seq) return seq.error();
    out.push_back(FeedChange{feed, *seq, it->second.second});
    return ok();
  };
  // The organization feed holds everything: its changes are the planned writes themselves.
  std::string org_feed = FeedId{FeedId::Type::org, org_}.name();
  std::map<RecordKey, const Record*> last;  // a record written twice: its final state
  for (const auto& [before, after] : planned_) {
    const Record& r = after ? *after : *before;
    last[{r.kind, r.id}] = after ? &*after : nullptr;
  }
  for (const auto& [key, rec] : last)
    if (auto s = emit(org_feed, key.first, key.second, rec); !s) return s.error();
  for (const auto& [name, feed] : feeds_) {
    auto now = feed_contents(tx_, org_, feed);
    if (!now) return now.error();
    const auto& was = before_[name];
    for (const auto& [key, r] : *now) {
      auto it = was.find(key);
      if (it == was.end() || it->second != r.version)
        if (auto s = emit(name, key.first, key.second, &r); !s) return s.error();
    }
    for (const auto& [key, version] : was)
      if (!now->count(key))
        if (auto s = emit(name, key.first, key.second, nullptr); !s) return s.error();
  }
  return out;
}

}  // namespace portier::sync
