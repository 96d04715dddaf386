#include "server/identity.hpp"

#include <algorithm>

#include "core/fields.hpp"
#include "crypto/crypto.hpp"
#include "server/invitations.hpp"

namespace portier {

bool Principal::manages_site(const std::string& site_id) const {
  if (!is_admin()) return false;
  if (!scoped()) return true;
  return std::find(site_ids.begin(), site_ids.end(), site_id) != site_ids.end();
}

Result<Principal> authenticate(Store& store, const std::string& token, Instant now,
                               Record* record) {
  static const Error bad{401, "unauthorized",
                         "the token is unknown, expired or revoked; log in again", ""};
  if (token.empty() || token.size() > 200) return bad;
  Principal who;
  who.token_hash = token_hash(token);
  if (token.rfind("ptu_", 0) == 0) {
    auto cred = store.find_unit_credential(who.token_hash);
    if (!cred) return cred.error();
    if (!*cred) return bad;
    who.is_unit = true;
    who.id = (*cred)->unit_id;
    who.org_id = (*cred)->org_id;
    who.role = "unit";
  } else {
    auto info = store.find_token(who.token_hash, now.time_since_epoch().count());
    if (!info) return info.error();
    if (!*info) return bad;
    who.id = (*info)->user_id;
    who.org_id = (*info)->org_id;
  }
  Kind kind = who.is_unit ? Kind::unit : Kind::user;
  auto st = store.read([&](ReadTx& tx) -> Status {
    auto r = tx.get(kind, who.org_id, who.id);
    if (!r) return r.error();
    if (!*r) return Error{401, "unauthorized", "the account no longer exists", ""};
    const auto& b = (*r)->body;
    who.name = str_field(b, "name");
    if (!who.is_unit) {
      if (bool_field(b, "disabled"))
        return Error{401, "user_disabled", "this account is disabled", ""};
      // A guest's token lives only as long as her invitation (the sweeper revokes it soon
      // after).
      if (is_guest(b)) {
        auto access = guest_access(tx, who.org_id, who.id, now);
        if (!access) return access.error();
        if (!access->active)
          return Error{401, kInvitationEnded, "your invitation has ended; ask for a new one", ""};
      }
      who.role = str_field(b, "role");
      if (who.role.empty()) who.role = "member";
      who.site_ids = str_list_field(b, "site_ids");
    }
    if (record) *record = std::move(**r);
    return ok();
  });
  if (!st) return st.error();
  return who;
}

Status may_read(const Principal& who, const sync::FeedId& feed, ReadTx& tx) {
  using T = sync::FeedId::Type;
  auto no = [&] {
    return Error{403, "forbidden_feed", "you may not read " + feed.name(), "feeds"};
  };
  if (who.is_unit) return feed.type == T::unit && feed.id == who.id ? ok() : Status(no());
  if (feed.type == T::user && feed.id == who.id) return ok();
  if (!who.is_admin()) return no();
  if (who.scoped()) return feed.type == T::site && who.manages_site(feed.id) ? ok() : Status(no());
  // An organization-wide admin: anything in the organization.
  Kind kind;
  switch (feed.type) {
    case T::org:
      return feed.id == who.org_id ? ok() : Status(no());
    case T::user:
      kind = Kind::user;
      break;
    case T::unit:
      kind = Kind::unit;
      break;
    case T::site:
      kind = Kind::site;
      break;
    default:
      return no();
  }
  auto r = tx.get(kind, who.org_id, feed.id);
  if (!r) return r.error();
  return *r ? ok() : Status(no());
}

}  // namespace portier
