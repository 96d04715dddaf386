#include "store/sqlite_store.hpp"

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include "sqlite/db.hpp"
#include "store/sqlite_checkpointer.hpp"
#include "store/sqlite_feeds.hpp"
#include "store/sqlite_schema.hpp"

namespace portier {
namespace json = boost::json;
using sqlite::Db;
using sqlite::Stmt;

namespace {

// Body fields mirrored into columns, for foreign keys, uniqueness and lookups.
struct KindMeta {
  const char* table;
  std::vector<const char*> columns;
};

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

std::string select_columns(const char* alias = "") {
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

// Runs a query and reads every row as a record.
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

Status done(Db& db, Stmt& s, bool deleting = false) {
  int rc = s.step();
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return ok();
  if ((rc & 0xff) == SQLITE_CONSTRAINT) return constraint_error(db, rc, deleting);
  return db.error(rc, "write");
}

std::optional<std::string> body_string(const json::object& body, const char* field) {
  auto it = body.find(field);
  if (it == body.end() || !it->value().is_string()) return std::nullopt;
  return std::string(it->value().as_string());
}

// Light reads of references, by kind and field: the SQL for ids_by, refs_of and ref_of.
const char* ids_by_sql(Kind kind, std::string_view field) {
  if (kind == Kind::unit && field == "door_ids")
    return "SELECT unit_id FROM unit_doors WHERE door_id = ?1";
  if (kind == Kind::user && field == "group_ids")
    return "SELECT user_id FROM user_groups WHERE group_id = ?1";
  if (kind == Kind::door && field == "site_id") return "SELECT id FROM doors WHERE site_id = ?1";
  if (kind == Kind::grant) {
    if (field == "user_id") return "SELECT id FROM grants WHERE user_id = ?1";
    if (field == "group_id") return "SELECT id FROM grants WHERE group_id = ?1";
    if (field == "door_id") return "SELECT id FROM grants WHERE door_id = ?1";
    if (field == "site_id") return "SELECT id FROM grants WHERE site_id = ?1";
    if (field == "schedule_id") return "SELECT id FROM grants WHERE schedule_id = ?1";
  }
  return nullptr;
}

const char* refs_of_sql(Kind kind, std::string_view field) {
  if (kind == Kind::unit && field == "door_ids")
    return "SELECT door_id FROM unit_doors WHERE unit_id = ?1";
  if (kind == Kind::user && field == "group_ids")
    return "SELECT group_id FROM user_groups WHERE user_id = ?1";
  return nullptr;
}

const char* ref_of_sql(Kind kind, std::string_view field) {
  if (kind == Kind::door && field == "site_id") return "SELECT site_id FROM doors WHERE id = ?1";
  return nullptr;
}

// The FROM clause of a grant match: the grants, and their doors when the match names a site
// of the grant's door (the doors of the site, then the grants on each).
std::string grant_from(const GrantMatch& m) {
  return m.door_site.empty() ? " FROM grants g" : " FROM doors d JOIN grants g ON g.door_id = d.id";
}

// The WHERE clause of a grant match: the fields set, each bound to its own parameter.
std::string grant_where(const GrantMatch& m) {
  std::string w;
  auto add = [&](const std::string& v, const char* cond) {
    if (v.empty()) return;
    w += w.empty() ? " WHERE " : " AND ";
    w += cond;
  };
  add(m.id, "g.id = ?1");
  add(m.user_id, "g.user_id = ?2");
  add(m.group_id, "g.group_id = ?3");
  add(m.door_id, "g.door_id = ?4");
  add(m.site_id, "g.site_id = ?5");
  add(m.schedule_id, "g.schedule_id = ?6");
  add(m.door_site, "d.site_id = ?7");
  return w;
}

void bind_match(Stmt& s, const GrantMatch& m) {
  int i = 1;
  for (const std::string* v :
       {&m.id, &m.user_id, &m.group_id, &m.door_id, &m.site_id, &m.schedule_id, &m.door_site}) {
    if (!v->empty()) s.bind(i, *v);
    ++i;
  }
}

class Tx final : public WriteTx {
 public:
  Tx(Db& db, sqlite::FeedShared& feeds, const std::string& epoch)
      : db_(db), shared_(feeds), feeds_(db, feeds, epoch) {}

  Result<std::optional<Record>> get(Kind kind, const std::string& org_id,
                                    const std::string& id) override {
    auto p = db_.prepare("SELECT " + select_columns() + " FROM " + meta(kind).table +
                         " WHERE id = ?1 AND org_id = ?2");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, id).bind(2, org_id);
    auto rows = collect(db_, kind, s);
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<Record>();
    return std::optional<Record>(std::move(rows->front()));
  }

  Result<std::vector<Record>> list(Kind kind, const std::string& org_id) override {
    auto p = db_.prepare("SELECT " + select_columns() + " FROM " + meta(kind).table +
                         " WHERE org_id = ?1 ORDER BY id");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, org_id);
    return collect(db_, kind, s);
  }

