// /v1/invitations: a guest, her grants and a single-use sign-in link, made in one transaction;
// the guests an admin sees; a new link; ending an invitation early. Guests and how their
// invitations end: invitations.hpp.
#include <algorithm>
#include <set>

#include "core/fields.hpp"
#include "crypto/crypto.hpp"
#include "server/invitations.hpp"
#include "server/policy.hpp"
#include "server/validate.hpp"

namespace portier::api {
namespace {

constexpr std::size_t kMaxDoors = 50;

// Where the app takes the code: in the fragment, so it reaches no server log or Referer.
std::string link_path(const std::string& code) { return "/app/#code=" + code; }

// Every user has a unique email; a guest invited by phone alone gets one that reaches no one
// (`.invalid` is reserved, RFC 2606). She has no password, so no one signs in with it.
std::string placeholder_email(const std::string& user_id) { return user_id + "@guest.invalid"; }

std::int64_t unix_of(Instant t) { return t.time_since_epoch().count(); }

// What POST /v1/invitations asks for, checked before the transaction.
struct Ask {
  std::string name, email, phone, site_id, schedule_id;
  std::vector<std::string> door_ids;
  json::value valid_from, valid_until, max_uses;  // as sent (the grant's validation reads them)
  Instant until{};
};

Result<Ask> read_ask(const json::object& body, Instant now) {
  static const std::set<std::string, std::less<>> known = {
      "name",        "email",      "phone",       "door_ids", "site_id",
      "schedule_id", "valid_from", "valid_until", "max_uses"};
  for (const auto& kv : body)
    if (!known.count(kv.key()))
      return invalid(std::string(kv.key()), "unknown_field",
                     "unknown field " + std::string(kv.key()));
  Ask a;
  auto text = [&](const char* key, std::string& out) -> Status {
    const auto* v = body.if_contains(key);
    if (!v || v->is_null()) return ok();
    if (!v->is_string()) return invalid(key, "invalid_field", std::string(key) + " is a string");
    out = v->as_string();
    return ok();
  };
  using Text = std::pair<const char*, std::string*>;
  for (auto [key, out] : std::initializer_list<Text>{{"name", &a.name},
                                                     {"email", &a.email},
                                                     {"phone", &a.phone},
                                                     {"site_id", &a.site_id},
                                                     {"schedule_id", &a.schedule_id}})
    if (auto s = text(key, *out); !s) return s.error();
  if (a.name.empty()) return invalid("name", "required", "name is required: the guest's name");
  if (a.email.empty() && a.phone.empty())
    return invalid("email", "required",
                   "give the guest's email or phone: where you will send her the link");
  const auto* doors = body.if_contains("door_ids");
  bool has_doors = doors && !doors->is_null();
  if (has_doors == !a.site_id.empty())
    return invalid(has_doors ? "site_id" : "door_ids", has_doors ? "invalid_field" : "required",
                   "choose doors (door_ids) or a site, for every door of it (site_id), not both");
  if (has_doors) {
    if (!doors->is_array() || doors->as_array().empty())
      return invalid("door_ids", "invalid_field",
                     "choose one or more doors (door_ids is a list of door ids)");
    if (doors->as_array().size() > kMaxDoors)
      return invalid("door_ids", "too_many", "an invitation opens at most 50 doors; use a site");
    for (std::size_t i = 0; i < doors->as_array().size(); ++i) {
      const auto& d = doors->as_array()[i];
      std::string field = "door_ids[" + std::to_string(i) + "]";
      if (!d.is_string()) return invalid(field, "invalid_field", "a door id is a string");
      std::string id(d.as_string());
      if (std::find(a.door_ids.begin(), a.door_ids.end(), id) != a.door_ids.end())
        return invalid(field, "invalid_field", "door listed twice");
      a.door_ids.push_back(std::move(id));
    }
  }
  using Value = std::pair<const char*, json::value*>;
  for (auto [key, out] : std::initializer_list<Value>{{"valid_from", &a.valid_from},
                                                      {"valid_until", &a.valid_until},
                                                      {"max_uses", &a.max_uses}})
    if (const auto* v = body.if_contains(key)) *out = *v;
  // A guest's access always ends: that is when her link and her sessions end too.
  if (a.valid_until.is_null())
    return invalid("valid_until", "required",
                   "valid_until is required: when the guest's access (and her link) ends");
  auto until = a.valid_until.is_string() ? parse_rfc3339(a.valid_until.as_string()) : std::nullopt;
  if (!until)
    return invalid("valid_until", "invalid_time",
                   "valid_until is an RFC 3339 time with offset, e.g. 2026-01-31T20:00:00+01:00");
  if (*until <= now) return invalid("valid_until", "invalid_range", "valid_until is in the past");
  a.until = *until;
  return a;
}

// One guest as GET /v1/invitations shows her: her record, her grants the caller sees, and
// whether (and until when) she may get in.
Result<std::optional<json::object>> guest_item(const Ctx& c, const Record& user, const View& view,
                                               ReadTx& tx) {
  if (!is_guest(user.body) || !view.visible(user)) return std::optional<json::object>();
  auto grants = tx.list_by(Kind::grant, user.org_id, "user_id", user.id);
  if (!grants) return grants.error();
  std::sort(grants->begin(), grants->end(),
            [](const Record& a, const Record& b) { return a.id < b.id; });
  json::array shown;
  for (const auto& g : *grants)
    if (view.visible(g)) shown.push_back(to_json(g));
  // An admin scoped to sites sees the guests she has invited to them, not everyone's.
  if (c.me().scoped() && shown.empty()) return std::optional<json::object>();
  auto access = guest_access(tx, user.org_id, user.id, c.api.now());
  if (!access) return access.error();
  json::value ends = nullptr;
  if (access->active && access->ends) ends = format_rfc3339(*access->ends);
  return std::optional<json::object>(json::object{{"id", user.id},
                                                  {"user", to_json(user)},
                                                  {"grants", std::move(shown)},
                                                  {"active", access->active},
                                                  {"ends_at", std::move(ends)}});
}

// The guest named in the path, if the caller may see her (404 otherwise, as if she were not).
Result<Record> find_guest(const Ctx& c, ReadTx& tx) {
  auto u = tx.get(Kind::user, c.me().org_id, c.path.at("id"));
  if (!u) return u.error();
  auto view = View::load(c.me(), tx);
  if (!view) return view.error();
  if (!*u || !is_guest((*u)->body) || !view->visible(**u)) return not_found("invitation");
  return std::move(**u);
}

// A new single-use code for the guest; her unused earlier ones stop working.
Result<std::string> issue_code(WriteTx& tx, const std::string& user_id, Instant now,
                               Instant expires) {
  if (auto s = tx.expire_signin_codes(user_id, unix_of(now)); !s) return s.error();
  std::string code = "psi_" + new_token().substr(4);
  if (auto s = tx.add_signin_code(token_hash(code), user_id, unix_of(expires)); !s)
    return s.error();
  return code;
}

Status audit_invitation(WriteTx& tx, const Ctx& c, const std::string& action,
                        const std::string& user_id, const std::string& site_id,
                        json::object after) {
  AuditEntry e;
  e.org_id = c.me().org_id;
  e.at = now_text(c);
  e.at_unix = unix_of(c.api.now());
  e.actor_id = c.me().id;
  e.action = action;
  e.entity_id = user_id;
  e.site_id = site_id;
  e.after = std::move(after);
  return tx.append_audit(e);
}

json::object link_json(const std::string& code, Instant expires) {
  return json::object{
      {"code", code}, {"path", link_path(code)}, {"expires_at", format_rfc3339(expires)}};
}

}  // namespace

Result<std::optional<Revocation>> end_invitation_after(WriteTx& tx, const Ctx& c,
                                                       const json::object& before,
                                                       const json::object* after) {
  std::string user_id = str_field(before, "user_id");
  Instant now = c.api.now();
  if (user_id.empty() || !grant_live(before, now)) return std::optional<Revocation>();
  if (after && str_field(*after, "user_id") == user_id && grant_live(*after, now))
    return std::optional<Revocation>();
  return end_invitation_if_over(tx, c.me().org_id, user_id, now, c.me().id, "revoked");
}

Result<Response> create_invitation(Ctx& c) {
  auto body = parse_body(c.req);
  if (!body) return body.error();
  if (!c.me().is_admin()) return forbidden("only owners and admins invite guests");
  Instant now = c.api.now();
  auto ask = read_ask(*body, now);
  if (!ask) return ask.error();
  json::object out;
  auto st = c.api.store().write([&](WriteTx& tx) -> Status {
    const std::string& org = c.me().org_id;
    std::string at = now_text(c);
    sync::ChangeRecorder rec(tx, org, unix_of(now));
    // The guest: new, or one invited before under the same email (she keeps her record).
    std::optional<Record> existing;
    if (!ask->email.empty()) {
      auto found = tx.list_by(Kind::user, org, "email", ask->email);
      if (!found) return found.error();
      if (!found->empty()) {
        if (!is_guest(found->front().body))
          return Error{409, "email_taken",
                       "someone in the organization already has this email: give her a grant "
                       "instead of an invitation",
                       "email"};
        existing = found->front();
      }
    }
    std::string user_id = existing ? existing->id : new_id(kind_id_prefix(Kind::user));
    json::object ub = existing ? existing->body : json::object{{"role", "member"}};
    ub["name"] = ask->name;
    ub["email"] = ask->email.empty()
                      ? (existing ? str_field(existing->body, "email") : placeholder_email(user_id))
                      : ask->email;
    if (!ask->phone.empty()) ub["phone"] = ask->phone;
    ub["guest"] = true;
    auto fields = validate(Kind::user, ub, org, tx);
    if (!fields) return fields.error();
    if (auto s =
            check_write(c.me(), Kind::user, existing ? &existing->body : nullptr, &*fields, tx);
        !s)
      return s;
    if (existing)
      if (auto s = check_user_change(c.me(), user_id, false, tx); !s) return s;
    Record user{Kind::user, user_id, org, std::move(*fields), 1, at, at};
    if (existing) {
      user.version = existing->version + 1;
      user.created_at = existing->created_at;
    }
    if (auto s = rec.write(existing ? &*existing : nullptr, &user); !s) return s;
    if (auto s = audit_change(tx, c, existing ? "updated" : "created", user,
                              existing ? json::value(to_json(*existing)) : json::value(nullptr),
                              to_json(user));
        !s)
      return s;
    // Her grants: one per door, or one for the site.
    std::vector<std::string> targets = ask->door_ids;
    if (targets.empty()) targets.push_back(ask->site_id);
    json::array grants, grant_ids;
    std::string site_id = ask->site_id;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      json::object gb{{"user_id", user_id}};
      gb[ask->door_ids.empty() ? "site_id" : "door_id"] = targets[i];
      if (!ask->schedule_id.empty()) gb["schedule_id"] = ask->schedule_id;
      if (!ask->valid_from.is_null()) gb["valid_from"] = ask->valid_from;
      gb["valid_until"] = ask->valid_until;
      if (!ask->max_uses.is_null()) gb["max_uses"] = ask->max_uses;
      auto g = validate(Kind::grant, gb, org, tx);
      if (!g) {
        Error e = g.error();
        if (e.field == "door_id") e.field = "door_ids[" + std::to_string(i) + "]";
        return e;
      }
      if (auto s = check_write(c.me(), Kind::grant, nullptr, &*g, tx); !s) return s;
      if (site_id.empty()) {
        auto site = tx.ref_of(Kind::door, targets[i], "site_id");
        if (!site) return site.error();
        site_id = site->value_or("");
      }
      Record r{Kind::grant, new_id(kind_id_prefix(Kind::grant)), org, std::move(*g), 1, at, at};
      r.body["uses"] = 0;
      if (auto s = rec.write(nullptr, &r); !s) return s;
      if (auto s = audit_change(tx, c, "created", r, nullptr, to_json(r)); !s) return s;
      grant_ids.push_back(json::value(r.id));
      grants.push_back(to_json(r));
    }
    // The link lives as long as her access: until the grants end.
    auto code = issue_code(tx, user_id, now, ask->until);
    if (!code) return code.error();
    json::object seen{{"user_id", user_id},
                      {"name", ask->name},
                      {"grant_ids", std::move(grant_ids)},
                      {"valid_until", format_rfc3339(ask->until)},
                      {"link_expires_at", format_rfc3339(ask->until)}};
    if (!ask->email.empty()) seen["email"] = ask->email;
    if (!ask->phone.empty()) seen["phone"] = ask->phone;
    if (auto s = audit_invitation(tx, c, "invitation.created", user_id, site_id, std::move(seen));
        !s)
      return s;
    out = json::object{{"id", user_id},
                       {"user", to_json(user)},
                       {"grants", std::move(grants)},
                       {"link", link_json(*code, ask->until)}};
    return commit_changes(tx, c, rec);
  });
  if (!st) return st.error();
  auto res = json_response(201, out);
  res.headers.emplace_back("Location", "/v1/invitations/" + std::string(out.at("id").as_string()));
  return res;
}

