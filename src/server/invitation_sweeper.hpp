#pragma once
// Ends guests' invitations on time. When a guest's last grant runs out (its valid_until
// passes) her tokens die, her unused sign-in links expire and her sessions close: a
// Revocation on the bus, reason `invitation_ended` (invitations.hpp). One thread sleeps until
// the next invitation ends — or a minute at most, or until a grant changes (it listens to the
// bus for that) — and sweeps. Only guests still holding a token or a live link are looked at.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "bus/bus.hpp"
#include "core/time.hpp"
#include "store/store.hpp"

namespace portier {

class InvitationSweeper final : public BusListener {
 public:
  using Clock = std::function<Instant()>;
  InvitationSweeper(Store& store, Bus& bus, Clock clock = {},
                    std::chrono::seconds max_wait = std::chrono::seconds(60));
  ~InvitationSweeper() override;
  InvitationSweeper(const InvitationSweeper&) = delete;
  InvitationSweeper& operator=(const InvitationSweeper&) = delete;

  // Starts the thread (its first pass ends what ended while the server was down).
  void start();
  // Stops and joins it.
  void stop();
  // Sweeps again soon (a grant changed: an end may have moved).
  void wake();

  struct Pass {
    int ended = 0;                // invitations ended by this pass
    std::optional<Instant> next;  // when the next one ends, if one does
  };
  // One pass at `now`: ends every invitation that is over (each in its own transaction,
  // its revocation published once that commits) and says when the next one ends.
  Result<Pass> sweep(Instant now);

  // Bus: a change to a grant in an organization's feed wakes the sweeper; nothing else.
  void on_changes(const sync::FeedChanges& changes) override;
  void on_revocation(const Revocation&) override {}
  void on_event(const std::string&, std::shared_ptr<const std::string>) override {}
  bool on_command(const UnitCommand&, const CommandDone&) override { return false; }

 private:
  void run();

  Store& store_;
  Bus& bus_;
  Clock clock_;
  std::chrono::seconds max_wait_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false, stopping_ = false;
  std::thread thread_;
};

}  // namespace portier