  Result<std::vector<Record>> list_by(Kind kind, const std::string& org_id, std::string_view field,
                                      const std::string& value) override {
    std::string sql;
    if (kind == Kind::unit && field == "door_ids") {
      sql = "SELECT " + select_columns("u") +
            " FROM units u JOIN unit_doors ud ON ud.unit_id = u.id"
            " WHERE +u.org_id = ?1 AND ud.door_id = ?2";
    } else if (kind == Kind::group && field == "name") {
      sql = "SELECT " + select_columns() +
            " FROM groups WHERE org_id = ?1 AND name = ?2 COLLATE NOCASE";
    } else if (kind == Kind::user && field == "group_ids") {
      sql = "SELECT " + select_columns("u") +
            " FROM users u JOIN user_groups ug ON ug.user_id = u.id"
            " WHERE +u.org_id = ?1 AND ug.group_id = ?2";
    } else {
      const auto& cols = meta(kind).columns;
      bool known = false;
      for (const char* c : cols) known = known || field == c;
      // Callers name fields from the fixed list above; anything else is a bug, not input.
      if (!known) return Error{500, "store_error", "no index on " + std::string(field), ""};
      // "+org_id": the organization check must not pick the (org_id, id) index, which walks
      // every record of the organization; the reference's own index finds the few.
      sql = "SELECT " + select_columns() + " FROM " + meta(kind).table +
            " WHERE +org_id = ?1 AND " + std::string(field) + " = ?2";
    }
    auto p = db_.prepare(sql);
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, org_id).bind(2, value);
    return collect(db_, kind, s);
  }

  Result<std::vector<std::string>> ids_by(Kind kind, std::string_view field,
                                          const std::string& value) override {
    return strings(ids_by_sql(kind, field), value, field);
  }

  Result<std::vector<std::string>> refs_of(Kind kind, const std::string& id,
                                           std::string_view field) override {
    return strings(refs_of_sql(kind, field), id, field);
  }