Result<Response> list_invitations(Ctx& c) {
  if (!c.me().is_admin()) return forbidden("only owners and admins see invitations");
  auto page = parse_page(c);
  if (!page) return page.error();
  std::vector<json::object> items;
  auto st = c.api.store().read([&](ReadTx& tx) -> Status {
    auto view = View::load(c.me(), tx);
    if (!view) return view.error();
    auto users = tx.list(Kind::user, c.me().org_id);
    if (!users) return users.error();
    for (const auto& u : *users) {
      if (!is_guest(u.body)) continue;
      auto item = guest_item(c, u, *view, tx);
      if (!item) return item.error();
      if (*item) items.push_back(std::move(**item));
    }
    return ok();
  });
  if (!st) return st.error();
  return json_response(200, page_of(items, *page));
}

Result<Response> get_invitation(Ctx& c) {
  if (!c.me().is_admin()) return forbidden("only owners and admins see invitations");
  json::object out;
  auto st = c.api.store().read([&](ReadTx& tx) -> Status {
    auto user = find_guest(c, tx);
    if (!user) return user.error();
    auto view = View::load(c.me(), tx);
    if (!view) return view.error();
    auto item = guest_item(c, *user, *view, tx);
    if (!item) return item.error();
    if (!*item) return not_found("invitation");
    out = std::move(**item);
    return ok();
  });
  if (!st) return st.error();
  return json_response(200, out);
}

