#pragma once
// Shared between the API's route files; not for use outside src/server.

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/api.hpp"
#include "server/identity.hpp"
#include "sync/recorder.hpp"

namespace portier::api {
namespace json = boost::json;

// The caller of a REST route: a user (unit credentials are for the stream only) and her record.
struct Actor : Principal {
  Record user;
};

struct Ctx {
  Api& api;
  const Request& req;
  std::optional<Actor> actor;                // set on routes that need a login
  std::map<std::string, std::string> path;   // {id} and friends
  std::map<std::string, std::string> query;  // decoded query parameters
  const Respond* respond = nullptr;          // for handlers that answer later: see defer()
  bool deferred = false;
  const Actor& me() const { return *actor; }
  // Takes over answering: the handler's return value is then ignored and the request is
  // answered when the returned function is called (exactly once, from any thread).
  Respond defer() {
    deferred = true;
    return *respond;
  }
};

using Handler = Result<Response> (*)(Ctx&);

// Responses.
Response json_response(int status, const json::value& v);
Response error_response(const Error& e);
inline Error not_found(const std::string& what) {
  return Error{404, "not_found", what + " not found", ""};
}
inline Error forbidden(const std::string& message) { return Error{403, "forbidden", message, ""}; }
inline Error bad_request(const std::string& code, const std::string& message,
                         const std::string& field = "") {
  return Error{400, code, message, field};
}

// The request body as a JSON object (415 when not JSON, 400 when malformed or too deep).
Result<json::object> parse_body(const Request& req);

// The entity as the API shows it: id, its fields, version, timestamps.
json::object to_json(const Record& r);

// Paging: ?limit= (1–500, default 100) and ?cursor= (opaque).
struct Page {
  std::size_t limit = 100;
  std::string cursor;
};
Result<Page> parse_page(const Ctx& c);
// {items, next_cursor} for records ordered by id, starting after the cursor.
json::object page_of(const std::vector<json::object>& items_by_id, const Page& p);

std::string now_text(const Ctx& c);

// At most `max` bytes of UTF-8 text, cut between characters.
std::string truncate_utf8(std::string_view s, std::size_t max);
// Appends an authentication entry (login, logout, lockout, enrollment) to the audit log; org
// "" keeps it server-wide (no organization sees it). A failure to write is logged: it does
// not change the answer.
void audit_auth(const Ctx& c, const std::string& org, const std::string& actor,
                const std::string& action, const std::string& entity, json::value after);

// Finishes the recorder's changes in this transaction and publishes them (and a revocation)
// on the bus once it commits.
Status commit_changes(WriteTx& tx, Ctx& c, sync::ChangeRecorder& rec,
                      std::optional<Revocation> revoke = std::nullopt);

// After a grant was deleted (after null) or changed in this transaction: when it was the last
// live grant of a guest, her invitation ends (invitation_routes.cpp). The revocation to publish.
Result<std::optional<Revocation>> end_invitation_after(WriteTx& tx, const Ctx& c,
                                                       const json::object& before,
                                                       const json::object* after);

// Appends the audit entry of an admin's change to a record ("created", "updated", "deleted").
Status audit_change(WriteTx& tx, const Ctx& c, const std::string& action, const Record& r,
                    const json::value& before, const json::value& after);

// Route handlers, by file.
Result<Response> login(Ctx& c);  // auth_routes.cpp
Result<Response> logout(Ctx& c);
Result<Response> me(Ctx& c);
Result<Response> list_records(Ctx& c);  // resource_routes.cpp
Result<Response> create_record(Ctx& c);
Result<Response> get_record(Ctx& c);
Result<Response> update_record(Ctx& c);
Result<Response> delete_record(Ctx& c);
Result<Response> access_check(Ctx& c);  // access_routes.cpp
Result<Response> my_doors(Ctx& c);
Result<Response> list_audit(Ctx& c);    // audit_routes.cpp
Result<Response> list_devices(Ctx& c);  // device_routes.cpp
Result<Response> unit_credentials(Ctx& c);
Result<Response> unit_enrollment(Ctx& c);
Result<Response> revoke_unit(Ctx& c);
Result<Response> enroll(Ctx& c);
Result<Response> open_door(Ctx& c);    // door_routes.cpp
Result<Response> import_rows(Ctx& c);  // import_routes.cpp
Result<Response> sign_in_with_code(Ctx& c);
Result<Response> change_password(Ctx& c);    // me_routes.cpp
Result<Response> create_invitation(Ctx& c);  // invitation_routes.cpp
Result<Response> list_invitations(Ctx& c);
Result<Response> get_invitation(Ctx& c);
Result<Response> end_invitation(Ctx& c);
Result<Response> new_invitation_link(Ctx& c);

}  // namespace portier::api
