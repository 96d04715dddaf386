#include "client/feed_client.hpp"

#include <boost/json.hpp>
#include <fstream>
#include <future>
#include <sstream>

#include "client/durable_file.hpp"

namespace portier::client {
namespace json = boost::json;

FeedClient::FeedClient(ClientOptions options)
    : options_(std::move(options)),
      session_(FeedSession::create(ioc_, options_, [this](const Event& e) {
        if (on_event_) on_event_(e);
        std::lock_guard lock(mu_);  // a waiter between its check and its wait still wakes
        cv_.notify_all();
      })) {}

// stop() throws only when the system cannot allocate or join a thread: terminate then.
FeedClient::~FeedClient() { stop(); }  // NOLINT(bugprone-exception-escape)

void FeedClient::start() {
  if (thread_.joinable()) return;
  if (!options_.state_file.empty()) (void)load(options_.state_file);
  session_->start();
  // A session refused for good (revoked, a certificate not trusted) wakes wait_for too.
  session_->when_stopped([this] {
    std::lock_guard lock(mu_);
    cv_.notify_all();
  });
  work_.emplace(ioc_.get_executor());  // runs until stop(), even if the session stops itself
  thread_ = std::thread([this] { ioc_.run(); });
}

void FeedClient::stop() {
  if (!thread_.joinable()) return;
  std::promise<void> stopped;
  session_->stop([&stopped] { stopped.set_value(); });
  stopped.get_future().wait();
  work_.reset();
  thread_.join();  // run() returns once the session's last handlers have run
  if (!options_.state_file.empty()) (void)save(options_.state_file);
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

Status FeedClient::save(const std::string& path) const {
  json::object out;
  for (const auto& [name, r] : session_->protocol().replicas()) {
    json::object records;
    for (const auto& [k, v] : r.records) records[k] = v;
    out[name] = json::object{{"epoch", r.epoch}, {"seq", r.seq}, {"records", std::move(records)}};
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
  // A replica read whole or not at all: a damaged entry is left out (a snapshot replaces it).
  for (const auto& [name, r] : v.as_object()) {
    const auto* o = r.is_object() ? &r.as_object() : nullptr;
    const auto* epoch = o ? o->if_contains("epoch") : nullptr;
    const auto* seq = o ? o->if_contains("seq") : nullptr;
    const auto* records = o ? o->if_contains("records") : nullptr;
    if (!epoch || !epoch->is_string() || !seq || !seq->is_int64() || !records ||
        !records->is_object())
      continue;
    Replica rep;
    rep.epoch = epoch->as_string();
    rep.seq = seq->as_int64();
    bool whole = true;
    for (const auto& [k, rec] : records->as_object()) {
      if (!rec.is_object()) {
        whole = false;
        break;
      }
      rep.records[k] = rec.as_object();
    }
    if (whole) session_->protocol().set_replica(name, std::move(rep));
  }
  return ok();
}

}  // namespace portier::client
