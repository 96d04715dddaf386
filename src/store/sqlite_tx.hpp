#pragma once
// The store's transactions on a connection (sqlite_tx.cpp). Internal to the store.

#include <functional>
#include <string>

#include "core/result.hpp"
#include "sqlite/db.hpp"
#include "store/sqlite_feeds.hpp"
#include "store/store.hpp"

namespace portier::sqlite {

// Runs fn inside `begin` ("BEGIN" or "BEGIN IMMEDIATE") … COMMIT on db, rolling back when fn
// or the commit fails. Once committed: the feed entries it listed are final, `feeds.version`
// moves if records moved between feeds, its commit hooks run (under the caller's write lock),
// then `queued` if it queued entries for the fan-out.
Status run_tx(Db& db, const char* begin, FeedShared& feeds, const std::string& epoch,
              const std::function<void()>& queued, const std::function<Status(WriteTx&)>& fn);
// The feed entries of a transaction that run_tx started (the fan-out writes its slices so).
FeedTx& feeds_of(WriteTx& tx);

}  // namespace portier::sqlite
