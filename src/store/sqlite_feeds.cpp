#include "store/sqlite_feeds.hpp"

#include <algorithm>
#include <charconv>
#include <tuple>

namespace portier::sqlite {
namespace {

// A job's entries as stored: one "change_id feed" line each, in the given order.
std::string encode(const std::vector<FeedAppend>& entries,
                   const std::vector<std::pair<std::int64_t, std::uint32_t>>& order) {
  std::string out;
  out.reserve(entries.size() * 40);
  for (auto [id, i] : order) {
    const auto& e = entries[i];
    out += std::to_string(e.change_id);
    out += ' ';
    out += e.feed;
    out += '\n';
  }
  return out;
}

std::optional<Job> decode(std::string_view text) {
  Job job;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto sp = text.find(' ');
    if (nl == std::string_view::npos || sp == std::string_view::npos || sp > nl)
      return std::nullopt;
    FeedAppend e;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + sp, e.change_id);
    if (ec != std::errc() || ptr != text.data() + sp) return std::nullopt;
    e.feed = std::string(text.substr(sp + 1, nl - sp - 1));
    job.positions[e.feed].push_back(static_cast<std::uint32_t>(job.entries.size()));
    job.entries.push_back(std::move(e));
    text.remove_prefix(nl + 1);
  }
  return job;
}

Status step_done(Db& db, Stmt& s, const char* doing) {
  int rc = s.step();
  if (rc == SQLITE_DONE || rc == SQLITE_ROW) return ok();
  return db.error(rc, doing);
}

}  // namespace

Result<std::shared_ptr<const Job>> FeedShared::job(Db& db, std::int64_t id) {
  std::lock_guard lock(mu_);
  if (auto it = jobs_.find(id); it != jobs_.end()) return it->second;
  auto p = db.prepare("SELECT entries FROM fanout_jobs WHERE id = ?1");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, id);
  int rc = s.step();
  if (rc != SQLITE_ROW) return db.error(rc, "read fan-out job");
  auto job = decode(s.text(0));
  if (!job)
    return Error{500, "store_corrupt", "fan-out job " + std::to_string(id) + " is corrupt", ""};
  auto shared = std::make_shared<const Job>(std::move(*job));
  jobs_.emplace(id, shared);
  return shared;
}

void FeedShared::forget_job(std::int64_t id) {
  std::lock_guard lock(mu_);
  jobs_.erase(id);
}

void FeedShared::forget_jobs_through(std::int64_t id) {
  std::lock_guard lock(mu_);
  jobs_.erase(jobs_.begin(), jobs_.upper_bound(id));
}

Result<std::vector<std::pair<std::int64_t, std::int64_t>>> FeedTx::jobs() {
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  auto p = db_.prepare("SELECT id, done FROM fanout_jobs ORDER BY id");
  if (!p) return p.error();
  Stmt s(*p);
  for (int rc = s.step();; rc = s.step()) {
    if (rc == SQLITE_DONE) return out;
    if (rc != SQLITE_ROW) return db_.error(rc, "read fan-out jobs");
    out.emplace_back(s.int64(0), s.int64(1));
  }
}

Result<std::pair<std::int64_t, std::int64_t>> FeedTx::rows_head(const std::string& feed) {
  auto p = db_.prepare(
      "SELECT id, MAX(base_seq, IFNULL((SELECT MAX(seq) FROM feed_entries e"
      " WHERE e.feed_id = n.id), 0)) FROM feed_names n WHERE name = ?1");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, feed);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::make_pair(std::int64_t{0}, std::int64_t{0});
  if (rc != SQLITE_ROW) return db_.error(rc, "read feed");
  return std::make_pair(s.int64(0), s.int64(1));
}

Result<std::int64_t> FeedTx::queued_in(
    const std::string& feed, const std::vector<std::pair<std::int64_t, std::int64_t>>& jobs) {
  std::int64_t n = 0;
  for (auto [id, done] : jobs) {
    auto job = shared_.job(db_, id);
    if (!job) return job.error();
    auto it = (*job)->positions.find(feed);
    if (it == (*job)->positions.end()) continue;
    n += it->second.end() -
         std::lower_bound(it->second.begin(), it->second.end(), static_cast<std::uint32_t>(done));
  }
  return n;
}

