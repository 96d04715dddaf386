// GET/POST /v1/<plural>, GET/PATCH/DELETE /v1/<plural>/{id} for every entity kind.
#include "core/fields.hpp"
#include "crypto/crypto.hpp"
#include "server/door_case.hpp"
#include "server/policy.hpp"
#include "server/validate.hpp"

namespace portier::api {
namespace {

Kind kind_of(const Ctx& c) { return *kind_from_plural(c.path.at("plural")); }

// The record named in the path, if the caller may see it (404 if not, as if it did not exist).
Result<Record> find_visible(const Ctx& c, Kind kind, ReadTx& tx) {
  auto r = tx.get(kind, c.me().org_id, c.path.at("id"));
  if (!r) return r.error();
  auto view = View::load(c.me(), tx);
  if (!view) return view.error();
  if (!*r || !view->visible(**r)) return not_found(std::string(kind_name(kind)));
  return std::move(**r);
}

std::int64_t unix_now(const Ctx& c) { return c.api.now().time_since_epoch().count(); }

// The site an audit entry concerns, so admins scoped to sites see their part of the log.
std::string audit_site(const Record& r, ReadTx& tx) {
  switch (r.kind) {
    case Kind::site:
      return r.id;
    case Kind::door:
      return str_field(r.body, "site_id");
    case Kind::grant: {
      if (auto s = str_field(r.body, "site_id"); !s.empty()) return s;
      auto d = tx.get(Kind::door, r.org_id, str_field(r.body, "door_id"));
      return d.ok() && d->has_value() ? str_field((*d)->body, "site_id") : "";
    }
    case Kind::unit: {
      auto s = unit_site(tx, r.org_id, r);
      return s ? *s : "";
    }
    default:
      return "";
  }
}

}  // namespace

Status audit_change(WriteTx& tx, const Ctx& c, const std::string& action, const Record& r,
                    const json::value& before, const json::value& after) {
  AuditEntry e;
  e.org_id = c.me().org_id;
  e.at = now_text(c);
  e.at_unix = c.api.now().time_since_epoch().count();
  e.actor_id = c.me().id;
  e.action = std::string(kind_name(r.kind)) + "." + action;
  e.entity_id = r.id;
  e.site_id = audit_site(r, tx);
  e.before = before;
  e.after = after;
  return tx.append_audit(e);
}

namespace {

// The password field of a users body, hashed outside the write lock (argon2id is slow).
Result<std::optional<std::string>> take_password(Kind kind, json::object& body, bool required) {
  if (kind != Kind::user) return std::optional<std::string>();
  auto it = body.find("password");
  if (it == body.end() || it->value().is_null()) {
    if (required) return invalid("password", "required", "password is required");
    body.erase("password");
    return std::optional<std::string>();
  }
  if (auto s = validate_password(it->value()); !s) return s.error();
  std::string hash = hash_password(std::string(it->value().as_string()));
  body.erase("password");
  if (hash.empty()) return Error{503, "busy", "could not hash the password; try again", ""};
  return std::optional<std::string>(std::move(hash));
}

// Refuses a change that would leave the organization without an enabled owner.
Status keep_an_owner(const Ctx& c, const Record& before, const json::object* after, ReadTx& tx) {
  auto enabled_owner = [](const json::object& b) {
    return str_field(b, "role") == "owner" && !bool_field(b, "disabled");
  };
  if (!enabled_owner(before.body) || (after && enabled_owner(*after))) return ok();
  auto users = tx.list(Kind::user, c.me().org_id);
  if (!users) return users.error();
  int owners = 0;
  for (const auto& u : *users) owners += enabled_owner(u.body) ? 1 : 0;
  if (owners <= 1)
    return Error{409, "last_owner", "an organization keeps at least one enabled owner", "role"};
  return ok();
}

// 409 in_use when other records still refer to this one.
Status check_unreferenced(const Record& r, ReadTx& tx) {
  auto count = [&](Kind k, const char* field) -> Result<std::size_t> {
    auto l = tx.list_by(k, r.org_id, field, r.id);
    if (!l) return l.error();
    return l->size();
  };
  std::vector<std::pair<Kind, const char*>> refs;
  switch (r.kind) {
    case Kind::site:
      refs = {{Kind::door, "site_id"}, {Kind::grant, "site_id"}};
      break;
    case Kind::door:
      refs = {{Kind::grant, "door_id"}, {Kind::unit, "door_ids"}};
      break;
    case Kind::schedule:
      refs = {{Kind::grant, "schedule_id"}};
      break;
    case Kind::group:
      refs = {{Kind::grant, "group_id"}};
      break;
    default:
      return ok();
  }
  std::string uses;
  for (auto [k, field] : refs) {
    auto n = count(k, field);
    if (!n) return n.error();
    if (*n)
      uses +=
          (uses.empty() ? "" : " and ") + std::to_string(*n) + " " + std::string(kind_plural(k));
  }
  if (uses.empty()) return ok();
  return Error{409, "in_use",
               std::string("this ") + std::string(kind_name(r.kind)) + " is still used by " + uses +
                   "; remove or change them first",
               ""};
}

}  // namespace

Result<Response> list_records(Ctx& c) {
  auto page = parse_page(c);
  if (!page) return page.error();
  Kind kind = kind_of(c);
  std::vector<json::object> items;
  auto st = c.api.store().read([&](ReadTx& tx) -> Status {
    auto view = View::load(c.me(), tx);
    if (!view) return view.error();
    auto all = tx.list(kind, c.me().org_id);
    if (!all) return all.error();
    for (const auto& r : *all)
      if (view->visible(r)) items.push_back(to_json(r));
    return ok();
  });
  if (!st) return st.error();
  return json_response(200, page_of(items, *page));
}

Result<Response> get_record(Ctx& c) {
  Kind kind = kind_of(c);
  json::object out;
  auto st = c.api.store().read([&](ReadTx& tx) -> Status {
    auto r = find_visible(c, kind, tx);
    if (!r) return r.error();
    out = to_json(*r);
    return ok();
  });
  if (!st) return st.error();
  return json_response(200, out);
}

Result<Response> create_record(Ctx& c) {
  Kind kind = kind_of(c);
  auto body = parse_body(c.req);
  if (!body) return body.error();
  if (!c.me().is_admin()) return forbidden("members cannot change the organization");
  auto password = take_password(kind, *body, true);
  if (!password) return password.error();
  json::object out;
  auto st = c.api.store().write([&](WriteTx& tx) -> Status {
    auto fields = validate(kind, *body, c.me().org_id, tx);
    if (!fields) return fields.error();
    if (auto s = check_write(c.me(), kind, nullptr, &*fields, tx); !s) return s;
    std::string now = now_text(c);
    Record r{kind, new_id(kind_id_prefix(kind)), c.me().org_id, std::move(*fields), 1, now, now};
    if (kind == Kind::grant) r.body["uses"] = 0;
    sync::ChangeRecorder rec(tx, r.org_id, unix_now(c));
    if (auto s = rec.write(nullptr, &r); !s) return s;
    if (*password)
      if (auto s = tx.set_password(r.id, **password); !s) return s;
    out = to_json(r);
    if (auto s = audit_change(tx, c, "created", r, nullptr, out); !s) return s;
    return commit_changes(tx, c, rec);
  });
  if (!st) return st.error();
  auto res = json_response(201, out);
  res.headers.emplace_back(
      "Location", "/v1/" + c.path.at("plural") + "/" + std::string(out.at("id").as_string()));
  return res;
}

Result<Response> update_record(Ctx& c) {
  Kind kind = kind_of(c);
  auto patch = parse_body(c.req);
  if (!patch) return patch.error();
  auto password = take_password(kind, *patch, false);
  if (!password) return password.error();
  // The record's feeds, looked up before taking the write lock: a write that moves nothing
  // between feeds (most edits) holds it only for the write itself.
  auto holders = sync::prefetch_holders(c.api.store(), c.me().org_id, kind, c.path.at("id"));
  if (!holders) return holders.error();
  json::object out;
  auto st = c.api.store().write([&](WriteTx& tx) -> Status {
    auto found = find_visible(c, kind, tx);
    if (!found) return found.error();
    const Record& before = *found;
    // JSON merge patch (RFC 7396) over the stored fields; null removes a field.
    json::object merged = before.body;
    json::value uses = merged.contains("uses") ? merged.at("uses") : json::value();
    merged.erase("uses");
    for (const auto& kv : *patch) {
      if (kv.value().is_null())
        merged.erase(kv.key());
      else
        merged[kv.key()] = kv.value();
    }
    auto fields = validate(kind, merged, c.me().org_id, tx);
    if (!fields) return fields.error();
    if (auto s = check_write(c.me(), kind, &before.body, &*fields, tx); !s) return s;
    if (kind == Kind::user)
      if (auto s = check_user_change(c.me(), before.id, password->has_value(), tx); !s) return s;
    if (kind == Kind::user)
      if (auto s = keep_an_owner(c, before, &*fields, tx); !s) return s;
    Record after = before;
    after.body = std::move(*fields);
    if (!uses.is_null()) after.body["uses"] = uses;
    after.version = before.version + 1;
    after.updated_at = now_text(c);
    sync::ChangeRecorder rec(tx, after.org_id, unix_now(c));
    rec.use(std::move(*holders));
    if (auto s = rec.write(&before, &after); !s) return s;
    std::optional<Revocation> revoke;
    if (kind == Kind::user) {
      bool disabled = bool_field(after.body, "disabled");
      // A new password or a disabled account ends every session of that user.
      if (*password || disabled)
        if (auto s = tx.revoke_tokens(after.id); !s) return s;
      if (*password)
        if (auto s = tx.set_password(after.id, **password); !s) return s;
      // So does a change of what she may read: her live sessions reconnect with new rights.
      bool rights = before.body.at("role") != after.body.at("role") ||
                    before.body.at("site_ids") != after.body.at("site_ids");
      if (disabled || *password || rights)
        revoke = Revocation{after.id, "", "",
                            disabled    ? "user_disabled"
                            : *password ? "credentials_changed"
                                        : "rights_changed"};
    }
    if (kind == Kind::grant) {  // a guest's last grant ended early: so does her invitation
      auto ended = end_invitation_after(tx, c, before.body, &after.body);
      if (!ended) return ended.error();
      revoke = std::move(*ended);
    }
    out = to_json(after);
    if (auto s = audit_change(tx, c, "updated", after, to_json(before), out); !s) return s;
    return commit_changes(tx, c, rec, revoke);
  });
  if (!st) return st.error();
  return json_response(200, out);
}

Result<Response> delete_record(Ctx& c) {
  Kind kind = kind_of(c);
  auto st = c.api.store().write([&](WriteTx& tx) -> Status {
    auto found = find_visible(c, kind, tx);
    if (!found) return found.error();
    const Record& r = *found;
    if (auto s = check_write(c.me(), kind, &r.body, nullptr, tx); !s) return s;
    if (kind == Kind::user)
      if (auto s = check_user_change(c.me(), r.id, false, tx); !s) return s;
    sync::ChangeRecorder rec(tx, r.org_id, unix_now(c));
    if (kind == Kind::user) {
      if (auto s = keep_an_owner(c, r, nullptr, tx); !s) return s;
      // A person removed loses her grants with her.
      auto gs = tx.list_by(Kind::grant, r.org_id, "user_id", r.id);
      if (!gs) return gs.error();
      for (const auto& g : *gs) {
        if (auto s = rec.write(&g, nullptr); !s) return s;
        if (auto s = audit_change(tx, c, "deleted", g, to_json(g), nullptr); !s) return s;
      }
    } else if (auto s = check_unreferenced(r, tx); !s) {
      return s;
    }
    if (kind == Kind::group) {
      // Its members leave it first (each an update of the member, in the audit log).
      auto members = tx.list_by(Kind::user, r.org_id, "group_ids", r.id);
      if (!members) return members.error();
      for (const auto& m : *members) {
        Record after = m;
        json::array kept;
        for (const auto& g : m.body.at("group_ids").as_array())
          if (g.as_string() != r.id) kept.push_back(g);
        after.body["group_ids"] = std::move(kept);
        after.version = m.version + 1;
        after.updated_at = now_text(c);
        if (auto s = rec.write(&m, &after); !s) return s;
        if (auto s = audit_change(tx, c, "updated", after, to_json(m), to_json(after)); !s)
          return s;
      }
    }
    if (auto s = rec.write(&r, nullptr); !s) return s;
    if (auto s = audit_change(tx, c, "deleted", r, to_json(r), nullptr); !s) return s;
    std::optional<Revocation> revoke;
    if (kind == Kind::user) revoke = Revocation{r.id, "", "", "user_deleted"};
    if (kind == Kind::unit) revoke = Revocation{"", r.id, "", "unit_deleted"};
    if (kind == Kind::grant) {  // a guest's last grant: her invitation ends with it
      auto ended = end_invitation_after(tx, c, r.body, nullptr);
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