Result<Response> new_invitation_link(Ctx& c) {
  if (!c.me().is_admin()) return forbidden("only owners and admins invite guests");
  if (!c.req.body.empty()) {  // no options today; an empty JSON object is fine
    auto body = parse_body(c.req);
    if (!body) return body.error();
    if (!body->empty())
      return invalid(std::string(body->begin()->key()), "unknown_field",
                     "unknown field " + std::string(body->begin()->key()));
  }
  Instant now = c.api.now();
  json::object out;
  auto st = c.api.store().write([&](WriteTx& tx) -> Status {
    auto user = find_guest(c, tx);
    if (!user) return user.error();
    if (auto s = check_write(c.me(), Kind::user, &user->body, &user->body, tx); !s) return s;
    if (auto s = check_user_change(c.me(), user->id, false, tx); !s) return s;
    auto access = guest_access(tx, user->org_id, user->id, now);
    if (!access) return access.error();
    if (!access->active)
      return Error{409, kInvitationEnded,
                   "this guest's access has ended: invite her again (POST /v1/invitations)", ""};
    Instant expires = access->ends ? *access->ends : now + c.api.options().signin_code_ttl;
    auto code = issue_code(tx, user->id, now, expires);
    if (!code) return code.error();
    if (auto s = audit_invitation(
            tx, c, "invitation.link_issued", user->id, "",
            json::object{{"user_id", user->id}, {"link_expires_at", format_rfc3339(expires)}});
        !s)
      return s;
    out = link_json(*code, expires);
    return ok();
  });
  if (!st) return st.error();
  return json_response(201, out);
}

