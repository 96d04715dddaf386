// GET /v1/devices (delivery receipts) and POST /v1/units/{id}/credentials.
#include "server/crypto.hpp"
#include "server/policy.hpp"

namespace portier::api {

Result<Response> list_devices(Ctx& c) {
  if (!c.me().is_admin()) return forbidden("only admins see devices");
  auto page = parse_page(c);
  if (!page) return page.error();
  auto devices =
      c.api.devices() ? c.api.devices()->list(c.me().org_id, c.api.now()) : std::vector<Device>{};
  json::array items;
  auto st = c.api.store().read([&](ReadTx& tx) -> Status {
    for (const auto& d : devices) {
      json::array feeds;
      bool current = true;
      for (const auto& [name, f] : d.feeds) {
        // A scoped admin sees the devices reading her sites' feeds, and her own.
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
      if (c.me().scoped()) {
        bool mine = d.user_id == c.me().id;
        for (const auto& [name, f] : d.feeds)
          if (name.rfind("site/", 0) == 0 && c.me().manages_site(name.substr(5))) mine = true;
        if (!mine) continue;
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
  // Devices have no stable order by id here (connected first): page by position.
  std::size_t start = 0;
  if (!page->cursor.empty()) {
    if (page->cursor.find_first_not_of("0123456789") != std::string::npos ||
        page->cursor.size() > 9)
      return bad_request("invalid_parameter", "cursor is a value from next_cursor", "cursor");
    start = std::stoul(page->cursor);
  }
  json::array out;
  for (std::size_t i = start; i < items.size() && out.size() < page->limit; ++i)
    out.push_back(items[i]);
  json::value next = nullptr;
  if (start + out.size() < items.size()) next = std::to_string(start + out.size());
  return json_response(200, json::object{{"items", std::move(out)}, {"next_cursor", next}});
}

Result<Response> unit_credentials(Ctx& c) {
  const auto& id = c.path.at("id");
  auto st = c.api.store().read([&](ReadTx& tx) -> Status {
    auto unit = tx.get(Kind::unit, c.me().org_id, id);
    if (!unit) return unit.error();
    auto view = View::load(c.me(), tx);
    if (!view) return view.error();
    if (!*unit || !view->visible(**unit)) return not_found("unit");
    return check_write(c.me(), Kind::unit, &(*unit)->body, &(*unit)->body, tx);
  });
  if (!st) return st.error();
  std::string token = "ptu_" + new_token().substr(4);
  if (auto s = c.api.store().set_unit_credential(id, token_hash(token),
                                                 c.api.now().time_since_epoch().count());
      !s)
    return s.error();
  // The old credential is dead: so are the sessions that used it.
  c.api.bus().publish_revocation(Revocation{"", id, "", "credentials_changed"});
  return json_response(201, json::object{{"unit_id", id}, {"token", token}});
}

}  // namespace portier::api