  Result<std::optional<std::string>> ref_of(Kind kind, const std::string& id,
                                            std::string_view field) override {
    const char* sql = ref_of_sql(kind, field);
    // Callers name fields from the fixed list above; anything else is a bug, not input.
    if (!sql) return Error{500, "store_error", "no reference " + std::string(field), ""};
    auto p = db_.prepare(sql);
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, id);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return db_.error(rc, "read");
    return std::optional<std::string>(s.text(0));
  }

  Result<bool> exists(Kind kind, const std::string& id) override {
    auto p = db_.prepare(std::string("SELECT 1 FROM ") + meta(kind).table + " WHERE id = ?1");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, id);
    int rc = s.step();
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return db_.error(rc, "read");
  }

  Result<std::vector<GrantRef>> grant_refs(const GrantMatch& m) override {
    auto p = db_.prepare("SELECT g.id, g.user_id, g.group_id, g.door_id, g.site_id, g.schedule_id" +
                         grant_from(m) + grant_where(m));
    if (!p) return p.error();
    Stmt s(*p);
    bind_match(s, m);
    std::vector<GrantRef> out;
    for (;;) {
      int rc = s.step();
      if (rc == SQLITE_DONE) return out;
      if (rc != SQLITE_ROW) return db_.error(rc, "read grants");
      out.push_back(GrantRef{s.text(0), s.text(1), s.text(2), s.text(3), s.text(4), s.text(5)});
    }
  }

  Result<GrantTargets> grant_targets(const GrantMatch& m) override {
    auto p = db_.prepare("SELECT g.user_id, g.group_id, g.door_id, g.site_id" + grant_from(m) +
                         grant_where(m));
    if (!p) return p.error();
    Stmt s(*p);
    bind_match(s, m);
    GrantTargets out;
    std::vector<std::string>* lists[] = {&out.users, &out.groups, &out.doors, &out.sites};
    for (;;) {
      int rc = s.step();
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return db_.error(rc, "read grants");
      for (int col = 0; col < 4; ++col) {
        auto v = s.view(col);
        auto& list = *lists[col];
        if (!v.empty() && (list.empty() || list.back() != v)) list.emplace_back(v);
      }
    }
    for (auto* list : lists) {
      std::sort(list->begin(), list->end());
      list->erase(std::unique(list->begin(), list->end()), list->end());
    }
    return out;
  }

  Result<bool> grant_exists(const GrantMatch& m) override {
    auto p = db_.prepare("SELECT EXISTS(SELECT 1" + grant_from(m) + grant_where(m) + ")");
    if (!p) return p.error();
    Stmt s(*p);
    bind_match(s, m);
    int rc = s.step();
    if (rc != SQLITE_ROW) return db_.error(rc, "read grants");
    return s.int64(0) != 0;
  }

  Result<std::optional<Org>> org(const std::string& org_id) override {
    auto p = db_.prepare("SELECT id, name, created_at FROM orgs WHERE id = ?1");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, org_id);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<Org>();
    if (rc != SQLITE_ROW) return db_.error(rc, "read org");
    return std::optional<Org>(Org{s.text(0), s.text(1), s.text(2)});
  }

  Result<FeedHead> feed_head(const std::string& feed) override { return feeds_.head(feed); }

  Result<std::vector<FeedEntry>> read_feed(const std::string& feed, std::int64_t after_seq,
                                           int limit) override {
    return feeds_.read(feed, after_seq, limit);
  }

  Result<std::vector<std::pair<std::string, std::string>>> guests_signed_in(
      std::int64_t now_unix) override {
    // The partial index users_guests (migration 8) holds the guests alone.
    auto p = db_.prepare(
        "SELECT u.org_id, u.id FROM users u WHERE json_extract(u.body, '$.guest') = 1 AND ("
        "EXISTS(SELECT 1 FROM tokens t WHERE t.user_id = u.id) OR "
        "EXISTS(SELECT 1 FROM signin_codes c WHERE c.user_id = u.id AND c.used_unix IS NULL"
        " AND c.expires_unix > ?1))");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, now_unix);
    std::vector<std::pair<std::string, std::string>> out;
    for (;;) {
      int rc = s.step();
      if (rc == SQLITE_DONE) return out;
      if (rc != SQLITE_ROW) return db_.error(rc, "read guests");
      out.emplace_back(s.text(0), s.text(1));
    }
  }

  Status expire_signin_codes(const std::string& user_id, std::int64_t now_unix) override {
    auto p = db_.prepare(
        "UPDATE signin_codes SET expires_unix = ?2"
        " WHERE user_id = ?1 AND used_unix IS NULL AND expires_unix > ?2");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, user_id).bind(2, now_unix);
    return done(db_, s);
  }

  Status set_token_expiry(const std::string& token_hash, std::int64_t expires_unix) override {
    auto p = db_.prepare("UPDATE tokens SET expires_at = ?2 WHERE hash = ?1");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, token_hash).bind(2, expires_unix);
    return done(db_, s);
  }

  Status add_signin_code(const std::string& code_hash, const std::string& user_id,
                         std::int64_t expires_unix) override {
    auto p =
        db_.prepare("INSERT INTO signin_codes(hash, user_id, expires_unix) VALUES(?1, ?2, ?3)");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, code_hash).bind(2, user_id).bind(3, expires_unix);
    return done(db_, s);
  }

  Result<std::int64_t> add_change(const std::string& body, std::int64_t at_unix) override {
    auto p = db_.prepare("INSERT INTO changes(at_unix, body) VALUES(?1, ?2)");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, at_unix).bind(2, body);
    if (auto st = done(db_, s); !st) return st.error();
    return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_.handle()));
  }

  Result<std::vector<std::int64_t>> append(const std::vector<FeedAppend>& entries) override {
    return feeds_.append(entries);
  }

  sqlite::FeedTx& feeds() { return feeds_; }

  void on_commit(std::function<void()> fn) override { commit_hooks_.push_back(std::move(fn)); }
  std::uint64_t feeds_version() override { return shared_.version.load(); }
  void moved_feeds() override { moved_ = true; }
  bool moved() const { return moved_; }
  std::vector<std::function<void()>>& commit_hooks() { return commit_hooks_; }

  Status insert_org(const Org& org) override {
    auto p = db_.prepare("INSERT INTO orgs(id, name, created_at) VALUES(?1, ?2, ?3)");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, org.id).bind(2, org.name).bind(3, org.created_at);
    return done(db_, s);
  }

  Status insert(const Record& r) override {
    const auto& m = meta(r.kind);
    std::string cols = "id, org_id, body, version, created_at, updated_at";
    std::string vals = "?1, ?2, ?3, ?4, ?5, ?6";
    int i = 7;
    for (const char* c : m.columns) {
      cols += std::string(", ") + c;
      vals += ", ?" + std::to_string(i++);
    }
    auto p =
        db_.prepare(std::string("INSERT INTO ") + m.table + "(" + cols + ") VALUES(" + vals + ")");
    if (!p) return p.error();
    {
      Stmt s(*p);
      s.bind(1, r.id).bind(2, r.org_id).bind(3, json::serialize(r.body)).bind(4, r.version);
      s.bind(5, r.created_at).bind(6, r.updated_at);
      i = 7;
      for (const char* c : m.columns) s.bind_opt(i++, body_string(r.body, c));
      if (auto st = done(db_, s); !st) return st;
    }
    return sync_lists(r, false);
  }

  Status update(const Record& r) override {
    const auto& m = meta(r.kind);
    std::string sets = "body = ?3, version = ?4, updated_at = ?5";
    int i = 6;
    for (const char* c : m.columns) sets += std::string(", ") + c + " = ?" + std::to_string(i++);
    auto p = db_.prepare(std::string("UPDATE ") + m.table + " SET " + sets +
                         " WHERE id = ?1 AND org_id = ?2");
    if (!p) return p.error();
    {
      Stmt s(*p);
      s.bind(1, r.id).bind(2, r.org_id).bind(3, json::serialize(r.body)).bind(4, r.version);
      s.bind(5, r.updated_at);
      i = 6;
      for (const char* c : m.columns) s.bind_opt(i++, body_string(r.body, c));
      if (auto st = done(db_, s); !st) return st;
    }
    return sync_lists(r, true);
  }

  Status remove(Kind kind, const std::string& id) override {
    auto p = db_.prepare(std::string("DELETE FROM ") + meta(kind).table + " WHERE id = ?1");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, id);
    return done(db_, s, true);
  }

  Status set_password(const std::string& user_id, const std::string& hash) override {
    auto p = db_.prepare("UPDATE users SET password_hash = ?2 WHERE id = ?1");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, user_id).bind(2, hash);
    return done(db_, s);
  }

  Status revoke_tokens(const std::string& user_id) override {
    auto p = db_.prepare("DELETE FROM tokens WHERE user_id = ?1");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, user_id);
    return done(db_, s);
  }

  Status append_audit(const AuditEntry& e) override {
    auto p = db_.prepare(
        "INSERT INTO audit(org_id, at, at_unix, actor_id, action, entity_id, site_id, before, "
        "after)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, e.org_id).bind(2, e.at).bind(3, e.at_unix).bind(4, e.actor_id).bind(5, e.action);
    s.bind(6, e.entity_id).bind(7, e.site_id);
    if (e.before.is_null())
      s.bind_null(8);
    else
      s.bind(8, json::serialize(e.before));
    if (e.after.is_null())
      s.bind_null(9);
    else
      s.bind(9, json::serialize(e.after));
    return done(db_, s);
  }

  Result<bool> claim_unit_event(const std::string& unit_id, const std::string& event_id,
                                std::int64_t at_unix) override {
    auto p = db_.prepare(
        "INSERT OR IGNORE INTO unit_events(unit_id, event_id, at_unix) VALUES(?1, ?2, ?3)");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, unit_id).bind(2, event_id).bind(3, at_unix);
    if (auto st = done(db_, s); !st) return st.error();
    return sqlite3_changes(db_.handle()) == 1;
  }

  Status add_open(const OpenInFlight& o) override {
    auto p = db_.prepare(
        "INSERT INTO open_commands(command_id, org_id, sent, attempt, decided_unix)"
        " VALUES(?1, ?2, ?3, ?4, ?5)");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, o.command_id).bind(2, o.org_id).bind(3, std::int64_t{o.sent});
    s.bind(4, json::serialize(o.attempt)).bind(5, o.decided_unix);
    return done(db_, s);
  }

  Status mark_open_sent(const std::string& command_id) override {
    auto p = db_.prepare("UPDATE open_commands SET sent = 1 WHERE command_id = ?1");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, command_id);
    return done(db_, s);
  }

  Result<bool> remove_open(const std::string& command_id) override {
    auto p = db_.prepare("DELETE FROM open_commands WHERE command_id = ?1");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, command_id);
    if (auto st = done(db_, s); !st) return st.error();
    return sqlite3_changes(db_.handle()) == 1;
  }

  Result<std::vector<OpenInFlight>> opens_in_flight() override {
    auto p = db_.prepare(
        "SELECT command_id, org_id, sent, attempt, decided_unix FROM open_commands"
        " ORDER BY decided_unix, command_id");
    if (!p) return p.error();
    Stmt s(*p);
    std::vector<OpenInFlight> out;
    for (;;) {
      int rc = s.step();
      if (rc == SQLITE_DONE) return out;
      if (rc != SQLITE_ROW) return db_.error(rc, "read");
      OpenInFlight o{s.text(0), s.text(1), s.int64(2) != 0, {}, s.int64(4)};
      boost::system::error_code ec;
      auto v = json::parse(s.text(3), ec);
      if (!ec && v.is_object()) o.attempt = std::move(v.as_object());
      out.push_back(std::move(o));
    }
  }

 private:
  // Mirrors a record's id lists into their tables (unit.door_ids, user.group_ids).
  Status sync_lists(const Record& r, bool replacing) {
    const char *field, *clear, *insert;
    if (r.kind == Kind::unit) {
      field = "door_ids";
      clear = "DELETE FROM unit_doors WHERE unit_id = ?1";
      insert = "INSERT INTO unit_doors(unit_id, door_id) VALUES(?1, ?2)";
    } else if (r.kind == Kind::user) {
      field = "group_ids";
      clear = "DELETE FROM user_groups WHERE user_id = ?1";
      insert = "INSERT INTO user_groups(user_id, group_id) VALUES(?1, ?2)";
    } else {
      return ok();
    }
    if (replacing) {
      auto d = db_.prepare(clear);
      if (!d) return d.error();
      Stmt s(*d);
      s.bind(1, r.id);
      if (auto st = done(db_, s); !st) return st;
    }
    auto it = r.body.find(field);
    if (it == r.body.end() || !it->value().is_array()) return ok();
    auto p = db_.prepare(insert);
    if (!p) return p.error();
    for (const auto& d : it->value().as_array()) {
      if (!d.is_string()) continue;
      Stmt s(*p);
      s.bind(1, r.id).bind(2, std::string_view(d.as_string()));
      if (auto st = done(db_, s); !st) return st;
    }
    return ok();
  }

  // The first column of every row of a one-parameter query.
  Result<std::vector<std::string>> strings(const char* sql, const std::string& arg,
                                           std::string_view field) {
    // Callers name fields from the fixed lists above; anything else is a bug, not input.
    if (!sql) return Error{500, "store_error", "no index on " + std::string(field), ""};
    auto p = db_.prepare(sql);
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, arg);
    std::vector<std::string> out;
    for (;;) {
      int rc = s.step();
      if (rc == SQLITE_DONE) return out;
      if (rc != SQLITE_ROW) return db_.error(rc, "read");
      out.push_back(s.text(0));
    }
  }

  Db& db_;
  sqlite::FeedShared& shared_;
  sqlite::FeedTx feeds_;
  bool moved_ = false;
  std::vector<std::function<void()>> commit_hooks_;
};

}  // namespace

