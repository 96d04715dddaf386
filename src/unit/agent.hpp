#pragma once
// The unit agent: one push connection (the SDK's FeedClient, with backoff and resume) reading
// the unit's feed into its State; commands from the server are checked (expired? seen
// before? a door of this unit?) and executed by the driver, and the result goes back; door
// sensor readings become events, kept in the State's outbox until the server saved them.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "unit/door_monitor.hpp"
#include "unit/driver.hpp"
#include "unit/state.hpp"

namespace portier::unit {

struct AgentOptions {
  std::string name;                     // shown to admins (default: the unit's name on the server)
  std::chrono::milliseconds poll{100};  // sensor polling
  std::chrono::milliseconds held_open_after{30000};
};

class Agent {
 public:
  Agent(Identity identity, State& state, Driver& driver, AgentOptions options);
  ~Agent();
  // Runs until `stop` is set or the server revokes the unit. Returns why it stopped ("" when
  // asked to).
  std::string run(const std::atomic<bool>& stop);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace portier::unit
