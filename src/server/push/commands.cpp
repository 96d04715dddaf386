#include "server/push/commands.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <vector>

namespace portier::push {
namespace net = boost::asio;

void PendingCommands::add(const UnitCommand& cmd, CommandDone done, const Subscriber* via) {
  // On a strand of its own: started and cancelled from different threads, one at a time.
  auto timer = std::make_shared<net::steady_timer>(net::make_strand(io_));
  {
    std::lock_guard lock(mu_);
    pending_[cmd.id] = Pending{cmd.unit_id, via, std::move(done), timer};
  }
  net::post(timer->get_executor(),
            [timer, self = shared_from_this(), id = cmd.id, timeout = cmd.timeout] {
              timer->expires_after(timeout);
              timer->async_wait([self, id](const boost::system::error_code& ec) {
                if (ec) return;
                std::unique_lock lock(self->mu_);
                auto it = self->pending_.find(id);
                if (it != self->pending_.end())
                  self->complete(it, lock, CommandResult{"unit_timeout", "no answer in time"});
              });
            });
}

void PendingCommands::complete(std::map<std::string, Pending>::iterator it,
                               std::unique_lock<std::mutex>& lock, CommandResult r) {
  auto done = std::move(it->second.done);
  auto timer = std::move(it->second.timer);
  pending_.erase(it);
  lock.unlock();
  net::post(timer->get_executor(), [timer] { timer->cancel(); });
  done(std::move(r));
}

void PendingCommands::resolve(const std::string& command_id, const std::string& unit_id,
                              CommandResult r) {
  std::unique_lock lock(mu_);
  auto it = pending_.find(command_id);
  if (it == pending_.end()) return;  // answered already, or timed out
  if (it->second.unit_id != unit_id) return;
  complete(it, lock, std::move(r));
}

void PendingCommands::session_lost(const Subscriber* via) {
  std::vector<std::string> lost;
  {
    std::lock_guard lock(mu_);
    // Commands in flight are few (one per open waiting for its unit): a scan is cheap.
    for (const auto& [id, p] : pending_)
      if (p.via == via) lost.push_back(id);
  }
  for (const auto& id : lost) {
    std::unique_lock lock(mu_);
    auto it = pending_.find(id);
    if (it != pending_.end())
      complete(it, lock,
               CommandResult{"unit_lost",
                             "the unit's connection ended with the command in flight: the door "
                             "may have opened"});
  }
}

std::size_t PendingCommands::size() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

}  // namespace portier::push
