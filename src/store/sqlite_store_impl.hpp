#pragma once
// SqliteStore's state, shared by the files that implement it (sqlite_store.cpp: transactions
// and the store's life; sqlite_credentials.cpp: sign-in, tokens, unit credentials): the
// writer connection and its lock, the reader pool, the feeds' shared state.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "sqlite/db.hpp"
#include "store/sqlite_checkpointer.hpp"
#include "store/sqlite_feeds.hpp"
#include "store/sqlite_store.hpp"

namespace portier {

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
  sqlite::Db writer;
  sqlite::Checkpointer checkpointer;  // stops before the writer closes
  sqlite::FeedShared feeds;
  std::function<void()> queued_listener;  // set before serving
  std::mutex pool_mu;
  std::condition_variable pool_cv;
  std::vector<std::unique_ptr<sqlite::Db>> idle_readers;
  // Statistics: optimize() bumps `stats`; a reader opened before that is opened again before
  // its next use. SQLite reads sqlite_stat1 only when a connection loads the schema, ANALYZE
  // on the writer does not make the others load it again, and asking a reader to reload them
  // (ANALYZE sqlite_schema) takes the write lock. Without this, readers kept the statistics of
  // when they opened: a table of one row then, scanned whole at 10,000.
  std::string path;
  std::atomic<std::uint64_t> stats{0};
  std::unordered_map<const sqlite::Db*, std::uint64_t> stats_of;  // under pool_mu

  // Borrows a reader connection for the scope of the returned guard.
  struct Lease {
    Impl* impl;
    std::unique_ptr<sqlite::Db> db;
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
      auto fresh = std::make_unique<sqlite::Db>();
      if (fresh->open(path)) {
        stats_of.erase(db.get());
        db = std::move(fresh);
        stats_of[db.get()] = now;
      }
    }
    return Lease{this, std::move(db)};
  }
};

}  // namespace portier
