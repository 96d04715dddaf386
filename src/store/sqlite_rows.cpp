#include "store/sqlite_rows.hpp"

#include <sqlite3.h>

#include <boost/json.hpp>

namespace portier::sqlite {
namespace json = boost::json;

const KindMeta& meta(Kind k) {
  static const KindMeta site{"sites", {}}, door{"doors", {"site_id"}}, unit{"units", {}},
      user{"users", {"email"}}, schedule{"schedules", {}},
      grant{"grants", {"user_id", "group_id", "door_id", "site_id", "schedule_id"}},
      group{"groups", {"name"}};
  switch (k) {
    case Kind::site:
      return site;
    case Kind::door:
      return door;
    case Kind::unit:
      return unit;
    case Kind::user:
      return user;
    case Kind::schedule:
      return schedule;
    case Kind::grant:
      return grant;
    case Kind::group:
      return group;
  }
  return site;
}

std::string select_columns(const char* alias) {
  std::string a = *alias ? std::string(alias) + "." : "";
  return a + "id, " + a + "org_id, " + a + "body, " + a + "version, " + a + "created_at, " + a +
         "updated_at";
}

Error constraint_error(Db& db, int rc, bool deleting) {
  std::string msg = sqlite3_errmsg(db.handle());
  switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
      if (msg.find("users.email") != std::string::npos)
        return Error{409, "email_taken", "a user with this email already exists", "email"};
      if (msg.find("unit_doors.door_id") != std::string::npos)
        return Error{409, "door_has_unit", "a door listed is already driven by another unit",
                     "door_ids"};
      if (msg.find("groups.org_id, groups.name") != std::string::npos)
        return Error{409, "name_taken", "a group with this name already exists", "name"};
      return Error{409, "conflict", "conflicts with an existing record", ""};
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      if (deleting)
        return Error{409, "in_use", "other records still refer to this one; remove them first", ""};
      return Error{422, "invalid_reference", "refers to a record that does not exist", ""};
    default:
      return db.error(rc, "write");
  }
}

Result<Record> read_record(Kind kind, const Stmt& s) {
  Record r;
  r.kind = kind;
  r.id = s.text(0);
  r.org_id = s.text(1);
  boost::system::error_code ec;
  auto body = json::parse(s.text(2), ec);
  if (ec || !body.is_object())
    return Error{500, "store_corrupt", "stored record " + r.id + " is not a JSON object", ""};
  r.body = std::move(body.as_object());
  r.version = s.int64(3);
  r.created_at = s.text(4);
  r.updated_at = s.text(5);
  return r;
}

Result<std::vector<Record>> collect(Db& db, Kind kind, Stmt& s) {
  std::vector<Record> out;
  for (;;) {
    int rc = s.step();
    if (rc == SQLITE_DONE) return out;
    if (rc != SQLITE_ROW) return db.error(rc, "read");
    auto r = read_record(kind, s);
    if (!r) return r.error();
    out.push_back(std::move(*r));
  }
}

Status done(Db& db, Stmt& s, bool deleting) {
  int rc = s.step();
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return ok();
  if ((rc & 0xff) == SQLITE_CONSTRAINT) return constraint_error(db, rc, deleting);
  return db.error(rc, "write");
}

}  // namespace portier::sqlite