struct SqliteStore::Impl {
  std::string epoch;
  std::mutex write_mu;
  std::atomic<int> writers_waiting{0};
  // Takes the write lock, counted as waiting until it has it: the fan-out yields to waiters.
  std::unique_lock<std::mutex> lock_writer() {
    writers_waiting.fetch_add(1);
    std::unique_lock lock(write_mu);
    writers_waiting.fetch_sub(1);
    return lock;
  }
  Db writer;
  sqlite::Checkpointer checkpointer;  // stops before the writer closes
  sqlite::FeedShared feeds;
  std::function<void()> queued_listener;  // set before serving
  std::mutex pool_mu;
  std::condition_variable pool_cv;
  std::vector<std::unique_ptr<Db>> idle_readers;
  // Statistics: optimize() bumps `stats`; a reader opened before that is opened again before
  // its next use. SQLite reads sqlite_stat1 only when a connection loads the schema, ANALYZE
  // on the writer does not make the others load it again, and asking a reader to reload them
  // (ANALYZE sqlite_schema) takes the write lock. Without this, readers kept the statistics of
  // when they opened: a table of one row then, scanned whole at 10,000.
  std::string path;
  std::atomic<std::uint64_t> stats{0};
  std::unordered_map<const Db*, std::uint64_t> stats_of;  // under pool_mu

