#pragma once
// The bus of a single node, in-process.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bus/bus.hpp"

namespace portier {

// One node: hands every message straight to the listeners.
class LocalBus final : public Bus {
 public:
  void publish_changes(const sync::FeedChanges& changes) override;
  void publish_revocation(const Revocation& r) override;
  void publish_event(const std::string& feed, std::shared_ptr<const std::string> message) override;
  void send_command(const UnitCommand& cmd, CommandDone done) override;
  void subscribe(BusListener* listener) override;

 private:
  std::mutex mu_;
  std::vector<BusListener*> listeners_;
};

}  // namespace portier
