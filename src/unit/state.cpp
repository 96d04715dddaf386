#include "unit/state.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "client/durable_file.hpp"

namespace portier::unit {
namespace json = boost::json;
using sqlite::Stmt;

Status save_identity(const std::string& dir, const Identity& id) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{500, "io_error", "cannot create " + dir + ": " + ec.message(), ""};
  ::chmod(dir.c_str(), 0700);
  // 0600 from its creation: the credential never sits in a readable file.
  return client::write_file_atomically(dir + "/unit.json",
                                       json::serialize(json::object{{"server", id.server},
                                                                    {"unit_id", id.unit_id},
                                                                    {"credential", id.credential},
                                                                    {"ca_file", id.ca_file}}),
                                       0600);
}

Result<Identity> load_identity(const std::string& dir) {
  std::ifstream f(dir + "/unit.json");
  if (!f)
    return Error{404, "not_enrolled",
                 "no unit.json in " + dir + ": enroll first (portier-unit enroll)", ""};
  std::stringstream ss;
  ss << f.rdbuf();
  boost::system::error_code ec;
  auto v = json::parse(ss.str(), ec);
  if (ec || !v.is_object()) return Error{422, "bad_state", dir + "/unit.json is not JSON", ""};
  Identity id;
  auto get = [&](const char* k) {
    const auto* x = v.as_object().if_contains(k);
    return x && x->is_string() ? std::string(x->as_string()) : std::string();
  };
  id.server = get("server");
  id.unit_id = get("unit_id");
  id.credential = get("credential");
  id.ca_file = get("ca_file");
  if (id.server.empty() || id.unit_id.empty() || id.credential.empty())
    return Error{422, "bad_state", dir + "/unit.json lacks server, unit_id or credential", ""};
  return id;
}

