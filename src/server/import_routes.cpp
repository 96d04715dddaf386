// POST /v1/import: groups, users and grants in one request (JSON lines), all or nothing; and
// POST /v1/auth/code: signing in once with a code instead of a password (imported people,
// invited guests).
#include <cctype>

#include "core/error_body.hpp"
#include "core/fields.hpp"
#include "crypto/crypto.hpp"
#include "server/invitations.hpp"
#include "server/policy.hpp"
#include "server/validate.hpp"

namespace portier::api {
namespace {

constexpr std::size_t kMaxLines = 100'000;
constexpr std::size_t kMaxPasswords = 100;  // argon2id runs at ~20 per second per core
constexpr std::size_t kMaxErrors = 100;
constexpr std::size_t kMaxLineBytes = 64 * 1024;

struct Row {
  std::size_t line = 0;
  json::object body;
  std::string kind;
  std::optional<std::string> password_hash;
};

struct RowError {
  std::size_t line;
  Error error;
};

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// The lines of the body, parsed; a malformed line is an error of its own.
void parse_lines(const std::string& text, std::vector<Row>& rows, std::vector<RowError>& errors) {
  std::size_t pos = 0, line = 0;
  while (pos < text.size() && errors.size() < kMaxErrors) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string_view l(text.data() + pos, nl - pos);
    pos = nl + 1;
    ++line;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (l.size() > kMaxLineBytes) {
      errors.push_back({line, Error{400, "line_too_long", "a line has at most 64 KiB", ""}});
      continue;
    }
    json::parse_options opt;
    opt.max_depth = 8;
    boost::system::error_code ec;
    auto v = json::parse(l, ec, {}, opt);
    if (ec || !v.is_object()) {
      errors.push_back({line, Error{400, "bad_json", "a line is one JSON object", ""}});
      continue;
    }
    auto& o = v.as_object();
    std::string kind = str_field(o, "kind");
    if (kind != "group" && kind != "user" && kind != "grant") {
      errors.push_back({line, Error{422, "unknown_kind", "kind is group, user or grant", "kind"}});
      continue;
    }
    o.erase("kind");
    rows.push_back(Row{line, std::move(o), kind, std::nullopt});
  }
}

json::object row_error(const RowError& e) {
  return json::object{{"line", e.line},
                      {"code", e.error.code},
                      {"message", e.error.message},
                      {"field", e.error.field}};
}

}  // namespace

