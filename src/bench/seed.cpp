#include "bench/seed.hpp"

#include <boost/json.hpp>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "bench/http.hpp"
#include "bench/wire.hpp"

namespace portier::bench {
namespace json = boost::json;

namespace {

constexpr const char* kMemberPassword = "bench member password";

const json::object& expect(const HttpReply& r, int status, const std::string& what) {
  if (r.status != status || !r.json.is_object())
    throw std::runtime_error(
        what + ": expected " + std::to_string(status) + ", got " +
        (r.status ? std::to_string(r.status) + " " + r.body.substr(0, 300) : r.error));
  return r.json.as_object();
}

std::string id_of(const HttpReply& r, int status, const std::string& what) {
  return std::string(expect(r, status, what).at("id").as_string());
}

std::string token_of(const HttpReply& r, const std::string& what) {
  return std::string(expect(r, 200, what).at("token").as_string());
}

struct Imported {
  std::string id, code;
};

// Users, each followed by her grant line, in chunks; nullopt when the server has no import.
std::optional<std::vector<Imported>> import_users(Http& h, const std::string& token,
                                                  const std::vector<std::string>& users,
                                                  const std::vector<std::string>& grants,
                                                  std::size_t chunk) {
  std::vector<Imported> out;
  for (std::size_t begin = 0; begin < users.size();) {
    std::size_t end = std::min(users.size(), begin + chunk);
    std::string body;
    for (std::size_t i = begin; i < end; ++i) body += users[i] + "\n" + grants[i] + "\n";
    auto r = h.request("POST", "/v1/import", body, token, "application/x-ndjson");
    if (begin == 0 && (r.status == 404 || r.status == 405)) return std::nullopt;
    if (r.status == 413 && chunk > 1) {
      chunk /= 2;
      continue;
    }
    const auto& o = expect(r, 200, "POST /v1/import");
    std::vector<Imported> part(end - begin);
    for (const auto& row : o.at("rows").as_array()) {
      const auto& ro = row.as_object();
      if (ro.at("kind") != "user") continue;
      auto line = ro.at("line").to_number<std::size_t>();
      auto j = (line - 1) / 2;  // user j of the chunk is on line 2j+1
      if (j >= part.size())
        throw std::runtime_error("import: a row for line " + std::to_string(line));
      part[j].id = ro.at("id").as_string();
      if (const auto* c = ro.if_contains("sign_in_code"); c && c->is_string())
        part[j].code = c->as_string();
    }
    for (auto& p : part) {
      if (p.id.empty() || p.code.empty())
        throw std::runtime_error("import: a user without an id or sign-in code");
      out.push_back(std::move(p));
    }
    begin = end;
  }
  return out;
}

std::string user_line(const std::string& email, const std::string& name) {
  return json::serialize(json::object{
      {"kind", "user"}, {"email", email}, {"name", name}, {"role", "member"}, {"sign_in", true}});
}

}  // namespace

World seed(const std::string& host, unsigned short port, const SeedPlan& plan,
           const std::function<void(const std::string&)>& log) {
  auto begin = now_ns();
  World w;
  Http h(host, port);
  w.owner_token =
      token_of(h.json("POST", "/v1/auth/login",
                      json::object{{"email", kOwnerEmail}, {"password", kOwnerPassword}}),
               "owner login");
  const auto& T = w.owner_token;
  w.site_id = id_of(h.json("POST", "/v1/sites",
                           json::object{{"name", "Bench"}, {"timezone", "Europe/Madrid"}}, T),
                    201, "create site");
  w.door_id = id_of(
      h.json("POST", "/v1/doors", json::object{{"site_id", w.site_id}, {"name", "Bench door"}}, T),
      201, "create door");
  json::array days{"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
  w.schedule_id = id_of(
      h.json("POST", "/v1/schedules",
             json::object{{"name", "bench schedule"},
                          {"windows", json::array{json::object{
                                          {"days", days}, {"start", "00:00"}, {"end", "24:00"}}}}},
             T),
      201, "create schedule");
  if (plan.apps > 0 || plan.units > 0)
    w.open_site_id =
        id_of(h.json("POST", "/v1/sites",
                     json::object{{"name", "Bench open"}, {"timezone", "Europe/Madrid"}}, T),
              201, "create open site");

  // Members and apps: one import when the server has it.
  std::vector<std::string> users, grants;
  for (std::size_t i = 0; i < plan.members; ++i) {
    auto email = "u" + std::to_string(i) + "@bench.test";
    users.push_back(user_line(email, "Bench user " + std::to_string(i)));
    grants.push_back(json::serialize(json::object{{"kind", "grant"},
                                                  {"user", email},
                                                  {"door_id", w.door_id},
                                                  {"schedule_id", w.schedule_id}}));
  }
  for (std::size_t i = 0; i < plan.apps; ++i) {
    auto email = "a" + std::to_string(i) + "@bench.test";
    users.push_back(user_line(email, "Bench app " + std::to_string(i)));
    grants.push_back(json::serialize(
        json::object{{"kind", "grant"}, {"user", email}, {"site_id", w.open_site_id}}));
  }
  std::optional<std::vector<Imported>> imported;
  if (!plan.api_only && !users.empty()) {
    log("importing " + std::to_string(users.size()) + " users with their grants");
    auto t = now_ns();
    imported = import_users(h, T, users, grants, plan.import_chunk);
    w.import_ms = static_cast<double>(now_ns() - t) / 1e6;
    if (!imported) log("this portierd has no POST /v1/import: seeding user by user");
  }
  if (imported) {
    w.seeding = "import";
    w.own_tokens = true;
    std::vector<Account> all(imported->size());
    auto t = now_ns();
    parallel(all.size(), plan.connections, host, port, [&](std::size_t i, Http& c) {
      all[i] = {(*imported)[i].id, token_of(c.json("POST", "/v1/auth/code",
                                                   json::object{{"code", (*imported)[i].code}}),
                                            "POST /v1/auth/code")};
    });
    w.signin_ms = static_cast<double>(now_ns() - t) / 1e6;
    w.members.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(plan.members));
    w.apps.assign(all.begin() + static_cast<std::ptrdiff_t>(plan.members), all.end());
  } else {
    // Without the import: argon2id per user (~50 ms of server CPU each) and O(K) per grant.
    w.seeding = "api";
    w.members.resize(plan.members);
    w.apps.resize(plan.apps);
    if (plan.members + plan.apps > 0)
      log("creating " + std::to_string(plan.members + plan.apps) + " users one by one");
    auto t = now_ns();
    parallel(plan.members + plan.apps, plan.connections, host, port, [&](std::size_t i, Http& c) {
      bool app = i >= plan.members;
      auto n = app ? i - plan.members : i;
      auto email = (app ? "a" : "u") + std::to_string(n) + "@bench.test";
      auto id = id_of(
          c.json("POST", "/v1/users",
                 json::object{{"email", email},
                              {"name", (app ? "Bench app " : "Bench user ") + std::to_string(n)},
                              {"password", kMemberPassword}},
                 T),
          201, "create user");
      json::object grant{{"user_id", id}};
      if (app) {
        grant["site_id"] = w.open_site_id;
      } else {
        grant["door_id"] = w.door_id;
        grant["schedule_id"] = w.schedule_id;
      }
      expect(c.json("POST", "/v1/grants", grant, T), 201, "create grant");
      if (app) {
        w.apps[n] = {id,
                     token_of(c.json("POST", "/v1/auth/login",
                                     json::object{{"email", email}, {"password", kMemberPassword}}),
                              "member login")};
      } else {
        w.members[n] = {id, T};
      }
    });
    w.import_ms = static_cast<double>(now_ns() - t) / 1e6;
  }

  // Units: created, issued an enrollment code, enrolled, each driving one door.
  for (std::size_t i = 0; i < plan.units; ++i) {
    auto door = id_of(h.json("POST", "/v1/doors",
                             json::object{{"site_id", w.open_site_id},
                                          {"name", "Open door " + std::to_string(i)}},
                             T),
                      201, "create door");
    auto unit = id_of(h.json("POST", "/v1/units",
                             json::object{{"name", "Bench unit " + std::to_string(i)},
                                          {"door_ids", json::array{json::value(door)}}},
                             T),
                      201, "create unit");
    auto issued = h.json("POST", "/v1/units/" + unit + "/enrollment", json::object{}, T);
    auto code = expect(issued, 201, "enrollment").at("code");
    auto token = token_of(h.json("POST", "/v1/enroll", json::object{{"code", code}}), "enroll");
    w.open_doors.push_back(door);
    w.units.push_back({unit, token});
  }
  w.total_ms = static_cast<double>(now_ns() - begin) / 1e6;
  return w;
}

}  // namespace portier::bench
