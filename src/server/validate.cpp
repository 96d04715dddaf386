#include "server/validate.hpp"

#include <boost/json.hpp>
#include <set>

#include "core/schedule.hpp"
#include "core/time.hpp"

namespace portier {
namespace json = boost::json;
namespace {

// Whether text holds a character that has no place in a name or an address: C0 and C1
// controls (NUL, newlines, escapes), DEL, line and paragraph separators, and the bidi
// embeddings, overrides and isolates that make a name display as something it is not.
// The text is valid UTF-8 (the JSON parser checked).
bool has_forbidden_characters(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    char32_t cp;
    std::size_t n;
    if (b < 0x80) {
      cp = b, n = 1;
    } else if ((b & 0xE0) == 0xC0) {
      cp = b & 0x1F, n = 2;
    } else if ((b & 0xF0) == 0xE0) {
      cp = b & 0x0F, n = 3;
    } else {
      cp = b & 0x07, n = 4;
    }
    if (i + n > s.size()) return true;
    for (std::size_t k = 1; k < n; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
        (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
      return true;
    i += n;
  }
  return false;
}

// Reads fields off one body, remembering the first error.
class Fields {
 public:
  Fields(const json::object& in, std::initializer_list<const char*> allowed) : in_(in) {
    for (const auto& kv : in) {
      bool known = false;
      for (const char* a : allowed) known = known || kv.key() == a;
      if (!known && !err_) {
        static const std::set<std::string, std::less<>> read_only = {"id", "version", "created_at",
                                                                     "updated_at", "uses"};
        std::string k(kv.key());
        err_ = read_only.count(k)
                   ? invalid(k, "read_only", k + " is set by the server and cannot be written")
                   : invalid(k, "unknown_field", "unknown field " + k);
      }
    }
  }

  // A required (or optional) string of 1..max characters.
  void text(const char* key, bool required, std::size_t max = 200) {
    const json::value* v = find(key);
    if (!v) return missing(key, required);
    if (!v->is_string()) return fail(key, "invalid_field", std::string(key) + " is a string");
    auto s = v->as_string();
    if (s.empty() || s.size() > max)
      return fail(key, "invalid_field",
                  std::string(key) + " needs 1 to " + std::to_string(max) + " characters");
    if (has_forbidden_characters(s))
      return fail(key, "invalid_characters",
                  std::string(key) +
                      " may not hold control characters (NUL, line breaks, tabs) or "
                      "bidirectional overrides");
    out_[key] = s;
  }

  void one_of(const char* key, std::initializer_list<const char*> options, const char* dflt) {
    const json::value* v = find(key);
    if (!v) {
      if (dflt)
        out_[key] = dflt;
      else
        missing(key, true);
      return;
    }
    std::string all;
    for (const char* o : options) {
      if (v->is_string() && v->as_string() == o) {
        out_[key] = o;
        return;
      }
      all += all.empty() ? o : std::string(", ") + o;
    }
    fail(key, "invalid_field", std::string(key) + " is one of " + all);
  }

  void integer(const char* key, std::int64_t lo, std::int64_t hi,
               std::optional<std::int64_t> dflt) {
    const json::value* v = find(key);
    if (!v) {
      if (dflt) out_[key] = *dflt;
      return;
    }
    std::int64_t n;
    if (v->is_int64())
      n = v->as_int64();
    else if (v->is_uint64() && v->as_uint64() <= static_cast<std::uint64_t>(hi))
      n = static_cast<std::int64_t>(v->as_uint64());
    else
      return fail(key, "invalid_field", std::string(key) + " is a whole number");
    if (n < lo || n > hi)
      return fail(
          key, "invalid_field",
          std::string(key) + " is between " + std::to_string(lo) + " and " + std::to_string(hi));
    out_[key] = n;
  }

  void boolean(const char* key, bool dflt) {
    const json::value* v = find(key);
    if (!v) {
      out_[key] = dflt;
      return;
    }
    if (!v->is_bool()) return fail(key, "invalid_field", std::string(key) + " is true or false");
    out_[key] = v->as_bool();
  }

  // An id of a record of `kind` in the org.
  void ref(const char* key, Kind kind, bool required, const std::string& org, ReadTx& tx) {
    const json::value* v = find(key);
    if (!v) return missing(key, required);
    if (!v->is_string()) return fail(key, "invalid_field", std::string(key) + " is an id");
    std::string id(v->as_string());
    if (!exists(kind, id, org, tx))
      return fail(key, "invalid_reference",
                  std::string("no ") + std::string(kind_name(kind)) + " with id " + id);
    out_[key] = v->as_string();
  }

  // A list of distinct ids of records of `kind` in the org.
  void refs(const char* key, Kind kind, const std::string& org, ReadTx& tx) {
    const json::value* v = find(key);
    json::array out;
    if (v) {
      if (!v->is_array()) return fail(key, "invalid_field", std::string(key) + " is a list of ids");
      if (v->as_array().size() > 1000) return fail(key, "too_many", "at most 1000 ids");
      std::set<std::string> seen;
      for (std::size_t i = 0; i < v->as_array().size(); ++i) {
        const auto& e = v->as_array()[i];
        std::string field = std::string(key) + "[" + std::to_string(i) + "]";
        if (!e.is_string()) return fail(field, "invalid_field", "an id is a string");
        std::string id(e.as_string());
        if (!seen.insert(id).second) return fail(field, "invalid_field", "id listed twice");
        if (!exists(kind, id, org, tx))
          return fail(field, "invalid_reference",
                      std::string("no ") + std::string(kind_name(kind)) + " with id " + id);
        out.push_back(e);
      }
    }
    if (!err_) out_[key] = std::move(out);
  }

  // An RFC 3339 instant, stored in UTC.
  std::optional<Instant> instant(const char* key) {
    const json::value* v = find(key);
    if (!v) return std::nullopt;
    auto t = v->is_string() ? parse_rfc3339(v->as_string()) : std::nullopt;
    if (!t) {
      fail(key, "invalid_time",
           std::string(key) + " is an RFC 3339 time with offset, e.g. 2026-01-31T08:00:00+01:00");
      return std::nullopt;
    }
    out_[key] = format_rfc3339(*t);
    return t;
  }

  void copy(const char* key) {
    if (const json::value* v = find(key)) out_[key] = *v;
  }

  void fail(const std::string& field, const char* code, const std::string& message) {
    if (!err_) err_ = invalid(field, code, message);
  }
  bool ok() const { return !err_; }
  const json::value* find(const char* key) const {
    auto it = in_.find(key);
    return it == in_.end() || it->value().is_null() ? nullptr : &it->value();
  }
  Result<json::object> result() {
    if (err_) return *err_;
    return std::move(out_);
  }

 private:
  void missing(const char* key, bool required) {
    if (required) fail(key, "required", std::string(key) + " is required");
  }
  static bool exists(Kind kind, const std::string& id, const std::string& org, ReadTx& tx) {
    auto r = tx.get(kind, org, id);
    return r.ok() && r->has_value();
  }

  const json::object& in_;
  json::object out_;
  std::optional<Error> err_;
};

bool plausible_email(std::string_view e) {
  auto at = e.find('@');
  if (at == 0 || at == std::string_view::npos || e.size() > 254) return false;
  auto domain = e.substr(at + 1);
  if (domain.empty() || domain.find('@') != std::string_view::npos) return false;
  for (char ch : e)
    if (ch <= ' ' || ch == 0x7f) return false;
  return true;
}

// A telephone number as people write it: digits with spaces, dashes, dots, parentheses and
// a leading +; at least 3 digits.
bool plausible_phone(std::string_view p) {
  int digits = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char ch = p[i];
    if (ch >= '0' && ch <= '9')
      ++digits;
    else if (!(ch == ' ' || ch == '-' || ch == '.' || ch == '(' || ch == ')' ||
               (ch == '+' && i == 0)))
      return false;
  }
  return digits >= 3;
}

bool bool_of(const json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_bool() && it->value().as_bool();
}

}  // namespace

Status validate_password(const json::value& v) {
  if (!v.is_string()) return invalid("password", "invalid_field", "password is a string");
  auto n = v.as_string().size();
  if (n < 8 || n > 1024)
    return invalid("password", "weak_password", "a password has 8 to 1024 characters");
  return ok();
}

Result<json::object> validate(Kind kind, const json::object& body, const std::string& org,
                              ReadTx& tx) {
  switch (kind) {
    case Kind::site: {
      Fields f(body, {"name", "timezone", "lockdown"});
      f.text("name", true);
      f.boolean("lockdown", false);
      if (const auto* tz = f.find("timezone"); tz && f.ok()) {
        if (!tz->is_string() || !find_zone(tz->as_string()))
          f.fail("timezone", "invalid_timezone",
                 "timezone is an IANA time zone name, e.g. Europe/Madrid");
        else
          f.copy("timezone");
      } else if (!tz) {
        f.fail("timezone", "required", "timezone is required");
      }
      return f.result();
    }
    case Kind::door: {
      Fields f(body, {"site_id", "name", "kind", "pulse_ms"});
      f.ref("site_id", Kind::site, true, org, tx);
      f.text("name", true);
      f.one_of("kind", {"door", "gate", "garage", "turnstile"}, "door");
      f.integer("pulse_ms", 100, 60000, 1000);
      return f.result();
    }
    case Kind::unit: {
      Fields f(body, {"name", "door_ids"});
      f.text("name", true);
      f.refs("door_ids", Kind::door, org, tx);
      return f.result();
    }
    case Kind::user: {
      Fields f(body,
               {"email", "name", "role", "site_ids", "group_ids", "disabled", "guest", "phone"});
      f.text("email", true, 254);
      if (f.ok() && !plausible_email(body.at("email").as_string()))
        f.fail("email", "invalid_field", "email is an address like maria@example.com");
      f.text("name", true);
      f.one_of("role", {"owner", "admin", "member"}, "member");
      f.text("phone", false, 32);
      if (f.ok() && f.find("phone") && !plausible_phone(body.at("phone").as_string()))
        f.fail("phone", "invalid_field",
               "phone is a number like +34 600 123 456 (digits, spaces, + - ( ) .)");
      // A guest (invited for a while: POST /v1/invitations) is a member; the flag is kept only
      // when set, so other users' records stay as they were.
      f.boolean("guest", false);
      if (f.ok() && bool_of(body, "guest") && f.find("role") && body.at("role") != "member")
        f.fail("role", "invalid_field", "a guest is a member; set guest to false first");
      f.refs("site_ids", Kind::site, org, tx);
      if (f.ok() && f.find("site_ids") && !body.at("site_ids").as_array().empty()) {
        auto role = f.find("role");
        if (!role || role->as_string() != "admin")
          f.fail("site_ids", "invalid_field", "only admins are scoped to sites");
      }
      f.refs("group_ids", Kind::group, org, tx);
      f.boolean("disabled", false);
      auto r = f.result();
      if (r && !bool_of(*r, "guest")) r->erase("guest");
      return r;
    }
    case Kind::group: {
      Fields f(body, {"name", "description"});
      f.text("name", true);
      f.text("description", false, 1000);
      return f.result();
    }
    case Kind::schedule: {
      Fields f(body, {"name", "windows", "exceptions"});
      f.text("name", true);
      if (!f.ok()) return f.result();
      auto s = parse_schedule(body);
      if (!s) return s.error();
      auto r = f.result();
      if (!r) return r;
      (*r)["windows"] = body.contains("windows") && !body.at("windows").is_null()
                            ? body.at("windows")
                            : json::array();
      (*r)["exceptions"] = body.contains("exceptions") && !body.at("exceptions").is_null()
                               ? body.at("exceptions")
                               : json::array();
      return r;
    }
    case Kind::grant: {
      Fields f(body, {"user_id", "group_id", "door_id", "site_id", "schedule_id", "valid_from",
                      "valid_until", "max_uses"});
      bool user = f.find("user_id") != nullptr, group = f.find("group_id") != nullptr;
      if (user == group)
        f.fail(user ? "group_id" : "user_id", "invalid_field",
               "a grant names either a user_id or a group_id (all its members), not both");
      f.ref("user_id", Kind::user, false, org, tx);
      f.ref("group_id", Kind::group, false, org, tx);
      bool door = f.find("door_id") != nullptr, site = f.find("site_id") != nullptr;
      if (door == site)
        f.fail(door ? "site_id" : "door_id", "invalid_field",
               "a grant names either a door_id or a site_id (all its doors), not both");
      f.ref("door_id", Kind::door, false, org, tx);
      f.ref("site_id", Kind::site, false, org, tx);
      f.ref("schedule_id", Kind::schedule, false, org, tx);
      auto from = f.instant("valid_from");
      auto until = f.instant("valid_until");
      if (from && until && *until <= *from)
        f.fail("valid_until", "invalid_range", "valid_until must be after valid_from");
      f.integer("max_uses", 1, 1'000'000'000, std::nullopt);
      return f.result();
    }
  }
  return Error{500, "internal", "unknown kind", ""};
}

}  // namespace portier
