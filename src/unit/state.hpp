#pragma once
// The unit's state directory: its identity (unit.json, 0600: server, unit id, credential) and
// a SQLite file (state.db, 0600) holding its feed replica and cursor (so a restart resumes,
// and the access list is known offline), the outbox of door events not yet acknowledged by
// the server (durable: they survive a crash and are sent in order, each exactly once in the
// audit log), and the command ids already executed (one pulse per command, ever).

#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/feed_client.hpp"
#include "core/result.hpp"
#include "sqlite/db.hpp"

namespace portier::unit {

struct Identity {
  std::string server;  // http(s)://host:port
  std::string unit_id;
  std::string credential;  // ptu_…
  std::string ca_file;     // for https: the CA to trust ("" = the system's)
};

// unit.json in the state directory.
Status save_identity(const std::string& dir, const Identity& id);
Result<Identity> load_identity(const std::string& dir);

struct OutboxEvent {
  std::int64_t seq = 0;         // local order
  boost::json::object message;  // {type: "event", id, event, door, at, command_id?}
};

class State final : public client::ReplicaStore {
 public:
  // Opens (creating) DIR/state.db.
  static Result<std::unique_ptr<State>> open(const std::string& dir);

  // ReplicaStore: the feed replica, written before the client applies and acknowledges it;
  // a write that fails is rolled back whole and reported (the client then reconnects).
  std::map<std::string, client::Replica> load() override;
  Status snapshot(const std::string& feed, const client::Replica& r) override;
  Status change(const std::string& feed, const std::string& epoch, std::int64_t seq,
                const std::string& key, const boost::json::object* record) override;

  // Outbox: append (durably) an event, list in order, remove once the server saved it.
  Status push_event(const boost::json::object& message);
  std::vector<OutboxEvent> events(int limit = 100);
  Status drop_event(const std::string& id);
  std::int64_t pending_events();

  // Command ids: true the first time an id is claimed, false ever after.
  Result<bool> claim_command(const std::string& id, std::int64_t at_unix);

  // Rows read by full table scans so far (for tests: the hot paths use their indexes).
  std::int64_t scanned_rows();

 private:
  // Runs fn in BEGIN IMMEDIATE … COMMIT; any failure rolls back: no transaction stays open.
  Status in_tx(const std::function<Status()>& fn);
  // One statement that returns no rows, its step checked.
  Status run(const char* sql, const std::function<void(sqlite::Stmt&)>& bind);
  Status set_cursor(const std::string& feed, const std::string& epoch, std::int64_t seq);

  std::mutex mu_;
  sqlite::Db db_;
  std::int64_t next_cleanup_unix_ = 0;  // when claim_command next forgets old ids
};

}  // namespace portier::unit
