// The gpio driver (libgpiod 1.6): one output line per door's relay, optional input lines for
// door sensors. Lines are requested at start, so a wrong chip or line fails at once.
#include <gpiod.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "unit/driver.hpp"

namespace portier::unit {

Result<std::unique_ptr<Driver>> make_gpio_driver(const DriverConfig& c);

Result<GpioLine> parse_gpio_line(const std::string& text) {
  GpioLine g;
  auto a = text.find(':');
  if (a == std::string::npos || a == 0)
    return Error{400, "bad_gpio", "a GPIO line is CHIP:LINE[:active-low], e.g. gpiochip0:17", ""};
  g.chip = text.substr(0, a);
  auto b = text.find(':', a + 1);
  std::string line = text.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
  if (line.empty() || line.size() > 5 || line.find_first_not_of("0123456789") != std::string::npos)
    return Error{400, "bad_gpio", "the line of " + text + " is not a number", ""};
  g.line = static_cast<unsigned>(std::stoul(line));
  if (b != std::string::npos) {
    if (text.substr(b + 1) != "active-low")
      return Error{400, "bad_gpio", "the only line option is active-low (" + text + ")", ""};
    g.active_low = true;
  }
  return g;
}

namespace {

class GpioDriver final : public Driver {
 public:
  ~GpioDriver() override {
    for (auto& t : releases_)
      if (t.joinable()) t.join();
    for (auto* l : lines_) gpiod_line_release(l);
    for (auto& [name, chip] : chips_)
      if (chip) gpiod_chip_close(chip);
  }
  std::string name() const override { return "gpio"; }

  Status init(const DriverConfig& c) {
    for (const auto& [door, g] : c.relays) {
      auto line = request(g, true);
      if (!line) return line.error();
      relays_[door] = *line;
    }
    for (const auto& [door, g] : c.sensors) {
      auto line = request(g, false);
      if (!line) return line.error();
      sensors_[door] = *line;
    }
    if (relays_.empty())
      return Error{400, "bad_gpio", "the gpio driver needs --relay DOOR=CHIP:LINE per door", ""};
    return ok();
  }

  Status pulse(const std::string& door_id, int pulse_ms, const std::string& command_id) override {
    auto it = relays_.find(door_id);
    if (it == relays_.end())
      return Error{404, "no_relay", "no relay line is configured for door " + door_id, ""};
    std::lock_guard lock(mu_);
    if (gpiod_line_set_value(it->second, 1) != 0)
      return Error{500, "driver_error", "cannot set the relay line of " + door_id, ""};
    spdlog::info("gpio relay: door {} energized for {} ms (command {})", door_id, pulse_ms,
                 command_id);
    auto* line = it->second;
    releases_.emplace_back([line, pulse_ms] {
      std::this_thread::sleep_for(std::chrono::milliseconds(pulse_ms));
      gpiod_line_set_value(line, 0);
    });
    return ok();
  }

  std::map<std::string, bool> door_states() override {
    std::map<std::string, bool> out;
    for (const auto& [door, line] : sensors_) {
      int v = gpiod_line_get_value(line);
      if (v >= 0) out[door] = v == 1;
    }
    return out;
  }

 private:
  Result<gpiod_line*> request(const GpioLine& g, bool output) {
    auto& chip = chips_[g.chip];
    if (!chip) chip = gpiod_chip_open_lookup(g.chip.c_str());
    if (!chip)
      return Error{404, "bad_gpio", "cannot open GPIO chip " + g.chip + ": " + std::strerror(errno),
                   ""};
    auto* line = gpiod_chip_get_line(chip, g.line);
    if (!line) return Error{404, "bad_gpio", g.chip + " has no line " + std::to_string(g.line), ""};
    int flags = g.active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    int rc = output ? gpiod_line_request_output_flags(line, "portier-unit", flags, 0)
                    : gpiod_line_request_input_flags(line, "portier-unit", flags);
    if (rc != 0)
      return Error{409, "bad_gpio",
                   "cannot request " + g.chip + ":" + std::to_string(g.line) + " (in use?)", ""};
    lines_.push_back(line);
    return line;
  }

  std::map<std::string, gpiod_chip*> chips_;
  std::vector<gpiod_line*> lines_;
  std::map<std::string, gpiod_line*> relays_, sensors_;
  std::mutex mu_;
  std::vector<std::thread> releases_;
};

}  // namespace

Result<std::unique_ptr<Driver>> make_gpio_driver(const DriverConfig& c) {
  auto d = std::make_unique<GpioDriver>();
  if (auto s = d->init(c); !s) return s.error();
  return std::unique_ptr<Driver>(std::move(d));
}

}  // namespace portier::unit
