#pragma once
// The Store: the truth. Entities, credentials, tokens and the audit log of every
// organization. Implementations (SqliteStore; PgStore to come) keep every SQL detail below
// this interface; every write runs in one transaction.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace portier {

// The order is the order a feed's changes of one write are sent in: records a grant names
// come before it (puts), and leave after it (deletes run in reverse).
enum class Kind { site, door, unit, group, user, schedule, grant };
inline constexpr Kind kAllKinds[] = {Kind::site, Kind::door,     Kind::unit, Kind::group,
                                     Kind::user, Kind::schedule, Kind::grant};

std::string_view kind_name(Kind k);    // "site"
std::string_view kind_plural(Kind k);  // "sites"
std::optional<Kind> kind_from_plural(std::string_view plural);
const char* kind_id_prefix(Kind k);  // "sched": ids look like sched_k3j…

struct Record {
  Kind kind = Kind::site;
  std::string id;
  std::string org_id;
  boost::json::object body;  // the entity's own fields (no id, version or timestamps)
  std::int64_t version = 0;  // 1 on create, +1 on every update
  std::string created_at;
  std::string updated_at;
};

struct Org {
  std::string id;
  std::string name;
  std::string created_at;
};

struct AuditEntry {
  std::int64_t seq = 0;  // assigned by the store, increasing
  std::string org_id;
  std::string at;  // RFC 3339
  std::int64_t at_unix = 0;
  std::string actor_id;  // user who made the change
  std::string action;    // "door.updated", "auth.login", …
  std::string entity_id;
  std::string site_id;        // the site the entry concerns, when one does (for scoped admins)
  boost::json::value before;  // null when absent
  boost::json::value after;   // null when absent
};

struct AuditQuery {
  std::string org_id;
  std::optional<std::int64_t> from_unix;  // inclusive
  std::optional<std::int64_t> to_unix;    // exclusive
  std::string kind;                       // "door" matches "door.*"; "door.updated" exactly
  std::int64_t before_seq = 0;            // page cursor: entries older than this (0: newest)
  int limit = 100;
};

struct Credentials {
  Record user;
  std::string password_hash;
};

struct UnitCredential {
  std::string unit_id;
  std::string org_id;
};

struct TokenInfo {
  std::string user_id;
  std::string org_id;
  std::int64_t expires_unix = 0;
};

// Where a feed stands: its epoch (changes when the store is recreated), its last seq, and the
// oldest seq still retained (older cursors need a snapshot). seq 0: nothing yet.
struct FeedHead {
  std::string epoch;
  std::int64_t seq = 0;
  std::int64_t first_seq = 1;
};

struct FeedEntry {
  std::int64_t seq = 0;
  std::string body;  // the change, serialized once (JSON)
};

// A stored change to list in a feed.
struct FeedAppend {
  std::string feed;
  std::int64_t change_id = 0;
};

// An open decided and not yet settled: its command is on its way to the unit, or about to be.
struct OpenInFlight {
  std::string command_id;
  std::string org_id;
  bool sent = false;            // the command was (about to be) handed to the unit's connection
  boost::json::object attempt;  // what logging its outcome needs (the door service's)
  std::int64_t decided_unix = 0;
};

// A grant's references, read without its body (for membership queries). Unset ones are "".
struct GrantRef {
  std::string id, user_id, group_id, door_id, site_id, schedule_id;
};

// What the grants matching a query name, each list sorted and without repeats.
struct GrantTargets {
  std::vector<std::string> users, groups, doors, sites;
};

// Which grants: every field that is set must match. door_site: the grant names a door of
// this site (not the site itself).
struct GrantMatch {
  std::string id, user_id, group_id, door_id, site_id, schedule_id, door_site;
};

