#pragma once
// Which feeds hold a record, answered from the record's references and indexed lookups —
// never by reading a feed whole. The change recorder asks three things of it:
//
//   holders(r)      the feeds (other than org/) that hold r now
//   contains(f, k)  whether feed f holds the record k now
//   candidates(…)   the (feed, record) pairs whose membership may change when a record goes
//                   from `before` to `after` (its existence or its references change)
//
// The rules are those of feed_contents (feed.hpp), spelled per record instead of per feed:
//   user/U   U; U's groups; grants naming U or one of her groups; the schedules, doors (named,
//            or all of a named site) and sites (named, or of a named door) of those grants
//   unit/N   N; N's doors and their sites; grants naming those doors or sites; their users (a
//            group grant: the group and its members), schedules and groups
//   site/S   S; S's doors; units driving one of them; grants naming S or one of its doors;
//            their users (and group members), schedules and groups
// The recorder's tests hold the answers to feed_contents on random histories.
//
// Lookups are memoized for the life of one Membership: make a new one whenever the
// transaction has written since.

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sync/feed.hpp"

namespace portier::sync {

using FeedKey = std::pair<std::string, RecordKey>;  // feed name, record

class Membership {
 public:
  Membership(ReadTx& tx, std::string org_id) : tx_(tx), org_(std::move(org_id)) {}

  // Adds the feeds (not org/) that hold this record (as it is now in the store) to out (maybe
  // more than once).
  Status holders(const Record& r, std::vector<std::string>& out);
  // Whether the feed holds the record (kind, id) now.
  Result<bool> contains(const FeedId& feed, Kind kind, const std::string& id);
  // Adds the pairs whose membership may change when a record goes from before to after
  // (null: absent) to out. Call it before the write: it reads the rest of the store as it is.
  Status candidates(const Record* before, const Record* after, std::set<FeedKey>& out);
  // Whether going from before to after can change any feed's membership (not just contents).
  static bool moves(const Record* before, const Record* after);

 private:
  struct Grant {
    GrantRef ref;
    std::vector<std::string> users;  // the user, or the group's members
    std::vector<std::string> doors;  // the door, or the site's doors
    std::string site;                // the site, or the door's site
  };
  Result<Grant> expand(const GrantRef& g);
  // The unit and site feeds a grant reaches through its target (doors, site).
  Status target_feeds(const Grant& g, std::set<std::string>& out);
  // The feeds of every grant matching m: their users' feeds (when users is set) and the unit
  // and site feeds of their targets; each distinct target is looked up once.
  Status grant_holders(const GrantMatch& m, bool users, std::vector<std::string>& out);
  // Adds a grant's own pairs and those of what it names to the feeds that hold it.
  Status grant_candidates(const GrantRef& ref, std::set<FeedKey>& out);

  // Memoized lookups.
  Result<std::vector<std::string>> doors_of_site(const std::string& site);
  Result<std::vector<std::string>> units_of_door(const std::string& door);
  Result<std::string> site_of_door(const std::string& door);  // "" when there is no such door
  Result<std::vector<std::string>> members(const std::string& group);
  Result<std::vector<std::string>> groups_of(const std::string& user);
  Result<std::vector<std::string>> doors_of_unit(const std::string& unit);
  Result<bool> exists(Kind kind, const std::string& id);
  Result<std::vector<GrantRef>> grants(const GrantMatch& m) { return tx_.grant_refs(m); }
  // Whether some grant to the principal (a user and her groups) matches m.
  Result<bool> principal_grant(const std::string& user, GrantMatch m);

  ReadTx& tx_;
  std::string org_;
  std::map<std::string, std::vector<std::string>> site_doors_, door_units_, group_members_,
      user_groups_, unit_doors_;
  std::map<std::string, std::string> door_site_;
  std::map<RecordKey, bool> exists_;
};

}  // namespace portier::sync