Result<std::unique_ptr<State>> State::open(const std::string& dir) {
  // NOLINTNEXTLINE(modernize-make-unique): the constructor is private.
  auto s = std::unique_ptr<State>(new State());
  std::string path = dir + "/state.db";
  if (auto st = s->db_.open(path); !st) return st.error();
  ::chmod(path.c_str(), 0600);
  // Events and commands must survive a power cut: full sync for this small file.
  if (auto st = s->db_.exec(R"sql(
PRAGMA synchronous=FULL;
CREATE TABLE IF NOT EXISTS replica (
  feed TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (feed, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cursor (feed TEXT PRIMARY KEY, epoch TEXT NOT NULL, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (id TEXT PRIMARY KEY, at_unix INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS commands_at ON commands(at_unix);
)sql");
      !st)
    return st.error();
  return s;
}

std::map<std::string, client::Replica> State::load() {
  std::lock_guard lock(mu_);
  // All or nothing: a cursor without all of its records would claim what is not there. On a
  // failed read the client asks for a snapshot instead.
  std::map<std::string, client::Replica> out;
  auto c = db_.prepare("SELECT feed, epoch, seq FROM cursor");
  if (!c) return {};
  {
    Stmt s(*c);
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      auto& r = out[s.text(0)];
      r.epoch = s.text(1);
      r.seq = s.int64(2);
    }
    if (rc != SQLITE_DONE) return {};
  }
  auto p = db_.prepare("SELECT feed, key, record FROM replica");
  if (!p) return {};
  Stmt s(*p);
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto it = out.find(s.text(0));
    if (it == out.end()) continue;
    boost::system::error_code ec;
    auto v = json::parse(s.text(2), ec);
    if (ec || !v.is_object()) return {};
    it->second.records[s.text(1)] = std::move(v.as_object());
  }
  if (rc != SQLITE_DONE) return {};
  return out;
}

Status State::in_tx(const std::function<Status()>& fn) {
  auto st = db_.exec("BEGIN IMMEDIATE");
  if (st) st = fn();
  if (st) st = db_.exec("COMMIT");
  // A failed COMMIT may or may not have rolled back by itself (SQLITE_FULL, SQLITE_IOERR):
  // never leave a transaction open behind a failure.
  if (!st && !sqlite3_get_autocommit(db_.handle())) (void)db_.exec("ROLLBACK");
  return st;
}

Status State::run(const char* sql, const std::function<void(Stmt&)>& bind) {
  auto p = db_.prepare(sql);
  if (!p) return p.error();
  Stmt s(*p);
  bind(s);
  if (int rc = s.step(); rc != SQLITE_DONE) return db_.error(rc, "state");
  return ok();
}

Status State::set_cursor(const std::string& feed, const std::string& epoch, std::int64_t seq) {
  return run("INSERT OR REPLACE INTO cursor(feed, epoch, seq) VALUES(?1, ?2, ?3)",
             [&](Stmt& s) { s.bind(1, feed).bind(2, epoch).bind(3, seq); });
}

Status State::snapshot(const std::string& feed, const client::Replica& r) {
  std::lock_guard lock(mu_);
  auto st = in_tx([&]() -> Status {
    if (auto s = run("DELETE FROM replica WHERE feed = ?1", [&](Stmt& s) { s.bind(1, feed); }); !s)
      return s;
    // Not a structured binding: clang 14 (clang-tidy) cannot capture one.
    for (const auto& kv : r.records)
      if (auto s = run("INSERT INTO replica(feed, key, record) VALUES(?1, ?2, ?3)",
                       [&](Stmt& s) {
                         s.bind(1, feed).bind(2, kv.first).bind(3, json::serialize(kv.second));
                       });
          !s)
        return s;
    return set_cursor(feed, r.epoch, r.seq);
  });
  if (!st) spdlog::error("state: saving a snapshot of {}: {}", feed, st.error().message);
  return st;
}

Status State::change(const std::string& feed, const std::string& epoch, std::int64_t seq,
                     const std::string& key, const json::object* record) {
  std::lock_guard lock(mu_);
  auto st = in_tx([&]() -> Status {
    auto s =
        record
            ? run("INSERT OR REPLACE INTO replica(feed, key, record) VALUES(?1, ?2, ?3)",
                  [&](Stmt& s) { s.bind(1, feed).bind(2, key).bind(3, json::serialize(*record)); })
            : run("DELETE FROM replica WHERE feed = ?1 AND key = ?2",
                  [&](Stmt& s) { s.bind(1, feed).bind(2, key); });
    if (!s) return s;
    return set_cursor(feed, epoch, seq);
  });
  if (!st) spdlog::error("state: saving change {} of {}: {}", seq, feed, st.error().message);
  return st;
}

Status State::push_event(const json::object& message) {
  std::lock_guard lock(mu_);
  auto p = db_.prepare("INSERT OR IGNORE INTO outbox(event_id, message) VALUES(?1, ?2)");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, std::string(message.at("id").as_string())).bind(2, json::serialize(message));
  if (int rc = s.step(); rc != SQLITE_DONE) return db_.error(rc, "outbox");
  return ok();
}

std::vector<OutboxEvent> State::events(int limit) {
  std::lock_guard lock(mu_);
  std::vector<OutboxEvent> out;
  auto p = db_.prepare("SELECT seq, message FROM outbox ORDER BY seq LIMIT ?1");
  if (!p) return out;
  Stmt s(*p);
  s.bind(1, static_cast<std::int64_t>(limit));
  while (s.step() == SQLITE_ROW) {
    boost::system::error_code ec;
    auto v = json::parse(s.text(1), ec);
    if (!ec && v.is_object()) out.push_back(OutboxEvent{s.int64(0), std::move(v.as_object())});
  }
  return out;
}

Status State::drop_event(const std::string& id) {
  std::lock_guard lock(mu_);
  auto p = db_.prepare("DELETE FROM outbox WHERE event_id = ?1");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, id);
  if (int rc = s.step(); rc != SQLITE_DONE) return db_.error(rc, "outbox");
  return ok();
}

std::int64_t State::pending_events() {
  std::lock_guard lock(mu_);
  auto p = db_.prepare("SELECT count(*) FROM outbox");
  if (!p) return 0;
  Stmt s(*p);
  return s.step() == SQLITE_ROW ? s.int64(0) : 0;
}

Result<bool> State::claim_command(const std::string& id, std::int64_t at_unix) {
  std::lock_guard lock(mu_);
  // Forget ids older than a week (their commands expired long ago), at most once an hour: a
  // range of the at_unix index, not a scan, and not on every command.
  if (at_unix >= next_cleanup_unix_) {
    auto p = db_.prepare("DELETE FROM commands WHERE at_unix < ?1");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, at_unix - 7 * 86400);
    if (int rc = s.step(); rc != SQLITE_DONE) return db_.error(rc, "commands");
    next_cleanup_unix_ = at_unix + 3600;
  }
  auto p = db_.prepare("INSERT OR IGNORE INTO commands(id, at_unix) VALUES(?1, ?2)");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, id).bind(2, at_unix);
  if (int rc = s.step(); rc != SQLITE_DONE) return db_.error(rc, "commands");
  return sqlite3_changes(db_.handle()) == 1;
}

std::int64_t State::scanned_rows() {
  std::lock_guard lock(mu_);
  return db_.full_scan_steps();
}

}  // namespace portier::unit
