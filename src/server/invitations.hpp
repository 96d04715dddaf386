#pragma once
// Guests: members invited for a while (POST /v1/invitations), marked `guest: true`. A guest's
// access is her own grants; she is active while one of them has not ended. When none is left
// her invitation is over: her tokens die, her unused sign-in links expire and her sessions
// close (revoked, reason `invitation_ended`) — at once when an admin deletes or ends her last
// grant, and at the instant the last one runs out (InvitationSweeper). Until the sweeper has
// run, requests with her token are refused anyway (guest_access is checked at every
// authentication).

#include <boost/json/object.hpp>
#include <optional>
#include <string>

#include "bus/bus.hpp"
#include "core/time.hpp"
#include "store/store.hpp"

namespace portier {

inline constexpr const char* kInvitationEnded = "invitation_ended";

// Whether a user record is a guest's.
bool is_guest(const boost::json::object& user_body);

// Whether a grant has not ended at `now` (no valid_until, or one still ahead).
bool grant_live(const boost::json::object& grant_body, Instant now);

struct GuestAccess {
  bool active = false;          // one of her grants has not ended at `now`
  std::optional<Instant> ends;  // when the last live one ends; nullopt if one never does
};

// What a user's own grants give her at `now` (group grants are not a guest's invitation).
Result<GuestAccess> guest_access(ReadTx& tx, const std::string& org_id, const std::string& user_id,
                                 Instant now);

// Ends a guest's invitation in this transaction when she has no live grant left at `now`:
// revokes her tokens, expires her unused sign-in codes and appends `invitation.ended` (actor
// `actor_id`, "" for the server; `after.reason` is `why`). Returns the revocation to publish once
// the transaction commits; nullopt when she is not a guest (or gone) or still has access.
Result<std::optional<Revocation>> end_invitation_if_over(WriteTx& tx, const std::string& org_id,
                                                         const std::string& user_id, Instant now,
                                                         const std::string& actor_id,
                                                         const std::string& why);

}  // namespace portier
