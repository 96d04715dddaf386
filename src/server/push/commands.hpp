#pragma once
// Commands this node sent to its units' sessions, waiting for their answers. Each completes
// exactly once: with the unit's answer, with unit_lost when the session it went through ends
// first (the unit may have run it), or with unit_timeout.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "bus/bus.hpp"

namespace portier::push {

class Subscriber;

class PendingCommands : public std::enable_shared_from_this<PendingCommands> {
 public:
  // `io`: where the timeouts run.
  explicit PendingCommands(boost::asio::any_io_executor io) : io_(std::move(io)) {}

  // Waits for the answer to `cmd`, sent through session `via`, for cmd.timeout. Make with
  // make_shared.
  void add(const UnitCommand& cmd, CommandDone done, const Subscriber* via);
  // A unit answers: completes the command once; an answer from another unit than the
  // addressee, or after completion, is ignored.
  void resolve(const std::string& command_id, const std::string& unit_id, CommandResult r);
  // The session `via` ended: what was sent through it and is unanswered is unit_lost.
  void session_lost(const Subscriber* via);
  // Commands waiting now.
  std::size_t size() const;

 private:
  struct Pending {
    std::string unit_id;
    const Subscriber* via;
    CommandDone done;
    std::shared_ptr<boost::asio::steady_timer> timer;
  };
  // Completes one under the lock's protection, then calls done outside it.
  void complete(std::map<std::string, Pending>::iterator it, std::unique_lock<std::mutex>& lock,
                CommandResult r);

  boost::asio::any_io_executor io_;
  mutable std::mutex mu_;
  std::map<std::string, Pending> pending_;
};

}  // namespace portier::push
