// SqliteStore: opening and migrating the database, transactions (sqlite_tx.cpp), the fan-out,
// statistics, the audit and feed retention. Credentials are in sqlite_credentials.cpp.

#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>
#include <utility>

#include "store/sqlite_schema.hpp"
#include "store/sqlite_store_impl.hpp"
#include "store/sqlite_tx.hpp"

namespace portier {
namespace json = boost::json;
using sqlite::Db;
using sqlite::Stmt;

int SqliteStore::schema_version() { return static_cast<int>(sqlite::migrations().size()); }

namespace {

// Statistics from a bounded sample: cheap on any size, enough for the planner to prefer the
// selective index of each lookup.
Status analyze(Db& db) { return db.exec("PRAGMA analysis_limit=1000; ANALYZE;"); }

}  // namespace

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path, int readers,
                                                       SqliteOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->feeds.inline_max = options.inline_fanout;
  impl->path = path;
  if (auto s = impl->writer.open(path, 64 * 1024); !s) return s.error();
  // Migrate: user_version is the number of migrations applied.
  int version = 0;
  {
    auto p = impl->writer.prepare("PRAGMA user_version");
    if (!p) return p.error();
    Stmt s(*p);
    if (s.step() == SQLITE_ROW) version = static_cast<int>(s.int64(0));
  }
  const auto& all = sqlite::migrations();
  if (version > static_cast<int>(all.size()))
    return Error{500, "store_too_new",
                 "the data was written by a newer portier (schema " + std::to_string(version) +
                     ", this build knows " + std::to_string(all.size()) + ")",
                 ""};
  // Foreign keys are off while migrating (a migration may rebuild a table) and checked before
  // each migration commits.
  if (version < static_cast<int>(all.size()))
    if (auto s = impl->writer.exec("PRAGMA foreign_keys=OFF"); !s) return s.error();
  for (int v = version; v < static_cast<int>(all.size()); ++v) {
    std::string sql = std::string("BEGIN IMMEDIATE;") + all[static_cast<size_t>(v)] +
                      "; PRAGMA user_version = " + std::to_string(v + 1) + ";";
    auto s = impl->writer.exec(sql.c_str());
    if (s) {
      auto p = impl->writer.prepare("PRAGMA foreign_key_check");
      if (!p) return p.error();
      Stmt check(*p);
      if (check.step() == SQLITE_ROW)
        s = Error{500, "store_error", "a foreign key does not hold: " + check.text(0), ""};
    }
    if (s) s = impl->writer.exec("COMMIT");
    if (!s) {
      (void)impl->writer.exec("ROLLBACK");
      return Error{500, "store_migration_failed",
                   "migration " + std::to_string(v + 1) + " failed: " + s.error().message, ""};
    }
  }
  if (auto s = impl->writer.exec("PRAGMA foreign_keys=ON"); !s) return s.error();
  {
    auto p = impl->writer.prepare("SELECT value FROM meta WHERE key = 'epoch'");
    if (!p) return p.error();
    Stmt s(*p);
    if (s.step() != SQLITE_ROW) return Error{500, "store_corrupt", "the store has no epoch", ""};
    impl->epoch = s.text(0);
  }
  // Fresh statistics before the readers open: they load them once, at open.
  if (auto s = analyze(impl->writer); !s) return s.error();
  for (int i = 0; i < readers; ++i) {
    auto db = std::make_unique<Db>();
    if (auto s = db->open(path); !s) return s.error();
    impl->idle_readers.push_back(std::move(db));
  }
  if (auto s = impl->checkpointer.start(path, impl->writer, options.checkpoint_pages,
                                        options.wal_limit_bytes);
      !s)
    return s.error();
  auto store = std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
  return store;
}

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

Status SqliteStore::write(const std::function<Status(WriteTx&)>& fn) {
  auto lock = impl_->lock_writer();
  return sqlite::run_tx(impl_->writer, "BEGIN IMMEDIATE", impl_->feeds, impl_->epoch,
                        impl_->queued_listener, fn);
}

Status SqliteStore::read(const std::function<Status(ReadTx&)>& fn) {
  auto lease = impl_->lease();
  return sqlite::run_tx(*lease.db, "BEGIN", impl_->feeds, impl_->epoch, impl_->queued_listener,
                        [&](WriteTx& tx) { return fn(tx); });
}

