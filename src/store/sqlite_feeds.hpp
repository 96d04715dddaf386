#pragma once
// The feeds' side of the SQLite store: feed ids, entries, the fan-out queue and pruning.
// Internal to the SQLite store.
//
// A feed's entries are rows (feed_id, seq, change_id), then its queued entries: a write
// lists its changes in their feeds itself when nothing is queued and they are few; otherwise
// it queues them as one fan-out job (a row holding every entry), and Store::fan_out writes
// them as rows later in short transactions, in job order. A queued entry's seq is fixed when
// its job commits (the feed's rows' head, plus its place among the feed's queued entries), and
// reads (head, read) show queued entries exactly as they will be listed. So the changes of a
// job are published at its commit, and a snapshot read together with the records it shows is
// labelled with the seq those records reach.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sqlite/db.hpp"
#include "store/store.hpp"

namespace portier::sqlite {

// A queued job, parsed once: its row never changes (only its progress does).
struct Job {
  std::vector<FeedAppend> entries;
  std::unordered_map<std::string, std::vector<std::uint32_t>> positions;  // feed -> entry index
};

// What every connection of one store shares about feeds.
class FeedShared {
 public:
  // A feed the writer appended to: its id, the head of its rows and how many of its entries
  // are queued after them. Touched under the store's write lock only.
  struct Feed {
    std::int64_t id = 0;
    std::int64_t head = 0;
    std::int64_t queued = 0;
    std::uint64_t saved_in = 0;  // the write transaction that saved it for a rollback
  };
  std::unordered_map<std::string, Feed> feeds;
  std::uint64_t transactions = 0;
  std::atomic<std::uint64_t> version{0};  // see ReadTx::feeds_version
  // Entries a write may list itself (more are queued).
  std::size_t inline_max = 256;

  // The parsed job (loaded on first use, by any connection).
  Result<std::shared_ptr<const Job>> job(Db& db, std::int64_t id);
  // Drops a parsed job (rolled back).
  void forget_job(std::int64_t id);
  // Drops the parsed jobs up to id (done: jobs finish in id order).
  void forget_jobs_through(std::int64_t id);

 private:
  std::mutex mu_;
  std::map<std::int64_t, std::shared_ptr<const Job>> jobs_;
};

// One transaction's view of the feeds.
class FeedTx {
 public:
  FeedTx(Db& db, FeedShared& shared, const std::string& epoch)
      : db_(db), shared_(shared), epoch_(epoch) {}

  Result<FeedHead> head(const std::string& feed);
  Result<std::vector<FeedEntry>> read(const std::string& feed, std::int64_t after_seq, int limit);
  // Writer only: see WriteTx::append.
  Result<std::vector<std::int64_t>> append(const std::vector<FeedAppend>& entries);
  // Writer only: writes up to max_entries queued entries as rows, stopping early (after a
  // few) once yield() says so; returns whether more remain.
  Result<bool> fan_out(std::size_t max_entries, const std::function<bool()>& yield);
  // Whether this transaction queued a job.
  bool queued() const { return queued_; }
  // After the commit: what this transaction did to feeds stays.
  void committed();
  // After a rollback: feeds are as they were before the transaction.
  void rolled_back();

 private:
  Result<FeedShared::Feed*> feed(const std::string& name);
  Result<std::int64_t> list(const std::string& name, std::int64_t change_id);
  Result<bool> any_queued();
  // The queued jobs, oldest first: (id, entries already written as rows).
  Result<std::vector<std::pair<std::int64_t, std::int64_t>>> jobs();
  // The feed's id and the seq of its newest row (or its base_seq); both 0 for a feed with no
  // name yet.
  Result<std::pair<std::int64_t, std::int64_t>> rows_head(const std::string& feed);
  // How many of the feed's entries the given jobs still hold.
  Result<std::int64_t> queued_in(const std::string& feed,
                                 const std::vector<std::pair<std::int64_t, std::int64_t>>& jobs);

  Db& db_;
  FeedShared& shared_;
  const std::string& epoch_;
  // Feeds as they were before this transaction first touched them (nullopt: unknown then), by
  // their key in FeedShared::feeds (its nodes stay put until a rollback erases them).
  std::vector<std::pair<const std::string*, std::optional<FeedShared::Feed>>> undo_;
  std::uint64_t tx_ = 0;
  std::vector<std::int64_t> finished_jobs_, created_jobs_;
  bool queued_ = false;
};

// Drops old feed entries (see Store::prune_feeds) in short transactions, each holding what
// lock() returns (the store's write lock).
Status prune_feeds(Db& db, const std::function<std::unique_lock<std::mutex>()>& lock,
                   std::int64_t keep_count, std::int64_t older_than_unix);

}  // namespace portier::sqlite
