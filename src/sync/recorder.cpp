#include "sync/recorder.hpp"

#include <algorithm>
#include <boost/container/small_vector.hpp>
#include <boost/json.hpp>
#include <tuple>
#include <unordered_map>

namespace portier::sync {
namespace json = boost::json;
namespace {

std::string put_body(const Record& r) {
  return json::serialize(json::object{
      {"op", "put"}, {"kind", kind_name(r.kind)}, {"id", r.id}, {"record", record_json(r)}});
}

std::string delete_body(Kind k, const std::string& id) {
  return json::serialize(json::object{{"op", "delete"}, {"kind", kind_name(k)}, {"id", id}});
}

}  // namespace

Result<Prefetched> prefetch_holders(Store& store, const std::string& org_id, Kind kind,
                                    const std::string& id) {
  Prefetched p{{kind, id}, 0, {}};
  auto st = store.read([&](ReadTx& tx) -> Status {
    p.version = tx.feeds_version();  // before the first read
    auto r = tx.get(kind, org_id, id);
    if (!r) return r.error();
    if (!*r) return ok();
    Membership m(tx, org_id);
    if (auto s = m.holders(**r, p.feeds); !s) return s;
    std::sort(p.feeds.begin(), p.feeds.end());
    p.feeds.erase(std::unique(p.feeds.begin(), p.feeds.end()), p.feeds.end());
    return ok();
  });
  if (!st) return st.error();
  return p;
}

ChangeRecorder::ChangeRecorder(WriteTx& tx, std::string org_id, std::int64_t at_unix)
    : tx_(tx), org_(std::move(org_id)), at_(at_unix) {}

Status ChangeRecorder::write(const Record* before, const Record* after) {
  if (!before && !after) return Error{500, "internal", "a write needs a record", ""};
  const Record& r = after ? *after : *before;
  if (Membership::moves(before, after)) {
    tx_.moved_feeds();
    // What was held before the transaction: a pair this transaction already moved was noted
    // by that earlier write, so the first look at a pair always sees the starting state.
    Membership m(tx_, org_);
    std::set<FeedKey> pairs;
    if (auto s = m.candidates(before, after, pairs); !s) return s;
    for (const auto& p : pairs) {
      if (held_.count(p)) continue;
      auto f = FeedId::parse(p.first);
      if (!f) continue;
      auto held = m.contains(*f, p.second.first, p.second.second);
      if (!held) return held.error();
      held_.emplace(p, *held);
    }
  }
  Status st = !after ? tx_.remove(r.kind, r.id) : before ? tx_.update(*after) : tx_.insert(*after);
  if (!st) return st;
  written_[{r.kind, r.id}] = after ? std::optional<Record>(*after) : std::nullopt;
  return ok();
}

Result<std::vector<FeedChange>> ChangeRecorder::finish_one() {
  const auto& [key, rec] = *written_.begin();
  auto body = std::make_shared<const std::string>(put_body(*rec));
  auto change_id = tx_.add_change(*body, at_);
  if (!change_id) return change_id.error();
  std::vector<FeedAppend> entries;
  entries.reserve(prefetched_->feeds.size() + 1);
  entries.push_back(FeedAppend{FeedId{FeedId::Type::org, org_}.name(), *change_id});
  for (auto& f : prefetched_->feeds)
    if (f != entries.front().feed) entries.push_back(FeedAppend{std::move(f), *change_id});
  prefetched_.reset();
  auto seqs = tx_.append(entries);
  if (!seqs) return seqs.error();
  std::vector<FeedChange> out;
  out.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i)
    out.push_back(FeedChange{std::move(entries[i].feed), (*seqs)[i], body});
  return out;
}

