#include "server/api.hpp"

#include <spdlog/spdlog.h>
#include <atomic>
#include <boost/url.hpp>

#include "core/error_body.hpp"
#include "core/fields.hpp"
#include "crypto/crypto.hpp"
#include "server/api_internal.hpp"
#include "server/invitations.hpp"

namespace portier {
namespace api {

Response json_response(int status, const json::value& v) {
  Response r;
  r.status = status;
  r.body = json::serialize(v);
  return r;
}

Response error_response(const Error& e) {
  Response r = json_response(e.status, error_body(e));
  if (e.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

Result<json::object> parse_body(const Request& req) {
  std::string_view ct = req.content_type;
  auto semi = ct.find(';');
  std::string type(ct.substr(0, semi));
  for (auto& ch : type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (type != "application/json")
    return Error{415, "unsupported_media_type", "send the body as Content-Type: application/json",
                 ""};
  json::parse_options opt;
  opt.max_depth = 32;
  boost::system::error_code ec;
  json::value v = json::parse(req.body, ec, {}, opt);
  if (ec == json::error::too_deep)
    return bad_request("too_deep", "the JSON nests deeper than 32 levels");
  if (ec) return bad_request("bad_json", "the body is not valid JSON: " + ec.message());
  if (!v.is_object()) return bad_request("bad_json", "the body must be a JSON object");
  return std::move(v.as_object());
}

json::object to_json(const Record& r) { return sync::record_json(r); }

Status commit_changes(WriteTx& tx, Ctx& c, sync::ChangeRecorder& rec,
                      std::optional<Revocation> revoke) {
  auto changes = rec.finish();
  if (!changes) return changes.error();
  Bus& bus = c.api.bus();
  tx.on_commit([&bus, changes = sync::share(std::move(*changes)), revoke = std::move(revoke)] {
    bus.publish_changes(changes);
    if (revoke) bus.publish_revocation(*revoke);
  });
  return ok();
}

Result<Page> parse_page(const Ctx& c) {
  Page p;
  if (auto it = c.query.find("limit"); it != c.query.end()) {
    std::size_t n = 0;
    bool digits = !it->second.empty() && it->second.size() < 5 &&
                  it->second.find_first_not_of("0123456789") == std::string::npos;
    if (digits) n = std::stoul(it->second);
    if (!digits || n < 1 || n > 500)
      return bad_request("invalid_parameter", "limit is a number from 1 to 500", "limit");
    p.limit = n;
  }
  if (auto it = c.query.find("cursor"); it != c.query.end()) p.cursor = it->second;
  return p;
}

json::object page_of(const std::vector<json::object>& items, const Page& p) {
  json::array out;
  std::size_t i = 0;
  if (!p.cursor.empty())
    while (i < items.size() && items[i].at("id").as_string() <= p.cursor) ++i;
  for (; i < items.size() && out.size() < p.limit; ++i) out.push_back(items[i]);
  json::value next = nullptr;
  if (i < items.size() && !out.empty()) next = out.back().as_object().at("id");
  return json::object{{"items", std::move(out)}, {"next_cursor", next}};
}

std::string now_text(const Ctx& c) { return format_rfc3339(c.api.now()); }

namespace {

struct Route {
  const char* method;
  const char* pattern;  // segments; "{plural}" matches an entity kind, "{x}" any segment
  Handler handler;
  bool needs_login;
};

Result<Response> healthz(Ctx&) { return json_response(200, json::object{{"status", "ok"}}); }

const std::vector<Route>& routes() {
  static const std::vector<Route> r = {
      {"GET", "/healthz", healthz, false},
      {"POST", "/v1/auth/login", login, false},
      {"POST", "/v1/auth/logout", logout, true},
      {"POST", "/v1/auth/code", sign_in_with_code, false},
      {"POST", "/v1/import", import_rows, true},
      {"GET", "/v1/invitations", list_invitations, true},
      {"POST", "/v1/invitations", create_invitation, true},
      {"GET", "/v1/invitations/{id}", get_invitation, true},
      {"DELETE", "/v1/invitations/{id}", end_invitation, true},
      {"POST", "/v1/invitations/{id}/link", new_invitation_link, true},
      {"GET", "/v1/me", me, true},
      {"GET", "/v1/me/doors", my_doors, true},
      {"POST", "/v1/me/password", change_password, true},
      {"GET", "/v1/access/check", access_check, true},
      {"GET", "/v1/audit", list_audit, true},
      {"GET", "/v1/devices", list_devices, true},
      {"POST", "/v1/units/{id}/credentials", unit_credentials, true},
      {"DELETE", "/v1/units/{id}/credentials", revoke_unit, true},
      {"POST", "/v1/units/{id}/enrollment", unit_enrollment, true},
      {"POST", "/v1/enroll", enroll, false},
      {"POST", "/v1/doors/{id}/open", open_door, true},
      {"GET", "/v1/{plural}", list_records, true},
      {"POST", "/v1/{plural}", create_record, true},
      {"GET", "/v1/{plural}/{id}", get_record, true},
      {"PATCH", "/v1/{plural}/{id}", update_record, true},
      {"DELETE", "/v1/{plural}/{id}", delete_record, true},
  };
  return r;
}

std::vector<std::string> split(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

// Matches path segments against a pattern; fills params and the route's metric name.
bool match(const char* pattern, const std::vector<std::string>& segs,
           std::map<std::string, std::string>& params, std::string& name) {
  auto pat = split(pattern);
  if (pat.size() != segs.size()) return false;
  std::map<std::string, std::string> p;
  std::string n;
  for (std::size_t i = 0; i < pat.size(); ++i) {
    const auto& want = pat[i];
    if (want == "{plural}") {
      if (!kind_from_plural(segs[i])) return false;
      p["plural"] = segs[i];
      n += "/" + segs[i];
    } else if (want.front() == '{') {
      p[want.substr(1, want.size() - 2)] = segs[i];
      n += "/" + want;
    } else if (want == segs[i]) {
      n += "/" + want;
    } else {
      return false;
    }
  }
  params = std::move(p);
  name = n;
  return true;
}

// The caller, from "Authorization: Bearer <token>": identity.hpp judges the token and the
// account, as for the push stream.
Result<Actor> authenticate_request(Api& api, const Request& req) {
  static const Error missing{
      401, "unauthorized",
      "log in first (POST /v1/auth/login) and send Authorization: Bearer <token>", ""};
  std::string_view h = req.authorization;
  if (h.size() < 8 || (h.substr(0, 7) != "Bearer " && h.substr(0, 7) != "bearer ")) return missing;
  Actor a;
  auto who = authenticate(api.store(), std::string(h.substr(7)), api.now(), &a.user);
  if (!who) return who.error();
  if (who->is_unit)
    return Error{401, "unauthorized",
                 "a unit's credential opens the push stream only; log in as a user", ""};
  static_cast<Principal&>(a) = std::move(*who);
  return a;
}

}  // namespace
}  // namespace api

Api::Api(Store& store, Bus& bus, Metrics& metrics, const ApiOptions& options, Clock clock)
    : store_(store),
      bus_(bus),
      metrics_(metrics),
      options_(options),
      clock_(clock ? std::move(clock) : system_clock()),
      account_limiter_(options.account_max_failures, options.login_window),
      address_limiter_(options.address_max_failures, options.login_window),
      dummy_hash_(hash_password(new_token())) {}

Api::~Api() = default;

void Api::handle(const Request& req, Respond respond) {
  auto started = std::chrono::steady_clock::now();
  auto route = std::make_shared<std::string>("unmatched");
  auto answered = std::make_shared<std::atomic<bool>>(false);
  Respond finish = [this, started, route, answered, method = req.method,
                    respond = std::move(respond)](Response res) {
    if (answered->exchange(true)) {  // a bug: one request, one response
      spdlog::error("{} {}: answered twice; the second answer is dropped", method, *route);
      return;
    }
    res.route = *route;
    metrics_.observe(*route, method, res.status, std::chrono::steady_clock::now() - started);
    respond(std::move(res));
  };
  Response res;
  bool deferred = false;
  try {
    res = [&]() -> Response {
      using namespace api;
      auto url = boost::urls::parse_origin_form(req.target);
      if (!url)
        return error_response(bad_request("bad_target", "the request target is not a valid path"));
      Ctx c{*this, req, std::nullopt, {}, {}, &finish};
      // Not form encoding: a `+` is a plus sign (time offsets are full of them; no parameter
      // takes spaces), a space is %20.
      for (auto p : url->params(boost::urls::encoding_opts(false))) c.query[p.key] = p.value;
      std::vector<std::string> segs;
      for (auto s : url->segments()) segs.push_back(s);
      if (segs.size() == 1 && segs[0] == "metrics" && req.method == "GET") {
        *route = "/metrics";
        std::string_view auth = req.authorization;
        if (!options_.metrics_token.empty() &&
            (auth.size() < 7 ||
             (auth.substr(0, 7) != "Bearer " && auth.substr(0, 7) != "bearer ") ||
             !same_secret(std::string(auth.substr(7)), options_.metrics_token)))
          return error_response(Error{401, "unauthorized",
                                      "send the metrics token: Authorization: Bearer <token>", ""});
        Response m;
        m.content_type = "text/plain; version=0.0.4";
        m.body = metrics_.render();
        return m;
      }
      std::vector<std::string> allowed;
      for (const auto& r : routes()) {
        std::map<std::string, std::string> params;
        std::string name;
        if (!match(r.pattern, segs, params, name)) continue;
        if (req.method != r.method) {
          allowed.emplace_back(r.method);
          *route = name;
          continue;
        }
        *route = name;
        c.path = std::move(params);
        if (r.needs_login) {
          auto actor = authenticate_request(*this, req);
          if (!actor) return error_response(actor.error());
          c.actor = std::move(*actor);
        }
        auto out = r.handler(c);
        deferred = c.deferred && out;
        return out ? std::move(*out) : error_response(out.error());
      }
      if (!allowed.empty()) {
        auto e =
            error_response(Error{405, "method_not_allowed", "use one of the allowed methods", ""});
        std::string allow;
        for (const auto& m : allowed) allow += (allow.empty() ? "" : ", ") + m;
        e.headers.emplace_back("Allow", allow);
        return e;
      }
      return error_response(Error{404, "not_found", "no such route", ""});
    }();
  } catch (const std::exception& e) {
    // Handlers return errors as values; an exception here is a bug. Answer, log, keep serving.
    spdlog::error("{} {}: unexpected exception: {}", req.method, req.target, e.what());
    res = api::error_response(Error{500, "internal", "internal error", ""});
    deferred = false;
  }
  if (!deferred) finish(std::move(res));
}

}  // namespace portier