Result<Response> import_rows(Ctx& c) {
  if (!c.me().is_admin() || c.me().scoped())
    return forbidden("only owners and organization-wide admins import");
  std::string_view ct = c.req.content_type;
  ct = ct.substr(0, ct.find(';'));
  if (lower(std::string(ct)) != "application/x-ndjson")
    return Error{415, "unsupported_media_type",
                 "send one JSON object per line as Content-Type: application/x-ndjson", ""};
  std::vector<Row> rows;
  std::vector<RowError> errors;
  parse_lines(c.req.body, rows, errors);
  if (rows.size() + errors.size() > kMaxLines)
    return Error{413, "too_many_rows", "an import has at most 100000 lines; split it", ""};
  if (rows.empty() && errors.empty()) return bad_request("empty_import", "the body holds no lines");
  // Passwords are hashed before the write (argon2id is slow): few per import.
  std::size_t passwords = 0;
  for (auto& r : rows) {
    auto it = r.body.find("password");
    if (r.kind != "user" || it == r.body.end()) continue;
    if (++passwords > kMaxPasswords)
      return Error{422, "too_many_passwords",
                   "an import sets at most 100 passwords (hashing is deliberately slow); give "
                   "the others sign_in codes",
                   ""};
    if (auto s = validate_password(it->value()); !s) {
      errors.push_back({r.line, s.error()});
      continue;
    }
    auto hash = hash_password(std::string(it->value().as_string()));
    if (hash.empty()) return Error{503, "busy", "could not hash a password; try again", ""};
    r.password_hash = std::move(hash);
  }

  json::array out_rows;
  std::size_t groups = 0, users = 0, grants = 0;
  Instant now = c.api.now();
  std::int64_t code_expiry = (now + c.api.options().signin_code_ttl).time_since_epoch().count();
  auto st = c.api.store().write([&](WriteTx& tx) -> Status {
    const auto& org = c.me().org_id;
    std::string at = now_text(c);
    sync::ChangeRecorder rec(tx, org, now.time_since_epoch().count());
    std::map<std::string, std::string> by_email, by_name;  // made by this import, lower case
    // A user named by email (or id), made here or already there.
    auto user_ref = [&](const json::object& b) -> Result<std::string> {
      if (auto id = str_field(b, "user_id"); !id.empty()) return id;
      std::string email = lower(str_field(b, "user"));
      if (auto it = by_email.find(email); it != by_email.end()) return it->second;
      auto found = tx.list_by(Kind::user, org, "email", email);
      if (!found) return found.error();
      if (found->empty())
        return invalid("user", "invalid_reference", "no user with email " + email);
      return found->front().id;
    };
    auto group_ref = [&](const std::string& name, const char* field) -> Result<std::string> {
      if (auto it = by_name.find(lower(name)); it != by_name.end()) return it->second;
      auto found = tx.list_by(Kind::group, org, "name", name);
      if (!found) return found.error();
      if (found->empty()) return invalid(field, "invalid_reference", "no group named " + name);
      return found->front().id;
    };
    auto add = [&](const Row& row) -> Result<json::object> {
      Kind kind = row.kind == "group" ? Kind::group : row.kind == "user" ? Kind::user : Kind::grant;
      json::object b = row.body;
      bool sign_in = false;
      if (kind == Kind::user) {
        if (auto s = b.find("sign_in"); s != b.end()) {
          if (!s->value().is_bool())
            return invalid("sign_in", "invalid_field", "sign_in is true or false");
          sign_in = s->value().as_bool();
          b.erase("sign_in");
        }
        b.erase("password");
        if (auto g = b.find("groups"); g != b.end()) {
          if (!g->value().is_array())
            return invalid("groups", "invalid_field", "groups is a list of group names");
          json::array ids = b.contains("group_ids") && b.at("group_ids").is_array()
                                ? b.at("group_ids").as_array()
                                : json::array();
          for (const auto& name : g->value().as_array()) {
            if (!name.is_string())
              return invalid("groups", "invalid_field", "groups is a list of group names");
            auto id = group_ref(std::string(name.as_string()), "groups");
            if (!id) return id.error();
            ids.emplace_back(*id);
          }
          b.erase("groups");
          b["group_ids"] = std::move(ids);
        }
      } else if (kind == Kind::grant) {
        if (b.contains("user") || b.contains("user_id")) {
          if (b.contains("user") && !b.at("user").is_string())
            return invalid("user", "invalid_field", "user is an email");
          auto id = user_ref(b);
          if (!id) return id.error();
          b.erase("user");
          b["user_id"] = *id;
        }
        if (auto g = b.find("group"); g != b.end()) {
          if (!g->value().is_string())
            return invalid("group", "invalid_field", "group is a group's name");
          auto id = group_ref(std::string(g->value().as_string()), "group");
          if (!id) return id.error();
          b.erase("group");
          b["group_id"] = *id;
        }
      }
      auto fields = validate(kind, b, org, tx);
      if (!fields) return fields.error();
      if (auto s = check_write(c.me(), kind, nullptr, &*fields, tx); !s) return s.error();
      Record r{kind, new_id(kind_id_prefix(kind)), org, std::move(*fields), 1, at, at};
      if (kind == Kind::grant) r.body["uses"] = 0;
      if (auto s = rec.write(nullptr, &r); !s) return s.error();
      if (row.password_hash)
        if (auto s = tx.set_password(r.id, *row.password_hash); !s) return s.error();
      json::object out{{"line", row.line}, {"kind", row.kind}, {"id", r.id}};
      if (sign_in) {
        std::string code = "psi_" + new_token().substr(4);
        if (auto s = tx.add_signin_code(token_hash(code), r.id, code_expiry); !s) return s.error();
        out["sign_in_code"] = code;
      }
      if (kind == Kind::user) by_email[lower(str_field(r.body, "email"))] = r.id;
      if (kind == Kind::group) by_name[lower(str_field(r.body, "name"))] = r.id;
      (kind == Kind::group ? groups : kind == Kind::user ? users : grants) += 1;
      if (auto s = audit_change(tx, c, "created", r, nullptr, to_json(r)); !s) return s.error();
      return out;
    };
    for (const auto& row : rows) {
      if (errors.size() >= kMaxErrors) break;
      auto r = add(row);
      if (!r) {
        // Store failures end the import; a row's own error is reported with the others.
        if (r.error().status >= 500) return r.error();
        errors.push_back({row.line, r.error()});
        continue;
      }
      out_rows.push_back(std::move(*r));
    }
    if (!errors.empty()) return Error{422, "import_invalid", "", ""};
    return commit_changes(tx, c, rec);
  });
  if (!st && st.error().code != "import_invalid") return st.error();
  if (!errors.empty()) {
    std::sort(errors.begin(), errors.end(),
              [](const RowError& a, const RowError& b) { return a.line < b.line; });
    json::array rows_out;
    for (const auto& e : errors) rows_out.push_back(row_error(e));
    auto body = error_body("import_invalid", std::to_string(errors.size()) +
                                                 (errors.size() >= kMaxErrors ? "+" : "") +
                                                 " line(s) have errors; nothing was imported");
    body["error"].as_object()["rows"] = std::move(rows_out);
    return json_response(422, body);
  }
  // Statistics for the planner as the organization grows by thousands at once.
  if (rows.size() >= 1000) (void)c.api.store().optimize();
  return json_response(
      200, json::object{
               {"created", json::object{{"groups", groups}, {"users", users}, {"grants", grants}}},
               {"rows", std::move(out_rows)}});
}

