#include "client/feed_protocol.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <limits>

namespace portier::client {
namespace json = boost::json;

namespace {

const json::string* text(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? &v->as_string() : nullptr;
}

const json::object* object(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

// A JSON integer that fits a seq (not 3.0, not "3").
std::optional<std::int64_t> integer(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64() && v->as_uint64() <= std::uint64_t(std::numeric_limits<std::int64_t>::max()))
    return static_cast<std::int64_t>(v->as_uint64());
  return std::nullopt;
}

Reaction skip(std::string why) {
  Reaction r;
  r.note = "skipped a message from the server: " + std::move(why);
  return r;
}

Reaction reconnect(std::string why, bool local = false) {
  Reaction r;
  r.next = Reaction::Next::reconnect;
  r.local_failure = local;
  r.note = why;
  r.why = std::move(why);
  return r;
}

}  // namespace

std::string ack_message(const Ack& a) {
  return json::serialize(json::object{{"type", "ack"}, {"feed", a.feed}, {"seq", a.seq}});
}

FeedProtocol::FeedProtocol(std::vector<std::string> feeds, ReplicaStore* store)
    : asked_(std::move(feeds)), store_(store) {
  for (const auto& f : asked_) replicas_[f];
}

bool FeedProtocol::wanted(const std::string& feed) const {
  return asked_.empty() || std::find(asked_.begin(), asked_.end(), feed) != asked_.end();
}

void FeedProtocol::load_from_store() {
  if (!store_) return;
  auto loaded = store_->load();
  std::lock_guard lock(mu_);
  for (auto& [name, r] : loaded)
    if (wanted(name)) replicas_[name] = std::move(r);
}

void FeedProtocol::set_replica(const std::string& feed, Replica r) {
  if (!wanted(feed)) return;
  std::lock_guard lock(mu_);
  replicas_[feed] = std::move(r);
}

std::string FeedProtocol::hello(const std::string& token, const std::string& device_id,
                                const std::string& device_kind,
                                const std::string& device_name) const {
  json::array feeds;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, r] : replicas_) {
      json::object f{{"feed", name}};
      if (r.seq >= 0) {
        f["epoch"] = r.epoch;
        f["seq"] = r.seq;
      }
      feeds.push_back(std::move(f));
    }
  }
  json::object hello{{"type", "hello"}, {"token", token}};
  json::object device{{"kind", device_kind}};
  if (!device_id.empty()) device["id"] = device_id;
  if (!device_name.empty()) device["name"] = device_name;
  hello["device"] = std::move(device);
  if (!feeds.empty()) hello["feeds"] = std::move(feeds);
  return json::serialize(hello);
}

Reaction FeedProtocol::on_message(std::string_view message) {
  boost::system::error_code ec;
  json::value v = json::parse(message, ec);
  if (ec || !v.is_object()) return skip("not a JSON object");
  auto& msg = v.as_object();
  const auto* type = text(msg, "type");
  if (!type) return skip("no type");
  if (*type == "ready") return on_ready(msg);
  if (*type == "snapshot") return on_snapshot(msg);
  if (*type == "change") return on_change(msg);
  Reaction r;
  if (*type == "revoked") {
    const auto* reason = text(msg, "reason");
    std::string why = reason ? std::string(*reason) : "";
    // New rights, same token: reconnect and read what they now allow.
    if (why == "rights_changed") return reconnect("revoked: rights_changed");
    r.next = Reaction::Next::stop;
    r.why = why.empty() ? "revoked" : "revoked: " + why;
  } else if (*type == "error") {
    const auto* code = text(msg, "code");
    if (code &&
        (*code == "unauthorized" || *code == "user_disabled" || *code == "forbidden_feed")) {
      r.next = Reaction::Next::stop;
      r.why = std::string(*code);
    }
  }
  // Everything else (device, event, command, open_result, event_saved, pong, newer types) is
  // the caller's, as received.
  r.event = Event{std::string(*type), "", 0, std::move(msg)};
  return r;
}

Reaction FeedProtocol::on_ready(const json::object& msg) {
  Reaction r;
  r.ready = true;
  {
    std::lock_guard lock(mu_);
    if (const auto* feeds = msg.if_contains("feeds"); feeds && feeds->is_array())
      for (const auto& f : feeds->as_array())
        if (const auto* name = f.is_object() ? text(f.as_object(), "feed") : nullptr)
          if (wanted(std::string(*name))) replicas_[std::string(*name)];
  }
  r.event = Event{"ready", "", 0, msg};
  return r;
}

