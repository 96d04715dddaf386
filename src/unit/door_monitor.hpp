#pragma once
// Turns door sensor readings into door events (pure: the caller passes the time):
//   door_opened     opened within a command's pulse (plus a grace period)
//   door_forced     opened without a command
//   door_held_open  still open `held_open_after` after it opened (once per opening)
//   door_closed     closed again

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace portier::unit {

struct DoorEvent {
  std::string event;
  std::string door;
  std::string command_id;  // door_opened: the command that opened it
};

class DoorMonitor {
 public:
  using Clock = std::chrono::steady_clock;
  explicit DoorMonitor(std::chrono::milliseconds held_open_after,
                       std::chrono::milliseconds grace = std::chrono::seconds(10))
      : held_open_after_(held_open_after), grace_(grace) {}

  // A command energized the door's relay at `at` for pulse_ms.
  void pulsed(const std::string& door, const std::string& command_id, Clock::time_point at,
              int pulse_ms);
  // The sensor states read at `at`; returns what happened since the last reading. The first
  // reading is the state the unit starts from: it makes no events. A door whose sensor first
  // appears in a later reading (a sim file written after start, a sensor read that failed at
  // start) was closed until then, so appearing open is an opening.
  std::vector<DoorEvent> observe(const std::map<std::string, bool>& open_now, Clock::time_point at);

 private:
  struct Door {
    bool read = false;  // a sensor reading has been seen
    bool open = false;
    Clock::time_point opened_at{};
    bool held_reported = false;
    std::string command_id;  // the last command
    Clock::time_point command_until{};
  };
  std::chrono::milliseconds held_open_after_, grace_;
  bool started_ = false;  // the first reading has been seen
  std::map<std::string, Door> doors_;
};

}  // namespace portier::unit
