#pragma once
// Records the changes of one write transaction into every feed they reach (the
// transactional outbox). Each write goes through write(); finish() then lists every feed's
// changes: each feed gets exactly the difference between what it held before the
// transaction and after — records that appear or change are put, records that leave are
// deleted — so a grant that brings a door into a user's feed also brings the door.
//
// The difference is computed from the records written and indexed lookups (membership.hpp),
// never by reading whole feeds: a write that changes no reference (a rename, a new schedule
// window, a grant's use count) is put to the feeds that hold the record; one that does
// (a create, a delete, a grant's door, a unit's doors, a user's groups) also re-checks the
// few (feed, record) pairs it could move. A write's cost follows what it changes.

#include <map>
#include <optional>
#include <set>
#include <vector>

#include "sync/membership.hpp"

namespace portier::sync {

// The feeds that hold a record, looked up before a write and outside its lock: a write that
// moves nothing between feeds (a rename of a schedule 10,000 people share) then need not look
// them up while it holds the lock. Stale when feeds_version moved since; then unused.
struct Prefetched {
  RecordKey key;
  std::uint64_t version = 0;
  std::vector<std::string> feeds;
};
Result<Prefetched> prefetch_holders(Store& store, const std::string& org_id, Kind kind,
                                    const std::string& id);

class ChangeRecorder {
 public:
  ChangeRecorder(WriteTx& tx, std::string org_id, std::int64_t at_unix);

  // Writes one record — an insert (before null), an update, or a delete (after null) — and
  // notes what it changes in every feed.
  Status write(const Record* before, const Record* after);
  // After the writes: lists each feed's changes (WriteTx::append). Returns them in feed/seq
  // order, to publish once the transaction commits (queued ones too: their seqs are final).
  Result<std::vector<FeedChange>> finish();
  // Holders looked up before the transaction (used by finish when still current).
  void use(Prefetched p) { prefetched_ = std::move(p); }

 private:
  // finish() for one record put to prefetched holders (what finish() checks first).
  Result<std::vector<FeedChange>> finish_one();

  WriteTx& tx_;
  std::string org_;
  std::int64_t at_;
  std::map<FeedKey, bool> held_;                        // pair -> held before the transaction
  std::map<RecordKey, std::optional<Record>> written_;  // the final state of each written record
  std::optional<Prefetched> prefetched_;
};

}  // namespace portier::sync
