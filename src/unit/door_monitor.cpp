#include "unit/door_monitor.hpp"

namespace portier::unit {

void DoorMonitor::pulsed(const std::string& door, const std::string& command_id,
                         Clock::time_point at, int pulse_ms) {
  auto& d = doors_[door];
  d.command_id = command_id;
  d.command_until = at + std::chrono::milliseconds(pulse_ms) + grace_;
}

std::vector<DoorEvent> DoorMonitor::observe(const std::map<std::string, bool>& open_now,
                                            Clock::time_point at) {
  std::vector<DoorEvent> out;
  for (const auto& [name, open] : open_now) {
    auto& d = doors_[name];
    if (!d.read) {
      d.read = true;
      if (!started_) {  // the unit's first reading: the state it starts from
        d.open = open;
        d.opened_at = at;
        continue;
      }
      d.open = false;  // appeared since: closed until now
    }
    if (open && !d.open) {
      d.open = true;
      d.opened_at = at;
      d.held_reported = false;
      if (!d.command_id.empty() && at <= d.command_until) {
        out.push_back({"door_opened", name, d.command_id});
        d.command_id.clear();  // one opening per command
      } else {
        out.push_back({"door_forced", name, ""});
      }
    } else if (!open && d.open) {
      d.open = false;
      out.push_back({"door_closed", name, ""});
    }
    if (d.open && !d.held_reported && at - d.opened_at >= held_open_after_) {
      d.held_reported = true;
      out.push_back({"door_held_open", name, ""});
    }
  }
  started_ = true;
  return out;
}

}  // namespace portier::unit
