#pragma once
// Who is calling, for REST and the push stream alike: one check of the token, one judgement
// of the account (gone, disabled, a guest whose invitation ended), and what it may read.
// On the stream, the feeds each caller may read:
//   a member:              user/<herself>
//   an admin with site_ids: user/<herself>, site/<each of her sites>
//   an owner or admin:     org/<their org>, and any user/, unit/ or site/ feed of it
//   a unit:                unit/<itself>
// What REST routes let each caller do is in policy.hpp.

#include <string>
#include <vector>

#include "core/time.hpp"
#include "store/store.hpp"
#include "sync/feed.hpp"

namespace portier {

struct Principal {
  bool is_unit = false;
  std::string id;  // user or unit id
  std::string org_id;
  std::string role;                   // owner | admin | member | unit
  std::vector<std::string> site_ids;  // non-empty: an admin scoped to these sites
  std::string name;
  std::string token_hash;

  bool is_owner() const { return role == "owner"; }
  bool is_admin() const { return role == "owner" || role == "admin"; }
  bool scoped() const { return role == "admin" && !site_ids.empty(); }
  // Whether an admin may manage things on this site.
  bool manages_site(const std::string& site_id) const;
};

// From a user token ("ptk_…") or a unit credential ("ptu_…"): 401 unauthorized (unknown,
// expired or revoked token; account gone), user_disabled or invitation_ended. `record`, when
// given, receives the user's or unit's record as read.
Result<Principal> authenticate(Store& store, const std::string& token, Instant now,
                               Record* record = nullptr);

// 403 forbidden_feed unless the principal may read the feed (read within tx).
Status may_read(const Principal& who, const sync::FeedId& feed, ReadTx& tx);

}  // namespace portier
