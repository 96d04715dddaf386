// The sim driver: a relay that writes what it does to a file, and door sensors read from
// files a test (or a person at the demo) writes.
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "core/time.hpp"
#include "unit/driver.hpp"

namespace portier::unit {

std::unique_ptr<Driver> make_sim_driver(const std::string& dir);

namespace {

class SimDriver final : public Driver {
 public:
  explicit SimDriver(std::string dir) : dir_(std::move(dir)) {}
  std::string name() const override { return "sim"; }

  Status pulse(const std::string& door_id, int pulse_ms, const std::string& command_id) override {
    std::lock_guard lock(mu_);
    auto now =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    std::ofstream f(dir_ + "/relay.log", std::ios::app);
    f << format_rfc3339_ms(now) << " pulse " << door_id << " " << pulse_ms << "ms " << command_id
      << "\n";
    f.flush();
    if (!f) return Error{500, "driver_error", "cannot write " + dir_ + "/relay.log", ""};
    spdlog::info("sim relay: door {} energized for {} ms (command {})", door_id, pulse_ms,
                 command_id);
    return ok();
  }

  std::map<std::string, bool> door_states() override {
    std::map<std::string, bool> out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
      if (e.path().extension() != ".door") continue;
      std::ifstream f(e.path());
      std::string state;
      f >> state;
      if (state == "open" || state == "closed") out[e.path().stem().string()] = state == "open";
    }
    return out;
  }

 private:
  std::string dir_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<Driver> make_sim_driver(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return std::make_unique<SimDriver>(dir);
}

}  // namespace portier::unit
