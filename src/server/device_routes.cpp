// GET /v1/devices (delivery receipts) and POST /v1/units/{id}/credentials.
#include "crypto/crypto.hpp"
#include "server/policy.hpp"

namespace portier::api {

namespace {

// Cursors name the last device's registry key, which holds the device's own id (any
// characters): hex keeps them opaque and safe in a query string.
std::string to_hex(const std::string& s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char ch : s) {
    out += digits[ch >> 4];
    out += digits[ch & 15];
  }
  return out;
}

std::optional<std::string> from_hex(const std::string& s) {
  auto nibble = [](char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
  };
  // A key is an identity id, '/', and a device id of at most 100 bytes.
  if (s.size() % 2 != 0 || s.size() > 1024) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < s.size(); i += 2) {
    int hi = nibble(s[i]), lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

Result<Response> list_devices(Ctx& c) {
  if (!c.me().is_admin()) return forbidden("only admins see devices");
  auto page = parse_page(c);
  if (!page) return page.error();
  auto after = from_hex(page->cursor);
  if (!after)
    return bad_request("invalid_parameter", "cursor is a value from next_cursor", "cursor");
  // A scoped admin sees the devices reading her sites' feeds, and her own.
  DeviceFilter filter;
  if (c.me().scoped()) {
    filter.everything = false;
    filter.site_ids = c.me().site_ids;
    filter.user_id = c.me().id;
  }
  auto devices = c.api.devices() ? c.api.devices()->list(c.me().org_id, filter, *after, page->limit,
                                                         c.api.now())
                                 : DevicePage{};
  json::array items;
  auto st = c.api.store().read([&](ReadTx& tx) -> Status {
    for (const auto& d : devices.items) {
      json::array feeds;
      bool current = true;
      for (const auto& [name, f] : d.feeds) {
        auto head = tx.feed_head(name);
        if (!head) return head.error();
        std::int64_t behind =
            f.epoch == head->epoch ? std::max<std::int64_t>(0, head->seq - f.acked_seq) : head->seq;
        current = current && behind == 0;
        feeds.push_back(json::object{{"feed", name},
                                     {"acked_seq", f.acked_seq},
                                     {"latest_seq", head->seq},
                                     {"behind", behind}});
      }
      items.push_back(json::object{
          {"id", d.id},
          {"kind", d.kind},
          {"name", d.name},
          {"user_id", d.user_id.empty() ? json::value(nullptr) : json::value(d.user_id)},
          {"unit_id", d.unit_id.empty() ? json::value(nullptr) : json::value(d.unit_id)},
          {"connected", d.connections > 0},
          {"last_seen", format_rfc3339(d.last_seen)},
          {"up_to_date", current},
          {"feeds", std::move(feeds)}});
    }
    return ok();
  });
  if (!st) return st.error();
  json::value next = nullptr;
  if (devices.more && !devices.items.empty()) next = to_hex(devices.items.back().key);
  return json_response(200, json::object{{"items", std::move(items)}, {"next_cursor", next}});
}

namespace {

// 404 unless the caller sees the unit, 403 unless she may manage it.
Status check_unit_admin(Ctx& c, const std::string& id) {
  return c.api.store().read([&](ReadTx& tx) -> Status {
    auto unit = tx.get(Kind::unit, c.me().org_id, id);
    if (!unit) return unit.error();
    auto view = View::load(c.me(), tx);
    if (!view) return view.error();
    if (!*unit || !view->visible(**unit)) return not_found("unit");
    return check_write(c.me(), Kind::unit, &(*unit)->body, &(*unit)->body, tx);
  });
}

Status audit_unit(Store& store, const std::string& org, const std::string& actor,
                  const std::string& unit, const std::string& action, Instant now) {
  return store.write([&](WriteTx& tx) {
    return tx.append_audit(AuditEntry{0, org, format_rfc3339(now), now.time_since_epoch().count(),
                                      actor, "unit." + action, unit, "", nullptr, nullptr});
  });
}

}  // namespace

Result<Response> unit_credentials(Ctx& c) {
  const auto& id = c.path.at("id");
  if (auto s = check_unit_admin(c, id); !s) return s.error();
  std::string token = "ptu_" + new_token().substr(4);
  if (auto s = c.api.store().set_unit_credential(id, token_hash(token),
                                                 c.api.now().time_since_epoch().count());
      !s)
    return s.error();
  // The old credential is dead: so are the sessions that used it.
  c.api.bus().publish_revocation(Revocation{"", id, "", "credentials_changed"});
  if (auto s = audit_unit(c.api.store(), c.me().org_id, c.me().id, id, "credentials_issued",
                          c.api.now());
      !s)
    return s.error();
  return json_response(201, json::object{{"unit_id", id}, {"token", token}});
}

Result<Response> revoke_unit(Ctx& c) {
  const auto& id = c.path.at("id");
  if (auto s = check_unit_admin(c, id); !s) return s.error();
  if (auto s = c.api.store().revoke_unit_credential(id); !s) return s.error();
  c.api.bus().publish_revocation(Revocation{"", id, "", "unit_revoked"});
  if (auto s = audit_unit(c.api.store(), c.me().org_id, c.me().id, id, "credentials_revoked",
                          c.api.now());
      !s)
    return s.error();
  Response r;
  r.status = 204;
  return r;
}

Result<Response> unit_enrollment(Ctx& c) {
  const auto& id = c.path.at("id");
  std::int64_t ttl = 24 * 3600;
  if (!c.req.body.empty()) {
    auto body = parse_body(c.req);
    if (!body) return body.error();
    for (const auto& kv : *body)
      if (kv.key() != "ttl_seconds")
        return invalid(std::string(kv.key()), "unknown_field", "unknown field");
    if (auto* t = body->if_contains("ttl_seconds")) {
      if (!t->is_int64() || t->as_int64() < 1 || t->as_int64() > 7 * 24 * 3600)
        return invalid("ttl_seconds", "invalid_field", "ttl_seconds is 1 to 604800");
      ttl = t->as_int64();
    }
  }
  if (auto s = check_unit_admin(c, id); !s) return s.error();
  std::string code = new_enrollment_code();
  auto expires = c.api.now() + std::chrono::seconds(ttl);
  if (auto s = c.api.store().create_enrollment_code(id, token_hash(normalize_code(code)),
                                                    expires.time_since_epoch().count());
      !s)
    return s.error();
  if (auto s =
          audit_unit(c.api.store(), c.me().org_id, c.me().id, id, "enrollment_issued", c.api.now());
      !s)
    return s.error();
  return json_response(
      201, json::object{{"unit_id", id}, {"code", code}, {"expires_at", format_rfc3339(expires)}});
}

Result<Response> enroll(Ctx& c) {
  auto body = parse_body(c.req);
  if (!body) return body.error();
  const auto* code = body->if_contains("code");
  if (!code || !code->is_string()) return invalid("code", "required", "code is required");
  // Guessing codes is throttled like guessing passwords; the attempt counts before the code is
  // looked up, so concurrent guesses cannot pass the limit.
  std::string key = "enroll:" + c.req.peer;
  auto now = std::chrono::steady_clock::now();
  auto admitted = c.api.address_limiter().admit(key, now);
  if (admitted.retry_after > std::chrono::seconds(0)) {
    auto secs = std::chrono::ceil<std::chrono::seconds>(admitted.retry_after).count();
    auto r = error_response(
        Error{429, "rate_limited", "too many failed enrollments; try again later", ""});
    r.headers.emplace_back("Retry-After", std::to_string(secs));
    return r;
  }
  std::string normalized = normalize_code(std::string(code->as_string()));
  std::string token = "ptu_" + new_token().substr(4);
  auto unit =
      normalized.empty()
          ? Result<UnitCredential>(Error{404, "code_invalid", "no such enrollment code", "code"})
          : c.api.store().redeem_enrollment_code(token_hash(normalized), token_hash(token),
                                                 c.api.now().time_since_epoch().count());
  if (!unit) {
    if (unit.error().status >= 500) {
      c.api.address_limiter().forgive(key, now);
      return unit.error();
    }
    // Which unit a used or expired code was for, the store does not say: kept server-wide.
    audit_auth(c, "", "", "unit.enroll_failed", "",
               json::object{{"reason", unit.error().code}, {"address", c.req.peer}});
    if (admitted.left == 0)
      audit_auth(c, "", "", "auth.locked_out", "",
                 json::object{{"scope", "enrollment"}, {"address", c.req.peer}});
    return unit.error();
  }
  c.api.address_limiter().forgive(key, now);
  c.api.bus().publish_revocation(Revocation{"", unit->unit_id, "", "credentials_changed"});
  if (auto s = audit_unit(c.api.store(), unit->org_id, unit->unit_id, unit->unit_id, "enrolled",
                          c.api.now());
      !s)
    return s.error();
  return json_response(200, json::object{{"unit_id", unit->unit_id}, {"token", token}});
}

}  // namespace portier::api
