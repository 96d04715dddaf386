// Versioned migrations of the SQLite schema, applied in order at open. Never edit a shipped
// migration: add the next one.
#include "store/sqlite_schema.hpp"

namespace portier::sqlite {

const std::vector<const char*>& migrations() {
  static const std::vector<const char*> m = {
      // 1: organizations, entities, credentials, tokens, audit.
      R"sql(
CREATE TABLE orgs (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE sites (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id),
  body TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX sites_org ON sites(org_id, id);
CREATE TABLE doors (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id),
  site_id TEXT NOT NULL REFERENCES sites(id),
  body TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX doors_org ON doors(org_id, id);
CREATE INDEX doors_site ON doors(site_id);
CREATE TABLE units (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id),
  body TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX units_org ON units(org_id, id);
-- Each door is driven by at most one unit.
CREATE TABLE unit_doors (
  unit_id TEXT NOT NULL REFERENCES units(id) ON DELETE CASCADE,
  door_id TEXT NOT NULL UNIQUE REFERENCES doors(id),
  PRIMARY KEY (unit_id, door_id)
);
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id),
  email TEXT NOT NULL UNIQUE COLLATE NOCASE,
  password_hash TEXT,
  body TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX users_org ON users(org_id, id);
CREATE TABLE schedules (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id),
  body TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX schedules_org ON schedules(org_id, id);
CREATE TABLE grants (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id),
  user_id TEXT NOT NULL REFERENCES users(id),
  door_id TEXT REFERENCES doors(id),
  site_id TEXT REFERENCES sites(id),
  schedule_id TEXT REFERENCES schedules(id),
  body TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  CHECK ((door_id IS NULL) <> (site_id IS NULL))
);
CREATE INDEX grants_org ON grants(org_id, id);
CREATE INDEX grants_user ON grants(user_id);
CREATE INDEX grants_door ON grants(door_id);
CREATE INDEX grants_site ON grants(site_id);
CREATE INDEX grants_schedule ON grants(schedule_id);
CREATE TABLE tokens (
  hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  expires_at INTEGER NOT NULL
);
CREATE INDEX tokens_user ON tokens(user_id);
CREATE INDEX tokens_expiry ON tokens(expires_at);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  org_id TEXT NOT NULL,
  at TEXT NOT NULL,
  at_unix INTEGER NOT NULL,
  actor_id TEXT NOT NULL,
  action TEXT NOT NULL,
  entity_id TEXT NOT NULL,
  site_id TEXT NOT NULL,
  before TEXT,
  after TEXT
);
CREATE INDEX audit_org_time ON audit(org_id, at_unix);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql",
      // 2: the change feeds (transactional outbox). A change is stored once and listed in
      // every feed it reaches; feeds hold their head and the oldest seq still retained.
      R"sql(
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
INSERT INTO meta(key, value) VALUES('epoch', lower(hex(randomblob(8))));
CREATE TABLE changes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at_unix INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE TABLE feeds (
  feed TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  first_seq INTEGER NOT NULL
);
CREATE TABLE feed_log (
  feed TEXT NOT NULL,
  seq INTEGER NOT NULL,
  change_id INTEGER NOT NULL REFERENCES changes(id),
  PRIMARY KEY (feed, seq)
) WITHOUT ROWID;
CREATE INDEX feed_log_change ON feed_log(change_id);
CREATE INDEX changes_at ON changes(at_unix);
)sql",
      // 3: unit credentials (one live credential per unit, stored as a hash).
      R"sql(
CREATE TABLE unit_credentials (
  hash TEXT PRIMARY KEY,
  unit_id TEXT NOT NULL UNIQUE REFERENCES units(id) ON DELETE CASCADE,
  created_unix INTEGER NOT NULL
);
)sql",
      // 4: single-use enrollment codes, exchanged by a unit for its credential.
      R"sql(
CREATE TABLE enrollment_codes (
  hash TEXT PRIMARY KEY,
  unit_id TEXT NOT NULL REFERENCES units(id) ON DELETE CASCADE,
  expires_unix INTEGER NOT NULL,
  used_unix INTEGER
);
CREATE INDEX enrollment_codes_unit ON enrollment_codes(unit_id);
)sql",
      // 5: ids of the events units uploaded, so a re-sent event is logged once.
      R"sql(
CREATE TABLE unit_events (
  unit_id TEXT NOT NULL REFERENCES units(id) ON DELETE CASCADE,
  event_id TEXT NOT NULL,
  at_unix INTEGER NOT NULL,
  PRIMARY KEY (unit_id, event_id)
) WITHOUT ROWID;
)sql",
      // 6: scale. Groups of users (a grant names a user or a group); grant indexes that match
      // every membership lookup of the change recorder; feeds by integer id, their entries
      // keyed (feed_id, seq) so a change reaching 10,000 feeds writes compact rows; and the
      // fan-out queue: changes committed with their write, listed in their feeds afterwards in
      // short transactions. A feed's head is max(its newest entry, base_seq): base_seq keeps
      // it when pruning drops every entry.
      R"sql(
