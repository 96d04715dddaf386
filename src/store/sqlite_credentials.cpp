// SqliteStore's credential calls: password sign-in, user tokens, unit credentials, enrollment
// and sign-in codes (the rest of the store is in sqlite_store.cpp).

#include <sqlite3.h>

#include "store/sqlite_rows.hpp"
#include "store/sqlite_store_impl.hpp"

namespace portier {
using sqlite::Db;
using sqlite::done;
using sqlite::read_record;
using sqlite::select_columns;
using sqlite::Stmt;

Result<std::optional<Credentials>> SqliteStore::find_credentials(const std::string& email) {
  auto lease = impl_->lease();
  auto& db = *lease.db;
  auto p = db.prepare("SELECT " + select_columns() +
                      ", password_hash FROM users WHERE email = ?1 COLLATE NOCASE");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, email);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<Credentials>();
  if (rc != SQLITE_ROW) return db.error(rc, "read user");
  auto r = read_record(Kind::user, s);
  if (!r) return r.error();
  return std::optional<Credentials>(Credentials{std::move(*r), s.text(6)});
}

Status SqliteStore::create_token(const std::string& hash, const std::string& user_id,
                                 std::int64_t expires_unix) {
  auto lock = impl_->lock_writer();
  auto& db = impl_->writer;
  auto p = db.prepare("INSERT INTO tokens(hash, user_id, expires_at) VALUES(?1, ?2, ?3)");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, hash).bind(2, user_id).bind(3, expires_unix);
  return done(db, s);
}

Result<std::optional<TokenInfo>> SqliteStore::find_token(const std::string& hash,
                                                         std::int64_t now_unix) {
  auto lease = impl_->lease();
  auto& db = *lease.db;
  auto p = db.prepare(
      "SELECT t.user_id, u.org_id, t.expires_at FROM tokens t JOIN users u ON u.id = t.user_id"
      " WHERE t.hash = ?1 AND t.expires_at > ?2");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, hash).bind(2, now_unix);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<TokenInfo>();
  if (rc != SQLITE_ROW) return db.error(rc, "read token");
  return std::optional<TokenInfo>(TokenInfo{s.text(0), s.text(1), s.int64(2)});
}

Status SqliteStore::delete_token(const std::string& hash) {
  auto lock = impl_->lock_writer();
  auto& db = impl_->writer;
  auto p = db.prepare("DELETE FROM tokens WHERE hash = ?1");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, hash);
  return done(db, s);
}

namespace {

// The unit's one credential, replacing any earlier one.
Status upsert_unit_credential(Db& db, const std::string& unit_id, const std::string& hash,
                              std::int64_t now_unix) {
  auto p = db.prepare(
      "INSERT INTO unit_credentials(hash, unit_id, created_unix) VALUES(?1, ?2, ?3)"
      " ON CONFLICT(unit_id) DO UPDATE SET hash = excluded.hash, created_unix = "
      "excluded.created_unix");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, hash).bind(2, unit_id).bind(3, now_unix);
  return done(db, s);
}

}  // namespace

Status SqliteStore::set_unit_credential(const std::string& unit_id, const std::string& hash,
                                        std::int64_t now_unix) {
  auto lock = impl_->lock_writer();
  return upsert_unit_credential(impl_->writer, unit_id, hash, now_unix);
}

Status SqliteStore::revoke_unit_credential(const std::string& unit_id) {
  return write([&](WriteTx&) -> Status {
    auto& db = impl_->writer;
    for (const char* sql :
         {"DELETE FROM unit_credentials WHERE unit_id = ?1",
          "DELETE FROM enrollment_codes WHERE unit_id = ?1 AND used_unix IS NULL"}) {
      auto p = db.prepare(sql);
      if (!p) return p.error();
      Stmt s(*p);
      s.bind(1, unit_id);
      if (auto st = done(db, s); !st) return st;
    }
    return ok();
  });
}

Status SqliteStore::create_enrollment_code(const std::string& unit_id, const std::string& code_hash,
                                           std::int64_t expires_unix) {
  return write([&](WriteTx&) -> Status {
    auto& db = impl_->writer;
    {
      auto p = db.prepare("DELETE FROM enrollment_codes WHERE unit_id = ?1 AND used_unix IS NULL");
      if (!p) return p.error();
      Stmt s(*p);
      s.bind(1, unit_id);
      if (auto st = done(db, s); !st) return st;
    }
    auto p =
        db.prepare("INSERT INTO enrollment_codes(hash, unit_id, expires_unix) VALUES(?1, ?2, ?3)");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, code_hash).bind(2, unit_id).bind(3, expires_unix);
    return done(db, s);
  });
}