Result<FeedHead> FeedTx::head(const std::string& feed) {
  FeedHead h{epoch_, 0, 1};
  {
    auto p = db_.prepare(
        "SELECT n.base_seq, (SELECT MAX(seq) FROM feed_entries e WHERE e.feed_id = n.id),"
        " (SELECT MIN(seq) FROM feed_entries e WHERE e.feed_id = n.id)"
        " FROM feed_names n WHERE n.name = ?1");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, feed);
    int rc = s.step();
    if (rc == SQLITE_ROW) {
      h.seq = std::max(s.int64(0), s.is_null(1) ? 0 : s.int64(1));
      h.first_seq = s.is_null(2) ? h.seq + 1 : s.int64(2);
    } else if (rc != SQLITE_DONE) {
      return db_.error(rc, "read feed");
    }
  }
  auto pending = jobs();
  if (!pending) return pending.error();
  auto queued = queued_in(feed, *pending);
  if (!queued) return queued.error();
  h.seq += *queued;
  return h;
}

Result<std::vector<FeedEntry>> FeedTx::read(const std::string& feed, std::int64_t after_seq,
                                            int limit) {
  std::vector<FeedEntry> out;
  {
    auto p = db_.prepare(
        "SELECT e.seq, c.body FROM feed_names n JOIN feed_entries e ON e.feed_id = n.id"
        " JOIN changes c ON c.id = e.change_id"
        " WHERE n.name = ?1 AND e.seq > ?2 ORDER BY e.seq LIMIT ?3");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, feed).bind(2, after_seq).bind(3, static_cast<std::int64_t>(limit));
    for (int rc = s.step();; rc = s.step()) {
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return db_.error(rc, "read feed");
      out.push_back(FeedEntry{s.int64(0), s.text(1)});
    }
  }
  if (static_cast<int>(out.size()) >= limit) return out;
  // Then the feed's queued entries, numbered on from its rows' head, as they will be listed.
  auto pending = jobs();
  if (!pending) return pending.error();
  if (pending->empty()) return out;
  std::int64_t seq = 0;
  if (!out.empty()) {
    seq = out.back().seq;  // fewer rows than asked for: the last one is the newest
  } else {
    auto h = rows_head(feed);
    if (!h) return h.error();
    seq = h->second;
  }
  for (auto [id, done] : *pending) {
    auto job = shared_.job(db_, id);
    if (!job) return job.error();
    auto it = (*job)->positions.find(feed);
    if (it == (*job)->positions.end()) continue;
    for (auto i = std::lower_bound(it->second.begin(), it->second.end(),
                                   static_cast<std::uint32_t>(done));
         i != it->second.end(); ++i) {
      if (++seq <= after_seq) continue;
      auto p = db_.prepare("SELECT body FROM changes WHERE id = ?1");
      if (!p) return p.error();
      Stmt s(*p);
      s.bind(1, (*job)->entries[*i].change_id);
      int rc = s.step();
      if (rc != SQLITE_ROW) return db_.error(rc, "read change");
      out.push_back(FeedEntry{seq, s.text(0)});
      if (static_cast<int>(out.size()) >= limit) return out;
    }
  }
  return out;
}

Result<FeedShared::Feed*> FeedTx::feed(const std::string& name) {
  if (tx_ == 0) tx_ = ++shared_.transactions;
  if (auto it = shared_.feeds.find(name); it != shared_.feeds.end()) {
    auto& f = it->second;
    if (f.saved_in != tx_) {
      undo_.emplace_back(&it->first, f);
      f.saved_in = tx_;
    }
    return &f;
  }
  FeedShared::Feed f;
  f.saved_in = tx_;
  auto known = rows_head(name);
  if (!known) return known.error();
  std::tie(f.id, f.head) = *known;
  if (f.id == 0) {
    auto p = db_.prepare("INSERT INTO feed_names(name) VALUES(?1)");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, name);
    if (auto st = step_done(db_, s, "add feed"); !st) return st.error();
    f.id = sqlite3_last_insert_rowid(db_.handle());
  }
  // New to this cache (a restart, or a job queued before feeds were named when queued): count
  // what the jobs still hold for it.
  auto pending = jobs();
  if (!pending) return pending.error();
  auto queued = queued_in(name, *pending);
  if (!queued) return queued.error();
  f.queued = *queued;
  auto it = shared_.feeds.emplace(name, f).first;
  undo_.emplace_back(&it->first, std::nullopt);
  return &it->second;
}

Result<std::int64_t> FeedTx::list(const std::string& name, std::int64_t change_id) {
  auto f = feed(name);
  if (!f) return f.error();
  std::int64_t seq = (*f)->head + 1;
  auto p = db_.prepare("INSERT INTO feed_entries(feed_id, seq, change_id) VALUES(?1, ?2, ?3)");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, (*f)->id).bind(2, seq).bind(3, change_id);
  if (auto st = step_done(db_, s, "append to feed"); !st) return st.error();
  (*f)->head = seq;
  return seq;
}

