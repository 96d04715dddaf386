#include "sqlite/db.hpp"

namespace portier::sqlite {

Db::~Db() {
  for (auto& [sql, s] : cache_) sqlite3_finalize(s);
  if (db_) sqlite3_close_v2(db_);
}

Status Db::open(const std::string& path, int cache_kib) {
  int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return error(rc, "open " + path);
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, 5000);
  if (auto s = exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
      !s)
    return s;
  // A page cache sized for the hot indexes (a 10,000-grant fan-out touches thousands of
  // pages). No memory map: it would count the file's whole working set in the server's RSS,
  // unbounded; the cache is bounded.
  std::string tune = "PRAGMA cache_size=-" + std::to_string(cache_kib) + ";";
  if (auto s = exec(tune.c_str()); !s) return s;
  return ok();
}

Status Db::exec(const char* sql) {
  char* msg = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &msg);
  if (rc == SQLITE_OK) return ok();
  std::string m = msg ? msg : sqlite3_errstr(rc);
  sqlite3_free(msg);
  // A full disk or a busy store keeps its own code (a failed COMMIT comes through here).
  Error e = error(rc, "exec");
  if (e.code == "store_error") e.message = "store: " + m;
  return e;
}

Result<sqlite3_stmt*> Db::prepare(const std::string& sql) {
  if (auto it = cache_.find(sql); it != cache_.end()) return it->second;
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) return error(rc, "prepare");
  cache_.emplace(sql, s);
  return s;
}

Error Db::error(int rc, std::string_view doing) const {
  std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error{503, "store_busy", "the store is busy; try again", ""};
    case SQLITE_FULL:
      return Error{507, "store_full", "the store's disk is full", ""};
    default:
      return Error{500, "store_error", "store: " + std::string(doing) + ": " + msg, ""};
  }
}

}  // namespace portier::sqlite
