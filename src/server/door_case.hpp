#pragma once
// Everything an access decision about one user and one door needs, read in one transaction:
// shared by GET /v1/access/check, GET /v1/me/doors and the open path.

#include <deque>
#include <map>
#include <vector>

#include "core/access.hpp"
#include "store/store.hpp"

namespace portier {

struct DoorCase {
  Record door;
  Record site;
  Zone zone = nullptr;
  std::vector<Record> grants;      // the user's (and her groups') grants on this door or site
  std::deque<Schedule> schedules;  // stable storage for GrantRule::schedule
  std::map<std::string, Record> schedule_records;
  std::vector<GrantRule> rules;

  // Whether the door's site is locked down (every open denied unless an owner overrides).
  bool lockdown() const;
};

// A unit's site: that of its doors (validation keeps a unit's doors on one site); "" when it
// drives none, or its first door is gone.
Result<std::string> unit_site(ReadTx& tx, const std::string& org, const Record& unit);

// The case of one user at one door, reading only the grants on that door or its site.
Result<DoorCase> load_case(ReadTx& tx, const std::string& org, const std::string& user_id,
                           const Record& door);

// Every grant naming the user or one of her groups.
Result<std::vector<Record>> grants_of_user(ReadTx& tx, const std::string& org,
                                           const std::string& user_id);
// The case at one door from grants already read (those not on the door or its site are
// skipped): for walking all of a user's doors with one read of her grants.
Result<DoorCase> case_from(ReadTx& tx, const std::string& org, const std::vector<Record>& grants,
                           const Record& door);

// The decision for the case at an instant: a disabled user first, then a lockdown (unless an
// owner's override applies), then the grants.
Decision decide_case(const DoorCase& dc, bool user_enabled, Instant at,
                     bool lockdown_overridden = false);

}  // namespace portier