class ReadTx {
 public:
  virtual ~ReadTx() = default;
  // The record of this kind and id in the org, if any.
  virtual Result<std::optional<Record>> get(Kind kind, const std::string& org_id,
                                            const std::string& id) = 0;
  // Every record of this kind in the org, ordered by id.
  virtual Result<std::vector<Record>> list(Kind kind, const std::string& org_id) = 0;
  // Records whose reference field (door.site_id, grant.user_id/group_id/door_id/site_id/
  // schedule_id, unit.door_ids, user.group_ids) equals the value, in no particular order.
  virtual Result<std::vector<Record>> list_by(Kind kind, const std::string& org_id,
                                              std::string_view field, const std::string& value) = 0;
  // The ids of those records, without reading their bodies.
  virtual Result<std::vector<std::string>> ids_by(Kind kind, std::string_view field,
                                                  const std::string& value) = 0;
  // The values of one record's list reference (unit.door_ids, user.group_ids).
  virtual Result<std::vector<std::string>> refs_of(Kind kind, const std::string& id,
                                                   std::string_view field) = 0;
  // One reference field of a record (door.site_id): nullopt when the record does not exist.
  virtual Result<std::optional<std::string>> ref_of(Kind kind, const std::string& id,
                                                    std::string_view field) = 0;
  // Whether the record exists (in any organization: ids are unique).
  virtual Result<bool> exists(Kind kind, const std::string& id) = 0;
  // The references of the grants that match (at least one field set).
  virtual Result<std::vector<GrantRef>> grant_refs(const GrantMatch& m) = 0;
  // Whether some grant matches.
  virtual Result<bool> grant_exists(const GrantMatch& m) = 0;
  // The users, groups, doors and sites the matching grants name (one pass, no per-grant
  // records: a schedule shared by 10,000 grants is one index scan).
  virtual Result<GrantTargets> grant_targets(const GrantMatch& m) = 0;
  // The organization, if it exists.
  virtual Result<std::optional<Org>> org(const std::string& org_id) = 0;
  // A number that changes whenever a committed write moved records between feeds (see
  // WriteTx::moved_feeds). Read it before a transaction's first read: what that transaction
  // sees is then at least as new as the number says.
  virtual std::uint64_t feeds_version() = 0;
  // The head of a feed ("user/<id>", …), queued entries included (see WriteTx::append).
  virtual Result<FeedHead> feed_head(const std::string& feed) = 0;
  // Up to `limit` changes of a feed after `after_seq`, in order, queued entries included.
  virtual Result<std::vector<FeedEntry>> read_feed(const std::string& feed, std::int64_t after_seq,
                                                   int limit) = 0;
  // Every open in flight (of every organization), oldest first.
  virtual Result<std::vector<OpenInFlight>> opens_in_flight() = 0;
  // The guests (users whose record has `guest: true`) who may still be signed in or sign in:
  // holding a token, or a sign-in code neither used nor expired at now_unix. {org_id, user_id}.
  virtual Result<std::vector<std::pair<std::string, std::string>>> guests_signed_in(
      std::int64_t now_unix) = 0;
};

class WriteTx : public ReadTx {
 public:
  // Adds a new organization.
  virtual Status insert_org(const Org& org) = 0;
  // Adds a record; 409 email_taken / door_has_unit on a uniqueness conflict.
  virtual Status insert(const Record& r) = 0;
  // Replaces a record's body, version and updated_at.
  virtual Status update(const Record& r) = 0;
  // Deletes a record; 409 in_use when another record still references it.
  virtual Status remove(Kind kind, const std::string& id) = 0;
  // Sets a user's argon2id password hash.
  virtual Status set_password(const std::string& user_id, const std::string& hash) = 0;
  // Revokes every token of a user.
  virtual Status revoke_tokens(const std::string& user_id) = 0;
  // Appends to the audit log (append-only: entries are never changed or removed).
  virtual Status append_audit(const AuditEntry& e) = 0;
  // Notes that a unit's event (by the unit's own event id) is logged: true the first time,
  // false when it was already (a unit re-sending after a lost acknowledgement).
  virtual Result<bool> claim_unit_event(const std::string& unit_id, const std::string& event_id,
                                        std::int64_t at_unix) = 0;
  // Records an open in flight, in the transaction that decided it.
  virtual Status add_open(const OpenInFlight& o) = 0;
  // Notes that an open's command is being sent (committed before it leaves).
  virtual Status mark_open_sent(const std::string& command_id) = 0;
  // Removes an open in flight, in the transaction that logs its outcome: true if it was there.
  virtual Result<bool> remove_open(const std::string& command_id) = 0;
  // Adds a single-use sign-in code (by its hash) for a user, valid until expires_unix.
  virtual Status add_signin_code(const std::string& code_hash, const std::string& user_id,
                                 std::int64_t expires_unix) = 0;
  // Makes a user's unused sign-in codes expire at now_unix (redeeming one says code_expired).
  virtual Status expire_signin_codes(const std::string& user_id, std::int64_t now_unix) = 0;
  // Sets when one token expires.
  virtual Status set_token_expiry(const std::string& token_hash, std::int64_t expires_unix) = 0;
  // Stores a change body once; returns its id for append.
  virtual Result<std::int64_t> add_change(const std::string& body, std::int64_t at_unix) = 0;
  // Lists stored changes as the next entries of their feeds, in order, and returns their seqs
  // (one per entry). When nothing is queued and the entries are few they are written as rows
  // now; otherwise they are queued as one job behind what is queued, so that a change reaching
  // thousands of feeds keeps this transaction short, and Store::fan_out writes the rows later.
  // Either way the seqs are final at the commit: read_feed and feed_head show queued entries
  // as listed, so the changes can be published as soon as the transaction commits.
  virtual Result<std::vector<std::int64_t>> append(const std::vector<FeedAppend>& entries) = 0;
  // Notes that this transaction moves records between feeds (feeds_version changes when it
  // commits).
  virtual void moved_feeds() = 0;
  // Runs fn after this transaction commits, in commit order (while later writers still wait).
  // Nothing runs if it rolls back.
  virtual void on_commit(std::function<void()> fn) = 0;
};

