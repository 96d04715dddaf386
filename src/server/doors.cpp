#include "server/doors.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/json.hpp>
#include <mutex>

#include "core/error_body.hpp"
#include "core/fields.hpp"
#include "crypto/crypto.hpp"
#include "server/door_case.hpp"
#include "server/metrics.hpp"
#include "sync/recorder.hpp"

namespace portier {
namespace json = boost::json;

namespace {

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
  return OpenOutcome{status, error_body(code, message)};
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

json::value id_or_null(const std::string& id) {
  return id.empty() ? json::value(nullptr) : json::value(id);
}

}  // namespace

// One open in flight: what the audit entry and the answer need once the unit has spoken. Kept
// in the store as JSON while in flight, so a restart can settle it.
struct Doors::Attempt {
  OpenRequest req;
  std::string site_id, unit_id, grant_id, command_id, expires_at;
  bool reserved = false;  // a limited grant's use was taken and is given back unless opened
  bool lockdown_override = false;
  std::function<void(OpenOutcome)> done;

  json::object to_json() const {
    return json::object{{"user_id", req.user_id},
                        {"door_id", req.door_id},
                        {"via", req.via},
                        {"site_id", site_id},
                        {"unit_id", unit_id},
                        {"grant_id", grant_id},
                        {"expires_at", expires_at},
                        {"use_reserved", reserved},
                        {"lockdown_override", lockdown_override}};
  }
  static Attempt from(const OpenInFlight& o) {
    Attempt a;
    const auto& j = o.attempt;
    a.req = OpenRequest{o.org_id, str_field(j, "user_id"), str_field(j, "door_id"), false,
                        str_field(j, "via")};
    a.site_id = str_field(j, "site_id");
    a.unit_id = str_field(j, "unit_id");
    a.grant_id = str_field(j, "grant_id");
    a.command_id = o.command_id;
    a.expires_at = str_field(j, "expires_at");
    a.reserved = bool_field(j, "use_reserved");
    a.lockdown_override = bool_field(j, "lockdown_override");
    return a;
  }
};

Doors::Doors(Store& store, Bus& bus, RunBlocking run_blocking, DoorsOptions options, Clock clock)
    : store_(store),
      bus_(bus),
      run_blocking_(std::move(run_blocking)),
      options_(options),
      clock_(clock ? std::move(clock) : system_clock()) {}

void Doors::count(const std::string& result) {
  if (auto* m = metrics_.load()) m->count("portier_door_opens_total", "result=\"" + result + "\"");
}

AuditEntry Doors::entry(const std::string& org, const std::string& actor, const std::string& action,
                        const std::string& entity, const std::string& site,
                        json::object after) const {
  AuditEntry e;
  auto now = whole_seconds(clock_());
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

Status Doors::log(WriteTx& tx, const AuditEntry& e) {
  if (auto s = tx.append_audit(e); !s) return s;
  // The organization's consoles, and the admins of the entry's site.
  std::vector<std::pair<std::string, std::shared_ptr<const std::string>>> out;
  for (const auto& feed : {"org/" + e.org_id, e.site_id.empty() ? "" : "site/" + e.site_id})
    if (!feed.empty()) out.emplace_back(feed, event_message(e, feed));
  tx.on_commit([this, out = std::move(out)] {
    for (const auto& [feed, msg] : out) bus_.publish_event(feed, msg);
  });
  return ok();
}

Status Doors::set_uses(WriteTx& tx, const Record& grant, std::int64_t uses) {
  auto now = whole_seconds(clock_());
  Record changed = grant;
  changed.body["uses"] = uses;
  changed.version = grant.version + 1;
  changed.updated_at = format_rfc3339(now);
  // Like any write: the grant's new count reaches the feeds that hold it.
  sync::ChangeRecorder rec(tx, grant.org_id, now.time_since_epoch().count());
  if (auto s = rec.write(&grant, &changed); !s) return s;
  auto changes = rec.finish();
  if (!changes) return changes.error();
  tx.on_commit(
      [this, changes = sync::share(std::move(*changes))] { bus_.publish_changes(changes); });
  return ok();
}

void Doors::open(const OpenRequest& req, std::function<void(OpenOutcome)> done) {
  auto a = std::make_shared<Attempt>();
  a->req = req;
  a->done = std::move(done);
  UnitCommand cmd;
  OpenOutcome denied;
  bool allowed = false;
  InstantMs decided = clock_();
  Instant now = whole_seconds(decided);
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
      auto body = error_body("access_denied", denial_message(d.reason));
      auto& err = body["error"].as_object();
      err["reason"] = d.reason;
      err["next_change"] = d.next_change ? json::value(format_rfc3339(*d.next_change, dc->zone))
                                         : json::value(nullptr);
      denied = OpenOutcome{403, std::move(body)};
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
    // The unit acts only before expires_at; we wait past it, so a door that opened is never
    // reported as a timeout, and a 504 means the door did not and will not open.
    a->expires_at = format_rfc3339_ms(decided + options_.open_timeout);
    cmd.id = a->command_id;
    cmd.org_id = org;
    cmd.unit_id = a->unit_id;
    cmd.door_id = req.door_id;
    auto pulse = dc->door.body.find("pulse_ms");
    cmd.pulse_ms = pulse != dc->door.body.end() && pulse->value().is_int64()
                       ? static_cast<int>(pulse->value().as_int64())
                       : 1000;
    cmd.expires_at = a->expires_at;
    cmd.timeout = options_.open_timeout + options_.answer_grace;
    // The decision, and the open in flight, commit together: from here on a crash leaves
    // something the next start settles.
    if (auto s = tx.add_open(
            OpenInFlight{a->command_id, org, false, a->to_json(), now.time_since_epoch().count()});
        !s)
      return s;
    after["result"] = "granted";
    after["reason"] = nullptr;
    after["command_id"] = a->command_id;
    after["grant_id"] = a->grant_id;
    after["use_reserved"] = a->reserved;
    after["expires_at"] = a->expires_at;
    // Not pushed live: consoles see the outcome, a moment later.
    return tx.append_audit(
        entry(org, req.user_id, "door.open_granted", req.door_id, a->site_id, after));
  });
  if (!st) {
    if (st.error().status >= 500) spdlog::warn("open {}: {}", req.door_id, st.error().message);
    return a->done(failure(st.error().status, st.error().code, st.error().message));
  }
  if (!allowed) {
    count(denied.status == 403 ? "denied" : "no_unit");
    return a->done(std::move(denied));
  }
  // Committed before the command leaves: an open found unsent after a crash provably did not
  // run. If this cannot be written, the command is not sent at all.
  if (auto s = store_.write([&](WriteTx& tx) { return tx.mark_open_sent(a->command_id); }); !s) {
    spdlog::warn("open {}: not sent: {}", req.door_id, s.error().message);
    return finish(a, CommandResult{"not_sent", "the command could not be sent"}, s.error());
  }
  bus_.send_command(cmd, [this, a](CommandResult r) {
    // Called on a network thread: the audit write belongs on the worker pool.
    run_blocking_([this, a, r = std::move(r)] { finish(a, r); });
  });
}

