#include "server/stream_auth.hpp"

#include <algorithm>

#include "crypto/crypto.hpp"
#include "server/invitations.hpp"

namespace portier {

Result<StreamIdentity> authenticate_stream(Store& store, const std::string& token, Instant now) {
  static const Error bad{401, "unauthorized", "the token is unknown, expired or revoked", ""};
  if (token.empty() || token.size() > 200) return bad;
  StreamIdentity who;
  who.token_hash = token_hash(token);
  std::string user_id;
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
    if (!*r) return bad;
    const auto& b = (*r)->body;
    if (auto n = b.find("name"); n != b.end() && n->value().is_string())
      who.name = n->value().as_string();
    if (who.is_unit) return ok();
    if (auto d = b.find("disabled"); d != b.end() && d->value().is_bool() && d->value().as_bool())
      return Error{401, "user_disabled", "this account is disabled", ""};
    if (is_guest(b)) {
      auto access = guest_access(tx, who.org_id, who.id, now);
      if (!access) return access.error();
      if (!access->active)
        return Error{401, kInvitationEnded, "your invitation has ended; ask for a new one", ""};
    }
    if (auto role = b.find("role"); role != b.end() && role->value().is_string())
      who.role = role->value().as_string();
    if (auto s = b.find("site_ids"); s != b.end() && s->value().is_array())
      for (const auto& v : s->value().as_array()) who.site_ids.emplace_back(v.as_string());
    return ok();
  });
  if (!st) return st.error();
  return who;
}

Status may_read(const StreamIdentity& who, const sync::FeedId& feed, ReadTx& tx) {
  using T = sync::FeedId::Type;
  auto no = [&] {
    return Error{403, "forbidden_feed", "you may not read " + feed.name(), "feeds"};
  };
  if (who.is_unit) return feed.type == T::unit && feed.id == who.id ? ok() : Status(no());
  if (feed.type == T::user && feed.id == who.id) return ok();
  bool admin = who.role == "owner" || who.role == "admin";
  if (!admin) return no();
  bool scoped = who.role == "admin" && !who.site_ids.empty();
  if (scoped) {
    bool mine = feed.type == T::site &&
                std::find(who.site_ids.begin(), who.site_ids.end(), feed.id) != who.site_ids.end();
    return mine ? ok() : Status(no());
  }
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