Result<Response> sign_in_with_code(Ctx& c) {
  auto body = parse_body(c.req);
  if (!body) return body.error();
  const auto* code = body->if_contains("code");
  if (!code || !code->is_string() || code->as_string().empty() || code->as_string().size() > 100)
    return invalid("code", "required", "code is required");
  std::string key = "address:" + c.req.peer;
  auto now = std::chrono::steady_clock::now();
  if (auto wait = c.api.address_limiter().retry_after(key, now); wait > std::chrono::seconds(0)) {
    auto secs = std::chrono::ceil<std::chrono::seconds>(wait).count();
    auto r =
        error_response(Error{429, "rate_limited", "too many failed sign-ins; try again later", ""});
    r.headers.emplace_back("Retry-After", std::to_string(secs));
    return r;
  }
  std::string token = new_token();
  auto expires = c.api.now() + c.api.options().token_ttl;
  auto info = c.api.store().redeem_signin_code(
      token_hash(std::string(code->as_string())), token_hash(token),
      expires.time_since_epoch().count(), c.api.now().time_since_epoch().count());
  if (!info) {
    if (info.error().status < 500) c.api.address_limiter().record_failure(key, now);
    return info.error();
  }
  json::object user;
  bool disabled = false;
  std::optional<GuestAccess> guest;
  auto st = c.api.store().read([&](ReadTx& tx) -> Status {
    auto u = tx.get(Kind::user, info->org_id, info->user_id);
    if (!u) return u.error();
    if (!*u) return Error{404, "code_invalid", "the account no longer exists", "code"};
    disabled = bool_field((*u)->body, "disabled");
    if (is_guest((*u)->body)) {
      auto access = guest_access(tx, info->org_id, info->user_id, c.api.now());
      if (!access) return access.error();
      guest = *access;
    }
    user = to_json(**u);
    return ok();
  });
  if (!st) return st.error();
  if (disabled) {
    (void)c.api.store().delete_token(token_hash(token));
    return Error{403, "user_disabled", "this account is disabled; ask an admin", ""};
  }
  if (guest && !guest->active) {
    (void)c.api.store().delete_token(token_hash(token));
    return Error{410, kInvitationEnded, "this invitation has ended; ask for a new one", "code"};
  }
  // A guest's session lasts as long as her invitation (longer than a token's usual 30 days if
  // it runs longer; never past its end: the sweeper revokes it then).
  if (guest && guest->ends) {
    if (*guest->ends > expires) {
      auto s = c.api.store().write([&](WriteTx& tx) {
        return tx.set_token_expiry(token_hash(token), guest->ends->time_since_epoch().count());
      });
      if (!s) return s.error();
    }
    expires = *guest->ends;
  }
  return json_response(200, json::object{{"token", token},
                                         {"expires_at", format_rfc3339(expires)},
                                         {"user", std::move(user)}});
}

}  // namespace portier::api
