#pragma once
// Who is on a push session, and which feeds they may read.
//   a member:              user/<herself>
//   an admin with site_ids: user/<herself>, site/<each of her sites>
//   an owner or admin:     org/<their org>, and any user/, unit/ or site/ feed of it
//   a unit:                unit/<itself>

#include <string>
#include <vector>

#include "core/time.hpp"
#include "store/store.hpp"
#include "sync/feed.hpp"

namespace portier {

struct StreamIdentity {
  bool is_unit = false;
  std::string id;  // user or unit id
  std::string org_id;
  std::string role;  // owner | admin | member | unit
  std::vector<std::string> site_ids;
  std::string name;
  std::string token_hash;
};

// From a user token ("ptk_…") or a unit credential ("ptu_…").
Result<StreamIdentity> authenticate_stream(Store& store, const std::string& token, Instant now);

// 403 forbidden_feed unless the identity may read the feed (read within tx).
Status may_read(const StreamIdentity& who, const sync::FeedId& feed, ReadTx& tx);

}  // namespace portier