Result<bool> SqliteStore::fan_out(std::size_t max_entries) {
  // A writer waiting (an open logging its use, an admin's edit) goes first. The transaction
  // before this one ended for it, but a mutex is not fair: this thread would take the lock
  // back before the woken writer runs, again and again (opens waited 70-100 ms so).
  for (int i = 0; i < 1000 && impl_->writers_waiting.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  bool more = false;
  auto st = write([&](WriteTx& tx) -> Status {
    // One transaction while nobody else waits to write (fewer commits: each one rewrites the
    // pages the entries touched), and never long.
    auto started = std::chrono::steady_clock::now();
    auto yield = [&] {
      return impl_->writers_waiting.load() > 0 ||
             std::chrono::steady_clock::now() - started > std::chrono::milliseconds(25);
    };
    auto r = sqlite::feeds_of(tx).fan_out(max_entries, yield);
    if (!r) return r.error();
    more = *r;
    return ok();
  });
  if (!st) return st.error();
  return more;
}

void SqliteStore::on_queued(std::function<void()> fn) {
  auto lock = impl_->lock_writer();
  impl_->queued_listener = std::move(fn);
}

Status SqliteStore::optimize() {
  auto lock = impl_->lock_writer();
  auto st = analyze(impl_->writer);
  if (st) impl_->stats.fetch_add(1);  // the readers reload them
  return st;
}

std::vector<std::string> SqliteStore::statements() {
  std::vector<std::string> out;
  {
    auto lock = impl_->lock_writer();
    out = impl_->writer.statements();
  }
  std::lock_guard lock(impl_->pool_mu);
  for (const auto& db : impl_->idle_readers)
    for (auto& sql : db->statements()) out.push_back(std::move(sql));
  return out;
}

std::int64_t SqliteStore::full_scan_steps() {
  std::int64_t n = 0;
  {
    auto lock = impl_->lock_writer();
    n = impl_->writer.full_scan_steps();
  }
  std::lock_guard lock(impl_->pool_mu);
  for (const auto& db : impl_->idle_readers) n += db->full_scan_steps();
  return n;
}

Result<std::vector<AuditEntry>> SqliteStore::list_audit(const AuditQuery& q) {
  auto lease = impl_->lease();
  auto& db = *lease.db;
  auto p = db.prepare(
      "SELECT seq, org_id, at, at_unix, actor_id, action, entity_id, site_id, before, after"
      " FROM audit WHERE org_id = ?1"
      " AND (?2 IS NULL OR at_unix >= ?2) AND (?3 IS NULL OR at_unix < ?3)"
      " AND (?4 = '' OR action = ?4 OR substr(action, 1, length(?4) + 1) = ?4 || '.')"
      " AND (?5 = 0 OR seq < ?5) ORDER BY seq DESC LIMIT ?6");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, q.org_id).bind_opt(2, q.from_unix).bind_opt(3, q.to_unix).bind(4, q.kind);
  s.bind(5, q.before_seq).bind(6, static_cast<std::int64_t>(q.limit));
  std::vector<AuditEntry> out;
  for (;;) {
    int rc = s.step();
    if (rc == SQLITE_DONE) return out;
    if (rc != SQLITE_ROW) return db.error(rc, "read audit");
    AuditEntry e;
    e.seq = s.int64(0);
    e.org_id = s.text(1);
    e.at = s.text(2);
    e.at_unix = s.int64(3);
    e.actor_id = s.text(4);
    e.action = s.text(5);
    e.entity_id = s.text(6);
    e.site_id = s.text(7);
    boost::system::error_code ec;
    if (!s.is_null(8)) e.before = json::parse(s.text(8), ec);
    if (!s.is_null(9)) e.after = json::parse(s.text(9), ec);
    out.push_back(std::move(e));
  }
}

Status SqliteStore::prune_feeds(std::int64_t keep_count, std::int64_t older_than_unix) {
  return sqlite::prune_feeds(
      impl_->writer, [this] { return impl_->lock_writer(); }, keep_count, older_than_unix);
}

}  // namespace portier
