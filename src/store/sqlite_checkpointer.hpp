#pragma once
// Checkpoints the write-ahead log on its own thread and connection. SQLite's automatic
// checkpoint runs inside the commit that crosses its threshold, and a checkpoint syncs the
// database file: a write that happened to cross it waited for the disk (13 ms on average,
// seen here). With this, commits never sync; the log is copied back in the background, as
// soon as it holds `pages` pages, and at least every few seconds. Internal to the SQLite store.

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "sqlite/db.hpp"

namespace portier::sqlite {

class Checkpointer {
 public:
  Checkpointer() = default;
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Opens its own connection to the file, turns the writer's automatic checkpoints off and
  // starts the thread.
  // The log file is cut back to wal_limit_bytes whenever the writer starts it over.
  Status start(const std::string& path, Db& writer, int pages = 1000,
               std::int64_t wal_limit_bytes = 64 << 20);
  // Stops the thread (the last connection to close checkpoints what is left).
  void stop();

 private:
  static int on_wal(void* self, sqlite3*, const char*, int pages);
  void run();

  Db db_;
  int pages_ = 1000;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wanted_ = false, stopping_ = false;
  std::thread thread_;
};

}  // namespace portier::sqlite
