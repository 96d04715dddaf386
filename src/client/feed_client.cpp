#include "client/feed_client.hpp"

#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json.hpp>
#include <deque>
#include <fstream>
#include <random>
#include <sstream>

#include "client/durable_file.hpp"
#include "client/tls.hpp"
#include "client/url.hpp"

namespace portier::client {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;

FeedClient::FeedClient(ClientOptions options) : options_(std::move(options)) {
  for (const auto& f : options_.feeds) replicas_[f];
}

FeedClient::~FeedClient() { stop(); }

void FeedClient::start() {
  if (!options_.state_file.empty()) (void)load(options_.state_file);
  if (options_.replica_store) {
    std::lock_guard lock(mu_);
    for (auto& [name, r] : options_.replica_store->load())
      if (options_.feeds.empty() ||
          std::find(options_.feeds.begin(), options_.feeds.end(), name) != options_.feeds.end())
        replicas_[name] = std::move(r);
  }
  thread_ = std::thread([this] { run(); });
}

void FeedClient::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
    if (native_socket_ >= 0) ::shutdown(native_socket_, SHUT_RDWR);  // wakes a blocked read
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!options_.state_file.empty()) (void)save(options_.state_file);
}

Replica FeedClient::replica(const std::string& feed) const {
  std::lock_guard lock(mu_);
  auto it = replicas_.find(feed);
  return it == replicas_.end() ? Replica{} : it->second;
}

std::optional<json::object> FeedClient::record(const std::string& feed,
                                               const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = replicas_.find(feed);
  if (it == replicas_.end()) return std::nullopt;
  auto rec = it->second.records.find(key);
  if (rec == it->second.records.end()) return std::nullopt;
  return rec->second;
}

std::vector<std::string> FeedClient::feeds() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [f, r] : replicas_) out.push_back(f);
  return out;
}

bool FeedClient::connected() const {
  std::lock_guard lock(mu_);
  return connected_;
}

std::string FeedClient::stopped_reason() const {
  std::lock_guard lock(mu_);
  return stopped_reason_;
}

int FeedClient::connections() const {
  std::lock_guard lock(mu_);
  return connections_;
}

int FeedClient::last_close_code() const {
  std::lock_guard lock(mu_);
  return last_close_code_;
}

bool FeedClient::wait_for(const std::function<bool(const FeedClient&)>& pred,
                          std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mu_);
  for (;;) {
    lock.unlock();
    if (pred(*this)) return true;
    lock.lock();
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      lock.unlock();
      return pred(*this);
    }
  }
}

void FeedClient::notify(const Event& e) {
  if (on_event_) on_event_(e);
  cv_.notify_all();
}

void FeedClient::run() {
  std::mt19937_64 rng(std::random_device{}());
  int attempt = 0;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    int before = connections();
    bool again = session();
    {
      std::lock_guard lock(mu_);
      connected_ = false;
      native_socket_ = -1;
      if (!again || stopping_) {
        stopping_ = true;
        cv_.notify_all();
        return;
      }
    }
    notify(Event{"closed", "", 0, {}});
    attempt = connections() > before ? 0 : attempt + 1;
    // Exponential backoff with jitter, so a restarted server is not hit by every client at once.
    auto cap = std::min<std::int64_t>(options_.max_backoff.count(), options_.min_backoff.count()
                                                                        << std::min(attempt, 16));
    std::uniform_int_distribution<std::int64_t> jitter(cap / 2, std::max<std::int64_t>(cap, 1));
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(jitter(rng)), [&] { return stopping_; });
  }
}

bool FeedClient::session() {
  auto url = parse_url(options_.url);
  if (!url) {
    std::lock_guard lock(mu_);
    stopped_reason_ = "bad url: " + options_.url;
    return false;
  }
  net::io_context ioc;
  tcp::socket sock(ioc);
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  auto endpoints = resolver.resolve(url->host, url->port, ec);
  if (ec) return true;
  net::connect(sock, endpoints, ec);
  if (ec) return true;
  sock.set_option(tcp::no_delay(true), ec);  // acks and results go out at once
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    native_socket_ = sock.native_handle();
  }
  std::string host_port = url->host + ":" + url->port;
  if (!url->tls) {
    websocket::stream<tcp::socket> ws(std::move(sock));
    return talk(ws, host_port);
  }
  auto ctx = tls_context(options_.ca_file);
  if (!ctx) {
    std::lock_guard lock(mu_);
    stopped_reason_ = ctx.error().message;
    return false;
  }
  websocket::stream<net::ssl::stream<tcp::socket>> ws(std::move(sock), **ctx);
  if (auto s = verify_server(ws.next_layer(), url->host); !s) {
    std::lock_guard lock(mu_);
    stopped_reason_ = s.error().message;
    return false;
  }
  ws.next_layer().handshake(net::ssl::stream_base::client, ec);
  if (ec) {
    // A certificate we do not trust will not become trusted by retrying.
    bool untrusted = ec.category() == net::error::get_ssl_category();
    std::lock_guard lock(mu_);
    if (untrusted) stopped_reason_ = "tls: " + ec.message();
    return !untrusted;
  }
  return talk(ws, host_port);
}

