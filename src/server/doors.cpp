#include "server/doors.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/json.hpp>
#include <mutex>

#include "core/fields.hpp"
#include "server/crypto.hpp"
#include "server/door_case.hpp"
#include "server/metrics.hpp"
#include "sync/recorder.hpp"

namespace portier {
namespace json = boost::json;

const char* Doors::kEvents[4] = {"door_opened", "door_closed", "door_held_open", "door_forced"};

namespace {

InstantMs now_ms() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

const char* denial_message(const std::string& reason) {
  if (reason == "user_disabled") return "your account is disabled";
  if (reason == "no_grant") return "you have no grant for this door";
  if (reason == "outside_schedule") return "your grant does not allow this door at this time";
  if (reason == "not_yet_valid") return "your grant is not valid yet";
  if (reason == "expired") return "your grant has expired";
  if (reason == "uses_exhausted") return "your grant has no uses left";
  if (reason == "lockdown") return "the site is locked down";
  return "access denied";
}

OpenOutcome failure(int status, const std::string& code, const std::string& message) {
  return OpenOutcome{
      status,
      json::object{{"error", json::object{{"code", code}, {"message", message}, {"field", ""}}}}};
}

// The live message a feed's consoles get for an audit entry.
std::shared_ptr<const std::string> event_message(const AuditEntry& e, const std::string& feed) {
  return std::make_shared<const std::string>(json::serialize(json::object{
      {"type", "event"},
      {"feed", feed},
      {"event",
       json::object{{"at", e.at},
                    {"action", e.action},
                    {"actor_id", e.actor_id},
                    {"entity_id", e.entity_id},
                    {"site_id", e.site_id.empty() ? json::value(nullptr) : json::value(e.site_id)},
                    {"after", e.after}}}}));
}

AuditEntry entry(const std::string& org, const std::string& actor, const std::string& action,
                 const std::string& entity, const std::string& site, json::object after) {
  AuditEntry e;
  auto now = std::chrono::floor<std::chrono::seconds>(now_ms());
  e.org_id = org;
  e.at = format_rfc3339(now);
  e.at_unix = now.time_since_epoch().count();
  e.actor_id = actor;
  e.action = action;
  e.entity_id = entity;
  e.site_id = site;
  e.after = std::move(after);
  return e;
}

}  // namespace

// One open in flight: what the audit entry and the answer need once the unit has spoken.
struct Doors::Attempt {
  OpenRequest req;
  std::string site_id, unit_id, grant_id, command_id;
  bool reserved = false;  // a limited grant's use was taken and is given back unless opened
  bool lockdown_override = false;
  std::function<void(OpenOutcome)> done;
};

Doors::Doors(Store& store, Bus& bus, RunBlocking run_blocking, DoorsOptions options)
    : store_(store), bus_(bus), run_blocking_(std::move(run_blocking)), options_(options) {}

void Doors::count(const std::string& result) {
  if (auto* m = metrics_.load()) m->count("portier_door_opens_total", "result=\"" + result + "\"");
}

Status Doors::log(WriteTx& tx, const AuditEntry& e) {
  if (auto s = tx.append_audit(e); !s) return s;
  // The organization's consoles, and the admins of the entry's site.
  std::vector<std::pair<std::string, std::shared_ptr<const std::string>>> out;
  for (auto feed : {"org/" + e.org_id, e.site_id.empty() ? "" : "site/" + e.site_id})
    if (!feed.empty()) out.emplace_back(feed, event_message(e, feed));
  tx.on_commit([this, out = std::move(out)] {
    for (const auto& [feed, msg] : out) bus_.publish_event(feed, msg);
  });
  return ok();
}

Status Doors::set_uses(WriteTx& tx, const Record& grant, std::int64_t uses) {
  auto now = std::chrono::floor<std::chrono::seconds>(now_ms());
  Record changed = grant;
  changed.body["uses"] = uses;
  changed.version = grant.version + 1;
  changed.updated_at = format_rfc3339(now);
  // Like any write: the grant's new count reaches the feeds that hold it.
  sync::ChangeRecorder rec(tx, grant.org_id, now.time_since_epoch().count());
  if (auto s = rec.write(&grant, &changed); !s) return s;
  auto changes = rec.finish();
  if (!changes) return changes.error();
  tx.on_commit([this, changes = std::move(*changes)] { bus_.publish_changes(changes); });
  return ok();
}

void Doors::open(const OpenRequest& req, std::function<void(OpenOutcome)> done) {
  auto a = std::make_shared<Attempt>();
  a->req = req;
  a->done = std::move(done);
  UnitCommand cmd;
  OpenOutcome denied;
  bool allowed = false;
  Instant now = std::chrono::floor<std::chrono::seconds>(now_ms());
  auto st = store_.write([&](WriteTx& tx) -> Status {
    const auto& org = req.org_id;
    auto user = tx.get(Kind::user, org, req.user_id);
    if (!user) return user.error();
    if (!*user) return Error{401, "unauthorized", "the account no longer exists", ""};
    auto door = tx.get(Kind::door, org, req.door_id);
    if (!door) return door.error();
    if (!*door) return Error{404, "not_found", "door not found", ""};
    auto dc = load_case(tx, org, req.user_id, **door);
    if (!dc) return dc.error();
    a->site_id = dc->site.id;
    // Prefer a grant without a use limit, so limited uses are spent only when needed.
    std::stable_partition(dc->rules.begin(), dc->rules.end(),
                          [](const GrantRule& g) { return !g.max_uses; });
    bool enabled = !bool_field((*user)->body, "disabled");
    bool is_owner = str_field((*user)->body, "role") == "owner";
    auto d = decide_case(*dc, enabled, now, req.override_lockdown && is_owner);
    auto units = tx.list_by(Kind::unit, org, "door_ids", req.door_id);
    if (!units) return units.error();
    if (!units->empty()) a->unit_id = units->front().id;
    json::object after{{"result", "denied"},     {"reason", d.reason}, {"user_id", req.user_id},
                       {"door_id", req.door_id}, {"unit_id", nullptr}, {"command_id", nullptr},
                       {"grant_id", nullptr},    {"via", req.via}};
    if (!a->unit_id.empty()) after["unit_id"] = a->unit_id;
    a->lockdown_override = req.override_lockdown && is_owner && dc->lockdown();
    if (a->lockdown_override) after["lockdown_override"] = true;
    if (!d.allowed) {
      json::object err{{"code", "access_denied"},
                       {"message", denial_message(d.reason)},
                       {"field", ""},
                       {"reason", d.reason}};
      err["next_change"] = d.next_change ? json::value(format_rfc3339(*d.next_change, dc->zone))
                                         : json::value(nullptr);
      denied = OpenOutcome{403, json::object{{"error", std::move(err)}}};
      return log(tx, entry(org, req.user_id, "door.open", req.door_id, a->site_id, after));
    }
    a->grant_id = d.grant_id;
    if (a->unit_id.empty()) {
      after["result"] = "no_unit";
      after["reason"] = nullptr;
      after["grant_id"] = d.grant_id;
      denied = failure(409, "no_unit", "no unit drives this door");
      return log(tx, entry(org, req.user_id, "door.open", req.door_id, a->site_id, after));
    }
    allowed = true;
    // Take one use of a limited grant now, inside the transaction that decided: two opens
    // racing for the last use are serialized here and only one gets it.
    auto rule = std::find_if(dc->rules.begin(), dc->rules.end(),
                             [&](const GrantRule& g) { return g.id == d.grant_id; });
    if (rule != dc->rules.end() && rule->max_uses) {
      auto g = tx.get(Kind::grant, org, d.grant_id);
      if (!g) return g.error();
      if (auto s = set_uses(tx, **g, rule->uses + 1); !s) return s;
      a->reserved = true;
    }
    a->command_id = new_id("cmd");
    cmd.id = a->command_id;
    cmd.org_id = org;
    cmd.unit_id = a->unit_id;
    cmd.door_id = req.door_id;
    auto pulse = dc->door.body.find("pulse_ms");
    cmd.pulse_ms = pulse != dc->door.body.end() && pulse->value().is_int64()
                       ? static_cast<int>(pulse->value().as_int64())
                       : 1000;
    // The unit acts only before expires_at; we wait past it, so a door that opened is never
    // reported as a timeout, and a 504 means the door did not and will not open.
    cmd.expires_at = format_rfc3339_ms(now_ms() + options_.open_timeout);
    cmd.timeout = options_.open_timeout + options_.answer_grace;
    return ok();
  });
  if (!st) {
    if (st.error().status >= 500) spdlog::warn("open {}: {}", req.door_id, st.error().message);
    return a->done(failure(st.error().status, st.error().code, st.error().message));
  }
  if (!allowed) {
    count(denied.status == 403 ? "denied" : "no_unit");
    return a->done(std::move(denied));
  }
  bus_.send_command(cmd, [this, a](CommandResult r) {
    // Called on a network thread: the audit write belongs on the worker pool.
    run_blocking_([this, a, r = std::move(r)] { finish(a, r); });
  });
}

void Doors::finish(std::shared_ptr<Attempt> a, CommandResult r) {
  bool opened = r.result == "opened";
  json::object after{{"result", r.result},        {"reason", nullptr},
                     {"user_id", a->req.user_id}, {"door_id", a->req.door_id},
                     {"unit_id", a->unit_id},     {"command_id", a->command_id},
                     {"grant_id", a->grant_id},   {"via", a->req.via}};
  if (!r.message.empty()) after["message"] = r.message;
  if (a->lockdown_override) after["lockdown_override"] = true;
  auto st = store_.write([&](WriteTx& tx) -> Status {
    if (a->reserved && !opened) {
      // The door did not open: give the use back.
      auto g = tx.get(Kind::grant, a->req.org_id, a->grant_id);
      if (!g) return g.error();
      if (*g) {
        auto uses = (*g)->body.find("uses");
        std::int64_t n =
            uses != (*g)->body.end() && uses->value().is_int64() ? uses->value().as_int64() : 0;
        if (n > 0)
          if (auto s = set_uses(tx, **g, n - 1); !s) return s;
      }
    }
    return log(
        tx, entry(a->req.org_id, a->req.user_id, "door.open", a->req.door_id, a->site_id, after));
  });
  if (!st) spdlog::warn("open {}: logging the result: {}", a->req.door_id, st.error().message);
  count(r.result);
  if (opened) {
    return a->done(OpenOutcome{200, json::object{{"result", "opened"},
                                                 {"door_id", a->req.door_id},
                                                 {"unit_id", a->unit_id},
                                                 {"command_id", a->command_id},
                                                 {"grant_id", a->grant_id},
                                                 {"at", format_rfc3339_ms(now_ms())}}});
  }
  if (r.result == "unit_offline")
    return a->done(failure(409, "unit_offline", "the door's unit is not connected"));
  if (r.result == "unit_timeout" || r.result == "expired")
    return a->done(failure(504, "unit_timeout", "the door's unit did not answer in time"));
  a->done(
      failure(502, "unit_failed",
              "the door's unit could not open it" + (r.message.empty() ? "" : ": " + r.message)));
}

Status Doors::unit_event(const UnitEvent& e) {
  return store_.write([&](WriteTx& tx) -> Status {
    auto now = std::chrono::floor<std::chrono::seconds>(now_ms());
    if (!e.door_id.empty()) {
      auto unit = tx.get(Kind::unit, e.org_id, e.unit_id);
      if (!unit) return unit.error();
      bool drives = false;
      if (*unit)
        if (auto ids = (*unit)->body.find("door_ids");
            ids != (*unit)->body.end() && ids->value().is_array())
          for (const auto& d : ids->value().as_array())
            drives = drives || (d.is_string() && d.as_string() == e.door_id);
      if (!drives) return Error{400, "bad_door", "this unit does not drive door " + e.door_id, ""};
    }
    auto fresh = tx.claim_unit_event(e.unit_id, e.id, now.time_since_epoch().count());
    if (!fresh) return fresh.error();
    if (!*fresh) return ok();  // logged before; the unit did not hear our acknowledgement
    std::string site;
    if (!e.door_id.empty()) {
      auto door = tx.get(Kind::door, e.org_id, e.door_id);
      if (!door) return door.error();
      if (*door) site = str_field((*door)->body, "site_id");
    }
    json::object after{
        {"event", e.event},
        {"event_id", e.id},
        {"unit_id", e.unit_id},
        {"door_id", e.door_id.empty() ? json::value(nullptr) : json::value(e.door_id)},
        {"happened_at", e.at},
        {"command_id", e.command_id.empty() ? json::value(nullptr) : json::value(e.command_id)}};
    // door_opened → door.opened, …
    std::string action = "door." + e.event.substr(e.event.find('_') + 1);
    return log(tx, entry(e.org_id, e.unit_id, action, e.door_id.empty() ? e.unit_id : e.door_id,
                         site, std::move(after)));
  });
}

Status Doors::unit_presence(const std::string& org_id, const std::string& unit_id, bool connected) {
  return store_.write([&](WriteTx& tx) -> Status {
    auto unit = tx.get(Kind::unit, org_id, unit_id);
    if (!unit) return unit.error();
    if (!*unit) return ok();  // deleted meanwhile
    std::string site;
    auto ids = (*unit)->body.find("door_ids");
    if (ids != (*unit)->body.end() && ids->value().is_array() && !ids->value().as_array().empty()) {
      auto door = tx.get(Kind::door, org_id, std::string(ids->value().as_array()[0].as_string()));
      if (door && *door) site = str_field((**door).body, "site_id");
    }
    return log(tx, entry(org_id, unit_id, connected ? "unit.connected" : "unit.disconnected",
                         unit_id, site, json::object{{"unit_id", unit_id}}));
  });
}

}  // namespace portier
