#include "server/bootstrap.hpp"

#include <sys/stat.h>

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "crypto/crypto.hpp"
#include "server/validate.hpp"
#include "sync/recorder.hpp"

namespace portier {
namespace json = boost::json;
namespace {

// Inserts one validated record with its audit entry.
Result<std::string> add(WriteTx& tx, const std::string& org, const std::string& actor, Kind kind,
                        const json::object& body, const std::string& now, std::int64_t now_unix) {
  auto fields = validate(kind, body, org, tx);
  if (!fields) return fields.error();
  Record r{kind, new_id(kind_id_prefix(kind)), org, std::move(*fields), 1, now, now};
  if (kind == Kind::grant) r.body["uses"] = 0;
  // Nothing is serving yet: the changes go to the feeds' history, with no one to tell.
  sync::ChangeRecorder rec(tx, org, now_unix);
  if (auto s = rec.write(nullptr, &r); !s) return s.error();
  if (auto s = rec.finish(); !s) return s.error();
  json::object after{{"id", r.id}};
  for (const auto& kv : r.body) after[kv.key()] = kv.value();
  AuditEntry e{0,
               org,
               now,
               now_unix,
               actor.empty() ? r.id : actor,
               std::string(kind_name(kind)) + ".created",
               r.id,
               kind == Kind::site ? r.id : "",
               nullptr,
               std::move(after)};
  if (auto s = tx.append_audit(e); !s) return s.error();
  return r.id;
}

}  // namespace

Result<std::string> create_org(Store& store, const std::string& org_name, const std::string& email,
                               const std::string& owner_name, const std::string& password,
                               Instant now) {
  if (org_name.empty() || org_name.size() > 200)
    return invalid("org", "invalid_field", "the organization name needs 1 to 200 characters");
  if (auto s = validate_password(json::value(password)); !s) return s.error();
  std::string hash = hash_password(password);
  std::string owner;
  std::string at = format_rfc3339(now);
  auto st = store.write([&](WriteTx& tx) -> Status {
    Org org{new_id("org"), org_name, at};
    if (auto s = tx.insert_org(org); !s) return s;
    auto id = add(tx, org.id, "", Kind::user,
                  json::object{{"email", email}, {"name", owner_name}, {"role", "owner"}}, at,
                  now.time_since_epoch().count());
    if (!id) return id.error();
    owner = *id;
    return tx.set_password(owner, hash);
  });
  if (!st) return st.error();
  return owner;
}

Result<std::string> seed_demo(Store& store, const std::string& data_dir, Instant now) {
  std::string logins_path = data_dir + "/demo-logins.txt";
  auto existing = store.find_credentials("admin@demo.portier.dev");
  if (!existing) return existing.error();
  if (*existing) {
    std::ifstream in(logins_path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  struct Person {
    const char* email;
    const char* name;
    const char* role;
    std::string password;
  };
  std::vector<Person> people = {
      {"admin@demo.portier.dev", "Ada Admin", "owner", new_token().substr(4, 16)},
      {"maria@demo.portier.dev", "Maria", "member", new_token().substr(4, 16)},
      {"joan@demo.portier.dev", "Joan", "member", new_token().substr(4, 16)}};
  auto owner =
      create_org(store, "Demo Org", people[0].email, people[0].name, people[0].password, now);
  if (!owner) return owner.error();
  std::string at = format_rfc3339(now);
  auto unix = now.time_since_epoch().count();
  std::vector<std::string> hashes;
  std::vector<std::pair<std::string, std::string>> units;  // id, name
  for (size_t i = 1; i < people.size(); ++i) hashes.push_back(hash_password(people[i].password));
  // The owner's organization.
  auto creds = store.find_credentials(people[0].email);
  if (!creds || !*creds) return Error{500, "internal", "demo owner vanished", ""};
  std::string org = (*creds)->user.org_id;
  auto seeded = store.write([&](WriteTx& tx) -> Status {
    auto site =
        add(tx, org, *owner, Kind::site, {{"name", "HQ"}, {"timezone", "Europe/Madrid"}}, at, unix);
    if (!site) return site.error();
    std::vector<std::string> doors;
    for (auto [name, kind, pulse] : {std::tuple{"Front door", "door", 1000},
                                     {"Garage", "garage", 2000},
                                     {"Parking gate", "gate", 1500}}) {
      auto d =
          add(tx, org, *owner, Kind::door,
              {{"site_id", *site}, {"name", name}, {"kind", kind}, {"pulse_ms", pulse}}, at, unix);
      if (!d) return d.error();
      doors.push_back(*d);
    }
    // Two door units: one on the front door, one on the garage and the gate.
    for (auto [name, ids] : {std::pair{"Front door unit", json::array{doors[0]}},
                             std::pair{"Garage and gate unit", json::array{doors[1], doors[2]}}}) {
      auto u = add(tx, org, *owner, Kind::unit, {{"name", name}, {"door_ids", ids}}, at, unix);
      if (!u) return u.error();
      units.emplace_back(*u, name);
    }
    auto hours =
        add(tx, org, *owner, Kind::schedule,
            {{"name", "Office hours"},
             {"windows",
              json::array{json::object{{"days", json::array{"mon", "tue", "wed", "thu", "fri"}},
                                       {"start", "08:00"},
                                       {"end", "20:00"}}}}},
            at, unix);
    if (!hours) return hours.error();
    std::vector<std::string> users;
    for (size_t i = 1; i < people.size(); ++i) {
      auto u = add(tx, org, *owner, Kind::user,
                   {{"email", people[i].email}, {"name", people[i].name}, {"role", people[i].role}},
                   at, unix);
      if (!u) return u.error();
      if (auto s = tx.set_password(*u, hashes[i - 1]); !s) return s;
      users.push_back(*u);
    }
    // Maria: every HQ door in office hours. Joan: the front door always, the garage 10 times.
    for (const auto& body :
         {json::object{{"user_id", users[0]}, {"site_id", *site}, {"schedule_id", *hours}},
          json::object{{"user_id", users[1]}, {"door_id", doors[0]}},
          json::object{{"user_id", users[1]}, {"door_id", doors[1]}, {"max_uses", 10}}}) {
      auto g = add(tx, org, *owner, Kind::grant, body, at, unix);
      if (!g) return g.error();
    }
    return ok();
  });
  if (!seeded) return seeded.error();
  // Enrollment codes for the demo units (make run enrolls and starts them), valid a day.
  std::string unit_lines;
  for (const auto& [id, name] : units) {
    std::string code = new_enrollment_code();
    if (auto s =
            store.create_enrollment_code(id, token_hash(normalize_code(code)), unix + 24 * 3600);
        !s)
      return s.error();
    unit_lines += id + " " + code + " " + name + "\n";
  }
  {
    std::string path = data_dir + "/demo-units.txt";
    std::ofstream out(path, std::ios::trunc);
    out << unit_lines;
    ::chmod(path.c_str(), 0600);
  }
  std::string text;
  for (const auto& p : people)
    text += std::string(p.email) + "  " + p.password + "  (" + p.role + ")\n";
  {
    std::ofstream out(logins_path, std::ios::trunc);
    out << text;
  }
  ::chmod(logins_path.c_str(), 0600);
  return text;
}

}  // namespace portier