template <class Ws>
bool FeedClient::talk(Ws& ws, const std::string& host_port) {
  beast::error_code ec;
  ws.read_message_max(256u << 20);
  ws.handshake(host_port, "/v1/stream", ec);
  if (ec) return true;

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
  json::object hello{{"type", "hello"}, {"token", options_.token}};
  json::object device{{"kind", options_.device_kind}};
  if (!options_.device_id.empty()) device["id"] = options_.device_id;
  if (!options_.device_name.empty()) device["name"] = options_.device_name;
  hello["device"] = std::move(device);
  if (!feeds.empty()) hello["feeds"] = std::move(feeds);
  ws.text(true);
  ws.write(net::buffer(json::serialize(hello)), ec);
  if (ec) return true;

  // From here on everything runs asynchronously on this thread's io_context, so that other
  // threads can send (send()) while a read waits.
  websocket::stream_base::timeout t{};
  t.handshake_timeout = std::chrono::seconds(10);
  t.idle_timeout = std::chrono::seconds(75);  // the server pings every 30 s
  t.keep_alive_pings = true;
  ws.set_option(t);
  beast::flat_buffer buf;
  std::deque<std::string> out;
  bool writing = false, done = false, again = true;
  auto executor = ws.get_executor();
  auto& ioc = static_cast<net::io_context&>(executor.context());
  auto finish = [&](bool retry) {
    if (done) return;
    done = true;
    again = retry;
    {
      std::lock_guard lock(mu_);
      sender_ = nullptr;
    }
    // The connection is over: whatever is still pending (a write, Beast's ping timer) is
    // dropped with this io_context.
    ioc.stop();
  };
  std::function<void()> write_next = [&] {
    if (writing || out.empty() || done) return;
    writing = true;
    ws.text(true);
    ws.async_write(net::buffer(out.front()), [&](beast::error_code wec, std::size_t) {
      writing = false;
      if (wec) return finish(true);
      out.pop_front();
      write_next();
    });
  };
  auto enqueue = [&](std::string m) {
    out.push_back(std::move(m));
    write_next();
  };
  std::function<void()> read_next;
  auto on_read = [&](beast::error_code rec, std::size_t) {
    if (done) return;
    if (rec) {
      bool revoked = false;
      {
        std::lock_guard lock(mu_);
        if (ws.reason().code) {  // the server sent a close frame (the teardown may still fail)
          last_close_code_ = ws.reason().code;
          if (last_close_code_ == 4003) {
            if (stopped_reason_.empty()) stopped_reason_ = "revoked";
            revoked = true;
          }
        }
      }
      return finish(!revoked);
    }
    std::string text = beast::buffers_to_string(buf.data());
    buf.consume(buf.size());
    boost::system::error_code pec;
    auto v = json::parse(text, pec);
    if (pec || !v.is_object()) return read_next();
    const auto& msg = v.as_object();
    std::string type = msg.contains("type") && msg.at("type").is_string()
                           ? std::string(msg.at("type").as_string())
                           : "";
    if (type == "revoked" ||
        (type == "error" && msg.contains("code") &&
         (msg.at("code") == "unauthorized" || msg.at("code") == "user_disabled" ||
          msg.at("code") == "forbidden_feed"))) {
      {
        std::lock_guard lock(mu_);
        sender_ = nullptr;
      }
      // New rights, same token: reconnect and read what they now allow.
      bool rights = type == "revoked" && msg.at("reason") == "rights_changed";
      auto msg_copy = msg;
      ws.async_close(websocket::close_code::normal, [&, rights, msg_copy, type](beast::error_code) {
        {
          std::lock_guard lock(mu_);
          if (ws.reason().code) last_close_code_ = ws.reason().code;  // the server's, e.g. 4003
          if (!rights) {
            connected_ = false;
            stopped_reason_ = type == "revoked"
                                  ? "revoked: " + std::string(msg_copy.at("reason").as_string())
                                  : std::string(msg_copy.at("code").as_string());
          }
        }
        if (!rights) notify(Event{type, "", 0, msg_copy});
        finish(rights);
      });
      return;
    }
    std::string ack_feed;
    std::int64_t ack_seq = -1;
    if (type == "ready") {
      std::lock_guard lock(mu_);
      sender_ = [this, executor, &enqueue](std::string m) {
        net::post(executor, [&enqueue, m = std::move(m)]() mutable { enqueue(std::move(m)); });
      };
    }
    apply(msg, ack_feed, ack_seq);
    if (type == "change" && ack_seq < 0) return finish(true);  // out of order: resync anew
    if (!ack_feed.empty())
      enqueue(json::serialize(json::object{{"type", "ack"}, {"feed", ack_feed}, {"seq", ack_seq}}));
    read_next();
  };
  read_next = [&] {
    if (!done) ws.async_read(buf, on_read);
  };
  read_next();
  ioc.run();
  {
    std::lock_guard lock(mu_);
    sender_ = nullptr;
  }
  return again;
}