class Store {
 public:
  virtual ~Store() = default;
  // Runs fn in one write transaction: committed if fn succeeds, rolled back entirely if not.
  virtual Status write(const std::function<Status(WriteTx&)>& fn) = 0;
  // Runs fn on one consistent snapshot.
  virtual Status read(const std::function<Status(ReadTx&)>& fn) = 0;
  // The user with this email (any organization) and her password hash.
  virtual Result<std::optional<Credentials>> find_credentials(const std::string& email) = 0;
  // Stores a token by its hash.
  virtual Status create_token(const std::string& hash, const std::string& user_id,
                              std::int64_t expires_unix) = 0;
  // The live token with this hash at `now_unix`, if any.
  virtual Result<std::optional<TokenInfo>> find_token(const std::string& hash,
                                                      std::int64_t now_unix) = 0;
  // Revokes one token.
  virtual Status delete_token(const std::string& hash) = 0;
  // Replaces a unit's credential (the old one stops working).
  virtual Status set_unit_credential(const std::string& unit_id, const std::string& hash,
                                     std::int64_t now_unix) = 0;
  // Kills a unit's credential and its unused enrollment codes (the unit stays, unenrolled).
  virtual Status revoke_unit_credential(const std::string& unit_id) = 0;
  // Issues an enrollment code for a unit (any unused earlier code of the unit stops working).
  virtual Status create_enrollment_code(const std::string& unit_id, const std::string& code_hash,
                                        std::int64_t expires_unix) = 0;
  // Exchanges a code for a new unit credential, once: 404 code_invalid, 409 code_used,
  // 410 code_expired. Atomic: two redemptions of one code never both succeed.
  virtual Result<UnitCredential> redeem_enrollment_code(const std::string& code_hash,
                                                        const std::string& credential_hash,
                                                        std::int64_t now_unix) = 0;
  // Exchanges a sign-in code for a session token (stored by its hash), once: 404 code_invalid,
  // 409 code_used, 410 code_expired. Atomic. Returns the user's id and organization.
  virtual Result<TokenInfo> redeem_signin_code(const std::string& code_hash,
                                               const std::string& token_hash,
                                               std::int64_t token_expires_unix,
                                               std::int64_t now_unix) = 0;
  // The unit whose credential has this hash, if any.
  virtual Result<std::optional<UnitCredential>> find_unit_credential(const std::string& hash) = 0;
  // Audit entries matching the query, newest first.
  virtual Result<std::vector<AuditEntry>> list_audit(const AuditQuery& q) = 0;
  // Drops feed entries beyond the newest `keep_count` of each feed or older than
  // `older_than_unix`, and changes no feed lists any more. Feeds' first_seq moves up.
  virtual Status prune_feeds(std::int64_t keep_count, std::int64_t older_than_unix) = 0;
  // Writes up to max_entries queued entries as rows of their feeds, in one transaction that
  // ends early when another writer waits (or it has run for a few milliseconds). Readers see
  // no difference: queued entries already read as listed. Returns whether more remain queued.
  virtual Result<bool> fan_out(std::size_t max_entries) = 0;
  // fn runs (on the committing thread, after the commit) whenever a transaction queued
  // changes for fan_out.
  virtual void on_queued(std::function<void()> fn) = 0;
  // Refreshes the query planner's statistics, so lookups keep their indexes as data grows.
  virtual Status optimize() = 0;
};

}  // namespace portier
