#pragma once
// The hardware behind one narrow interface. A driver pulses a door's relay and, when it has
// a door sensor, reports the door's state; the agent turns states into door events.
//   sim      records each pulse in DIR/relay.log and reads door states from DIR/<door>.door
//            ("open" or "closed"), for tests and the demo
//   gpio     libgpiod: a relay line per door (chip, line, active-low) and optional sensor lines
//   command  runs an executable per pulse: EXE pulse DOOR_ID PULSE_MS (exit 0: opened)

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace portier::unit {

class Driver {
 public:
  virtual ~Driver() = default;
  virtual std::string name() const = 0;
  // Energizes the door's relay for pulse_ms. Returns once the relay is energized (release
  // happens in the background) or with why it could not be.
  virtual Status pulse(const std::string& door_id, int pulse_ms, const std::string& command_id) = 0;
  // The doors with a sensor and whether each is open now (polled by the agent).
  virtual std::map<std::string, bool> door_states() { return {}; }
};

// A GPIO line: "gpiochip0:17" or "gpiochip0:17:active-low".
struct GpioLine {
  std::string chip;
  unsigned line = 0;
  bool active_low = false;
};
Result<GpioLine> parse_gpio_line(const std::string& text);

struct DriverConfig {
  std::string kind = "sim";                 // sim | gpio | command
  std::string sim_dir;                      // sim: where relay.log and <door>.door live
  std::map<std::string, GpioLine> relays;   // gpio: door id -> relay line
  std::map<std::string, GpioLine> sensors;  // gpio: door id -> sensor line (high/active = open)
  std::string command;                      // command: the executable
  std::chrono::milliseconds command_timeout{10000};
};

Result<std::unique_ptr<Driver>> make_driver(const DriverConfig& config);

}  // namespace portier::unit