Result<bool> FeedTx::any_queued() {
  auto p = db_.prepare("SELECT EXISTS(SELECT 1 FROM fanout_jobs)");
  if (!p) return p.error();
  Stmt s(*p);
  int rc = s.step();
  if (rc != SQLITE_ROW) return db_.error(rc, "read fan-out jobs");
  return s.int64(0) != 0;
}

Result<std::vector<std::int64_t>> FeedTx::append(const std::vector<FeedAppend>& entries) {
  std::vector<std::int64_t> seqs;
  if (entries.empty()) return seqs;
  seqs.reserve(entries.size());
  auto busy = any_queued();
  if (!busy) return busy.error();
  if (!*busy && entries.size() <= shared_.inline_max) {
    for (const auto& e : entries) {
      auto seq = list(e.feed, e.change_id);
      if (!seq) return seq.error();
      seqs.push_back(*seq);
    }
    return seqs;
  }
  // Queued: each entry's seq follows the feed's rows and what is queued for it already (the
  // feeds are read before this job's row exists, so it is not counted twice).
  undo_.reserve(undo_.size() + entries.size());
  std::vector<std::pair<std::int64_t, std::uint32_t>> order;  // (feed id, entry)
  order.reserve(entries.size());
  for (const auto& e : entries) {
    auto f = feed(e.feed);
    if (!f) return f.error();
    seqs.push_back((*f)->head + ++(*f)->queued);
    order.emplace_back((*f)->id, static_cast<std::uint32_t>(order.size()));
  }
  // Queued in feed id order (a feed's own entries keep theirs): the fan-out then writes each
  // slice's rows next to each other in feed_entries, a few pages per commit instead of one
  // page per entry.
  std::sort(order.begin(), order.end());
  auto p = db_.prepare("INSERT INTO fanout_jobs(total, entries) VALUES(?1, ?2)");
  if (!p) return p.error();
  Stmt s(*p);
  s.bind(1, static_cast<std::int64_t>(entries.size())).bind(2, encode(entries, order));
  if (auto st = step_done(db_, s, "queue changes"); !st) return st.error();
  queued_ = true;
  created_jobs_.push_back(sqlite3_last_insert_rowid(db_.handle()));
  return seqs;
}

Result<bool> FeedTx::fan_out(std::size_t max_entries, const std::function<bool()>& yield) {
  constexpr std::size_t kStep = 128;  // entries between looks at yield()
  std::size_t listed = 0;
  while (listed < max_entries && !(listed >= kStep && yield())) {
    std::int64_t id = 0, done = 0, total = 0;
    {
      auto p = db_.prepare("SELECT id, done, total FROM fanout_jobs ORDER BY id LIMIT 1");
      if (!p) return p.error();
      Stmt s(*p);
      int rc = s.step();
      if (rc == SQLITE_DONE) return false;
      if (rc != SQLITE_ROW) return db_.error(rc, "read fan-out jobs");
      id = s.int64(0);
      done = s.int64(1);
      total = s.int64(2);
    }
    auto job = shared_.job(db_, id);
    if (!job) return job.error();
    if (static_cast<std::int64_t>((*job)->entries.size()) != total)
      return Error{500, "store_corrupt", "fan-out job " + std::to_string(id) + " is corrupt", ""};
    auto end = std::min<std::int64_t>(
        total, done + static_cast<std::int64_t>(std::min(kStep, max_entries - listed)));
    for (auto i = done; i < end; ++i) {
      const auto& e = (*job)->entries[static_cast<std::size_t>(i)];
      auto f = feed(e.feed);
      if (!f) return f.error();
      if ((*f)->queued <= 0)
        return Error{500, "store_corrupt", "feed " + e.feed + " has no queued entry", ""};
      auto seq = list(e.feed, e.change_id);
      if (!seq) return seq.error();
      --(*f)->queued;
      ++listed;
    }
    auto p = db_.prepare(end == total ? "DELETE FROM fanout_jobs WHERE id = ?1"
                                      : "UPDATE fanout_jobs SET done = ?2 WHERE id = ?1");
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, id);
    if (end != total) s.bind(2, end);
    if (auto st = step_done(db_, s, "advance fan-out job"); !st) return st.error();
    if (end == total) finished_jobs_.push_back(id);
  }
  return any_queued();
}

void FeedTx::rolled_back() {
  for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
    if (it->second)
      shared_.feeds.find(*it->first)->second = *it->second;
    else
      shared_.feeds.erase(shared_.feeds.find(*it->first));
  }
  undo_.clear();
  finished_jobs_.clear();
  // A rolled-back job's id comes back for the next one: drop what was parsed of it.
  for (auto id : created_jobs_) shared_.forget_job(id);
  created_jobs_.clear();
}

