#include "store/sqlite_checkpointer.hpp"

#include <chrono>

namespace portier::sqlite {

Checkpointer::~Checkpointer() { stop(); }

Status Checkpointer::start(const std::string& path, Db& writer, int pages,
                           std::int64_t wal_limit_bytes) {
  pages_ = pages;
  if (auto s = db_.open(path, 1024); !s) return s;
  if (auto s = writer.exec("PRAGMA wal_autocheckpoint=0"); !s) return s;
  // When the writer starts the log over (everything in it was copied back), it cuts the file
  // to this size: one big transaction (an import) otherwise leaves a log of hundreds of MiB
  // on disk for good, and makes the last close slow to delete it.
  std::string limit = "PRAGMA journal_size_limit=" + std::to_string(wal_limit_bytes);
  if (auto s = writer.exec(limit.c_str()); !s) return s;
  sqlite3_wal_hook(writer.handle(), &Checkpointer::on_wal, this);
  thread_ = std::thread([this] { run(); });
  return ok();
}

void Checkpointer::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

int Checkpointer::on_wal(void* self, sqlite3*, const char*, int pages) {
  auto* c = static_cast<Checkpointer*>(self);
  if (pages >= c->pages_) {
    {
      std::lock_guard lock(c->mu_);
      c->wanted_ = true;
    }
    c->cv_.notify_one();
  }
  return SQLITE_OK;
}

void Checkpointer::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return wanted_ || stopping_; });
    if (stopping_) return;
    wanted_ = false;
    lock.unlock();
    // PASSIVE: copies what no reader still needs, never waits for readers or the writer.
    (void)sqlite3_wal_checkpoint_v2(db_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                    nullptr);
    lock.lock();
  }
}

}  // namespace portier::sqlite
