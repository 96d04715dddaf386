// The store's transactions: every read and write of records, grants, feeds, audit, opens in
// flight (ReadTx and WriteTx) on one SQLite connection, and how one ends (sqlite_tx.hpp).

#include "store/sqlite_tx.hpp"

#include <sqlite3.h>

#include <boost/json.hpp>
#include <utility>

#include "store/sqlite_rows.hpp"

namespace portier::sqlite {
namespace json = boost::json;

namespace {

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

// Runs fn inside `begin` … COMMIT on db, rolling back when fn (or the commit) fails.
Status run_tx(Db& db, const char* begin, FeedShared& feeds, const std::string& epoch,
              const std::function<void()>& queued, const std::function<Status(WriteTx&)>& fn) {
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
    if (tx.feeds().queued() && queued) queued();
    return st;
  }
  (void)db.exec("ROLLBACK");
  tx.feeds().rolled_back();
  return st;
}

FeedTx& feeds_of(WriteTx& tx) { return static_cast<Tx&>(tx).feeds(); }

}  // namespace portier::sqlite