Result<std::vector<FeedChange>> ChangeRecorder::finish() {
  // One record put, moving nothing, its holders looked up before the lock (a rename reaching
  // 10,000 feeds): every feed gets the same one change, with no per-feed bookkeeping.
  if (written_.size() == 1 && written_.begin()->second && held_.empty() && prefetched_ &&
      prefetched_->key == written_.begin()->first && prefetched_->version == tx_.feeds_version())
    return finish_one();
  // What each feed gets: records to put (in kind order: what a grant names comes first) and
  // records to delete (sent after the puts, grants first).
  // Keys point into written_, held_ and loaded, which stay put until the end: a change reaching
  // 10,000 feeds copies no key and allocates no list per feed (this runs under the store's write
  // lock).
  struct Changes {
    boost::container::small_vector<std::pair<const RecordKey*, const Record*>, 1> puts;
    boost::container::small_vector<const RecordKey*, 1> deletes;
  };
  std::unordered_map<std::string, Changes> feeds;
  std::map<RecordKey, Record> loaded;  // records that entered a feed without being written
  Membership m(tx_, org_);
  // The organization feed holds everything: its changes are the writes themselves.
  auto& org = feeds[FeedId{FeedId::Type::org, org_}.name()];
  std::vector<std::string> holders;
  for (const auto& [key, rec] : written_) {
    if (!rec) {
      org.deletes.push_back(&key);
      continue;
    }
    org.puts.emplace_back(&key, &*rec);
    holders.clear();
    if (prefetched_ && prefetched_->key == key && held_.empty() &&
        prefetched_->version == tx_.feeds_version()) {
      holders = std::move(prefetched_->feeds);  // nothing moved between feeds since
    } else {
      if (auto s = m.holders(*rec, holders); !s) return s.error();
      std::sort(holders.begin(), holders.end());
      holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
    }
    feeds.reserve(feeds.size() + holders.size());
    for (auto& f : holders) feeds[std::move(f)].puts.emplace_back(&key, &*rec);
  }
  for (const auto& [pair, was] : held_) {
    const auto& [feed, key] = pair;
    auto now = m.contains(*FeedId::parse(feed), key.first, key.second);
    if (!now) return now.error();
    if (was && !*now) {
      feeds[feed].deletes.push_back(&key);
    } else if (!was && *now && !written_.count(key)) {
      auto it = loaded.find(key);
      if (it == loaded.end()) {
        auto r = tx_.get(key.first, org_, key.second);
        if (!r) return r.error();
        if (!*r) continue;
        it = loaded.emplace(key, std::move(**r)).first;
      }
      feeds[feed].puts.emplace_back(&it->first, &it->second);
    }
  }
  // Each distinct change is stored and serialized once, whatever number of feeds it reaches.
  std::map<std::pair<RecordKey, std::int64_t>,
           std::pair<std::int64_t, std::shared_ptr<const std::string>>>
      stored;
  // The same key and record as the last call (a change reaching many feeds): no lookup.
  const RecordKey* last_key = nullptr;
  const Record* last_put = nullptr;
  const std::pair<std::int64_t, std::shared_ptr<const std::string>>* last = nullptr;
  auto change = [&](const RecordKey* key, const Record* put)
      -> Result<std::pair<std::int64_t, std::shared_ptr<const std::string>>> {
    if (last && key == last_key && put == last_put) return *last;
    auto id = std::make_pair(*key, put ? put->version : -1);
    auto it = stored.find(id);
    if (it == stored.end()) {
      auto body = std::make_shared<const std::string>(put ? put_body(*put)
                                                          : delete_body(key->first, key->second));
      auto change_id = tx_.add_change(*body, at_);
      if (!change_id) return change_id.error();
      it = stored.emplace(std::move(id), std::make_pair(*change_id, std::move(body))).first;
    }
    last_key = key;
    last_put = put;
    last = &it->second;  // map nodes stay put
    return it->second;
  };
  auto put_less = [](const auto& a, const auto& b) {
    return std::tie(*a.first, a.second) < std::tie(*b.first, b.second);
  };
  auto put_same = [](const auto& a, const auto& b) {
    return *a.first == *b.first && a.second == b.second;
  };
  auto key_less = [](const RecordKey* a, const RecordKey* b) { return *a < *b; };
  auto key_same = [](const RecordKey* a, const RecordKey* b) { return *a == *b; };
  std::vector<FeedAppend> entries;
  std::vector<std::shared_ptr<const std::string>> bodies;
  entries.reserve(feeds.size());
  bodies.reserve(feeds.size());
  for (auto& [feed, c] : feeds) {
    std::sort(c.puts.begin(), c.puts.end(), put_less);
    c.puts.erase(std::unique(c.puts.begin(), c.puts.end(), put_same), c.puts.end());
    std::sort(c.deletes.begin(), c.deletes.end(), key_less);
    c.deletes.erase(std::unique(c.deletes.begin(), c.deletes.end(), key_same), c.deletes.end());
    for (const auto& [key, rec] : c.puts) {
      auto ch = change(key, rec);
      if (!ch) return ch.error();
      entries.push_back(FeedAppend{feed, ch->first});
      bodies.push_back(ch->second);
    }
    for (auto it = c.deletes.rbegin(); it != c.deletes.rend(); ++it) {
      auto ch = change(*it, nullptr);
      if (!ch) return ch.error();
      entries.push_back(FeedAppend{feed, ch->first});
      bodies.push_back(ch->second);
    }
  }
  auto seqs = tx_.append(entries);
  if (!seqs) return seqs.error();
  std::vector<FeedChange> out;
  out.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i)
    out.push_back(FeedChange{std::move(entries[i].feed), (*seqs)[i], std::move(bodies[i])});
  return out;
}

}  // namespace portier::sync