Status Doors::settle(WriteTx& tx, const Attempt& a, const CommandResult& r) {
  // The door did not open, and will not: give the use back. `unknown` and `unit_lost` keep it:
  // it may have.
  if (a.reserved && r.result != "opened" && r.result != "unknown" && r.result != "unit_lost") {
    auto g = tx.get(Kind::grant, a.req.org_id, a.grant_id);
    if (!g) return g.error();
    if (*g) {
      auto uses = (*g)->body.find("uses");
      std::int64_t n =
          uses != (*g)->body.end() && uses->value().is_int64() ? uses->value().as_int64() : 0;
      if (n > 0)
        if (auto s = set_uses(tx, **g, n - 1); !s) return s;
    }
  }
  json::object after{{"result", r.result},
                     {"reason", nullptr},
                     {"user_id", a.req.user_id},
                     {"door_id", a.req.door_id},
                     {"unit_id", id_or_null(a.unit_id)},
                     {"command_id", a.command_id},
                     {"grant_id", id_or_null(a.grant_id)},
                     {"via", a.req.via}};
  if (!r.message.empty()) after["message"] = r.message;
  if (a.lockdown_override) after["lockdown_override"] = true;
  auto removed = tx.remove_open(a.command_id);
  if (!removed) return removed.error();
  return log(tx, entry(a.req.org_id, a.req.user_id, "door.open", a.req.door_id, a.site_id, after));
}