bool FeedClient::send(const json::object& message) {
  std::lock_guard lock(mu_);
  if (!sender_) return false;
  sender_(json::serialize(message));
  return true;
}

void FeedClient::apply(const json::object& msg, std::string& ack_feed, std::int64_t& ack_seq) {
  const auto& type = msg.at("type").as_string();
  Event e{std::string(type), "", 0, msg};
  {
    std::lock_guard lock(mu_);
    if (type == "ready") {
      connected_ = true;
      ++connections_;
      for (const auto& f : msg.at("feeds").as_array())
        replicas_[std::string(f.at("feed").as_string())];
    } else if (type == "snapshot") {
      auto& r = replicas_[std::string(msg.at("feed").as_string())];
      r.epoch = msg.at("epoch").as_string();
      r.seq = msg.at("seq").as_int64();
      r.records.clear();
      for (const auto& item : msg.at("records").as_array()) {
        const auto& rec = item.at("record").as_object();
        r.records[std::string(item.at("kind").as_string()) + ":" +
                  std::string(rec.at("id").as_string())] = rec;
      }
      e.feed = msg.at("feed").as_string();
      e.seq = r.seq;
      if (options_.replica_store) options_.replica_store->snapshot(e.feed, r);
      ack_feed = e.feed;
      ack_seq = r.seq;
    } else if (type == "change") {
      auto& r = replicas_[std::string(msg.at("feed").as_string())];
      std::int64_t seq = msg.at("seq").as_int64();
      e.feed = msg.at("feed").as_string();
      e.seq = seq;
      // Apply in order only: anything else means we missed something; start over.
      if (msg.at("epoch").as_string() != r.epoch || seq != r.seq + 1) {
        r.seq = -1;
        r.records.clear();
        return;
      }
      const auto& c = msg.at("change").as_object();
      std::string key =
          std::string(c.at("kind").as_string()) + ":" + std::string(c.at("id").as_string());
      if (c.at("op") == "put")
        r.records[key] = c.at("record").as_object();
      else
        r.records.erase(key);
      r.seq = seq;
      if (options_.replica_store)
        options_.replica_store->change(e.feed, r.epoch, seq, key,
                                       c.at("op") == "put" ? &c.at("record").as_object() : nullptr);
      ack_feed = e.feed;
      ack_seq = seq;
    }
  }
  notify(e);
}

Status FeedClient::save(const std::string& path) const {
  json::object out;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, r] : replicas_) {
      json::object records;
      for (const auto& [k, v] : r.records) records[k] = v;
      out[name] = json::object{{"epoch", r.epoch}, {"seq", r.seq}, {"records", std::move(records)}};
    }
  }
  return write_file_atomically(path, json::serialize(out), 0600);
}

Status FeedClient::load(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Error{404, "not_found", "no state file " + path, ""};
  std::stringstream ss;
  ss << f.rdbuf();
  boost::system::error_code ec;
  auto v = json::parse(ss.str(), ec);
  if (ec || !v.is_object()) return Error{422, "bad_state", "the state file is not JSON", ""};
  std::lock_guard lock(mu_);
  for (const auto& [name, r] : v.as_object()) {
    if (!options_.feeds.empty() &&
        std::find(options_.feeds.begin(), options_.feeds.end(), name) == options_.feeds.end())
      continue;
    Replica rep;
    rep.epoch = r.at("epoch").as_string();
    rep.seq = r.at("seq").as_int64();
    for (const auto& [k, rec] : r.at("records").as_object()) rep.records[k] = rec.as_object();
    replicas_[name] = std::move(rep);
  }
  return ok();
}

}  // namespace portier::client
