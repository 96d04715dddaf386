// POST /v1/auth/login, POST /v1/auth/logout, GET /v1/me.
#include <cctype>

#include "server/api_internal.hpp"
#include "server/crypto.hpp"

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

  std::string account(email->as_string());
  for (auto& ch : account) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  account = "account:" + account;
  std::string address = "address:" + c.req.peer;
  auto now = std::chrono::steady_clock::now();
  auto wait = std::max(c.api.account_limiter().retry_after(account, now),
                       c.api.address_limiter().retry_after(address, now));
  if (wait > std::chrono::steady_clock::duration::zero()) return too_many(wait);

  auto creds = c.api.store().find_credentials(std::string(email->as_string()));
  if (!creds) return creds.error();
  // Unknown emails cost the same argon2id verification as known ones.
  const std::string& hash = *creds ? (*creds)->password_hash : c.api.dummy_hash();
  bool good = verify_password(hash, std::string(password->as_string())) && creds->has_value();
  if (!good) {
    c.api.account_limiter().record_failure(account, now);
    c.api.address_limiter().record_failure(address, now);
    return Error{401, "invalid_credentials", "wrong email or password", ""};
  }
  c.api.account_limiter().reset(account);
  const Record& user = (*creds)->user;
  if (auto d = user.body.find("disabled");
      d != user.body.end() && d->value().is_bool() && d->value().as_bool())
    return Error{403, "user_disabled", "this account is disabled; ask an admin", ""};

  std::string token = new_token();
  auto expires = c.api.now() + c.api.options().token_ttl;
  if (auto s = c.api.store().create_token(token_hash(token), user.id,
                                          expires.time_since_epoch().count());
      !s)
    return s.error();
  return json_response(
      200, json::object{
               {"token", token}, {"expires_at", format_rfc3339(expires)}, {"user", to_json(user)}});
}

Result<Response> logout(Ctx& c) {
  if (auto s = c.api.store().delete_token(c.me().token_hash); !s) return s.error();
  c.api.bus().publish_revocation(Revocation{"", "", c.me().token_hash, "logged_out"});
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