void Doors::finish(std::shared_ptr<Attempt> a, CommandResult r, std::optional<Error> answer) {
  auto st = store_.write([&](WriteTx& tx) -> Status { return settle(tx, *a, r); });
  // Not logged: the open stays in flight, and the next start settles it.
  if (!st) spdlog::warn("open {}: logging the result: {}", a->req.door_id, st.error().message);
  count(r.result);
  if (answer) return a->done(failure(answer->status, answer->code, answer->message));
  if (r.result == "opened") {
    return a->done(OpenOutcome{200, json::object{{"result", "opened"},
                                                 {"door_id", a->req.door_id},
                                                 {"unit_id", a->unit_id},
                                                 {"command_id", a->command_id},
                                                 {"grant_id", a->grant_id},
                                                 {"at", format_rfc3339_ms(clock_())}}});
  }
  if (r.result == "unit_offline")
    return a->done(failure(409, "unit_offline", "the door's unit is not connected"));
  if (r.result == "unit_lost")
    return a->done(failure(502, "unit_lost",
                           "the door's unit disconnected with the command in flight: the door may "
                           "have opened"));
  if (r.result == "unit_timeout" || r.result == "expired")
    return a->done(failure(504, "unit_timeout", "the door's unit did not answer in time"));
  a->done(
      failure(502, "unit_failed",
              "the door's unit could not open it" + (r.message.empty() ? "" : ": " + r.message)));
}

Result<int> Doors::settle_interrupted() {
  std::vector<std::string> results;
  auto st = store_.write([&](WriteTx& tx) -> Status {
    results.clear();
    auto opens = tx.opens_in_flight();
    if (!opens) return opens.error();
    for (const auto& o : *opens) {
      // Sent: the unit may have pulsed before the connection died with us. Not sent: nothing
      // left this process, so nothing ran.
      CommandResult r =
          o.sent ? CommandResult{"unknown",
                                 "portierd stopped before the unit answered: the door may have "
                                 "opened"}
                 : CommandResult{"not_sent",
                                 "portierd stopped before the command was sent: the door did "
                                 "not open"};
      if (auto s = settle(tx, Attempt::from(o), r); !s) return s;
      results.push_back(r.result);
    }
    return ok();
  });
  if (!st) return st.error();
  for (const auto& r : results) count(r);
  return static_cast<int>(results.size());
}

Status Doors::unit_event(const UnitEvent& e) {
  return store_.write([&](WriteTx& tx) -> Status {
    auto now = whole_seconds(clock_());
    if (!e.door_id.empty()) {
      auto unit = tx.get(Kind::unit, e.org_id, e.unit_id);
      if (!unit) return unit.error();
      bool drives = false;
      if (*unit)
        for (const auto& d : str_list_field((*unit)->body, "door_ids"))
          drives = drives || d == e.door_id;
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
    auto site = unit_site(tx, org_id, **unit);
    if (!site) return site.error();
    return log(tx, entry(org_id, unit_id, connected ? "unit.connected" : "unit.disconnected",
                         unit_id, *site, json::object{{"unit_id", unit_id}}));
  });
}

}  // namespace portier
