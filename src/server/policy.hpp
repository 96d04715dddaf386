#pragma once
// Who may see and change what. Owners and unscoped admins see and manage their whole
// organization; an admin scoped to sites sees and manages those sites, their doors, units
// and grants (and members whose grants are all there), reads every user, group and schedule;
// a member sees herself, her groups, her grants and her groups' grants, and the doors, sites
// and schedules they name, and changes nothing.

#include <set>
#include <string>

#include "server/api_internal.hpp"

namespace portier::api {

class View {
 public:
  // What the actor may see, read within the transaction.
  static Result<View> load(const Actor& actor, ReadTx& tx);
  bool visible(const Record& r) const;
  // The site a door belongs to (doors of the org), "" if unknown.
  const std::string& site_of_door(const std::string& door_id) const;

 private:
  const Actor* actor_ = nullptr;
  bool all_ = false;
  std::map<std::string, std::string> door_site_;  // scoped admins: every door of the org
  std::set<std::string> doors_, sites_, schedules_, grants_, groups_;  // members
};

// May the actor make this change? before is null on create, after on delete.
Status check_write(const Actor& actor, Kind kind, const json::object* before,
                   const json::object* after, ReadTx& tx);

// May the actor update or delete this existing user (on top of check_write)? An admin scoped
// to sites changes only members all of whose grants are on her sites (or who have none), so
// that she cannot reach other sites through them, and never sets another user's password.
Status check_user_change(const Actor& actor, const std::string& user_id, bool sets_password,
                         ReadTx& tx);

}  // namespace portier::api