CREATE TABLE groups (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id),
  name TEXT NOT NULL,
  body TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX groups_org ON groups(org_id, id);
CREATE UNIQUE INDEX groups_name ON groups(org_id, name COLLATE NOCASE);
CREATE TABLE user_groups (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  group_id TEXT NOT NULL REFERENCES groups(id),
  PRIMARY KEY (user_id, group_id)
) WITHOUT ROWID;
CREATE INDEX user_groups_group ON user_groups(group_id, user_id);
CREATE TABLE grants_v6 (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES orgs(id),
  user_id TEXT REFERENCES users(id),
  group_id TEXT REFERENCES groups(id),
  door_id TEXT REFERENCES doors(id),
  site_id TEXT REFERENCES sites(id),
  schedule_id TEXT REFERENCES schedules(id),
  body TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  CHECK ((door_id IS NULL) <> (site_id IS NULL)),
  CHECK ((user_id IS NULL) <> (group_id IS NULL))
);
INSERT INTO grants_v6(id, org_id, user_id, door_id, site_id, schedule_id, body, version,
                      created_at, updated_at)
  SELECT id, org_id, user_id, door_id, site_id, schedule_id, body, version, created_at, updated_at
  FROM grants;
DROP TABLE grants;
ALTER TABLE grants_v6 RENAME TO grants;
CREATE INDEX grants_org ON grants(org_id, id);
CREATE INDEX grants_user_door ON grants(user_id, door_id);
CREATE INDEX grants_user_site ON grants(user_id, site_id);
CREATE INDEX grants_group_door ON grants(group_id, door_id);
CREATE INDEX grants_group_site ON grants(group_id, site_id);
-- The lookups that can return thousands of grants (a shared schedule, a busy door, a site)
-- read every reference from the index alone.
CREATE INDEX grants_door ON grants(door_id, schedule_id, user_id, group_id, site_id, id);
CREATE INDEX grants_site ON grants(site_id, schedule_id, user_id, group_id, door_id, id);
CREATE INDEX grants_schedule ON grants(schedule_id, user_id, group_id, door_id, site_id, id);
CREATE TABLE feed_names (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  base_seq INTEGER NOT NULL DEFAULT 0
);
INSERT INTO feed_names(name, base_seq) SELECT feed, seq FROM feeds ORDER BY feed;
CREATE TABLE feed_entries (
  feed_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  change_id INTEGER NOT NULL,
  PRIMARY KEY (feed_id, seq)
) WITHOUT ROWID;
INSERT INTO feed_entries(feed_id, seq, change_id)
  SELECT n.id, l.seq, l.change_id FROM feed_log l JOIN feed_names n ON n.name = l.feed;
DROP TABLE feed_log;
DROP TABLE feeds;
CREATE INDEX feed_entries_change ON feed_entries(change_id);
CREATE TABLE fanout_jobs (
  id INTEGER PRIMARY KEY,
  done INTEGER NOT NULL DEFAULT 0,
  total INTEGER NOT NULL,
  entries TEXT NOT NULL
);
)sql",
      // 7: single-use sign-in codes (a user signs in once with a code instead of a password:
      // imported users, invited guests). Stored as hashes.
      R"sql(
CREATE TABLE signin_codes (
  hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  expires_unix INTEGER NOT NULL,
  used_unix INTEGER
);
CREATE INDEX signin_codes_user ON signin_codes(user_id);
)sql",
      // 8: guests (users invited for a while, `guest: true` in their record), whose invitations
      // the server ends on time: found without reading every user.
      R"sql(
CREATE INDEX users_guests ON users(id) WHERE json_extract(body, '$.guest') = 1;
)sql",
      // 9: opens decided and not yet settled. A row is written with the decision (the command
      // not yet sent), marked sent just before the command leaves, and removed with the
      // outcome; what is left at start was cut short by a crash and is settled then.
      R"sql(
CREATE TABLE open_commands (
  command_id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  sent INTEGER NOT NULL DEFAULT 0,
  attempt TEXT NOT NULL,
  decided_unix INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
      // 10: fan-out jobs never reuse an id (readers parse a job once and keep it by its id
      // while it is queued; a finished job's id used to come back for the next one).
      R"sql(
CREATE TABLE fanout_jobs_new (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  done INTEGER NOT NULL DEFAULT 0,
  total INTEGER NOT NULL,
  entries TEXT NOT NULL
);
INSERT INTO fanout_jobs_new(id, done, total, entries) SELECT id, done, total, entries FROM fanout_jobs;
DROP TABLE fanout_jobs;
ALTER TABLE fanout_jobs_new RENAME TO fanout_jobs;
)sql",
  };
  return m;
}

}  // namespace portier::sqlite
