#pragma once
// Records the changes of one write transaction into every feed they reach (the
// transactional outbox): call plan() for each record the transaction will write, before
// writing any; write; then finish(). Each feed gets exactly the difference between what it
// held before and after — records that appear or change are put, records that leave are
// deleted — so a grant that brings a door into a user's feed also brings the door.

#include <set>
#include <vector>

#include "sync/feed.hpp"

namespace portier::sync {

class ChangeRecorder {
 public:
  ChangeRecorder(WriteTx& tx, std::string org_id, std::int64_t at_unix);

  // Declares a coming write: before is null on create, after is null on delete.
  Status plan(const Record* before, const Record* after);
  // After the writes: appends every feed's changes; returns them in feed/seq order.
  Result<std::vector<FeedChange>> finish();

 private:
  Status add_feeds_of(const Record& r);
  Status add_feed(const FeedId& f);

  WriteTx& tx_;
  std::string org_;
  std::int64_t at_;
  std::map<std::string, FeedId> feeds_;                              // by name
  std::map<std::string, std::map<RecordKey, std::int64_t>> before_;  // feed -> key -> version
  std::vector<std::pair<std::optional<Record>, std::optional<Record>>> planned_;
};

}  // namespace portier::sync
