#pragma once
// A thin RAII layer over one sqlite3 connection with a per-connection statement cache.
// Used by the SQLite store and the unit agent's state.

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace portier::sqlite {

// A cached prepared statement in use; resets and clears its bindings when it goes out of scope.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Stmt& bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind_null(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  Stmt& bind_opt(int i, const std::optional<std::string>& v) {
    return v ? bind(i, std::string_view(*v)) : bind_null(i);
  }
  Stmt& bind_opt(int i, const std::optional<std::int64_t>& v) {
    return v ? bind(i, *v) : bind_null(i);
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(s_); }
  std::string text(int col) const {
    auto p = sqlite3_column_text(s_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(s_, col)))
             : std::string();
  }
  // The text of a column, valid until the next step (empty for NULL).
  std::string_view view(int col) const {
    auto p = sqlite3_column_text(s_, col);
    return p ? std::string_view(reinterpret_cast<const char*>(p),
                                static_cast<size_t>(sqlite3_column_bytes(s_, col)))
             : std::string_view();
  }
  std::int64_t int64(int col) const { return sqlite3_column_int64(s_, col); }
  bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* s_;
};

class Db {
 public:
  Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  // Opens the file with WAL, foreign keys, a busy timeout and a page cache of cache_kib.
  Status open(const std::string& path, int cache_kib = 4 * 1024);
  // Runs SQL with no result rows (may hold several statements).
  Status exec(const char* sql);
  // The cached statement for this SQL text, prepared on first use.
  Result<sqlite3_stmt*> prepare(const std::string& sql);
  // The error for the connection's last failure, mapped to a stable code.
  Error error(int rc, std::string_view doing) const;
  sqlite3* handle() const { return db_; }
  // The SQL of every statement prepared on this connection.
  std::vector<std::string> statements() const {
    std::vector<std::string> out;
    for (const auto& [sql, s] : cache_) out.push_back(sql);
    return out;
  }
  // Rows visited by full table scans in the cached statements so far (a hot path that scans
  // is a bug; tests hold them to their indexes).
  std::int64_t full_scan_steps() const {
    std::int64_t n = 0;
    for (const auto& [sql, s] : cache_)
      n += sqlite3_stmt_status(s, SQLITE_STMTSTATUS_FULLSCAN_STEP, 0);
    return n;
  }

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*, std::less<>> cache_;
};

}  // namespace portier::sqlite
