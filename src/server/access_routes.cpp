// GET /v1/access/check and GET /v1/me/doors: access decisions from the truth at an instant.
#include "core/fields.hpp"
#include "server/door_case.hpp"
#include "server/policy.hpp"

namespace portier::api {
namespace {

json::value when(const std::optional<Instant>& t, Zone zone) {
  if (!t) return nullptr;
  return json::value(format_rfc3339(*t, zone));
}

}  // namespace

Result<Response> access_check(Ctx& c) {
  std::string user_id = c.query.count("user_id") ? c.query.at("user_id") : c.me().id;
  if (!c.query.count("door_id")) return bad_request("required", "door_id is required", "door_id");
  std::string door_id = c.query.at("door_id");
  Instant at = c.api.now();
  if (auto it = c.query.find("at"); it != c.query.end()) {
    auto t = parse_rfc3339(it->second);
    if (!t) return bad_request("invalid_time", "at is an RFC 3339 time with offset", "at");
    at = *t;
  }
  if (!c.me().is_admin() && user_id != c.me().id)
    return forbidden("members may check their own access only");
  json::object out;
  auto st = c.api.store().read([&](ReadTx& tx) -> Status {
    auto view = View::load(c.me(), tx);
    if (!view) return view.error();
    auto user = tx.get(Kind::user, c.me().org_id, user_id);
    if (!user) return user.error();
    if (!*user || !view->visible(**user)) return not_found("user");
    auto door = tx.get(Kind::door, c.me().org_id, door_id);
    if (!door) return door.error();
    if (!*door || !view->visible(**door)) return not_found("door");
    auto dc = load_case(tx, c.me().org_id, user_id, **door);
    if (!dc) return dc.error();
    auto d = decide_case(*dc, !bool_field((*user)->body, "disabled"), at);
    out = json::object{
        {"user_id", user_id},
        {"door_id", door_id},
        {"at", format_rfc3339(at, dc->zone)},
        {"allowed", d.allowed},
        {"reason", d.reason},
        {"next_change", when(d.next_change, dc->zone)},
        {"grant_id", d.grant_id.empty() ? json::value(nullptr) : json::value(d.grant_id)},
        {"group_id", nullptr}};
    // A grant to one of her groups says which group lets her in.
    for (const auto& g : dc->grants)
      if (g.id == d.grant_id && !str_field(g.body, "group_id").empty())
        out["group_id"] = str_field(g.body, "group_id");
    return ok();
  });
  if (!st) return st.error();
  return json_response(200, out);
}

Result<Response> my_doors(Ctx& c) {
  auto page = parse_page(c);
  if (!page) return page.error();
  Instant now = c.api.now();
  std::vector<json::object> items;
  auto st = c.api.store().read([&](ReadTx& tx) -> Status {
    const auto& org = c.me().org_id;
    // Her grants and her groups' grants, read once for every door.
    auto grants = grants_of_user(tx, org, c.me().id);
    if (!grants) return grants.error();
    std::set<std::string> door_ids;
    for (const auto& g : *grants) {
      if (auto d = str_field(g.body, "door_id"); !d.empty()) door_ids.insert(d);
      if (auto s = str_field(g.body, "site_id"); !s.empty()) {
        auto doors = tx.list_by(Kind::door, org, "site_id", s);
        if (!doors) return doors.error();
        for (const auto& d : *doors) door_ids.insert(d.id);
      }
    }
    // std::set: ordered by id, as paging needs; one page (and one more to know there is more).
    for (auto it = door_ids.upper_bound(page->cursor);
         it != door_ids.end() && items.size() <= page->limit; ++it) {
      const auto& id = *it;
      auto door = tx.get(Kind::door, org, id);
      if (!door) return door.error();
      if (!*door) continue;
      auto dc = case_from(tx, org, *grants, **door);
      if (!dc) return dc.error();
      json::array windows;
      bool usable = false;
      for (std::size_t i = 0; i < dc->grants.size(); ++i) {
        const auto& g = dc->grants[i];
        const auto& rule = dc->rules[i];
        bool exhausted = rule.max_uses && rule.uses >= *rule.max_uses;
        if (exhausted || now >= rule.valid_until) continue;  // nothing left to show
        usable = true;
        json::value schedule = nullptr;
        if (auto sid = str_field(g.body, "schedule_id"); !sid.empty()) {
          const auto& s = dc->schedule_records.at(sid);
          schedule = json::object{{"id", s.id},
                                  {"name", s.body.at("name")},
                                  {"windows", s.body.at("windows")},
                                  {"exceptions", s.body.at("exceptions")}};
        }
        json::value remaining = nullptr;
        if (rule.max_uses) remaining = *rule.max_uses - rule.uses;
        auto group = str_field(g.body, "group_id");
        windows.push_back(json::object{
            {"grant_id", g.id},
            {"group_id", group.empty() ? json::value(nullptr) : json::value(group)},
            {"schedule", schedule},
            {"valid_from",
             g.body.contains("valid_from") ? g.body.at("valid_from") : json::value(nullptr)},
            {"valid_until",
             g.body.contains("valid_until") ? g.body.at("valid_until") : json::value(nullptr)},
            {"max_uses",
             g.body.contains("max_uses") ? g.body.at("max_uses") : json::value(nullptr)},
            {"remaining_uses", remaining}});
      }
      if (!usable) continue;
      auto d = decide_case(*dc, true, now);
      items.push_back(
          json::object{{"id", id},
                       {"door", to_json(dc->door)},
                       {"site", json::object{{"id", dc->site.id},
                                             {"name", dc->site.body.at("name")},
                                             {"timezone", dc->site.body.at("timezone")}}},
                       {"allowed_now", d.allowed},
                       {"reason", d.reason},
                       {"next_change", when(d.next_change, dc->zone)},
                       {"grants", std::move(windows)}});
    }
    return ok();
  });
  if (!st) return st.error();
  return json_response(200, page_of(items, *page));
}

}  // namespace portier::api