Result<Response> end_invitation(Ctx& c) {
  if (!c.me().is_admin()) return forbidden("only owners and admins end invitations");
  Instant now = c.api.now();
  auto st = c.api.store().write([&](WriteTx& tx) -> Status {
    auto user = find_guest(c, tx);
    if (!user) return user.error();
    auto access = guest_access(tx, user->org_id, user->id, now);
    if (!access) return access.error();
    auto grants = tx.list_by(Kind::grant, user->org_id, "user_id", user->id);
    if (!grants) return grants.error();
    // All of them or none: a grant the caller may not remove stops the whole request.
    for (const auto& g : *grants)
      if (auto s = check_write(c.me(), Kind::grant, &g.body, nullptr, tx); !s) return s;
    sync::ChangeRecorder rec(tx, user->org_id, unix_of(now));
    for (const auto& g : *grants) {
      if (auto s = rec.write(&g, nullptr); !s) return s;
      if (auto s = audit_change(tx, c, "deleted", g, to_json(g), nullptr); !s) return s;
    }
    std::optional<Revocation> revoke;
    if (access->active) {  // ended already: nothing more to end (nor to log twice)
      auto ended = end_invitation_if_over(tx, user->org_id, user->id, now, c.me().id, "revoked");
      if (!ended) return ended.error();
      revoke = std::move(*ended);
    }
    return commit_changes(tx, c, rec, revoke);
  });
  if (!st) return st.error();
  Response res;
  res.status = 204;
  return res;
}

}  // namespace portier::api
