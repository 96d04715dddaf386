#include "server/invitations.hpp"

#include "core/fields.hpp"

namespace portier {

bool is_guest(const boost::json::object& user_body) { return bool_field(user_body, "guest"); }

bool grant_live(const boost::json::object& grant_body, Instant now) {
  auto text = str_field(grant_body, "valid_until");
  if (text.empty()) return true;
  auto until = parse_rfc3339(text);
  return until && now < *until;  // validity is [valid_from, valid_until)
}

Result<GuestAccess> guest_access(ReadTx& tx, const std::string& org_id, const std::string& user_id,
                                 Instant now) {
  auto grants = tx.list_by(Kind::grant, org_id, "user_id", user_id);
  if (!grants) return grants.error();
  GuestAccess out;
  bool open_ended = false;
  for (const auto& g : *grants) {
    auto text = str_field(g.body, "valid_until");
    if (text.empty()) {
      out.active = true;
      open_ended = true;
      continue;
    }
    auto until = parse_rfc3339(text);
    if (!until || *until <= now) continue;  // validity is [valid_from, valid_until)
    out.active = true;
    if (!out.ends || *out.ends < *until) out.ends = *until;
  }
  if (open_ended) out.ends.reset();
  return out;
}

Result<std::optional<Revocation>> end_invitation_if_over(WriteTx& tx, const std::string& org_id,
                                                         const std::string& user_id, Instant now,
                                                         const std::string& actor_id,
                                                         const std::string& why) {
  auto user = tx.get(Kind::user, org_id, user_id);
  if (!user) return user.error();
  if (!*user || !is_guest((*user)->body)) return std::optional<Revocation>();
  auto access = guest_access(tx, org_id, user_id, now);
  if (!access) return access.error();
  if (access->active) return std::optional<Revocation>();
  if (auto s = tx.revoke_tokens(user_id); !s) return s.error();
  auto at = now.time_since_epoch().count();
  if (auto s = tx.expire_signin_codes(user_id, at); !s) return s.error();
  AuditEntry e;
  e.org_id = org_id;
  e.at = format_rfc3339(now);
  e.at_unix = at;
  e.actor_id = actor_id;
  e.action = "invitation.ended";
  e.entity_id = user_id;
  e.after = boost::json::object{{"user_id", user_id}, {"reason", why}};
  if (auto s = tx.append_audit(e); !s) return s.error();
  return std::optional<Revocation>(Revocation{user_id, "", "", kInvitationEnded});
}

}  // namespace portier
