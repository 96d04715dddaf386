#pragma once
// Feeds: what each kind of device reads, and the changes that flow through them.
//
//   user/<id>  a person's app: herself, her groups, her grants and her groups' grants, and the
//              doors, sites and schedules they name
//   unit/<id>  a door unit: itself, its doors and their sites, the grants on them, and the users
//              (a group grant: the group and its members) and schedules those grants name (its
//              offline access list)
//   site/<id>  an admin scoped to the site: the site, its doors, the units driving them, the
//              grants on them, and the users, groups and schedules those grants name
//   org/<id>   the console: everything in the organization
//
// A change is {"op":"put","kind":K,"id":I,"record":{…}} or {"op":"delete","kind":K,"id":I};
// a replica applies puts by (kind, id) and deletes, in seq order.

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/json/object.hpp>

#include "store/store.hpp"
#include "sync/feed_change.hpp"

namespace portier::sync {

struct FeedId {
  enum class Type { user, unit, site, org };
  Type type = Type::user;
  std::string id;

  std::string name() const;
  // "user/<id>" etc.; nullopt for anything else.
  static std::optional<FeedId> parse(std::string_view name);
};

using RecordKey = std::pair<Kind, std::string>;

// The record as the API and the feeds show it: id, its fields, version, timestamps.
boost::json::object record_json(const Record& r);

// The records a feed holds in the transaction's current state, read whole (snapshots, and the
// oracle the change recorder's tests hold it to).
Result<std::map<RecordKey, Record>> feed_contents(ReadTx& tx, const std::string& org_id,
                                                  const FeedId& feed);

// Every record of the organization in one snapshot, keyed like feed contents.
Result<std::map<RecordKey, Record>> org_contents(ReadTx& tx, const std::string& org_id);

}  // namespace portier::sync
