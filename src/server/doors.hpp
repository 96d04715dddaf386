#pragma once
// The open path and the units' reports. An open is decided from the truth at that instant
// (grant, schedule in the site's zone, validity, remaining uses, user enabled, lockdown); a
// limited grant's use is reserved in the same write transaction, so concurrent opens never
// pass max_uses, and given back when the door did not open. The command goes to the unit
// through the bus; the unit's answer (or unit_offline / unit_timeout) completes the request.
// Every attempt and every unit event is logged in the audit log and pushed live to the
// organization's consoles.
//
// Crash safety: a granted open is logged (door.open_granted) and recorded as in flight in the
// transaction that decides it, marked sent in a second one just before the command leaves,
// and removed in the transaction that logs its outcome. Whatever a crash left in flight is
// settled at the next start: a command never sent gets its use back (result not_sent); one
// that was sent may have run (result unknown, the use stays spent).

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "bus/bus.hpp"
#include "server/clock.hpp"
#include "server/door_service.hpp"
#include "store/store.hpp"

namespace portier {

class Metrics;

struct DoorsOptions {
  // A command expires this long after the open was decided; the server waits that long plus
  // answer_grace for the unit's answer (one sent just before the expiry is still in flight).
  std::chrono::milliseconds open_timeout{5000};
  std::chrono::milliseconds answer_grace{1000};
};

class Doors final : public DoorService {
 public:
  // Runs a blocking task off the network threads (the worker pool).
  using RunBlocking = std::function<void(std::function<void()>)>;
  // `clock` (default: the system's) dates decisions, command expiries and audit entries.
  Doors(Store& store, Bus& bus, RunBlocking run_blocking, DoorsOptions options = {},
        Clock clock = {});

  // Call on a worker thread (reads and writes the store). `done` is called exactly once,
  // from any thread.
  void open(const OpenRequest& req, std::function<void(OpenOutcome)> done) override;

  // Settles the opens a crash left without an outcome (call at start, before serving): logs
  // each as not_sent (use given back) or unknown (sent: it may have run). Returns how many.
  Result<int> settle_interrupted();

  // Logs a unit's event once per (unit, id). Call on a worker thread.
  Status unit_event(const UnitEvent& e) override;
  // Logs a unit's connection or disconnection. Call on a worker thread.
  Status unit_presence(const std::string& org_id, const std::string& unit_id,
                       bool connected) override;

  // Counts opens by result (portier_door_opens_total{result}) from now on.
  void set_metrics(Metrics* m) { metrics_ = m; }

 private:
  struct Attempt;
  // Logs the outcome of an open in flight and answers it (`answer`: the error to answer
  // instead of the one the result implies).
  void finish(std::shared_ptr<Attempt> a, CommandResult r, std::optional<Error> answer = {});
  // In tx: gives a reserved use back unless the door opened or may have, logs the outcome and
  // removes the open from those in flight.
  Status settle(WriteTx& tx, const Attempt& a, const CommandResult& r);
  AuditEntry entry(const std::string& org, const std::string& actor, const std::string& action,
                   const std::string& entity, const std::string& site,
                   boost::json::object after) const;
  Status log(WriteTx& tx, const AuditEntry& e);
  // Writes a grant's use count (through the recorder, so its feeds get the change).
  Status set_uses(WriteTx& tx, const Record& grant, std::int64_t uses);

  Store& store_;
  Bus& bus_;
  RunBlocking run_blocking_;
  DoorsOptions options_;
  Clock clock_;
  std::atomic<Metrics*> metrics_{nullptr};
  void count(const std::string& result);
};

}  // namespace portier
