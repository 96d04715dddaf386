#pragma once
// SqliteStore: the embedded default. WAL, foreign keys on, versioned migrations at open,
// prepared statements cached per connection. One writer connection (SQLite allows one
// writer at a time) and a small pool of readers that never block it.

#include <memory>
#include <string>

#include "store/store.hpp"

namespace portier {

struct SqliteOptions {
  // A write lists its changes in their feeds itself up to this many entries (and when nothing
  // is queued); larger fan-outs are queued, and Store::fan_out writes them as rows later.
  std::size_t inline_fanout = 256;
  // The log is copied back once it holds this many pages, and cut back to this many bytes
  // whenever the writer starts it over.
  int checkpoint_pages = 1000;
  std::int64_t wal_limit_bytes = 64 << 20;
};

class SqliteStore final : public Store {
 public:
  // Opens (creating if needed) the database file and migrates it to the current schema.
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path, int readers = 4,
                                                   SqliteOptions options = {});
  ~SqliteStore() override;

  // The schema version this build writes.
  static int schema_version();

  Status write(const std::function<Status(WriteTx&)>& fn) override;
  Status read(const std::function<Status(ReadTx&)>& fn) override;
  Result<std::optional<Credentials>> find_credentials(const std::string& email) override;
  Status create_token(const std::string& hash, const std::string& user_id,
                      std::int64_t expires_unix) override;
  Result<std::optional<TokenInfo>> find_token(const std::string& hash,
                                              std::int64_t now_unix) override;
  Status delete_token(const std::string& hash) override;
  Status set_unit_credential(const std::string& unit_id, const std::string& hash,
                             std::int64_t now_unix) override;
  Status revoke_unit_credential(const std::string& unit_id) override;
  Result<std::optional<UnitCredential>> find_unit_credential(const std::string& hash) override;
  Result<TokenInfo> redeem_signin_code(const std::string& code_hash, const std::string& token_hash,
                                       std::int64_t token_expires_unix,
                                       std::int64_t now_unix) override;
  Status create_enrollment_code(const std::string& unit_id, const std::string& code_hash,
                                std::int64_t expires_unix) override;
  Result<UnitCredential> redeem_enrollment_code(const std::string& code_hash,
                                                const std::string& credential_hash,
                                                std::int64_t now_unix) override;
  Result<std::vector<AuditEntry>> list_audit(const AuditQuery& q) override;
  Status prune_feeds(std::int64_t keep_count, std::int64_t older_than_unix) override;
  Result<bool> fan_out(std::size_t max_entries) override;
  void on_queued(std::function<void()> fn) override;
  Status optimize() override;

  // The SQL of every statement prepared so far (for tests of query plans).
  std::vector<std::string> statements();
  // Rows its connections' cached statements visited in full table scans (for tests: a hot
  // lookup that scans is a bug).
  std::int64_t full_scan_steps();

  struct Impl;

 private:
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace portier
