// GET /v1/audit: the append-only log of admin changes, newest first.
#include "server/api_internal.hpp"

namespace portier::api {

Result<Response> list_audit(Ctx& c) {
  if (!c.me().is_admin()) return forbidden("only admins read the audit log");
  auto page = parse_page(c);
  if (!page) return page.error();
  AuditQuery q;
  q.org_id = c.me().org_id;
  q.limit = static_cast<int>(page->limit);
  for (const char* key : {"from", "to"}) {
    auto it = c.query.find(key);
    if (it == c.query.end()) continue;
    auto t = parse_rfc3339(it->second);
    if (!t)
      return bad_request("invalid_time", std::string(key) + " is an RFC 3339 time with offset",
                         key);
    (std::string_view(key) == "from" ? q.from_unix : q.to_unix) = t->time_since_epoch().count();
  }
  if (auto it = c.query.find("kind"); it != c.query.end()) q.kind = it->second;
  if (!page->cursor.empty()) {
    if (page->cursor.size() > 18 ||
        page->cursor.find_first_not_of("0123456789") != std::string::npos)
      return bad_request("invalid_parameter", "cursor is a value from next_cursor", "cursor");
    q.before_seq = std::stoll(page->cursor);
  }
  json::array items;
  std::int64_t last_seq = 0;
  bool more = true;
  // Scoped admins see entries about their sites; keep reading until the page is full.
  while (items.size() < page->limit && more) {
    auto entries = c.api.store().list_audit(q);
    if (!entries) return entries.error();
    more = static_cast<int>(entries->size()) == q.limit;
    for (const auto& e : *entries) {
      last_seq = e.seq;
      q.before_seq = e.seq;
      if (c.me().scoped() && !c.me().manages_site(e.site_id)) continue;
      items.push_back(json::object{
          {"seq", e.seq},
          {"at", e.at},
          {"actor_id", e.actor_id},
          {"action", e.action},
          {"entity_id", e.entity_id},
          {"site_id", e.site_id.empty() ? json::value(nullptr) : json::value(e.site_id)},
          {"before", e.before},
          {"after", e.after}});
      if (items.size() == page->limit) break;
    }
  }
  json::value next = nullptr;
  if (items.size() == page->limit && last_seq > 1) next = std::to_string(last_seq);
  return json_response(200, json::object{{"items", std::move(items)}, {"next_cursor", next}});
}

}  // namespace portier::api