  // Borrows a reader connection for the scope of the returned guard.
  struct Lease {
    Impl* impl;
    std::unique_ptr<Db> db;
    ~Lease() {
      std::lock_guard lock(impl->pool_mu);
      impl->idle_readers.push_back(std::move(db));
      impl->pool_cv.notify_one();
    }
  };
  Lease lease() {
    std::unique_lock lock(pool_mu);
    pool_cv.wait(lock, [&] { return !idle_readers.empty(); });
    auto db = std::move(idle_readers.back());
    idle_readers.pop_back();
    auto now = stats.load();
    if (stats_of[db.get()] != now) {
      // A fresh connection (its page cache was no use anyway: every commit voids it). If it
      // cannot open, the old one goes on with its old plans.
      auto fresh = std::make_unique<Db>();
      if (fresh->open(path)) {
        stats_of.erase(db.get());
        db = std::move(fresh);
        stats_of[db.get()] = now;
      }
    }
    return Lease{this, std::move(db)};
  }

  // Runs fn inside BEGIN … COMMIT on db, rolling back when fn fails.
  Status in_tx(Db& db, const char* begin, const std::function<Status(Tx&)>& fn) {
    if (auto s = db.exec(begin); !s) return s;
    Tx tx(db, feeds, epoch);
    Status st = fn(tx);
    if (st) {
      if (auto c = db.exec("COMMIT"); !c) {
        (void)db.exec("ROLLBACK");
        tx.feeds().rolled_back();
        return c;
      }
      tx.feeds().committed();
      if (tx.moved()) feeds.version.fetch_add(1);
      for (auto& hook : tx.commit_hooks()) hook();
      if (tx.feeds().queued() && queued_listener) queued_listener();
      return st;
    }
    (void)db.exec("ROLLBACK");
    tx.feeds().rolled_back();
    return st;
  }
};

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
  return impl_->in_tx(impl_->writer, "BEGIN IMMEDIATE", [&](Tx& tx) { return fn(tx); });
}

Status SqliteStore::read(const std::function<Status(ReadTx&)>& fn) {
  auto lease = impl_->lease();
  return impl_->in_tx(*lease.db, "BEGIN", [&](Tx& tx) { return fn(tx); });
}

Result<bool> SqliteStore::fan_out(std::size_t max_entries) {
  // A writer waiting (an open logging its use, an admin's edit) goes first. The transaction
  // before this one ended for it, but a mutex is not fair: this thread would take the lock
  // back before the woken writer runs, again and again (opens waited 70-100 ms so).
  for (int i = 0; i < 1000 && impl_->writers_waiting.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  bool more = false;
  auto st = write([&](WriteTx& wtx) -> Status {
    auto& tx = static_cast<Tx&>(wtx);
    // One transaction while nobody else waits to write (fewer commits: each one rewrites the
    // pages the entries touched), and never long.
    auto started = std::chrono::steady_clock::now();
    auto yield = [&] {
      return impl_->writers_waiting.load() > 0 ||
             std::chrono::steady_clock::now() - started > std::chrono::milliseconds(25);
    };
    auto r = tx.feeds().fan_out(max_entries, yield);
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