void FeedTx::committed() {
  undo_.clear();
  // Jobs finish in id order: whatever a reader on an older snapshot parsed of an earlier job
  // goes too.
  for (auto id : finished_jobs_) shared_.forget_jobs_through(id);
  finished_jobs_.clear();
  created_jobs_.clear();
}

Status prune_feeds(Db& db, const std::function<std::unique_lock<std::mutex>()>& lock,
                   std::int64_t keep_count, std::int64_t older_than_unix) {
  // One short transaction each: the write lock is never held for long.
  auto in_tx = [&](const std::function<Status()>& fn) -> Status {
    auto guard = lock();
    if (auto s = db.exec("BEGIN IMMEDIATE"); !s) return s;
    Status st = fn();
    if (st) st = db.exec("COMMIT");
    if (!st) (void)db.exec("ROLLBACK");
    return st;
  };
  auto scalar = [&](const char* sql, std::int64_t arg) -> Result<std::int64_t> {
    auto p = db.prepare(sql);
    if (!p) return p.error();
    Stmt s(*p);
    s.bind(1, arg);
    int rc = s.step();
    if (rc != SQLITE_ROW) return db.error(rc, "prune");
    return s.is_null(0) ? 0 : s.int64(0);
  };
  std::int64_t max_feed = 0, newest_old = 0, min_change = 0, max_change = 0;
  bool queued = false;
  auto st = in_tx([&]() -> Status {
    auto f = scalar("SELECT MAX(id) FROM feed_names WHERE ?1 = ?1", 0);
    if (!f) return f.error();
    max_feed = *f;
    // Changes are numbered in commit order: those older than the cutoff are the first ones.
    auto old = scalar("SELECT MAX(id) FROM changes WHERE at_unix < ?1", older_than_unix);
    if (!old) return old.error();
    newest_old = *old;
    auto c = scalar("SELECT MAX(id) FROM changes WHERE ?1 = ?1", 0);
    if (!c) return c.error();
    max_change = *c;
    auto m = scalar("SELECT MIN(id) FROM changes WHERE ?1 = ?1", 0);
    if (!m) return m.error();
    min_change = *m;
    auto q = scalar("SELECT EXISTS(SELECT 1 FROM fanout_jobs) WHERE ?1 = ?1", 0);
    if (!q) return q.error();
    queued = *q != 0;
    return ok();
  });
  if (!st) return st;
  constexpr std::int64_t kFeedsPerTx = 500, kChangesPerTx = 5000;
  for (std::int64_t from = 0; from <= max_feed; from += kFeedsPerTx) {
    st = in_tx([&]() -> Status {
      for (const char* sql :
           {// A feed whose every entry goes keeps its head.
            "UPDATE feed_names SET base_seq = MAX(base_seq, (SELECT MAX(seq) FROM feed_entries"
            " e WHERE e.feed_id = feed_names.id)) WHERE id >= ?1 AND id < ?2 AND EXISTS"
            " (SELECT 1 FROM feed_entries e WHERE e.feed_id = feed_names.id)",
            "DELETE FROM feed_entries WHERE feed_id >= ?1 AND feed_id < ?2 AND (seq <= (SELECT"
            " MAX(seq) FROM feed_entries e WHERE e.feed_id = feed_entries.feed_id) - ?3"
            " OR change_id <= ?4)"}) {
        auto p = db.prepare(sql);
        if (!p) return p.error();
        Stmt s(*p);
        s.bind(1, from).bind(2, from + kFeedsPerTx);
        if (sql[0] == 'D') s.bind(3, keep_count).bind(4, newest_old);
        if (auto r = step_done(db, s, "prune feeds"); !r) return r;
      }
      return ok();
    });
    if (!st) return st;
  }
  // Changes no feed lists any more (queued jobs still name theirs: leave them all then).
  if (queued) return ok();
  for (std::int64_t from = min_change; from <= max_change; from += kChangesPerTx) {
    st = in_tx([&]() -> Status {
      auto p = db.prepare(
          "DELETE FROM changes WHERE id >= ?1 AND id < ?2 AND NOT EXISTS"
          " (SELECT 1 FROM feed_entries e WHERE e.change_id = changes.id)"
          " AND NOT EXISTS (SELECT 1 FROM fanout_jobs)");
      if (!p) return p.error();
      Stmt s(*p);
      s.bind(1, from).bind(2, from + kChangesPerTx);
      return step_done(db, s, "prune changes");
    });
    if (!st) return st;
  }
  return ok();
}

}  // namespace portier::sqlite
