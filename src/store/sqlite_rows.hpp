#pragma once
// Records as rows, shared by the store's transactions and its credential calls: which table
// and mirrored columns each kind has, reading a row back as a Record, and stepping a write
// with SQLite's constraint failures turned into the API's stable errors.

#include <string>
#include <vector>

#include "core/result.hpp"
#include "sqlite/db.hpp"
#include "store/store.hpp"

namespace portier::sqlite {

// Body fields mirrored into columns, for foreign keys, uniqueness and lookups.
struct KindMeta {
  const char* table;
  std::vector<const char*> columns;
};
const KindMeta& meta(Kind k);

// "id, org_id, body, version, created_at, updated_at", each prefixed by `alias.` if given.
std::string select_columns(const char* alias = "");
// A constraint failure as the API's error (409 email_taken, in_use, 422 invalid_reference …).
Error constraint_error(Db& db, int rc, bool deleting);
// The row at `s` (select_columns' order) as a record of `kind`.
Result<Record> read_record(Kind kind, const Stmt& s);
// Runs a query and reads every row as a record.
Result<std::vector<Record>> collect(Db& db, Kind kind, Stmt& s);
// Steps a write: a constraint failure becomes constraint_error's.
Status done(Db& db, Stmt& s, bool deleting = false);

}  // namespace portier::sqlite
