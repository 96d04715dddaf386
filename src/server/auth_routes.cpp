// POST /v1/auth/login, POST /v1/auth/logout, GET /v1/me, and the audit entries they leave.
#include <spdlog/spdlog.h>

#include <cctype>

#include "core/fields.hpp"
#include "crypto/crypto.hpp"
#include "server/api_internal.hpp"

namespace portier::api {
namespace {

Response too_many(std::chrono::steady_clock::duration wait) {
  auto secs = std::chrono::ceil<std::chrono::seconds>(wait).count();
  auto r = error_response(
      Error{429, "rate_limited",
            "too many failed logins; try again in " + std::to_string(secs) + " s", ""});
  r.headers.emplace_back("Retry-After", std::to_string(secs));
  return r;
}

}  // namespace

std::string truncate_utf8(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // mid-character
  return std::string(s.substr(0, n));
}

void audit_auth(const Ctx& c, const std::string& org, const std::string& actor,
                const std::string& action, const std::string& entity, json::value after) {
  auto s = c.api.store().write([&](WriteTx& tx) {
    return tx.append_audit(AuditEntry{0, org, now_text(c), c.api.now().time_since_epoch().count(),
                                      actor, action, entity, "", nullptr, std::move(after)});
  });
  if (!s) spdlog::warn("audit {}: {}", action, s.error().message);
}

Result<Response> login(Ctx& c) {
  auto body = parse_body(c.req);
  if (!body) return body.error();
  const auto* email = body->if_contains("email");
  const auto* password = body->if_contains("password");
  if (!email || !email->is_string() || email->as_string().empty() ||
      email->as_string().size() > 254)
    return invalid("email", "required", "email is required");
  if (!password || !password->is_string() || password->as_string().size() > 1024)
    return invalid("password", "required", "password is required");

  std::string given(email->as_string());
  std::string account = given;
  for (auto& ch : account) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  account = "account:" + account;
  std::string address = "address:" + c.req.peer;
  // The attempt counts before the (slow) password check, so concurrent guesses cannot all
  // pass the limit; a success takes it back.
  auto now = std::chrono::steady_clock::now();
  auto& accounts = c.api.account_limiter();
  auto& addresses = c.api.address_limiter();
  auto by_account = accounts.admit(account, now);
  if (by_account.retry_after > std::chrono::steady_clock::duration::zero())
    return too_many(by_account.retry_after);
  auto by_address = addresses.admit(address, now);
  if (by_address.retry_after > std::chrono::steady_clock::duration::zero()) {
    accounts.forgive(account, now);
    return too_many(by_address.retry_after);
  }

  auto creds = c.api.store().find_credentials(given);
  if (!creds) {
    accounts.forgive(account, now);
    addresses.forgive(address, now);
    return creds.error();
  }
  // Unknown emails cost the same argon2id verification as known ones.
  const std::string& hash = *creds ? (*creds)->password_hash : c.api.dummy_hash();
  bool good = verify_password(hash, std::string(password->as_string())) && creds->has_value();
  // Failures of unknown emails belong to no organization: they are kept server-wide.
  std::string org = *creds ? (*creds)->user.org_id : "", user_id = *creds ? (*creds)->user.id : "";
  json::object seen{{"email", truncate_utf8(given, 100)}, {"address", c.req.peer}};
  if (!good) {
    auto failed = seen;
    failed["reason"] = *creds ? "wrong_password" : "unknown_email";
    audit_auth(c, org, "", "auth.login_failed", user_id, failed);
    if (by_account.left == 0) {
      auto locked = seen;
      locked["scope"] = "account";
      audit_auth(c, org, "", "auth.locked_out", user_id, locked);
    }
    if (by_address.left == 0)
      audit_auth(c, "", "", "auth.locked_out", "",
                 json::object{{"scope", "address"}, {"address", c.req.peer}});
    return Error{401, "invalid_credentials", "wrong email or password", ""};
  }
  accounts.reset(account);
  addresses.forgive(address, now);
  const Record& user = (*creds)->user;
  if (bool_field(user.body, "disabled")) {
    seen["reason"] = "user_disabled";
    audit_auth(c, org, user.id, "auth.login_failed", user.id, seen);
    return Error{403, "user_disabled", "this account is disabled; ask an admin", ""};
  }

  std::string token = new_token();
  auto expires = c.api.now() + c.api.options().token_ttl;
  if (auto s = c.api.store().create_token(token_hash(token), user.id,
                                          expires.time_since_epoch().count());
      !s)
    return s.error();
  audit_auth(c, org, user.id, "auth.login", user.id, seen);
  return json_response(
      200, json::object{
               {"token", token}, {"expires_at", format_rfc3339(expires)}, {"user", to_json(user)}});
}

Result<Response> logout(Ctx& c) {
  if (auto s = c.api.store().delete_token(c.me().token_hash); !s) return s.error();
  c.api.bus().publish_revocation(Revocation{"", "", c.me().token_hash, "logged_out"});
  audit_auth(c, c.me().org_id, c.me().id, "auth.logout", c.me().id,
             json::object{{"address", c.req.peer}});
  Response r;
  r.status = 204;
  return r;
}

Result<Response> me(Ctx& c) {
  json::object org;
  auto st = c.api.store().read([&](ReadTx& tx) -> Status {
    auto o = tx.org(c.me().org_id);
    if (!o) return o.error();
    if (*o) org = json::object{{"id", (*o)->id}, {"name", (*o)->name}};
    return ok();
  });
  if (!st) return st.error();
  return json_response(200, json::object{{"user", to_json(c.me().user)}, {"org", org}});
}

}  // namespace portier::api
