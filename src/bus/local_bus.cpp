#include "bus/bus.hpp"

namespace portier {

void LocalBus::publish_changes(const std::vector<sync::FeedChange>& changes) {
  if (changes.empty()) return;
  std::lock_guard lock(mu_);
  for (auto* l : listeners_) l->on_changes(changes);
}

void LocalBus::publish_revocation(const Revocation& r) {
  std::lock_guard lock(mu_);
  for (auto* l : listeners_) l->on_revocation(r);
}

void LocalBus::subscribe(BusListener* listener) {
  std::lock_guard lock(mu_);
  listeners_.push_back(listener);
}

}  // namespace portier