Reaction FeedProtocol::on_snapshot(const json::object& msg) {
  const auto* feed = text(msg, "feed");
  const auto* epoch = text(msg, "epoch");
  auto seq = integer(msg, "seq");
  const auto* records = msg.if_contains("records");
  if (!feed || !epoch || !seq || *seq < 0 || !records || !records->is_array())
    return reconnect("a snapshot without feed, epoch, seq or records");
  std::string name(*feed);
  if (!wanted(name)) return skip("a snapshot of feed " + name + ", not asked for");
  // All or nothing: a replica is the whole snapshot or what it was.
  Replica next;
  next.epoch = *epoch;
  next.seq = *seq;
  for (const auto& item : records->as_array()) {
    const auto* o = item.is_object() ? &item.as_object() : nullptr;
    const auto* kind = o ? text(*o, "kind") : nullptr;
    const auto* record = o ? object(*o, "record") : nullptr;
    const auto* id = record ? text(*record, "id") : nullptr;
    if (!kind || !id)
      return reconnect("a snapshot of " + name + " with a record without kind or id");
    next.records[std::string(*kind) + ":" + std::string(*id)] = *record;
  }
  if (store_)
    if (auto s = store_->snapshot(name, next); !s)
      return reconnect("saving the snapshot of " + name + ": " + s.error().message, true);
  Reaction r;
  r.acks.push_back(Ack{name, *seq});
  r.event = Event{"snapshot", name, *seq, msg};
  std::lock_guard lock(mu_);
  replicas_[name] = std::move(next);
  return r;
}

Reaction FeedProtocol::on_change(const json::object& msg) {
  const auto* feed = text(msg, "feed");
  const auto* epoch = text(msg, "epoch");
  auto seq = integer(msg, "seq");
  if (!feed || !epoch || !seq) return reconnect("a change without feed, epoch or seq");
  std::string name(*feed);
  if (!wanted(name)) return skip("a change of feed " + name + ", not asked for");
  const auto* change = object(msg, "change");
  const auto* op = change ? text(*change, "op") : nullptr;
  const auto* kind = change ? text(*change, "kind") : nullptr;
  const auto* id = change ? text(*change, "id") : nullptr;
  const auto* record = change ? object(*change, "record") : nullptr;
  bool put = op && *op == "put", del = op && *op == "delete";
  if (!kind || !id || !(put || del) || (put && !record))
    return reconnect("a change of " + name + " this client cannot apply (seq " +
                     std::to_string(*seq) + ")");
  std::string key = std::string(*kind) + ":" + std::string(*id);
  {
    std::lock_guard lock(mu_);
    auto& r = replicas_[name];
    // Apply in order only: anything else means we missed something; start over with a
    // snapshot (the stored cursor is left: resuming from it is right too).
    if (*epoch != r.epoch || *seq != r.seq + 1) {
      r.seq = -1;
      r.records.clear();
      return reconnect("change " + std::to_string(*seq) + " of " + name + " out of order");
    }
  }
  if (store_)
    if (auto s = store_->change(name, std::string(*epoch), *seq, key, put ? record : nullptr); !s)
      return reconnect(
          "saving change " + std::to_string(*seq) + " of " + name + ": " + s.error().message, true);
  {
    std::lock_guard lock(mu_);
    auto& r = replicas_[name];
    if (put)
      r.records[key] = *record;
    else
      r.records.erase(key);
    r.seq = *seq;
  }
  Reaction r;
  r.acks.push_back(Ack{name, *seq});
  r.event = Event{"change", name, *seq, msg};
  return r;
}

Replica FeedProtocol::replica(const std::string& feed) const {
  std::lock_guard lock(mu_);
  auto it = replicas_.find(feed);
  return it == replicas_.end() ? Replica{} : it->second;
}

std::optional<json::object> FeedProtocol::record(const std::string& feed,
                                                 const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = replicas_.find(feed);
  if (it == replicas_.end()) return std::nullopt;
  auto rec = it->second.records.find(key);
  if (rec == it->second.records.end()) return std::nullopt;
  return rec->second;
}

std::vector<std::string> FeedProtocol::feeds() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [f, r] : replicas_) out.push_back(f);
  return out;
}

std::map<std::string, Replica> FeedProtocol::replicas() const {
  std::lock_guard lock(mu_);
  return replicas_;
}

}  // namespace portier::client
