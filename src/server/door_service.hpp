#pragma once
// What the push gateway asks of the door side: an app's `open`, a unit's events and its
// presence. Owned here, beside the routes and the open path (`Doors` implements it), so the
// gateway depends on this narrow interface and the door side never on the gateway: the two
// are wired once, at construction, in main.cpp.

#include <boost/json/object.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace portier {

struct OpenRequest {
  std::string org_id;
  std::string user_id;
  std::string door_id;
  bool override_lockdown = false;  // honoured for owners only
  std::string via;                 // "api" or "stream", for the audit log
};

struct OpenOutcome {
  int status = 200;
  // 200: {result: "opened", door_id, unit_id, command_id, grant_id, at};
  // otherwise {error: {code, message, field, reason?, next_change?}}.
  boost::json::object body;
};

// A door unit's report: door_opened, door_closed, door_held_open, door_forced.
struct UnitEvent {
  std::string org_id;
  std::string unit_id;
  std::string id;  // the unit's own id for it: the same event sent twice is logged once
  std::string event;
  std::string door_id;
  std::string at;  // when it happened, at the unit (RFC 3339)
  std::string command_id;
};

// Whether a unit may report this event (door_opened, door_closed, door_held_open, door_forced).
inline bool is_unit_event(std::string_view e) {
  return e == "door_opened" || e == "door_closed" || e == "door_held_open" || e == "door_forced";
}

class DoorService {
 public:
  virtual ~DoorService() = default;
  // Decides an open and sends its command. Call on a worker thread (it reads and writes the
  // store); `done` is called exactly once, from any thread.
  virtual void open(const OpenRequest& req, std::function<void(OpenOutcome)> done) = 0;
  // Logs a unit's event once per (unit, id). Call on a worker thread.
  virtual Status unit_event(const UnitEvent& e) = 0;
  // Logs a unit's connection or disconnection. Call on a worker thread.
  virtual Status unit_presence(const std::string& org_id, const std::string& unit_id,
                               bool connected) = 0;
};

}  // namespace portier
