#include "bus/local_bus.hpp"

namespace portier {

void LocalBus::publish_changes(const sync::FeedChanges& changes) {
  if (!changes || changes->empty()) return;
  std::lock_guard lock(mu_);
  for (auto* l : listeners_) l->on_changes(changes);
}

void LocalBus::publish_revocation(const Revocation& r) {
  std::lock_guard lock(mu_);
  for (auto* l : listeners_) l->on_revocation(r);
}

void LocalBus::publish_event(const std::string& feed, std::shared_ptr<const std::string> message) {
  std::lock_guard lock(mu_);
  for (auto* l : listeners_) l->on_event(feed, message);
}

void LocalBus::send_command(const UnitCommand& cmd, CommandDone done) {
  {
    std::lock_guard lock(mu_);
    for (auto* l : listeners_)
      if (l->on_command(cmd, done)) return;
  }
  done(CommandResult{"unit_offline", "the unit is not connected"});
}

void LocalBus::subscribe(BusListener* listener) {
  std::lock_guard lock(mu_);
  listeners_.push_back(listener);
}

}  // namespace portier
