// The command driver: custom hardware behind an executable. Each pulse runs
//   EXE pulse DOOR_ID PULSE_MS
// with PORTIER_COMMAND_ID in its environment; exit status 0 means the door was opened.
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "unit/driver.hpp"

extern char** environ;

namespace portier::unit {

std::unique_ptr<Driver> make_command_driver(const DriverConfig& c);
std::unique_ptr<Driver> make_sim_driver(const std::string& dir);
Result<std::unique_ptr<Driver>> make_gpio_driver(const DriverConfig& c);

namespace {

class CommandDriver final : public Driver {
 public:
  CommandDriver(std::string exe, std::chrono::milliseconds timeout)
      : exe_(std::move(exe)), timeout_(timeout) {}
  std::string name() const override { return "command"; }

  Status pulse(const std::string& door_id, int pulse_ms, const std::string& command_id) override {
    std::string ms = std::to_string(pulse_ms);
    std::string env_cmd = "PORTIER_COMMAND_ID=" + command_id;
    std::vector<char*> argv{const_cast<char*>(exe_.c_str()), const_cast<char*>("pulse"),
                            const_cast<char*>(door_id.c_str()), const_cast<char*>(ms.c_str()),
                            nullptr};
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e) envp.push_back(*e);
    envp.push_back(const_cast<char*>(env_cmd.c_str()));
    envp.push_back(nullptr);
    pid_t pid = 0;
    if (int rc = posix_spawn(&pid, exe_.c_str(), nullptr, nullptr, argv.data(), envp.data());
        rc != 0)
      return Error{500, "driver_error", "cannot run " + exe_ + ": " + std::strerror(rc), ""};
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    int status = 0;
    for (;;) {
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) break;
      if (r < 0) return Error{500, "driver_error", "lost the driver command", ""};
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return Error{504, "driver_timeout", exe_ + " did not finish in time", ""};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return Error{500, "driver_failed",
                   exe_ + " failed (status " +
                       std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")",
                   ""};
    spdlog::info("command relay: door {} pulsed {} ms by {} (command {})", door_id, pulse_ms, exe_,
                 command_id);
    return ok();
  }

 private:
  std::string exe_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

std::unique_ptr<Driver> make_command_driver(const DriverConfig& c) {
  return std::make_unique<CommandDriver>(c.command, c.command_timeout);
}

Result<std::unique_ptr<Driver>> make_driver(const DriverConfig& c) {
  if (c.kind == "sim") return make_sim_driver(c.sim_dir);
  if (c.kind == "gpio") return make_gpio_driver(c);
  if (c.kind == "command") {
    if (c.command.empty() || ::access(c.command.c_str(), X_OK) != 0)
      return Error{400, "bad_driver", "--command must name an executable file", ""};
    return make_command_driver(c);
  }
  return Error{400, "bad_driver", "the driver is sim, gpio or command", ""};
}

}  // namespace portier::unit
