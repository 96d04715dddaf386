// POST /v1/doors/{id}/open: the open path (server/doors.hpp). Answers when the unit has.
#include "server/api_internal.hpp"
#include "server/doors.hpp"

namespace portier::api {

Result<Response> open_door(Ctx& c) {
  Doors* doors = c.api.doors();
  if (!doors) return Error{503, "unavailable", "opening doors is not served here", ""};
  bool override_lockdown = false;
  if (!c.req.body.empty()) {
    auto body = parse_body(c.req);
    if (!body) return body.error();
    for (const auto& [k, v] : *body) {
      if (k != "override_lockdown")
        return invalid(std::string(k), "unknown_field", "unknown field " + std::string(k));
      if (!v.is_bool())
        return invalid("override_lockdown", "invalid_field", "override_lockdown is true or false");
      override_lockdown = v.as_bool();
    }
  }
  if (override_lockdown && !c.me().is_owner())
    return forbidden("only owners may override a lockdown");
  OpenRequest req{c.me().org_id, c.me().id, c.path.at("id"), override_lockdown, "api"};
  auto respond = c.defer();
  doors->open(req,
              [respond](const OpenOutcome& out) { respond(json_response(out.status, out.body)); });
  return Response{};
}

}  // namespace portier::api
