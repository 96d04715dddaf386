// POST /v1/me/password: a person changes her own password (members included).
#include <cctype>

#include "core/fields.hpp"
#include "crypto/crypto.hpp"
#include "server/api_internal.hpp"
#include "server/validate.hpp"

namespace portier::api {

Result<Response> change_password(Ctx& c) {
  auto body = parse_body(c.req);
  if (!body) return body.error();
  for (const auto& kv : *body)
    if (kv.key() != "current_password" && kv.key() != "new_password")
      return invalid(
          std::string(kv.key()), "unknown_field",
          "unknown field " + std::string(kv.key()) + "; send current_password and new_password");
  const auto* current = body->if_contains("current_password");
  const auto* next = body->if_contains("new_password");
  if (!current || !current->is_string() || current->as_string().empty() ||
      current->as_string().size() > 1024)
    return invalid("current_password", "required", "current_password is required");
  if (!next) return invalid("new_password", "required", "new_password is required");
  if (auto s = validate_password(*next); !s) {
    auto e = s.error();
    e.field = "new_password";
    e.message = e.code == "weak_password" ? "the new password needs 8 to 1024 characters"
                                          : "new_password is a string";
    return e;
  }

  // Guessing the current password here is limited like logins, per account and address.
  const std::string email(str_field(c.me().user.body, "email"));
  std::string account = "account:" + email;
  for (auto& ch : account) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::string address = "address:" + c.req.peer;
  auto now = std::chrono::steady_clock::now();
  auto wait = std::max(c.api.account_limiter().retry_after(account, now),
                       c.api.address_limiter().retry_after(address, now));
  if (wait > std::chrono::steady_clock::duration::zero()) {
    auto secs = std::chrono::ceil<std::chrono::seconds>(wait).count();
    return Error{429, "rate_limited",
                 "too many wrong passwords; try again in " + std::to_string(secs) + " s", ""};
  }
  auto creds = c.api.store().find_credentials(email);
  if (!creds) return creds.error();
  if (!*creds || (*creds)->user.id != c.me().id ||
      !verify_password((*creds)->password_hash, std::string(current->as_string()))) {
    c.api.account_limiter().record_failure(account, now);
    c.api.address_limiter().record_failure(address, now);
    // Not 401: the session is fine, only the password typed is wrong.
    return invalid("current_password", "wrong_password", "the current password is wrong");
  }
  std::string hash = hash_password(std::string(next->as_string()));
  if (hash.empty()) return Error{503, "busy", "could not hash the password; try again", ""};

  const std::string user_id = c.me().id;
  auto st = c.api.store().write([&](WriteTx& tx) -> Status {
    if (auto s = tx.set_password(user_id, hash); !s) return s;
    // Every session of hers ends (other phones, other browsers); this one gets a new token.
    if (auto s = tx.revoke_tokens(user_id); !s) return s;
    AuditEntry e;
    e.org_id = c.me().org_id;
    e.at = now_text(c);
    e.at_unix = c.api.now().time_since_epoch().count();
    e.actor_id = user_id;
    e.action = "user.password_changed";
    e.entity_id = user_id;
    e.before = nullptr;
    e.after = nullptr;
    if (auto s = tx.append_audit(e); !s) return s;
    Bus& bus = c.api.bus();
    tx.on_commit([&bus, user_id] {
      bus.publish_revocation(Revocation{user_id, "", "", "credentials_changed"});
    });
    return ok();
  });
  if (!st) return st.error();
  std::string token = new_token();
  auto expires = c.api.now() + c.api.options().token_ttl;
  if (auto s = c.api.store().create_token(token_hash(token), user_id,
                                          expires.time_since_epoch().count());
      !s)
    return s.error();
  return json_response(200, json::object{{"token", token},
                                         {"expires_at", format_rfc3339(expires)},
                                         {"user", to_json(c.me().user)}});
}

}  // namespace portier::api