Result<UnitCredential> SqliteStore::redeem_enrollment_code(const std::string& code_hash,
                                                           const std::string& credential_hash,
                                                           std::int64_t now_unix) {
  UnitCredential out;
  auto st = write([&](WriteTx&) -> Status {
    auto& db = impl_->writer;
    {
      auto p = db.prepare(
          "SELECT c.unit_id, u.org_id, c.expires_unix, c.used_unix FROM enrollment_codes c"
          " JOIN units u ON u.id = c.unit_id WHERE c.hash = ?1");
      if (!p) return p.error();
      Stmt s(*p);
      s.bind(1, code_hash);
      int rc = s.step();
      if (rc == SQLITE_DONE)
        return Error{404, "code_invalid", "no such enrollment code; ask an admin for a new one",
                     "code"};
      if (rc != SQLITE_ROW) return db.error(rc, "read enrollment code");
      if (!s.is_null(3))
        return Error{409, "code_used", "this enrollment code was already used", "code"};
      if (s.int64(2) <= now_unix)
        return Error{410, "code_expired", "this enrollment code has expired", "code"};
      out = UnitCredential{s.text(0), s.text(1)};
    }
    {
      auto p = db.prepare("UPDATE enrollment_codes SET used_unix = ?2 WHERE hash = ?1");
      if (!p) return p.error();
      Stmt s(*p);
      s.bind(1, code_hash).bind(2, now_unix);
      if (auto r = done(db, s); !r) return r;
    }
    return upsert_unit_credential(db, out.unit_id, credential_hash, now_unix);
  });
  if (!st) return st.error();
  return out;
}

Result<TokenInfo> SqliteStore::redeem_signin_code(const std::string& code_hash,
                                                  const std::string& token_hash,
                                                  std::int64_t token_expires_unix,
                                                  std::int64_t now_unix) {
  TokenInfo out;
  auto st = write([&](WriteTx&) -> Status {
    auto& db = impl_->writer;
    {
      auto p = db.prepare(
          "SELECT c.user_id, u.org_id, c.expires_unix, c.used_unix FROM signin_codes c"
          " JOIN users u ON u.id = c.user_id WHERE c.hash = ?1");
      if (!p) return p.error();
      Stmt s(*p);
      s.bind(1, code_hash);
      int rc = s.step();
      if (rc == SQLITE_DONE)
        return Error{404, "code_invalid", "no such sign-in code; ask an admin for a new one",
                     "code"};
      if (rc != SQLITE_ROW) return db.error(rc, "read sign-in code");
      if (!s.is_null(3))
        return Error{409, "code_used", "this sign-in code was already used", "code"};
      if (s.int64(2) <= now_unix)
        return Error{410, "code_expired", "this sign-in code has expired", "code"};
      out = TokenInfo{s.text(0), s.text(1), token_expires_unix};
    }
    for (const char* sql : {"UPDATE signin_codes SET used_unix = ?2 WHERE hash = ?1",
                            "INSERT INTO tokens(hash, user_id, expires_at) VALUES(?3, ?4, ?5)"}) {
      auto p = db.prepare(sql);
      if (!p) return p.error();
      Stmt s(*p);
      if (sql[0] == 'U')
        s.bind(1, code_hash).bind(2, now_unix);
      else
        s.bind(3, token_hash).bind(4, out.user_id).bind(5, token_expires_unix);
      if (auto r = done(db, s); !r) return r;
    }
    return ok();
  });
  if (!st) return st.error();
  return out;
}

Result<std::optional<UnitCredential>> SqliteStore::find_unit_credential(const std::string& hash) {
  auto lease = impl_->lease();
  auto& db = *lease.db;
  auto p = db.prepare(
      "SELECT c.unit_id, u.org_id FROM unit_credentials c JOIN units u ON u.id = c.unit_id"
      " WHERE c.hash = ?1");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, hash);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<UnitCredential>();
  if (rc != SQLITE_ROW) return db.error(rc, "read unit credential");
  return std::optional<UnitCredential>(UnitCredential{s.text(0), s.text(1)});
}

}  // namespace portier
